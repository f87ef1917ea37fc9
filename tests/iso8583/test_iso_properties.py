"""Properties: decode(encode(m)) == m for generated messages; decode of
random or mutated bytes raises DecodeError and nothing else; framing is
independent of how the stream is split."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poslab.iso8583 import DecodeError, Framer, IsoMessage, decode, encode, frame
from tests.iso8583.iso_strategies import messages


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_decode_inverts_encode(msg: IsoMessage) -> None:
    assert decode(encode(msg)) == msg


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages(), st.data())
def test_mutated_payloads_raise_only_decode_error(msg: IsoMessage, data: st.DataObject) -> None:
    payload = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(payload) - 1, 0)))
        if op == "flip" and payload:
            payload[at] ^= data.draw(st.integers(1, 255))
        elif op == "truncate":
            del payload[at:]
        elif op == "insert":
            payload[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif payload:
            del payload[at]
    try:
        decoded = decode(bytes(payload))
    except DecodeError:
        return
    # Whatever decodes must be a well-formed message that encodes again.
    assert decode(encode(decoded)) == decoded


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=6),
    st.lists(st.integers(1, 50), min_size=1, max_size=40),
)
def test_framer_output_does_not_depend_on_read_sizes(
    payloads: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(frame(p) for p in payloads)
    framer = Framer()
    out: list[bytes] = []
    position = 0
    index = 0
    while position < len(stream):
        size = sizes[index % len(sizes)]
        out.extend(framer.feed(stream[position : position + size]))
        position += size
        index += 1
    assert out == payloads
    assert framer.buffered == 0
