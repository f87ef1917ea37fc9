"""A codec compiled once from a pyiso8583 spec: the fast path of the wire format.

``pyiso8583`` interprets its spec on every call: dict-of-dict lookups per
field, a doc dict in and two dicts out, hex strings in between. A host answers
thousands of messages a second with a handful of message layouts, so this
codec reads the spec (``spec.CUP_SPEC`` stays the source of truth) once into
per-field handlers (:mod:`.compiled_fields`), treats the bitmap as an ``int``,
and remembers a *plan* per layout: for a bitmap, the decoders in field order;
for a set of field numbers, the encoders in field order and the bitmap bytes.

It only ever *accepts*: both methods return ``None`` the moment anything is
not plainly valid, and :mod:`.message` then runs the same message through
pyiso8583 itself, which raises the exact error it always raised (or, should
this codec ever be stricter than the library, gives the answer). The property
tests in tests/iso8583 check that whatever this codec returns is byte for byte
what pyiso8583 returns. A TPDU/header, MTI or bitmap layout other than CUP's
(ASCII MTI, a secondary bitmap) is not compiled at all (``compile_codec``
returns None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .compiled_fields import BAIL, FieldDecoder, FieldEncoder, FieldValue, compile_field
from .spec import FIELD_KINDS, HEADER_AND_TPDU_LEN, FieldKind

__all__ = ["CompiledCodec", "compile_codec"]

_MTI_END = HEADER_AND_TPDU_LEN + 2
_BITMAP_END = _MTI_END + 8
# Plans are per layout; a peer sending random bitmaps must not grow them forever.
_PLAN_LIMIT = 512

_EncodePlan = tuple[bytes, tuple[tuple[Any, FieldEncoder], ...]]


def _bit(number: int) -> int:
    return 1 << (64 - number)


class CompiledCodec:
    """Per-field encoders and decoders for one spec; see the module docstring."""

    __slots__ = (
        "_allowed",
        "_decode_plans",
        "_decoders",
        "_encode_plans",
        "_encoders",
        "_mti_bytes",
        "compiled_fields",
    )

    def __init__(
        self, spec: Mapping[str, Mapping[str, Any]], kinds: Mapping[int, FieldKind]
    ) -> None:
        self._encoders: dict[int, FieldEncoder] = {}
        self._decoders: dict[int, FieldDecoder] = {}
        compiled: list[int] = []
        for number, kind in kinds.items():
            if not 2 <= number <= 64:  # CUP has no secondary bitmap
                continue
            handlers = compile_field(number, spec[str(number)], kind)
            if handlers is not None:
                compiled.append(number)
            self._encoders[number], self._decoders[number] = handlers or BAIL
        #: The fields handled here; any other field bails to the library.
        self.compiled_fields: frozenset[int] = frozenset(compiled)
        self._allowed = sum(_bit(number) for number in self._decoders)
        self._mti_bytes: dict[str, bytes] = {}
        self._encode_plans: dict[tuple[Any, ...], _EncodePlan | None] = {}
        self._decode_plans: dict[int, tuple[FieldDecoder, ...]] = {}

    def _encode_plan(self, numbers: tuple[Any, ...]) -> _EncodePlan | None:
        try:
            ordered = sorted(numbers)
        except TypeError:  # keys that do not even compare: the library explains
            return None
        steps: list[tuple[Any, FieldEncoder]] = []
        bitmap = 0
        for number in ordered:
            encoder = self._encoders.get(number)
            if encoder is None:
                return None
            steps.append((number, encoder))
            bitmap |= _bit(number)
        return bitmap.to_bytes(8, "big"), tuple(steps)

    def encode(self, mti: str, fields: Mapping[Any, object], prefix: bytes) -> bytes | None:
        """TPDU+header ``prefix`` + MTI + bitmap + fields, or None (bail)."""
        if type(mti) is not str:
            return None
        mti_bytes = self._mti_bytes.get(mti)
        if mti_bytes is None:
            if len(mti) != 4 or not (mti.isdigit() and mti.isascii()):
                return None
            mti_bytes = self._mti_bytes[mti] = bytes.fromhex(mti)
        numbers = tuple(fields)
        plans = self._encode_plans
        plan = plans.get(numbers)
        if plan is None:
            if len(plans) >= _PLAN_LIMIT:
                plans.clear()
            plan = plans[numbers] = self._encode_plan(numbers)
            if plan is None:
                return None
        bitmap, steps = plan
        # An encoder that bails returns None, which join refuses.
        parts: list[Any] = [prefix, mti_bytes, bitmap]
        try:
            parts += [encoder(fields[n]) for n, encoder in steps]
            return b"".join(parts)
        except TypeError:
            return None

    def _decode_plan(self, bitmap: int) -> tuple[FieldDecoder, ...]:
        decoders = self._decoders
        steps: list[FieldDecoder] = []
        while bitmap:
            top = bitmap.bit_length()
            bitmap ^= 1 << (top - 1)
            steps.append(decoders[65 - top])
        return tuple(steps)

    def decode(self, data: bytes) -> tuple[str, dict[int, FieldValue]] | None:
        """MTI and fields of ``data`` (a whole payload), or None (bail)."""
        size = len(data)
        if size < _BITMAP_END:
            return None
        mti = data[HEADER_AND_TPDU_LEN:_MTI_END].hex()
        if not mti.isdigit():
            return None
        bitmap = int.from_bytes(data[_MTI_END:_BITMAP_END], "big")
        plans = self._decode_plans
        steps = plans.get(bitmap)
        if steps is None:
            if bitmap & ~self._allowed:
                return None
            if len(plans) >= _PLAN_LIMIT:
                plans.clear()
            steps = plans[bitmap] = self._decode_plan(bitmap)
        fields: dict[int, FieldValue] = {}
        pos = _BITMAP_END
        for decoder in steps:
            pos = decoder(data, pos, fields)
            if pos < 0:
                return None
        return (mti, fields) if pos == size else None


def compile_codec(
    spec: Mapping[str, Mapping[str, Any]], kinds: Mapping[int, FieldKind] = FIELD_KINDS
) -> CompiledCodec | None:
    """The compiled codec for ``spec``, or None when its TPDU/header, MTI or
    bitmap layout is not the CUP one (the library then does all the work)."""
    try:
        header, mti, bitmap = spec["h"], spec["t"], spec["p"]
        layout_ok = (
            header["data_enc"] == "b"
            and header["len_type"] == 0
            and header["max_len"] == HEADER_AND_TPDU_LEN
            and mti["data_enc"] == "b"
            and bitmap["data_enc"] == "b"
            and all(str(number) in spec for number in kinds)
        )
    except (KeyError, TypeError):
        return None
    return CompiledCodec(spec, kinds) if layout_ok else None
