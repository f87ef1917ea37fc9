"""The HTTP API against the contract (docs toxiproxy-contract.md), on the
embedded server and on the real Toxiproxy (``proxy_server``): proxies,
populate, and the rest (version, browsers, request ids, routes, metrics).
Where the two differ on purpose the test asserts each one's answer (listed in
poslab/proxy/README.md). Toxics: test_proxy_api_toxics.py."""

from __future__ import annotations

import json
import socket

import aiohttp
import anyio
import pytest

from poslab.proxy import EmbeddedProxyServer
from tests.proxy.proxy_helpers import AsyncApi, TcpServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def api(server_api: AsyncApi) -> AsyncApi:
    return server_api


# --- proxies --------------------------------------------------------------------


async def test_empty_server_lists_no_proxies(api: AsyncApi) -> None:
    reply = await api("GET", "/proxies")
    assert (reply.status, reply.raw) == (200, b"{}")


async def test_create_answers_201_with_fields_in_contract_order(api: AsyncApi) -> None:
    reply = await api("POST", "/proxies", {"name": "p", "listen": "localhost:0", "upstream": "x:1"})
    assert reply.status == 201
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.body
    assert list(body) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
    assert body["Logger"] == {}  # Toxiproxy's untagged *zerolog.Logger field
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # localhost:0 -> the address bound
    assert body["enabled"] is True and body["toxics"] == []
    assert body["upstream"] == "x:1"  # not dialled, not resolved at create time


async def test_a_disabled_proxy_keeps_its_listen_as_given(api: AsyncApi) -> None:
    body = await api.proxy(listen="localhost:0", enabled=False)  # not bound yet
    assert body["listen"] == "localhost:0" and body["enabled"] is False
    enabled = (await api("PATCH", "/proxies/p", {"enabled": True})).body
    assert enabled["listen"].startswith("127.0.0.1:") and enabled["enabled"] is True


async def test_toxics_field_of_a_create_request_is_ignored(api: AsyncApi) -> None:
    body = await api.proxy(toxics=[{"type": "latency"}])
    assert body["toxics"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "x:1"}, "missing required field: name"),
        ({"name": "p"}, "missing required field: upstream"),
        ({"name": "", "upstream": "x:1"}, "missing required field: name"),
        (None, "missing required field: name"),
    ],
)
async def test_create_needs_name_and_upstream(api: AsyncApi, body: object, message: str) -> None:
    reply = await api("POST", "/proxies", raw=json.dumps(body).encode())
    assert reply.status == 400 and reply.error == message


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        (b"", "bad request body: EOF"),
        (b"{", "bad request body: unexpected EOF"),
        (b"{name: 1}", "bad request body: invalid character"),
        (b"NaN", "bad request body: invalid character"),
        (b'{"name": 5, "upstream": "x:1"}', "bad request body: json: cannot unmarshal number"),
        (b'{"name": "p", "upstream": "x:1", "enabled": "yes"}', "bad request body: json: cannot"),
        (
            b"[1, 2]",
            "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy",
        ),
        (
            b'{"name": "p", "upstream": "x:1", "logger": 5}',
            "bad request body: json: cannot unmarshal number into Go struct field "
            "Proxy.Logger of type zerolog.Logger",
        ),
    ],
)
async def test_malformed_bodies_are_400_and_the_server_keeps_serving(
    api: AsyncApi, raw: bytes, start: str
) -> None:
    reply = await api("POST", "/proxies", raw=raw)
    assert reply.status == 400
    assert reply.error.startswith(start), reply.error
    assert b"Traceback" not in reply.raw
    assert (await api("GET", "/version")).status == 200


async def test_go_decoding_rules_case_insensitive_names_and_trailing_bytes(
    api: AsyncApi,
) -> None:
    reply = await api("POST", "/proxies", raw=b'{"Name": "p", "UPSTREAM": "x:1"} trailing')
    assert reply.status == 201 and reply.body["name"] == "p"


async def test_an_empty_listen_host_is_loopback_here_every_interface_there(
    api: AsyncApi,
) -> None:
    """Listed difference: the lab binds nothing beyond loopback unless told."""
    body = (await api("POST", "/proxies", {"name": "p", "upstream": "x:1"})).body
    host, port = body["listen"].rsplit(":", 1)
    assert int(port) > 0
    assert host == ("[::]" if api.kind == "real" else "127.0.0.1")


async def test_duplicate_proxy_is_409(api: AsyncApi) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies", {"name": "p", "upstream": "y:2"})
    assert reply.status == 409 and reply.error == "proxy already exists"


