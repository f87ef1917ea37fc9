"""The HTTP API against the contract (docs toxiproxy-contract.md), on an
in-process server: statuses, messages, JSON shapes and their field order."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import pytest
from proxy_helpers import TcpServer

from lab.proxy import EmbeddedProxyServer

pytestmark = pytest.mark.anyio


@dataclass
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> str:
        assert self.raw.endswith(b"\n"), self.raw
        body = self.body
        assert list(body)[:2] == ["error", "status"]
        assert body["status"] == self.status
        return str(body["error"])


class Api:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def __call__(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.http.request(method, path, data=data, headers=headers) as response:
            reply = Reply(response.status, response.headers, await response.read())
        assert reply.headers.get("X-Toxiproxy-Request-Id"), f"{method} {path}: no request id"
        return reply

    async def proxy(self, name: str = "p", upstream: str = "127.0.0.1:9", **extra: Any) -> Any:
        reply = await self("POST", "/proxies", {"name": name, "upstream": upstream, **extra})
        assert reply.status == 201, reply.raw
        return reply.body


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with EmbeddedProxyServer() as server, aiohttp.ClientSession(server.url) as http:
        yield Api(http)


# --- proxies --------------------------------------------------------------------


async def test_empty_server_lists_no_proxies(api: Api) -> None:
    reply = await api("GET", "/proxies")
    assert (reply.status, reply.raw) == (200, b"{}")


async def test_create_answers_201_with_fields_in_contract_order(api: Api) -> None:
    reply = await api("POST", "/proxies", {"name": "p", "listen": "localhost:0", "upstream": "x:1"})
    assert reply.status == 201
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.body
    assert list(body) == ["name", "listen", "upstream", "enabled", "toxics"]
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0  # localhost:0 -> the address bound
    assert body["enabled"] is True and body["toxics"] == []
    assert body["upstream"] == "x:1"  # not dialled, not resolved at create time


async def test_a_disabled_proxy_keeps_its_listen_as_given(api: Api) -> None:
    body = await api.proxy(listen="localhost:0", enabled=False)
    assert body["listen"] == "localhost:0" and body["enabled"] is False
    enabled = (await api("PATCH", "/proxies/p", {"enabled": True})).body
    assert enabled["listen"].startswith("127.0.0.1:") and enabled["enabled"] is True


async def test_toxics_field_of_a_create_request_is_ignored(api: Api) -> None:
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
async def test_create_needs_name_and_upstream(api: Api, body: object, message: str) -> None:
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
        (b"[1, 2]", "bad request body: json: cannot unmarshal array into Go value of type Proxy"),
    ],
)
async def test_malformed_bodies_are_400_and_the_server_keeps_serving(
    api: Api, raw: bytes, start: str
) -> None:
    reply = await api("POST", "/proxies", raw=raw)
    assert reply.status == 400
    assert reply.error.startswith(start), reply.error
    assert b"Traceback" not in reply.raw
    assert (await api("GET", "/version")).status == 200


async def test_go_decoding_rules_case_insensitive_names_and_trailing_bytes(api: Api) -> None:
    reply = await api("POST", "/proxies", raw=b'{"Name": "p", "UPSTREAM": "x:1"} trailing')
    assert reply.status == 201 and reply.body["name"] == "p"


async def test_duplicate_proxy_is_409(api: Api) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies", {"name": "p", "upstream": "y:2"})
    assert reply.status == 409 and reply.error == "proxy already exists"


async def test_port_in_use_is_500_with_the_bind_error(api: Api) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        reply = await api(
            "POST", "/proxies", {"name": "p", "upstream": "x:1", "listen": f"127.0.0.1:{port}"}
        )
    assert reply.status == 500
    assert reply.error == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert (await api("GET", "/proxies")).body == {}


async def test_bad_listen_address_is_500(api: Api) -> None:
    reply = await api("POST", "/proxies", {"name": "p", "upstream": "x:1", "listen": "local373"})
    assert reply.status == 500
    assert reply.error == "listen tcp: address local373: missing port in address"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "POST"])
async def test_unknown_proxy_is_404(api: Api, method: str) -> None:
    reply = await api(method, "/proxies/nope", {} if method in ("PATCH", "POST") else None)
    assert reply.status == 404 and reply.error == "proxy not found"


async def test_index_is_sorted_by_name_with_toxics(api: Api) -> None:
    await api.proxy("b")
    await api.proxy("a")
    await api("POST", "/proxies/b/toxics", {"type": "latency", "stream": "downstream"})
    await api("POST", "/proxies/b/toxics", {"type": "noop", "stream": "upstream"})
    reply = await api("GET", "/proxies")
    assert reply.raw.startswith(b'{"a":')
    assert [t["name"] for t in reply.body["b"]["toxics"]] == ["noop_upstream", "latency_downstream"]


async def test_update_merges_and_cannot_rename(api: Api) -> None:
    created = await api.proxy()
    reply = await api("PATCH", "/proxies/p", {"name": "other", "upstream": "y:2"})
    assert reply.status == 200
    body = reply.body
    assert body["name"] == "p" and body["upstream"] == "y:2"
    # listen unchanged -> same address; POST is the deprecated synonym
    assert body["listen"] == created["listen"]
    disabled = (await api("POST", "/proxies/p", {"enabled": False})).body
    assert disabled["enabled"] is False and disabled["upstream"] == "y:2"


async def test_update_with_a_new_listen_restarts_on_it(api: Api) -> None:
    created = await api.proxy()
    moved = (await api("PATCH", "/proxies/p", {"listen": "127.0.0.1:0"})).body
    assert moved["listen"] != created["listen"] and moved["enabled"] is True


async def test_delete_is_204_then_404(api: Api) -> None:
    await api.proxy()
    assert (await api("DELETE", "/proxies/p")).status == 204
    assert (await api("DELETE", "/proxies/p")).status == 404


# --- populate -----------------------------------------------------------------------


async def test_populate_creates_and_answers_201(api: Api) -> None:
    reply = await api(
        "POST",
        "/populate",
        [
            {"name": "one", "upstream": "x:1", "listen": "localhost:0"},
            {"name": "two", "upstream": "x:2"},
        ],
    )
    assert reply.status == 201
    assert [p["name"] for p in reply.body["proxies"]] == ["one", "two"]
    assert set((await api("GET", "/proxies")).body) == {"one", "two"}


async def test_populate_keeps_identical_and_replaces_different(api: Api) -> None:
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


async def test_populate_resolves_localhost_when_comparing(api: Api) -> None:
    one = await api.proxy("one", upstream="x:1")
    await api("POST", "/proxies/one/toxics", {"type": "noop"})
    port = one["listen"].rsplit(":", 1)[1]
    reply = await api(
        "POST", "/populate", [{"name": "one", "upstream": "x:1", "listen": f"localhost:{port}"}]
    )
    assert reply.body["proxies"][0]["toxics"]  # same resolved address: untouched


async def test_populate_checks_every_entry_before_creating_any(api: Api) -> None:
    reply = await api(
        "POST", "/populate", [{"name": "one", "upstream": "x:1"}, {"upstream": "x:2"}]
    )
    assert reply.status == 400
    assert reply.error == "missing required field: name at proxy 2"
    assert reply.body["proxies"] is None
    reply = await api("POST", "/populate", [{"name": "one", "upstream": "x:1"}, {"name": "two"}])
    assert reply.error == "missing required field: upstream at proxy 2"
    assert (await api("GET", "/proxies")).body == {}


async def test_populate_failing_part_way_returns_those_created(api: Api) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        reply = await api(
            "POST",
            "/populate",
            [
                {"name": "one", "upstream": "x:1"},
                {"name": "two", "upstream": "x:2", "listen": f"127.0.0.1:{port}"},
                {"name": "three", "upstream": "x:3"},
            ],
        )
    assert reply.status == 500
    assert "address already in use" in reply.error
    assert [p["name"] for p in reply.body["proxies"]] == ["one"]
    assert set((await api("GET", "/proxies")).body) == {"one"}


async def test_populate_of_nothing_and_of_a_non_list(api: Api) -> None:
    empty = await api("POST", "/populate", [])
    assert (empty.status, empty.raw) == (201, b'{"proxies":null}')  # Go's nil slice
    reply = await api("POST", "/populate", {"name": "p"})
    assert reply.status == 400 and reply.error.startswith(
        "bad request body: json: cannot unmarshal object"
    )


# --- toxics --------------------------------------------------------------------------


async def test_toxic_create_is_200_with_defaults_and_field_order(api: Api) -> None:
    await api.proxy()
    reply = await api(
        "POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 5}}
    )
    assert reply.status == 200
    assert reply.raw == (
        b'{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )


async def test_toxic_toxicity_is_written_as_go_writes_a_float32(api: Api) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", {"type": "noop", "toxicity": 0.2})
    assert reply.raw.endswith(b'"toxicity":0.2}')


async def test_toxic_names_are_unique_across_streams(api: Api) -> None:
    await api.proxy()
    await api("POST", "/proxies/p/toxics", {"name": "t", "type": "latency", "stream": "upstream"})
    reply = await api(
        "POST", "/proxies/p/toxics", {"name": "t", "type": "noop", "stream": "downstream"}
    )
    assert reply.status == 409 and reply.error == "toxic already exists"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        (
            {"type": "latency", "stream": ""},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "teleport"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (
            {"type": "latency", "attributes": {"latency": "100"}},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "attributes": {"latency": 100.0}},
            400,
            "bad request body: json: cannot unmarshal number 100.0 into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "toxicity": "high"},
            400,
            "bad request body: json: cannot unmarshal string",
        ),
        (
            {"type": "latency", "attributes": [1]},
            400,
            "bad request body: json: cannot unmarshal array",
        ),
    ],
)
async def test_toxic_create_errors(api: Api, body: object, status: int, message: str) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", body)
    assert reply.status == status
    assert reply.error.startswith(message), reply.error


@pytest.mark.parametrize(
    ("toxic", "reason"),
    [
        ({"type": "bandwidth"}, "bandwidth rate must be at least 1 KB/s"),
        ({"type": "bandwidth", "attributes": {"rate": -5}}, "must not be negative"),
        (
            {"type": "slicer", "attributes": {"size_variation": 1}},
            "average_size must be at least 1",
        ),
        (
            {"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}},
            "smaller than",
        ),
        ({"type": "latency", "attributes": {"latency": -1}}, "must not be negative"),
        ({"type": "timeout", "attributes": {"timeout": -1}}, "must not be negative"),
        ({"type": "limit_data", "attributes": {"bytes": -1}}, "must not be negative"),
    ],
)
async def test_values_that_would_hang_or_crash_toxiproxy_are_refused(
    api: Api, toxic: dict[str, Any], reason: str
) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", toxic)
    assert reply.status == 400 and reason in reply.error
    assert (await api("GET", "/proxies/p/toxics")).body == []


async def test_missing_attributes_are_zero_and_unknown_ones_ignored(api: Api) -> None:
    await api.proxy()
    reply = await api(
        "POST",
        "/proxies/p/toxics",
        {"type": "slicer", "attributes": {"average_size": 9, "colour": "red"}},
    )
    assert reply.body["attributes"] == {"average_size": 9, "size_variation": 0, "delay": 0}


async def test_toxic_update_merges_attributes_and_toxicity(api: Api) -> None:
    await api.proxy()
    await api(
        "POST",
        "/proxies/p/toxics",
        {"type": "latency", "attributes": {"latency": 100, "jitter": 10}},
    )
    reply = await api(
        "PATCH",
        "/proxies/p/toxics/latency_downstream",
        {"attributes": {"latency": 1000}, "toxicity": 0.5},
    )
    assert reply.status == 200
    assert reply.body["attributes"] == {"latency": 1000, "jitter": 10}
    assert reply.body["toxicity"] == 0.5
    reply = await api(
        "POST",
        "/proxies/p/toxics/latency_downstream",
        {"attributes": {"latency": 500}, "stream": "upstream", "name": "x"},
    )
    assert reply.body["attributes"] == {"latency": 500, "jitter": 10}
    assert reply.body["toxicity"] == 0.5 and reply.body["stream"] == "downstream"
    assert reply.body["name"] == "latency_downstream"
    bad = await api("PATCH", "/proxies/p/toxics/latency_downstream", {"attributes": {"jitter": -3}})
    assert bad.status == 400
    kept = await api("GET", "/proxies/p/toxics/latency_downstream")
    assert kept.body["attributes"] == {"latency": 500, "jitter": 10}


async def test_toxic_lookups_404_in_toxiproxys_order(api: Api) -> None:
    assert (await api("GET", "/proxies/nope/toxics")).error == "proxy not found"
    assert (await api("POST", "/proxies/nope/toxics", {"type": "noop"})).error == "proxy not found"
    await api.proxy()
    for method in ("GET", "DELETE"):
        assert (await api(method, "/proxies/p/toxics/nope")).error == "toxic not found"
    # the toxic is looked up before the body is read
    reply = await api("PATCH", "/proxies/p/toxics/nope", raw=b"{garbage")
    assert reply.status == 404 and reply.error == "toxic not found"


async def test_toxic_delete_is_204(api: Api) -> None:
    await api.proxy()
    await api("POST", "/proxies/p/toxics", {"type": "noop"})
    assert (await api("DELETE", "/proxies/p/toxics/noop_downstream")).status == 204
    assert (await api("GET", "/proxies/p/toxics")).body == []


async def test_reset_enables_every_proxy_and_removes_every_toxic(api: Api) -> None:
    await api.proxy("a")
    await api.proxy("b", enabled=False)
    await api("POST", "/proxies/a/toxics", {"type": "latency"})
    await api("POST", "/proxies/a/toxics", {"type": "timeout", "stream": "upstream"})
    reply = await api("POST", "/reset")
    assert (reply.status, reply.raw) == (204, b"")
    proxies = (await api("GET", "/proxies")).body
    assert set(proxies) == {"a", "b"}
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


# --- the rest of the contract --------------------------------------------------------


async def test_version_body_is_toxiproxys(api: Api) -> None:
    reply = await api("GET", "/version")
    assert reply.raw == b'{"version": "2.12.0"}\n'
    assert reply.headers["Content-Type"] == "application/json;charset=utf-8"


async def test_browsers_get_403(api: Api) -> None:
    mozilla = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}
    reply = await api("GET", "/proxies", headers=mozilla)
    assert (reply.status, reply.raw) == (403, b"User agent not allowed\n")
    assert (await api("GET", "/proxies", headers={"User-Agent": "Wget/2.1"})).status == 200


async def test_request_ids_differ(api: Api) -> None:
    first = await api("GET", "/version")
    second = await api("GET", "/nowhere")
    assert first.headers["X-Toxiproxy-Request-Id"] != second.headers["X-Toxiproxy-Request-Id"]
    assert len(first.headers["X-Toxiproxy-Request-Id"]) == 20


async def test_unknown_routes_and_methods(api: Api) -> None:
    reply = await api("GET", "/nowhere")
    assert (reply.status, reply.raw) == (404, b"404 page not found\n")
    assert (await api("PUT", "/proxies")).status == 405
    assert (await api("GET", "/reset")).status == 405


async def test_metrics_are_off_by_default() -> None:
    async with EmbeddedProxyServer() as server, aiohttp.ClientSession(server.url) as http:
        reply = await Api(http)("GET", "/metrics")
    assert reply.status == 404


async def test_metrics_when_switched_on(echo_server: TcpServer) -> None:
    async with (
        EmbeddedProxyServer(proxy_metrics=True, runtime_metrics=True) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        api = Api(http)
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
