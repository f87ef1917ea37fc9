"""The pieces without sockets: Go-compatible JSON, channels, slicer cuts, draws."""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

import pytest

from poslab.proxy.api_error import ApiError
from poslab.proxy.api_json import Float32, GoKind, decode_fields, dumps, format_float32, parse_body
from poslab.proxy.channel import BYTE_LIMIT, Channel, Chunk
from poslab.proxy.draws import Draws
from poslab.proxy.toxics import TOXIC_TYPES
from poslab.proxy.toxics.latency import LatencyToxic
from poslab.proxy.toxics.slicer import SlicerToxic


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.2, "0.2"),
        (0.5, "0.5"),
        (0.1234567891, "0.12345679"),
        (1e-7, "1e-7"),  # encoding/json's e-07 -> e-7
        (1e-6, "0.000001"),  # compared as a float32: not below 1e-6
        (1e21, "1e+21"),
        (5.960464477539063e-08, "5.9604645e-8"),
        (1.5e-10, "1.5e-10"),
        (-0.0, "-0"),
        (0.0, "0"),
        (123456.0, "123456"),
    ],
)
def test_float32_is_written_as_go_writes_it(value: float, text: str) -> None:
    assert format_float32(value) == text


def test_dumps_is_compact_ordered_and_html_safe() -> None:
    assert dumps({"b": 1, "a": [True, None, Float32(1.0)], "c": "<&>"}) == (
        b'{"b":1,"a":[true,null,1],"c":"\\u003c\\u0026\\u003e"}'
    )


def test_parse_body_reads_the_first_value_only() -> None:
    assert parse_body(b'  {"a": 1} {"b": 2}') == {"a": 1}
    for raw, message in ((b"", "EOF"), (b"  ", "EOF"), (b'{"a":', "unexpected EOF")):
        with pytest.raises(ApiError) as error:
            parse_body(raw)
        assert error.value.status == 400 and error.value.message == f"bad request body: {message}"
    with pytest.raises(ApiError):
        parse_body(b"[Infinity]")


def test_decode_fields_follows_go() -> None:
    fields: dict[str, GoKind] = {"name": "string", "count": "int64"}
    assert decode_fields({"NAME": "x", "count": None, "other": 1}, "T", fields) == {"name": "x"}
    with pytest.raises(ApiError) as overflow:
        decode_fields({"count": 2**63}, "T", fields)
    assert overflow.value.message == (
        "bad request body: json: cannot unmarshal number 9223372036854775808 "
        "into Go struct field T.count of type int64"
    )
    with pytest.raises(ApiError) as boolean:
        decode_fields({"count": True}, "T", fields)
    assert "cannot unmarshal bool" in boolean.value.message


@pytest.mark.anyio
async def test_channel_keeps_order_and_discards_after_eof() -> None:
    channel = Channel(limit=2)
    first, second, third = (Chunk(bytes([i]), 0.0) for i in range(3))
    channel.put_nowait(second)
    assert not channel.full()
    channel.push_front([first])
    assert channel.full()
    channel.put_nowait(None)
    channel.put_nowait(third)  # after EOF: nowhere to go
    assert [await channel.get() for _ in range(3)] == [first, second, None]
    assert len(channel) == 0


@pytest.mark.anyio
async def test_channel_is_bounded_in_bytes_too() -> None:
    channel = Channel(limit=1024)
    block = bytes(256 * 1024)
    for _ in range(BYTE_LIMIT // len(block) - 1):
        channel.put_nowait(Chunk(block, 0.0))
    assert not channel.full()
    channel.put_nowait(Chunk(block, 0.0))
    assert channel.full()
    await channel.get()
    assert not channel.full()


@pytest.mark.anyio
async def test_channel_tells_a_waiting_writer_about_room() -> None:
    channel = Channel(limit=1)
    channel.put_nowait(Chunk(b"x", 0.0))
    woken: list[str] = []
    channel.on_room(lambda: woken.append("room"))
    await channel.get()
    assert woken == ["room"]


@pytest.mark.parametrize(("average", "variation"), [(1, 0), (10, 3), (100, 99), (7, 0)])
def test_slicer_cuts_cover_the_chunk(average: int, variation: int) -> None:
    toxic = SlicerToxic(average_size=average, size_variation=variation)
    for size in (1, 5, 99, 1000, 65536):
        bounds = toxic.cuts(size, random.Random(size))
        pieces = [b - a for a, b in itertools.pairwise(bounds)]
        assert bounds[0] == 0 and bounds[-1] == size and sum(pieces) == size
        assert all(0 < piece <= average + variation for piece in pieces), pieces


def test_draws_are_per_stage_with_a_seed_and_shared_without() -> None:
    seeded = Draws(11)
    first = seeded.for_stage("p", 3, "downstream", "latency_downstream")
    again = Draws(11).for_stage("p", 3, "downstream", "latency_downstream")
    other = seeded.for_stage("p", 4, "downstream", "latency_downstream")
    assert [first.rng.random() for _ in range(5)] == [again.rng.random() for _ in range(5)]
    assert [first.toxicity() for _ in range(3)] == [again.toxicity() for _ in range(3)]
    fresh = Draws(11).for_stage("p", 3, "downstream", "latency_downstream")
    assert other.rng.random() != fresh.rng.random()
    digest = hashlib.blake2b(b"11/p/3/downstream/latency_downstream/toxicity/0", digest_size=8)
    assert fresh.toxicity() == int.from_bytes(digest.digest(), "big") / 2**64
    unseeded = Draws()
    one, two = unseeded.for_stage("p", 0, "upstream", "t"), unseeded.for_stage("q", 1, "up", "u")
    assert one.rng is two.rng


class _Stub:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng


def test_latency_jitter_range_matches_toxiproxy() -> None:
    toxic = LatencyToxic(latency=100, jitter=10)
    stub: Any = _Stub(random.Random(0))
    delays = {round(toxic.delay(stub) * 1000) for _ in range(5000)}
    assert min(delays) == 90 and max(delays) == 109  # Int63n(2j) - j: [-j, +j)


def test_every_toxiproxy_toxic_type_is_registered_with_its_attributes() -> None:
    expected = {
        "latency": ["latency", "jitter"],
        "bandwidth": ["rate"],
        "slow_close": ["delay"],
        "timeout": ["timeout"],
        "reset_peer": ["timeout"],
        "slicer": ["average_size", "size_variation", "delay"],
        "limit_data": ["bytes"],
        "noop": [],
        "iso_drop": ["mti", "rc"],
        "iso_delay": ["mti", "rc", "latency", "jitter"],
        "iso_corrupt_mac": ["mti", "rc"],
    }
    assert {name: cls.attribute_names() for name, cls in TOXIC_TYPES.items()} == expected