async def test_port_in_use_is_500_with_the_bind_error(api: AsyncApi) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        reply = await api(
            "POST", "/proxies", {"name": "p", "upstream": "x:1", "listen": f"127.0.0.1:{port}"}
        )
    assert reply.status == 500
    assert reply.error == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert (await api("GET", "/proxies")).body == {}


async def test_bad_listen_address_is_500(api: AsyncApi) -> None:
    reply = await api("POST", "/proxies", {"name": "p", "upstream": "x:1", "listen": "local373"})
    assert reply.status == 500
    assert reply.error == "listen tcp: address local373: missing port in address"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "POST"])
async def test_unknown_proxy_is_404(api: AsyncApi, method: str) -> None:
    reply = await api(method, "/proxies/nope", {} if method in ("PATCH", "POST") else None)
    assert reply.status == 404 and reply.error == "proxy not found"


async def test_index_is_sorted_by_name_with_toxics(api: AsyncApi) -> None:
    await api.proxy("b")
    await api.proxy("a")
    await api("POST", "/proxies/b/toxics", {"type": "latency", "stream": "downstream"})
    await api("POST", "/proxies/b/toxics", {"type": "noop", "stream": "upstream"})
    reply = await api("GET", "/proxies")
    assert reply.raw.startswith(b'{"a":')
    assert [t["name"] for t in reply.body["b"]["toxics"]] == ["noop_upstream", "latency_downstream"]


async def test_update_merges_and_cannot_rename(api: AsyncApi) -> None:
    created = await api.proxy()
    reply = await api("PATCH", "/proxies/p", {"name": "other", "upstream": "y:2"})
    assert reply.status == 200
    body = reply.body
    assert body["name"] == "p" and body["upstream"] == "y:2"
    # listen unchanged -> same address; POST is the deprecated synonym
    assert body["listen"] == created["listen"]
    disabled = (await api("POST", "/proxies/p", {"enabled": False})).body
    assert disabled["enabled"] is False and disabled["upstream"] == "y:2"


async def test_update_with_a_new_listen_restarts_on_it(api: AsyncApi) -> None:
    created = await api.proxy()
    moved = (await api("PATCH", "/proxies/p", {"listen": "127.0.0.1:0"})).body
    assert moved["listen"] != created["listen"] and moved["enabled"] is True


async def test_delete_is_204_then_404(api: AsyncApi) -> None:
    await api.proxy()
    assert (await api("DELETE", "/proxies/p")).status == 204
    assert (await api("DELETE", "/proxies/p")).status == 404


# --- populate -----------------------------------------------------------------------


async def test_populate_creates_and_answers_201(api: AsyncApi) -> None:
    reply = await api(
        "POST",
        "/populate",
        [
            {"name": "one", "upstream": "x:1", "listen": "localhost:0"},
            {"name": "two", "upstream": "x:2", "listen": "127.0.0.1:0"},
        ],
    )
    assert reply.status == 201
    assert [p["name"] for p in reply.body["proxies"]] == ["one", "two"]
    assert set((await api("GET", "/proxies")).body) == {"one", "two"}


async def test_populate_keeps_identical_and_replaces_different(api: AsyncApi) -> None:
    one = await api.proxy("one", upstream="x:1")
    two = await api.proxy("two", upstream="x:2")
    await api("POST", "/proxies/one/toxics", {"type": "latency"})
    await api("POST", "/proxies/two/toxics", {"type": "latency"})
    await api("PATCH", "/proxies/one", {"enabled": False})
    reply = await api(
        "POST",
        "/populate",
        [
            {"name": "one", "upstream": "x:1", "listen": one["listen"]},  # identical
            {"name": "two", "upstream": "x:22", "listen": two["listen"]},  # differs
        ],
    )
    assert reply.status == 201
    first, second = reply.body["proxies"]
    assert first["enabled"] is False and [t["name"] for t in first["toxics"]] == [
        "latency_downstream"
    ]
    assert second["enabled"] is True and second["toxics"] == [] and second["upstream"] == "x:22"


async def test_populate_resolves_localhost_when_comparing(api: AsyncApi) -> None:
    one = await api.proxy("one", upstream="x:1")
    await api("POST", "/proxies/one/toxics", {"type": "noop"})
    port = one["listen"].rsplit(":", 1)[1]
    reply = await api(
        "POST", "/populate", [{"name": "one", "upstream": "x:1", "listen": f"localhost:{port}"}]
    )
    assert reply.body["proxies"][0]["toxics"]  # same resolved address: untouched


async def test_populate_checks_every_entry_before_creating_any(api: AsyncApi) -> None:
    reply = await api(
        "POST", "/populate", [{"name": "one", "upstream": "x:1"}, {"upstream": "x:2"}]
    )
    assert reply.status == 400
    assert reply.error == "missing required field: name at proxy 2"
    assert reply.body["proxies"] is None
    reply = await api("POST", "/populate", [{"name": "one", "upstream": "x:1"}, {"name": "two"}])
    assert reply.error == "missing required field: upstream at proxy 2"
    assert (await api("GET", "/proxies")).body == {}


