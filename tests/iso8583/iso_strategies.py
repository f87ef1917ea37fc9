"""Hypothesis strategies for valid CUP messages, shared by the codec's
property tests (round trip, fuzzing, and the compiled codec against
pyiso8583)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from poslab.iso8583 import CUP_SPEC, FIELD_KINDS, FieldKind, Header, IsoMessage, Tpdu

DIGITS = "0123456789"


def field_strategy(number: int) -> st.SearchStrategy[Any]:
    """Any valid value of field ``number``, per the spec and its kind."""
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
        return st.text(DIGITS, max_size=40).map(lambda s: s + s)
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
def messages(draw: st.DrawFn, max_fields: int | None = None) -> IsoMessage:
    """A valid message: any MTI digits, fields in any insertion order."""
    numbers = draw(st.lists(st.sampled_from(sorted(FIELD_KINDS)), unique=True, max_size=max_fields))
    fields = {n: draw(field_strategy(n)) for n in numbers}
    mti = draw(st.text(DIGITS, min_size=4, max_size=4))
    return IsoMessage(mti, fields, draw(tpdus), draw(headers))
