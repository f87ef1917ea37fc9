"""The HTTP API against the contract (docs toxiproxy-contract.md), on an
in-process server: toxics: create, defaults, errors, refused values, update, delete, reset."""

from __future__ import annotations

from typing import Any

import pytest

from tests.proxy.proxy_helpers import AsyncApi

pytestmark = pytest.mark.anyio


@pytest.fixture
def api(server_api: AsyncApi) -> AsyncApi:
    return server_api


# --- toxics --------------------------------------------------------------------------


async def test_toxic_create_is_200_with_defaults_and_field_order(api: AsyncApi) -> None:
    await api.proxy()
    reply = await api(
        "POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 5}}
    )
    assert reply.status == 200
    assert reply.raw == (
        b'{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )


async def test_toxic_toxicity_is_written_as_go_writes_a_float32(api: AsyncApi) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", {"type": "noop", "toxicity": 0.2})
    assert reply.raw.endswith(b'"toxicity":0.2}')


async def test_toxic_names_are_unique_across_streams(api: AsyncApi) -> None:
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
            "bad request body: json: cannot unmarshal array into Go struct field "
            "ToxicWrapper.attributes of type toxics.NoopToxic",
        ),
        (
            {"type": "latency", "attributes": 5, "toxicity": "x"},  # the first error
            400,
            "bad request body: json: cannot unmarshal number into Go struct field "
            "ToxicWrapper.attributes of type toxics.NoopToxic",
        ),
        (
            [1],
            400,
            "bad request body: json: cannot unmarshal array into Go value of type "
            "toxics.ToxicWrapper",
        ),
    ],
)
async def test_toxic_create_errors(api: AsyncApi, body: object, status: int, message: str) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", body)
    assert reply.status == status
    assert reply.error.startswith(message), reply.error


@pytest.mark.parametrize(
    ("toxic", "reason"),
    [
        ({"type": "bandwidth", "attributes": {"rate": -5}}, "rate must not be negative"),
        ({"type": "bandwidth", "attributes": {"rate": 2**62}}, "overflows int64"),
        ({"type": "slicer", "attributes": {"size_variation": 0}}, "into itself forever"),
        ({"type": "slicer", "attributes": {"average_size": -3}}, "into itself forever"),
        (
            {"type": "slicer", "attributes": {"average_size": 1, "size_variation": 3}},
            "cut outside itself",
        ),
        ({"type": "latency", "attributes": {"jitter": 2**62}}, "overflows int64"),
    ],
)
async def test_values_that_crash_toxiproxy_are_refused_here_accepted_there(
    api: AsyncApi, toxic: dict[str, Any], reason: str
) -> None:
    """Listed difference: Toxiproxy answers 200 and its process dies on the
    first chunk through the toxic; the embedded server answers 400 with why."""
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", toxic)
    if api.kind == "real":
        assert reply.status == 200
        assert reply.body["attributes"] == {**reply.body["attributes"], **toxic["attributes"]}
        assert len((await api("GET", "/proxies/p/toxics")).body) == 1
    else:
        assert reply.status == 400 and reason in reply.error, reply.error
        assert reply.error.startswith("bad request body: ")
        assert (await api("GET", "/proxies/p/toxics")).body == []


@pytest.mark.parametrize(
    "toxic",
    [
        {
            "type": "slicer",
            "attributes": {"average_size": 1000, "size_variation": 1000, "delay": 1000},
        },
        {"type": "slicer", "attributes": {"average_size": 10, "size_variation": 10}},
        {"type": "slicer", "attributes": {"average_size": 5, "size_variation": -3, "delay": -1}},
        {"type": "bandwidth"},  # rate 0 stalls the direction, as there
        {"type": "latency", "attributes": {"latency": -1, "jitter": -5}},
        {"type": "timeout", "attributes": {"timeout": -1}},
        {"type": "limit_data", "attributes": {"bytes": -1}},
        {"type": "slow_close", "attributes": {"delay": -1}},
        {"type": "reset_peer", "attributes": {"timeout": -1}},
        {"type": "latency", "attributes": {"latency": 2**63 - 1}},
    ],
)
async def test_what_toxiproxy_accepts_without_harm_is_accepted(
    api: AsyncApi, toxic: dict[str, Any]
) -> None:
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", toxic)
    assert reply.status == 200, reply.raw
    assert reply.body["attributes"] == {**reply.body["attributes"], **toxic.get("attributes", {})}


