"""The compiled codec against pyiso8583, the reference it must equal.

Raw level: whatever the compiled codec returns (it may only bail, never
disagree) is byte for byte what ``encode_reference``/``decode_reference``
return. Public level: ``encode``/``decode`` (compiled, falling back to the
library) give the same bytes, messages and error messages as the reference on
valid, invalid and malformed input alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poslab.iso8583 import (
    CUP_SPEC,
    FIELD_KINDS,
    CodecPath,
    DecodeError,
    EncodeError,
    IsoMessage,
    codec_in_use,
    decode,
    decode_reference,
    encode,
    encode_reference,
    use_codec,
)
from poslab.iso8583.compiled_codec import compile_codec
from tests.iso8583.iso_strategies import DIGITS, field_strategy, headers, messages, tpdus

CODEC = compile_codec(CUP_SPEC)
PROFILE = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


def near_value(number: int) -> st.SearchStrategy[Any]:
    """Values at and just past the edges: wrong length, case, type, characters."""
    size = CUP_SPEC[str(number)]["max_len"]
    odd = st.sampled_from(["d", "A", "f", " ", "٣", "é", "\x00", "\udc80", "終"])
    # Lengths around the limits, counted in characters, bytes or nibbles.
    lengths = st.one_of(
        st.integers(0, 5),
        st.integers(max(size - 2, 0), size + 2),
        st.integers(2 * size - 2, 2 * size + 2),
    )
    return st.one_of(
        field_strategy(number),
        st.tuples(lengths, st.sampled_from("7D")).map(lambda t: t[1] * t[0]),
        lengths.map(bytes),
        st.tuples(field_strategy(number), odd, st.integers(0, 40)).map(
            lambda t: (
                t[0][: t[2]] + t[1] + t[0][t[2] :]
                if isinstance(t[0], str)
                else t[0] + t[1].encode("utf-8", "surrogatepass")
            )
        ),
        st.text(DIGITS, min_size=max(size - 2, 0), max_size=size + 2),
        st.binary(min_size=max(size - 2, 0), max_size=size + 2),
        st.builds(bytearray, st.binary(max_size=8)),
        st.integers(0, 10**6),
        st.none(),
    )


@st.composite
def edge_messages(draw: st.DrawFn) -> IsoMessage:
    known = st.sampled_from(sorted(FIELD_KINDS))
    numbers = draw(st.lists(st.one_of(known, known, st.integers(0, 130)), unique=True, max_size=4))
    fields = {
        n: draw(near_value(n)) if n in FIELD_KINDS else draw(st.text(DIGITS, max_size=4))
        for n in numbers
    }
    mti = draw(st.one_of(st.text(DIGITS, min_size=4, max_size=4), st.text(max_size=5)))
    return IsoMessage(mti, fields, draw(tpdus), draw(headers))


def outcome(fn: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", fn()
    except (EncodeError, DecodeError) as exc:
        return type(exc).__name__, str(exc)


def raw_decode(payload: bytes) -> IsoMessage | None:
    assert CODEC is not None
    parsed = CODEC.decode(payload)
    if parsed is None:
        return None
    reference = decode_reference(payload)
    return IsoMessage(parsed[0], parsed[1], reference.tpdu, reference.header)


def prefix(msg: IsoMessage) -> bytes:
    return msg.tpdu.to_bytes() + msg.header.to_bytes()


def test_every_cup_field_is_compiled() -> None:
    assert CODEC is not None
    assert frozenset(FIELD_KINDS) == CODEC.compiled_fields
    assert codec_in_use() is CodecPath.COMPILED


@PROFILE
@given(messages())
def test_valid_messages_never_bail_and_match_the_library(msg: IsoMessage) -> None:
    assert CODEC is not None
    expected = encode_reference(msg)
    assert CODEC.encode(msg.mti, msg.fields, prefix(msg)) == expected
    assert encode(msg) == expected
    assert raw_decode(expected) == decode_reference(expected) == msg
    assert decode(expected) == msg


@PROFILE
@given(edge_messages())
def test_encode_matches_the_library_on_edge_values(msg: IsoMessage) -> None:
    assert CODEC is not None
    expected = outcome(lambda: encode_reference(msg))
    raw = CODEC.encode(msg.mti, msg.fields, prefix(msg))
    if raw is not None:
        assert ("ok", raw) == expected
    assert outcome(lambda: encode(msg)) == expected


@pytest.mark.parametrize("number", sorted(FIELD_KINDS))
def test_every_field_at_its_length_limits_matches_the_library(number: int) -> None:
    size = CUP_SPEC[str(number)]["max_len"]
    lengths = {0, 1, 2, 3, size - 1, size, size + 1, 2 * size - 1, 2 * size, 2 * size + 1}
    for n in sorted(length for length in lengths if length >= 0):
        for value in ("7" * n, "D" * n, "7D" * (n // 2), "a" * n, b"\x07" * n):
            for mti in ("0200", "0210"):
                msg = IsoMessage(mti, {11: "000001", number: value})
                expected = outcome(partial(encode_reference, msg))
                assert outcome(partial(encode, msg)) == expected, (number, n, value)
                if expected[0] == "ok":
                    assert isinstance(expected[1], bytes)
                    assert_decodes_alike(expected[1])


PADDED = [
    n
    for n in sorted(FIELD_KINDS)
    if CUP_SPEC[str(n)].get("len_count") == "nibbles"
    and (CUP_SPEC[str(n)]["len_type"] or CUP_SPEC[str(n)]["max_len"] % 2)
]


@pytest.mark.parametrize("number", PADDED)
def test_every_value_of_a_pad_nibble_matches_the_library(number: int) -> None:
    spec = CUP_SPEC[str(number)]
    digits = spec["max_len"] if spec["len_type"] == 0 else 3
    payload = encode_reference(IsoMessage("0200", {number: "1" * digits}))
    if spec.get("left_pad"):  # high nibble of the first data byte (the field is last)
        at, shift = 21 + spec["len_type"], 4
    else:  # low nibble of the last byte
        at, shift = len(payload) - 1, 0
    for nibble in range(16):
        byte = payload[at] & ~(0xF << shift) | nibble << shift
        assert_decodes_alike(payload[:at] + bytes([byte]) + payload[at + 1 :])
    assert decode(payload).fields[number] == "1" * digits


def mutations(payload: bytes, data: st.DataObject) -> Iterator[bytes]:
    mutable = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete", "nibble"]))
        at = data.draw(st.integers(0, max(len(mutable) - 1, 0)))
        if op == "flip" and mutable:
            mutable[at] ^= data.draw(st.integers(1, 255))
        elif op == "nibble" and mutable:  # one BCD nibble made A-F
            mutable[at] = (mutable[at] & 0xF0) | data.draw(st.integers(10, 15))
        elif op == "truncate":
            del mutable[at:]
        elif op == "insert":
            mutable[at:at] = data.draw(st.binary(min_size=1, max_size=3))
        elif mutable:
            del mutable[at]
        yield bytes(mutable)


def assert_decodes_alike(payload: bytes) -> None:
    assert CODEC is not None
    expected = outcome(lambda: decode_reference(payload))
    parsed = CODEC.decode(payload)
    if parsed is not None:  # accepted: the library agrees (the header is checked apart)
        if expected[0] == "ok":
            assert isinstance(expected[1], IsoMessage)
            assert parsed == (expected[1].mti, expected[1].fields)
        else:
            assert "malformed header" in str(expected[1])
    assert outcome(lambda: decode(payload)) == expected


@PROFILE
@given(messages(), st.data())
def test_decode_matches_the_library_on_mutated_payloads(
    msg: IsoMessage, data: st.DataObject
) -> None:
    for payload in mutations(encode_reference(msg), data):
        assert_decodes_alike(payload)


@PROFILE
@given(messages(max_fields=3), st.data())
def test_decode_matches_the_library_when_any_nibble_changes(
    msg: IsoMessage, data: st.DataObject
) -> None:
    """Pad nibbles, BCD lengths, digits: every nibble after the bitmap, one at a time."""
    payload = encode_reference(msg)
    at = data.draw(st.integers(21, max(len(payload) - 1, 21)))
    if at >= len(payload):
        return
    nibble, high = data.draw(st.integers(0, 15)), data.draw(st.booleans())
    byte = payload[at]
    byte = (byte & 0x0F) | nibble << 4 if high else (byte & 0xF0) | nibble
    assert_decodes_alike(payload[:at] + bytes([byte]) + payload[at + 1 :])


@PROFILE
@given(st.binary(max_size=120), st.binary(min_size=8, max_size=8))
def test_decode_matches_the_library_on_random_bytes(body: bytes, bitmap: bytes) -> None:
    prefix_and_mti = bytes.fromhex("6000030000603100310101") + b"\x02\x00"
    assert_decodes_alike(body)
    assert_decodes_alike(prefix_and_mti + bitmap + body)


def test_decode_of_other_buffers_and_types_matches_the_library() -> None:
    payload = encode_reference(IsoMessage("0800", {11: "000001", 41: "12345678"}))
    assert decode(bytearray(payload)) == decode(memoryview(payload)) == decode(payload)
    bad: Any
    for bad in ("text", 12, None):
        assert outcome(partial(decode, bad)) == outcome(partial(decode_reference, bad))


@contextlib.contextmanager
def codec_path(path: CodecPath) -> Iterator[None]:
    previous = use_codec(path)
    try:
        yield
    finally:
        use_codec(previous)


def test_the_reference_path_is_selectable_and_never_touches_the_compiled_codec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from poslab.iso8583 import compiled_codec

    msg = IsoMessage("0200", {3: "000000", 4: "000000000100", 11: "000001", 41: "12345678"})
    expected = encode(msg)

    def refuse(*args: object) -> None:
        raise AssertionError("compiled codec used on the reference path")

    monkeypatch.setattr(compiled_codec.CompiledCodec, "encode", refuse)
    monkeypatch.setattr(compiled_codec.CompiledCodec, "decode", refuse)
    with codec_path(CodecPath.PYISO8583):
        assert codec_in_use() is CodecPath.PYISO8583
        assert decode(encode(msg)) == msg
        assert encode(msg) == expected
    assert codec_in_use() is CodecPath.COMPILED
    assert use_codec("compiled") is CodecPath.COMPILED


def test_a_variant_spec_goes_through_the_library() -> None:
    variant = dict(CUP_SPEC)
    variant["41"] = {**CUP_SPEC["41"], "max_len": 9}
    msg = IsoMessage("0800", {41: "123456789"})
    assert decode(encode(msg, variant), variant) == msg
    with pytest.raises(EncodeError, match="expecting 8"):
        encode(msg)


def test_an_uncompilable_field_bails_and_an_uncompilable_layout_is_refused() -> None:
    spec = dict(CUP_SPEC)
    spec["63"] = {**CUP_SPEC["63"], "len_enc": "b"}  # a binary length: not compiled
    codec = compile_codec(spec)
    assert codec is not None
    assert 63 not in codec.compiled_fields
    assert codec.encode("0800", {11: "000001"}, bytes(11)) is not None
    assert codec.encode("0800", {11: "000001", 63: "001"}, bytes(11)) is None
    ascii_mti = dict(CUP_SPEC)
    ascii_mti["t"] = {**CUP_SPEC["t"], "data_enc": "ascii"}
    assert compile_codec(ascii_mti) is None
