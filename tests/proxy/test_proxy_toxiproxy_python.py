"""Conformance through a real client: the ``toxiproxy-python`` package from
PyPI drives both servers (``proxy_server``: the embedded one and the real
Toxiproxy, each its own process) unchanged, with the same assertions."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

from tests.proxy.proxy_helpers import TcpServer, connect, recv_exactly
from tests.proxy.servers import ServerUnderTest


@pytest.fixture
def server(proxy_server: ServerUnderTest) -> Iterator[toxiproxy.Toxiproxy]:
    client = toxiproxy.Toxiproxy()
    # The package keeps its address in class attributes; restore them after.
    saved = (APIConsumer.host, APIConsumer.port)
    client.update_api_consumer("127.0.0.1", proxy_server.port)
    try:
        yield client
    finally:
        client.destroy_all()
        APIConsumer.host, APIConsumer.port = saved


def _port(proxy: toxiproxy.proxy.Proxy) -> int:
    return int(str(proxy.listen).rsplit(":", 1)[1])


def _round_trip(port: int) -> bytes:
    with connect(port) as sock:
        sock.sendall(b"ping")
        return recv_exactly(sock, 4)


def test_running_and_version(server: toxiproxy.Toxiproxy) -> None:
    assert server.running()
    assert server.version() == b'{"version": "2.12.0"}\n'


def test_create_list_get_and_forward(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    proxy = server.create(upstream=echo_server.address, name="echo")
    assert proxy.name == "echo" and proxy.enabled is True
    assert proxy.listen.startswith("127.0.0.1:") and _port(proxy) > 0
    assert set(server.proxies()) == {"echo"}
    assert server.get_proxy("echo").upstream == echo_server.address
    assert _round_trip(_port(proxy)) == b"ping"


def test_create_twice_is_refused(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    server.create(upstream=echo_server.address, name="dup")
    with pytest.raises(toxiproxy.exceptions.ProxyExists):
        server.create(upstream=echo_server.address, name="dup")


def test_disable_and_enable(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    proxy = server.create(upstream=echo_server.address, name="flap")
    port = _port(proxy)
    with proxy.down():
        assert server.get_proxy("flap").enabled is False
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    assert server.get_proxy("flap").enabled is True
    assert _round_trip(port) == b"ping"


def test_add_list_and_remove_toxics(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    proxy = server.create(upstream=echo_server.address, name="tox")
    proxy.add_toxic(type="latency", attributes={"latency": 50, "jitter": 5})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="thin", attributes={"rate": 100})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "thin"}
    assert toxics["latency_downstream"].attributes == {"latency": 50, "jitter": 5}
    assert toxics["thin"].stream == "upstream" and toxics["thin"].toxicity == 1
    assert proxy.get_toxic("thin").type == "bandwidth"
    assert proxy.destroy_toxic("thin") is True
    assert set(proxy.toxics()) == {"latency_downstream"}


def test_invalid_toxic_is_reported(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    proxy = server.create(upstream=echo_server.address, name="bad")
    with pytest.raises(toxiproxy.exceptions.InvalidToxic):
        proxy.add_toxic(type="teleport")
    with pytest.raises(toxiproxy.exceptions.NotFound):
        proxy.destroy_toxic("nothing")


def test_reset(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    proxy = server.create(upstream=echo_server.address, name="r")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()
    assert server.reset() is True
    again = server.get_proxy("r")
    assert again.enabled is True and again.toxics() == {}
    assert _round_trip(_port(again)) == b"ping"


def test_populate_and_destroy(server: toxiproxy.Toxiproxy, echo_server: TcpServer) -> None:
    made = server.populate(
        [
            {"name": "one", "upstream": echo_server.address, "listen": "127.0.0.1:0"},
            {"name": "two", "upstream": echo_server.address, "listen": "127.0.0.1:0"},
        ]
    )
    assert [p.name for p in made] == ["one", "two"]
    assert server.destroy(server.get_proxy("one")) is True
    assert set(server.proxies()) == {"two"}