async def test_missing_attributes_are_zero_and_unknown_ones_ignored(api: AsyncApi) -> None:
    await api.proxy()
    reply = await api(
        "POST",
        "/proxies/p/toxics",
        {"type": "slicer", "attributes": {"average_size": 9, "colour": "red"}},
    )
    assert reply.body["attributes"] == {"average_size": 9, "size_variation": 0, "delay": 0}


async def test_toxic_update_merges_attributes_and_toxicity(api: AsyncApi) -> None:
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
    # Go decodes into the live toxic and goes on after a type error: the
    # well-typed attributes stick though the answer is 400; toxicity does not.
    bad = await api(
        "PATCH",
        "/proxies/p/toxics/latency_downstream",
        {"attributes": {"latency": "x", "jitter": 7}, "toxicity": 0.25},
    )
    assert bad.status == 400 and bad.error == (
        "bad request body: json: cannot unmarshal string into Go struct field "
        "LatencyToxic.attributes.latency of type int64"
    )
    kept = await api("GET", "/proxies/p/toxics/latency_downstream")
    assert kept.body["attributes"] == {"latency": 500, "jitter": 7}
    assert kept.body["toxicity"] == 0.5
    shape = (
        'struct { Attributes interface {} "json:\\"attributes\\""; '
        'Toxicity float32 "json:\\"toxicity\\"" }'
    )
    for body, message in (
        ([1], f"array into Go value of type {shape}"),
        ({"attributes": 5}, "number into Go struct field .attributes of type toxics.LatencyToxic"),
    ):
        reply = await api("PATCH", "/proxies/p/toxics/latency_downstream", body)
        assert reply.error == f"bad request body: json: cannot unmarshal {message}"


async def test_toxic_lookups_404_in_toxiproxys_order(api: AsyncApi) -> None:
    assert (await api("GET", "/proxies/nope/toxics")).error == "proxy not found"
    assert (await api("POST", "/proxies/nope/toxics", {"type": "noop"})).error == "proxy not found"
    await api.proxy()
    for method in ("GET", "DELETE"):
        assert (await api(method, "/proxies/p/toxics/nope")).error == "toxic not found"
    # the toxic is looked up before the body is read
    reply = await api("PATCH", "/proxies/p/toxics/nope", raw=b"{garbage")
    assert reply.status == 404 and reply.error == "toxic not found"


async def test_toxic_delete_is_204(api: AsyncApi) -> None:
    await api.proxy()
    await api("POST", "/proxies/p/toxics", {"type": "noop"})
    assert (await api("DELETE", "/proxies/p/toxics/noop_downstream")).status == 204
    assert (await api("GET", "/proxies/p/toxics")).body == []


async def test_reset_enables_every_proxy_and_removes_every_toxic(api: AsyncApi) -> None:
    await api.proxy("a")
    await api.proxy("b", enabled=False)
    await api("POST", "/proxies/a/toxics", {"type": "latency"})
    await api("POST", "/proxies/a/toxics", {"type": "timeout", "stream": "upstream"})
    reply = await api("POST", "/reset")
    assert (reply.status, reply.raw) == (204, b"")
    proxies = (await api("GET", "/proxies")).body
    assert set(proxies) == {"a", "b"}
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


@pytest.mark.parametrize("toxic_type", ["iso_drop", "iso_delay", "iso_corrupt_mac"])
async def test_iso_toxics_are_an_extension(api: AsyncApi, toxic_type: str) -> None:
    """Listed difference: the lab's ISO 8583 toxics exist only here."""
    await api.proxy()
    reply = await api("POST", "/proxies/p/toxics", {"type": toxic_type, "attributes": {"mti": 210}})
    if api.kind == "real":
        assert reply.status == 400 and reply.error == "invalid toxic type"
    else:
        assert reply.status == 200 and reply.body["attributes"]["mti"] == 210