async def test_populate_failing_part_way_returns_those_created(api: AsyncApi) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        reply = await api(
            "POST",
            "/populate",
            [
                {"name": "one", "upstream": "x:1", "listen": "127.0.0.1:0"},
                {"name": "two", "upstream": "x:2", "listen": f"127.0.0.1:{port}"},
                {"name": "three", "upstream": "x:3", "listen": "127.0.0.1:0"},
            ],
        )
    assert reply.status == 500
    assert "address already in use" in reply.error
    assert [p["name"] for p in reply.body["proxies"]] == ["one"]
    assert set((await api("GET", "/proxies")).body) == {"one"}


async def test_populate_of_nothing_and_of_a_non_list(api: AsyncApi) -> None:
    empty = await api("POST", "/populate", [])
    assert (empty.status, empty.raw) == (201, b'{"proxies":null}')  # Go's nil slice
    reply = await api("POST", "/populate", {"name": "p"})
    shape = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
    assert reply.status == 400 and reply.error == (
        f"bad request body: json: cannot unmarshal object into Go value of type []{shape}"
    )
    assert reply.body["proxies"] is None
    reply = await api("POST", "/populate", [5])
    assert (
        reply.error
        == f"bad request body: json: cannot unmarshal number into Go value of type {shape}"
    )
    reply = await api("POST", "/populate", [{"name": 5}])
    assert reply.error == (
        "bad request body: json: cannot unmarshal number into Go struct field .name of type string"
    )


# --- the rest of the contract --------------------------------------------------------


async def test_version_body_is_toxiproxys(api: AsyncApi) -> None:
    reply = await api("GET", "/version")
    assert reply.raw == b'{"version": "2.12.0"}\n'
    assert reply.headers["Content-Type"] == "application/json;charset=utf-8"


async def test_browsers_get_403(api: AsyncApi) -> None:
    mozilla = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}
    reply = await api("GET", "/proxies", headers=mozilla)
    assert (reply.status, reply.raw) == (403, b"User agent not allowed\n")
    assert (await api("GET", "/proxies", headers={"User-Agent": "Wget/2.1"})).status == 200


async def test_request_ids_differ(api: AsyncApi) -> None:
    first = await api("GET", "/version")
    second = await api("GET", "/proxies")
    assert first.headers["X-Toxiproxy-Request-Id"] != second.headers["X-Toxiproxy-Request-Id"]
    assert len(first.headers["X-Toxiproxy-Request-Id"]) == 20


async def test_unknown_routes_and_methods(api: AsyncApi) -> None:
    reply = await api("GET", "/nowhere")
    assert (reply.status, reply.raw) == (404, b"404 page not found\n")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    for method, path in (("PUT", "/proxies"), ("GET", "/reset")):
        wrong = await api(method, path)
        assert (wrong.status, wrong.raw) == (405, b"")
        assert "Content-Type" not in wrong.headers
    # gorilla/mux answers these before Toxiproxy's middleware: no request id,
    # and a browser gets the 404, not the 403.
    mozilla = {"User-Agent": "Mozilla/5.0"}
    for answer in (reply, wrong, await api("GET", "/nowhere", headers=mozilla)):
        assert "X-Toxiproxy-Request-Id" not in answer.headers
        assert "Server" not in answer.headers
        assert answer.status in (404, 405)


async def test_metrics_are_off_by_default() -> None:
    async with EmbeddedProxyServer() as server, aiohttp.ClientSession(server.url) as http:
        reply = await AsyncApi(http)("GET", "/metrics")
    assert reply.status == 404


async def test_metrics_when_switched_on(echo_server: TcpServer) -> None:
    async with (
        EmbeddedProxyServer(proxy_metrics=True, runtime_metrics=True) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        api = AsyncApi(http)
        body = await api.proxy("m", upstream=echo_server.address)
        port = int(body["listen"].rsplit(":", 1)[1])
        stream = await anyio.connect_tcp("127.0.0.1", port)
        await stream.send(b"hello")
        assert await stream.receive() == b"hello"
        reply = await api("GET", "/metrics")
        await stream.aclose()
    text = reply.raw.decode()
    assert reply.status == 200
    assert "process_cpu_seconds_total" in text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith("toxiproxy_proxy_received_bytes_total") and 'direction="upstream"' in row
    )
    assert 'proxy="m"' in line and line.endswith(" 5")
    assert 'lab_proxy_open_connections{proxy="m"} 1' in text
