"""The real Toxiproxy 2.12.0 in a container, driven by the lab's client."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import Any

import pytest

from poslab.proxy import ToxiproxyClient

pytestmark = [pytest.mark.docker, pytest.mark.anyio]


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _round_trip(port: int) -> float:
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()
    return time.monotonic() - began


async def test_real_toxiproxy_container_proxies_and_slows_host_traffic(
    real_toxiproxy: str,
) -> None:
    server, upstream = await _echo_server()
    async with server, ToxiproxyClient(real_toxiproxy) as api:
        assert (await api.version()).startswith("2.12.0")
        proxy = await api.create_proxy("echo", f"127.0.0.1:{upstream}")
        port = int(proxy.listen.rsplit(":", 1)[1])
        assert await _round_trip(port) < 0.5
        await api.add_toxic("echo", "latency", attributes={"latency": 300}, name="slow")
        assert await _round_trip(port) >= 0.3
        await api.reset()
        assert await _round_trip(port) < 0.3


def test_published_ports_bind_loopback_only(engine: Any) -> None:
    """A container the lab publishes is reachable on 127.0.0.1 and nowhere else."""
    from testcontainers.core.container import DockerContainer

    from tests.containers.support import publish_on_loopback, toxiproxy_image

    container = publish_on_loopback(DockerContainer(toxiproxy_image(engine)), 8474)
    with container:
        assert container.get_exposed_port(8474)
        container.get_wrapped_container().reload()
        bindings = container.get_wrapped_container().attrs["NetworkSettings"]["Ports"]
        assert bindings["8474/tcp"] and {b["HostIp"] for b in bindings["8474/tcp"]} == {"127.0.0.1"}
        url = f"http://127.0.0.1:{container.get_exposed_port(8474)}/version"
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    assert b"2.12.0" in answer.read()
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"{url} never answered")
