"""``poslab.proxy.client`` against both servers (``proxy_server``: the embedded
one and the real Toxiproxy 2.12.0), and the same conformance suite against a
further real Toxiproxy when one is reachable (``TOXIPROXY_URL``) and in a
container where a Docker engine answers (tests/containers/support.py)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from poslab.errors import ProxyError
from poslab.proxy import EmbeddedProxyServer, PopulateError, ToxiproxyClient
from tests.proxy.proxy_helpers import TcpServer
from tests.proxy.servers import ServerUnderTest

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[ToxiproxyClient]:
    async with EmbeddedProxyServer() as server, ToxiproxyClient(server.url) as toxiproxy:
        yield toxiproxy


async def _round_trip_ms(port: int, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(payload)
        received = b""
        while len(received) < len(payload):
            received += await stream.receive()
    assert received == payload
    return (time.perf_counter() - started) * 1000


async def conformance(toxiproxy: ToxiproxyClient, upstream: str, prefix: str) -> None:
    """What the lab relies on, through the documented API only."""
    name = f"{prefix}-conf"
    assert (await toxiproxy.version()).startswith("2.")
    created = await toxiproxy.create_proxy(name, upstream)
    try:
        assert created.enabled and created.listen.startswith("127.0.0.1:") and created.port > 0
        assert name in await toxiproxy.proxies()
        with pytest.raises(ProxyError) as conflict:
            await toxiproxy.create_proxy(name, upstream)
        assert conflict.value.status == 409
        assert await _round_trip_ms(created.port) < 100

        latency = await toxiproxy.add_toxic(
            name, "latency", attributes={"latency": 150, "jitter": 0}
        )
        assert (latency.name, latency.stream, latency.toxicity) == (
            "latency_downstream",
            "downstream",
            1.0,
        )
        assert 145 <= await _round_trip_ms(created.port) <= 175
        updated = await toxiproxy.update_toxic(
            name, "latency_downstream", attributes={"latency": 50}
        )
        assert updated.attributes == {"latency": 50, "jitter": 0}
        assert [t.name for t in await toxiproxy.toxics(name)] == ["latency_downstream"]
        assert (await toxiproxy.get_toxic(name, "latency_downstream")).attributes["latency"] == 50
        await toxiproxy.remove_toxic(name, "latency_downstream")
        with pytest.raises(ProxyError) as missing:
            await toxiproxy.remove_toxic(name, "latency_downstream")
        assert missing.value.status == 404

        disabled = await toxiproxy.disable(name)
        assert not disabled.enabled
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", created.port)
        await toxiproxy.add_toxic(name, "timeout", stream="upstream", attributes={"timeout": 0})
        await toxiproxy.reset()
        again = await toxiproxy.get_proxy(name)
        assert again.enabled and again.toxics == ()
        assert await _round_trip_ms(again.port) < 100
    finally:
        await toxiproxy.delete_proxy(name)
    with pytest.raises(ProxyError) as gone:
        await toxiproxy.get_proxy(name)
    assert gone.value.status == 404


async def test_conformance(proxy_server: ServerUnderTest, echo_server: TcpServer) -> None:
    async with ToxiproxyClient(proxy_server.url) as toxiproxy:
        await conformance(toxiproxy, echo_server.address, proxy_server.kind)


def _real_toxiproxy_url() -> str:
    url = os.environ.get("TOXIPROXY_URL", "")
    if not url:
        pytest.skip(
            "no further Toxiproxy: TOXIPROXY_URL is not set "
            "(the one beside the repository is test_conformance[real])"
        )
    return url


async def test_conformance_real_toxiproxy(echo_server: TcpServer) -> None:
    url = _real_toxiproxy_url()
    async with ToxiproxyClient(url, timeout_s=5) as toxiproxy:
        try:
            await toxiproxy.version()
        except ProxyError as exc:
            pytest.skip(f"no real Toxiproxy reachable at {url}: {exc}")
        await conformance(toxiproxy, echo_server.address, f"lab-{os.getpid()}")


def test_conformance_real_toxiproxy_container(echo_server: TcpServer) -> None:
    """The real Toxiproxy image (the official one, or Shopify's 2.12.0 binary built
    FROM scratch here) on the host's network: its API and its proxies listen on
    127.0.0.1 and reach the echo server on the host's loopback, as the lab's do."""
    pytest.importorskip("docker", reason="docker SDK not installed")
    from testcontainers.core.container import DockerContainer

    from poslab.stack.service import free_port
    from tests.containers.support import engine_or_skip, toxiproxy_image

    image = toxiproxy_image(engine_or_skip())
    port = free_port()
    box = DockerContainer(image).with_kwargs(network_mode="host")
    with box.with_command(f"-host=127.0.0.1 -port={port}"):
        url = f"http://127.0.0.1:{port}"

        async def run() -> None:
            async with ToxiproxyClient(url) as toxiproxy:
                for _ in range(100):
                    try:
                        await toxiproxy.version()
                        break
                    except ProxyError:
                        await anyio.sleep(0.1)
                await conformance(toxiproxy, echo_server.address, "container")

        anyio.run(run)


# --- the client's own behaviour ------------------------------------------------------------


async def test_errors_carry_status_and_the_servers_message(client: ToxiproxyClient) -> None:
    await client.create_proxy("p", "127.0.0.1:9")
    with pytest.raises(ProxyError) as bad:
        await client.add_toxic("p", "bandwidth", attributes={"rate": -1})
    assert bad.value.status == 400 and "rate must not be negative" in str(bad.value)
    with pytest.raises(ProxyError) as missing:
        await client.toxics("nope")
    assert missing.value.status == 404 and "proxy not found" in str(missing.value)


async def test_update_proxy_and_names_with_odd_characters(client: ToxiproxyClient) -> None:
    await client.create_proxy("region north/1", "127.0.0.1:9", enabled=False)
    moved = await client.update_proxy("region north/1", upstream="127.0.0.1:10")
    assert moved.upstream == "127.0.0.1:10" and not moved.enabled


async def test_populate_and_its_partial_failure(client: ToxiproxyClient) -> None:
    made = await client.populate(
        [
            {"name": "a", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": "x:1"},
        ]
    )
    assert [p.name for p in made] == ["a", "b"]
    with pytest.raises(PopulateError) as partial:
        await client.populate(
            [
                {"name": "c", "upstream": "x:1"},
                {"name": "d", "upstream": "x:1", "listen": made[0].listen},
            ]
        )
    assert partial.value.status == 500 and [p.name for p in partial.value.created] == ["c"]
    assert await client.populate([]) == []


async def test_unreachable_server_is_status_0() -> None:
    async with ToxiproxyClient("http://127.0.0.1:1", timeout_s=2) as toxiproxy:
        with pytest.raises(ProxyError) as unreachable:
            await toxiproxy.version()
    assert unreachable.value.status == 0 and "unreachable" in str(unreachable.value)


async def test_closed_connections_leave_nothing_behind(echo_server: TcpServer) -> None:
    """Connections, stages and their tasks are all released when clients go."""
    async with EmbeddedProxyServer() as server, ToxiproxyClient(server.url) as toxiproxy:
        info = await toxiproxy.create_proxy("leak", echo_server.address)
        await toxiproxy.add_toxic("leak", "latency", attributes={"latency": 1})
        await toxiproxy.add_toxic(
            "leak", "slicer", stream="upstream", attributes={"average_size": 2}
        )
        baseline = len(asyncio.all_tasks())
        for _ in range(4):
            streams = [await anyio.connect_tcp("127.0.0.1", info.port) for _ in range(25)]
            for stream in streams:
                await stream.send(b"ping")
            for stream in streams:
                assert await stream.receive() != b""
                await stream.aclose()
        proxy = server.server.collection.get("leak")
        with anyio.fail_after(5):
            while proxy.connections or len(asyncio.all_tasks()) > baseline:
                await anyio.sleep(0.01)
        assert proxy.bytes_total("upstream", "received") == 100 * 4
