"""Properties: decode(encode(m)) == m for generated messages; decode of
random or mutated bytes raises DecodeError and nothing else; framing is
independent of how the stream is split."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.iso8583 import (
    CUP_SPEC,
    FIELD_KINDS,
    DecodeError,
    FieldKind,
    Framer,
    Header,
    IsoMessage,
    Tpdu,
    decode,
    encode,
    frame,
)

DIGITS = "0123456789"


def field_strategy(number: int) -> st.SearchStrategy[Any]:
    spec = CUP_SPEC[str(number)]
    kind = FIELD_KINDS[number]
    fixed = spec["len_type"] == 0
    max_len = spec["max_len"]
    if kind is FieldKind.BINARY:
        return st.binary(min_size=0 if not fixed else max_len, max_size=max_len)
    if kind is FieldKind.TEXT:
        alphabet = st.characters(min_codepoint=0, max_codepoint=127)
        return st.text(alphabet, min_size=max_len if fixed else 0, max_size=max_len)
    chars = DIGITS + ("D" if kind is FieldKind.TRACK else "")
    if spec.get("len_count") != "nibbles":  # 48: BCD counted in bytes, even digits
        return st.text(DIGITS, min_size=1, max_size=40).map(lambda s: s + s)
    return st.text(chars, min_size=max_len if fixed else 0, max_size=max_len)


tpdus = st.builds(
    Tpdu,
    destination=st.text("0123456789ABCDEF", min_size=4, max_size=4),
    source=st.text("0123456789ABCDEF", min_size=4, max_size=4),
    id=st.integers(0, 255),
)
headers = st.builds(
    Header,
    app_type=st.sampled_from(["60", "61"]),
    spec_version=st.text(DIGITS, min_size=2, max_size=2),
    terminal_status=st.integers(0, 15),
    processing_requirement=st.integers(0, 15),
    software_version=st.text(DIGITS, min_size=6, max_size=6),
)


@st.composite
def messages(draw: st.DrawFn) -> IsoMessage:
    numbers = draw(st.sets(st.sampled_from(sorted(FIELD_KINDS))))
    fields = {n: draw(field_strategy(n)) for n in sorted(numbers)}
    mti = draw(st.text(DIGITS, min_size=4, max_size=4))
    return IsoMessage(mti, fields, draw(tpdus), draw(headers))


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
