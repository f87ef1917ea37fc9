"""``lab load`` against a stack described by a state file."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poslab.stack import RegionPaths, StackAddresses, StackState, write_state
from poslab.world import generate, save
from tests.support.payment_stack import REPO, PaymentHosts
from tests.support.processes import lab


@pytest.fixture
def stack_state(tmp_path: Path) -> Iterator[tuple[Path, PaymentHosts]]:
    world = generate(44, 6)
    save(world, tmp_path / "world.json")
    workdir = tmp_path / "hosts"
    workdir.mkdir()
    hosts = PaymentHosts(workdir, tmp_path / "world.json", proxy=True)
    try:
        regions = {}
        for region in world.regions:
            host, port = hosts.add_proxy(f"region-{region}")
            regions[region] = RegionPaths(primary=f"{host}:{port}", backup=None)
        acquirer = "{}:{}".format(*hosts.acquirer.address())
        state = StackState(
            run_dir=str(tmp_path / "stack"),
            world_file=str(tmp_path / "world.json"),
            started_at=time.time(),
            ready_seconds=1.0,
            owner_pid=os.getpid(),
            detached=True,
            seed=44,
            topology={},
            addresses=StackAddresses(
                proxy_api=hosts.proxy_api,
                services={"acquirer": acquirer},
                admin={"acquirer": hosts.acquirer.url()},
                proxies={},
                regions=regions,
                agents={},
            ),
        )
        write_state(tmp_path / ".stack.json", state)
        yield tmp_path / ".stack.json", hosts
    finally:
        hosts.close()


def run_lab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return lab(
        *args, cwd=cwd, env={**os.environ, "CI": "true", "PYTHONPATH": str(REPO)}, timeout=90
    )


@pytest.mark.timeout(120)
def test_lab_load_runs_the_fleet_headless_in_ci_and_prints_a_summary(
    stack_state: tuple[Path, PaymentHosts], tmp_path: Path
) -> None:
    state_file, hosts = stack_state
    run_dir = tmp_path / "load-run"
    done = run_lab(
        "load",
        *("--state", str(state_file), "--shape", "steady", "--duration", "4"),
        *("--think-time", "0.5", "--run-dir", str(run_dir)),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fleet journal:" in done.stdout and "sale" in done.stdout
    config = json.loads((run_dir / "fleet" / "config.json").read_text())
    assert config["shape"] == {"name": "steady", "params": {"duration_s": 4.0}}
    assert config["seed"] == 44 and config["backup"] is None
    journal = [
        json.loads(line)
        for path in (run_dir / "fleet").glob("*-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert {r["tid"] for r in journal if r["type"] == "sign_on"} == {
        f"1000000{i}" for i in range(1, 7)
    }
    assert (run_dir / "locust" / "locust_stats.csv").exists()
    booked = [r for r in hosts.export("transactions") if r["status"] == "approved"]
    assert booked


def test_lab_load_without_a_stack_says_what_to_do(tmp_path: Path) -> None:
    done = run_lab("load", "--state", str(tmp_path / "none.json"), cwd=tmp_path)
    assert done.returncode == 2
    assert "run `lab up` first" in done.stderr
