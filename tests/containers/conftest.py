"""Fixtures of the container tests (see support.py for the machine's quirks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.stack.service import free_port
from tests.containers.support import engine_or_skip, toxiproxy_image


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def engine() -> Any:
    return engine_or_skip()


@pytest.fixture
def real_toxiproxy(engine: Any) -> Iterator[str]:
    """The real Toxiproxy in a container on the host's network (API on 127.0.0.1
    only; its proxies reach upstreams on the host's loopback); its API URL."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = free_port()
    container = (
        DockerContainer(toxiproxy_image(engine))
        .with_kwargs(network_mode="host")
        .with_command(f"-host=127.0.0.1 -port={port}")
        .waiting_for(LogMessageWaitStrategy("Starting Toxiproxy HTTP server"))
    )
    with container:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def world_file(tmp_path: Path) -> Path:
    from poslab.world import generate, save

    return save(generate(7, 12), tmp_path / "world.json")
