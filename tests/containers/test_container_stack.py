"""Container mode: the issuer, the acquirer, both agents and the real Toxiproxy
each in a container of the lab's images (scripts/build-images), driven through
the same Stack API, faults and exit paths as the embedded stack."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from poslab.stack.container_launcher import (
    LABEL_OWNER,
    LABEL_RUN,
    ContainerSettings,
    remove_orphans,
    remove_run_containers,
    run_label,
)
from poslab.stack.container_stack import ContainerStack
from poslab.stack.topology import default_topology
from tests.containers.support import REPO, lab_images_or_skip, toxiproxy_image

pytestmark = [pytest.mark.docker, pytest.mark.anyio, pytest.mark.timeout(240)]


def _left(engine: Any, label: str) -> list[str]:
    selector = {"label": f"{LABEL_RUN}={label}"}
    return [c.name for c in engine.containers.list(all=True, filters=selector)]


@pytest.fixture
def images(engine: Any) -> Any:
    lab_images_or_skip(engine)
    toxiproxy_image(engine)
    return engine


@pytest.fixture
async def stack(images: Any, tmp_path: Path, world_file: Path) -> AsyncIterator[ContainerStack]:
    run_dir = tmp_path / "run"
    settings = ContainerSettings.for_run(run_dir, world_file, seed=7, client=images)
    stack = ContainerStack(
        default_topology(), world_file, run_dir, seed=7, containers=settings, ready_timeout=60
    )
    async with stack:
        yield stack
    assert _left(images, settings.label) == [], "every container is removed"


async def test_every_service_is_a_container_and_every_fault_kind_works(
    stack: ContainerStack, images: Any
) -> None:
    assert (await stack.health()).ok
    running = {
        c.labels["org.poslab.service"]: c.image.tags
        for c in images.containers.list(filters={"label": f"{LABEL_RUN}={stack.containers.label}"})
    }
    assert set(running) == {"proxy", "issuer", "acquirer", "agent-primary", "agent-backup"}
    assert running["proxy"][0].startswith(("pos-lab/toxiproxy:2.12.0", "ghcr.io/shopify/toxiproxy"))
    assert (await stack.proxy_api.version()).startswith("2.12.0"), "the real Toxiproxy"

    # network: through the Toxiproxy container
    await stack.proxy_api.disable("region-north")
    assert (await stack.health()).unhealthy() == ["proxy:region-north"]
    await stack.proxy_api.enable("region-north")
    await stack.proxy_api.add_toxic("issuer", "latency", attributes={"latency": 50})
    assert (await stack.health()).ok
    await stack.proxy_api.reset()

    # process: kill and restart through the engine, same ports and database
    before = stack.addresses
    await stack.kill("acquirer")
    assert "acquirer" in (await stack.health()).unhealthy()
    await stack.restart("acquirer")
    assert (await stack.health()).ok
    assert stack.addresses == before
    await stack.restart("proxy")  # a fresh Toxiproxy: the stack puts its proxies back
    assert (await stack.health()).ok

    # application: the mocks' admin APIs answer from their containers
    import aiohttp

    admin = stack.state().services["acquirer"].admin_url
    async with aiohttp.ClientSession() as http, http.get(f"{admin}/health") as answer:
        assert answer.status == 200


async def test_a_container_that_dies_leaves_its_log_in_the_run_directory(
    images: Any, tmp_path: Path, world_file: Path
) -> None:
    run_dir = tmp_path / "run"
    stack = ContainerStack(default_topology(), world_file, run_dir, seed=7, ready_timeout=60)
    async with stack:
        mine = images.containers.list(filters={"label": f"{LABEL_RUN}={run_label(run_dir)}"})
        volumes = [m["Name"] for c in mine for m in c.attrs["Mounts"] if m["Type"] == "volume"]
        name = f"poslab-{run_label(run_dir)}-issuer"
        images.containers.get(name).kill()
        assert "issuer" in (await stack.health()).unhealthy()
    names = {v.name for v in images.volumes.list()}
    assert not names & set(volumes), "the images' anonymous /data volumes go with them"
    log = (run_dir / "services" / "issuer.log").read_text()
    assert f"--- container {name} (pos-lab/issuer) ---" in log
    assert "issuer" in log.split("---")[-1], "the container's own output"
    assert _left(images, run_label(run_dir)) == []


def test_sigterm_during_a_container_run_leaves_nothing(images: Any, tmp_path: Path) -> None:
    """``lab run --containers`` interrupted by SIGTERM while the load runs: the run
    stops cleanly (exit 130) and no container of it survives."""
    runs = tmp_path / "runs"
    env = {**os.environ, "LAB_CONTAINERS": "1"}
    lab = subprocess.Popen(
        [sys.executable, "-m", "poslab", "run", "acquirer-crash-restart", "--runs-dir", str(runs),
         "--quiet"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = "".join(j.read_text() for j in runs.glob("*/journal.jsonl"))
            if '"event": "load_started"' in text:
                break
            assert lab.poll() is None, lab.communicate()[0]
            time.sleep(0.2)
        else:
            pytest.fail("the run never started its load")
        labels = {run_label(d) for d in runs.glob("*/scenarios/*") if d.is_dir()}
        assert labels and all(_left(images, label) for label in labels), "its containers are up"
        lab.send_signal(signal.SIGTERM)
        out, _ = lab.communicate(timeout=90)
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait()
    assert lab.returncode == 130, out.decode(errors="replace")[-2000:]
    for label in labels:
        assert _left(images, label) == []


def test_containers_of_a_lab_that_died_are_removed_by_the_next(images: Any) -> None:
    """SIGKILL gives the lab no chance to stop its containers: they carry its pid,
    and the next container stack's start removes those whose lab is gone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = str(os.getpid())
    made = [
        images.containers.create(
            toxiproxy_image(images),
            labels={LABEL_RUN: f"orphan-test-{owner}", LABEL_OWNER: owner},
        )
        for owner in (str(dead.pid), alive)
    ]
    try:
        removed = remove_orphans(images)
        assert made[0].name in removed and made[1].name not in removed
        assert _left(images, f"orphan-test-{alive}") == [made[1].name]
    finally:
        for container in made:
            with contextlib.suppress(Exception):
                container.remove(force=True)


def test_lab_up_containers_then_lab_down(images: Any, tmp_path: Path) -> None:
    """``lab up --containers`` leaves the containers running for ``lab down``,
    which finds them from the state file and removes them."""
    state, run_dir = tmp_path / "stack.json", tmp_path / "run"

    def lab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "poslab", *args, "--state", str(state)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    up = lab("up", "--containers", "--run-dir", str(run_dir), "--seed", "7", "--terminals", "12")
    label = run_label(run_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert len(_left(images, label)) == 5
        down = lab("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stack down: stopped" in down.stdout and "acquirer" in down.stdout
        assert _left(images, label) == []
        assert "--- container" in (run_dir / "services" / "acquirer.log").read_text()
    finally:
        remove_run_containers(images, label)
