"""The stack with real containers: the real Toxiproxy image as the external
proxy, and the whole compose project. Run where a Docker daemon answers (the
compose project where a Compose v2 plugin exists too); skipped elsewhere with
the reason. Container mode on the engine's API: tests/containers."""

from __future__ import annotations

import functools
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from poslab.stack import Stack, default_topology, with_external_proxy
from poslab.stack.compose import (
    DEFAULT_PROJECT,
    ComposeProject,
    container_topology,
    proxy_upstreams,
    write_toxiproxy_config,
)
from poslab.stack.service import free_port

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
Programs = dict[str, list[str]]


@functools.cache
def _docker_unreachable() -> str | None:
    """Ask the daemon once per test session; the answer is cached."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # any failure to reach it means the same thing here
        return "no reachable Docker daemon"
    return None


@pytest.fixture
def docker_daemon() -> None:
    reason = _docker_unreachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def toxiproxy_url(docker_daemon: None) -> Iterator[str]:
    """The real Toxiproxy image (official, or the 2.12.0 binary built here) on the
    host network (it must reach 127.0.0.1)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    from tests.containers.support import engine_or_skip, toxiproxy_image

    port = free_port()
    container = (
        DockerContainer(toxiproxy_image(engine_or_skip()))
        .with_kwargs(network_mode="host")
        .with_command(f"-host=127.0.0.1 -port={port}")
        .waiting_for(LogMessageWaitStrategy("Starting Toxiproxy HTTP server"))
    )
    with container:
        yield f"http://127.0.0.1:{port}"


@functools.cache
def _no_compose_plugin() -> str | None:
    try:
        done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "no docker client"
    if done.returncode != 0:
        return "no Compose v2 plugin (Debian ships docker-compose 1.29 only)"
    return None


@pytest.fixture
def compose_env(docker_daemon: None, tmp_path: Path) -> Iterator[dict[str, str]]:
    reason = _no_compose_plugin()
    if reason:
        pytest.skip(reason)
    from testcontainers.compose import DockerCompose

    from poslab.world import generate, save

    world = save(generate(11, 30), tmp_path / "world.json")
    env = {
        "LAB_WORLD_FILE": str(world),
        "LAB_ADMIN_TOKEN": secrets.token_hex(16),
        "LAB_TOXIPROXY_CONFIG": str(
            write_toxiproxy_config(default_topology(), tmp_path / "toxiproxy.json")
        ),
    }
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    compose = DockerCompose(
        context=str(DEPLOY), compose_file_name="compose.yaml", build=True, wait=True,
        env_file=str(env_file),
    )  # fmt: skip
    with compose:
        yield env


async def test_real_toxiproxy_as_the_external_proxy(
    toxiproxy_url: str, tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    del fake_programs["proxy"]
    topology = with_external_proxy(default_topology(), toxiproxy_url)
    async with Stack(topology, world_file, tmp_path / "run", programs=fake_programs) as stack:
        assert (await stack.proxy_api.version()).startswith("2.12")
        assert (await stack.health()).ok
        await stack.proxy_api.disable("region-east")
        assert (await stack.health()).unhealthy() == ["proxy:region-east"]
    async with stack.proxy_api as api:
        assert await api.proxies() == {}, "the shared Toxiproxy is left clean"


@pytest.fixture
async def compose_stack(compose_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Stack]:
    project = ComposeProject(DEPLOY / "compose.yaml", DEFAULT_PROJECT, env=compose_env)
    stack = Stack(
        container_topology(),
        Path(compose_env["LAB_WORLD_FILE"]),
        tmp_path / "run",
        proxy_upstreams=proxy_upstreams(),
        admin_token=compose_env["LAB_ADMIN_TOKEN"],
        compose=project,
        ready_timeout=60,
    )
    async with stack:
        yield stack


async def test_compose_stack_is_ready_and_survives_an_acquirer_kill(
    compose_stack: Stack,
) -> None:
    health = await compose_stack.health()
    assert health.ok, health.unhealthy()
    assert compose_stack.addresses.regions["north"].primary == "127.0.0.1:20001"
    await compose_stack.kill("acquirer")
    assert not (await compose_stack.health()).services["acquirer"].ok
    await compose_stack.restart("acquirer")
    assert (await compose_stack.health()).ok


if sys.platform != "linux":  # host networking for the Toxiproxy container is Linux-only
    pytestmark.append(pytest.mark.skip(reason="host networking needs Linux"))
