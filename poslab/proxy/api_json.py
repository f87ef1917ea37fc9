"""JSON as Toxiproxy's Go server reads and writes it.

Clients compare bodies, and some scripts compare them byte for byte, so the
embedded server follows ``encoding/json``'s rules rather than Python's:

- decoding reads the first JSON value and ignores what follows it (Go's
  ``Decoder.Decode``), matches field names case-insensitively, treats ``null``
  as "leave the default", ignores unknown fields, and refuses a fraction or an
  exponent where an integer field is expected (``100.0`` is not an int64);
- encoding is compact, keeps insertion order (the contract's field order),
  escapes ``<``, ``>`` and ``&`` as ``\\u003c``…, and writes a float32
  toxicity the way Go does (``1`` not ``1.0``, ``0.2`` not ``0.20000000298``).

Errors are :class:`ApiError` 400 ``bad request body: …`` with Go's wording
(``json: cannot unmarshal string into Go struct field Proxy.name of type
string``) so messages read the same against either server. The Go types are
described as Toxiproxy declares them (:class:`GoStruct`, :class:`GoSlice`):
the names in messages are reflect's (``toxiproxy.Proxy``, the anonymous
``struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }`` of
``/populate``), and, as Go does, a type error is remembered and decoding goes
on, so the fields after it are decoded too (a toxic update applies them).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias

from poslab.proxy.api_error import bad_request_body
from poslab.proxy.go_scanner import GoSyntaxError, first_value_end

__all__ = [
    "Float32",
    "GoKind",
    "GoSlice",
    "GoStruct",
    "GoType",
    "JsonObject",
    "decode_fields",
    "dumps",
    "go_decode",
    "go_kind_of",
    "parse_body",
]

#: Go's scalar kinds; "any" is an empty ``interface{}`` (takes every value).
GoKind = Literal["string", "bool", "float32", "int64", "int", "any"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38


class GoFloat(float):
    """A JSON number written with a fraction or exponent; keeps its literal
    text so error messages can quote it as Go does."""

    literal: str

    def __new__(cls, literal: str) -> GoFloat:
        value = super().__new__(cls, literal)
        value.literal = literal
        return value


class Float32(float):
    """A float that is encoded as Go encodes a float32 (shortest digits)."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


class JsonObject(dict[str, object]):
    """A JSON object that also keeps every member in order, repeated names
    included: Go decodes each member in turn (the last one wins, and a bad
    earlier one is still an error), where a dict keeps only the last."""

    pairs: list[tuple[str, object]]


def _object(pairs: list[tuple[str, object]]) -> JsonObject:
    found = JsonObject(pairs)
    found.pairs = pairs
    return found


class _NegativeZero(int):
    """The integer literal ``-0``: 0 as an int64, but ``-0`` as a float32
    (Go keeps the sign, and writes it back: ``"toxicity":-0``)."""


_NEGATIVE_ZERO = _NegativeZero(0)


def _integer(literal: str) -> int:
    return _NEGATIVE_ZERO if literal == "-0" else int(literal)


_DECODER = json.JSONDecoder(
    parse_float=GoFloat,
    parse_int=_integer,
    parse_constant=_refuse_constant,
    object_pairs_hook=_object,
)


def parse_body(raw: bytes) -> object:
    """The first JSON value of a request body; trailing bytes are ignored.
    Syntax is checked by Go's scanner (``go_scanner``), so syntax errors
    read as Toxiproxy's; the value is then read by Python's parser."""
    try:
        end = first_value_end(raw)
    except GoSyntaxError as exc:
        raise bad_request_body(str(exc)) from None
    text = raw[:end].decode("utf-8", errors="replace")
    try:
        value, _end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
    except (ValueError, RecursionError) as exc:
        raise bad_request_body(str(exc) or "invalid JSON") from None
    return value


def go_kind_of(value: object) -> str:
    """How Go names a JSON value in ``cannot unmarshal X into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _number_literal(value: int | float) -> str:
    return value.literal if isinstance(value, GoFloat) else str(value)


@dataclass(frozen=True)
class GoStruct:
    """A Go struct as encoding/json sees it: its exported fields by JSON name."""

    #: reflect's ``Name()``, quoted in field errors (``""`` for an anonymous struct).
    name: str
    #: reflect's ``String()``, quoted as the type in errors (``toxiproxy.Proxy``).
    type_string: str
    fields: tuple[tuple[str, GoType], ...] = ()

    def field(self, key: str) -> tuple[str, GoType] | None:
        """Go's match: the exact name first, then the first case-insensitive one
        (Go also folds ``ſ`` to s and the Kelvin sign to k)."""
        for name, kind in self.fields:
            if name == key:
                return name, kind
        folded = key.replace("\u017f", "s").replace("\u212a", "k")
        if folded.isascii():
            lowered = folded.lower()
            for name, kind in self.fields:
                if name.lower() == lowered:
                    return name, kind
        return None


@dataclass(frozen=True)
class GoSlice:
    element: GoType

    @property
    def type_string(self) -> str:
        return "[]" + _type_string(self.element)


GoType: TypeAlias = "GoKind | GoStruct | GoSlice"


def _type_string(kind: GoType) -> str:
    if isinstance(kind, GoStruct | GoSlice):
        return kind.type_string
    return "interface {}" if kind == "any" else kind


def _members(value: dict[str, object]) -> Sequence[tuple[str, object]]:
    return value.pairs if isinstance(value, JsonObject) else list(value.items())


class _Decoding:
    """One ``Decode`` call: the first type error is kept, decoding goes on."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def refuse(self, what: str, kind: GoType, struct: str | None, path: tuple[str, ...]) -> None:
        if self.error is not None:
            return
        where = (
            f"Go struct field {struct or ''}.{'.'.join(path)}"
            if struct is not None or path
            else "Go value"
        )
        self.error = bad_request_body(
            f"json: cannot unmarshal {what} into {where} of type {_type_string(kind)}"
        )

    def value(
        self, value: object, kind: GoType, struct: str | None, path: tuple[str, ...]
    ) -> tuple[bool, object]:
        """``(True, decoded)``, or ``(False, None)`` when nothing is stored
        (``null``, or a type error)."""
        if value is None:
            return False, None
        if isinstance(kind, GoStruct):
            if not isinstance(value, dict):
                self.refuse(go_kind_of(value), kind, struct, path)
                return False, None
            out: dict[str, object] = {}
            for key, item in _members(value):
                found = kind.field(key)
                if found is None:
                    continue
                name, field_kind = found
                stored, decoded = self.value(item, field_kind, kind.name, (*path, name))
                if not stored:
                    continue
                previous = out.get(name)
                if isinstance(previous, dict) and isinstance(decoded, dict):
                    decoded = {**previous, **decoded}  # Go decodes into the same struct
                out[name] = decoded
            return True, {name: out[name] for name, _ in kind.fields if name in out}
        if isinstance(kind, GoSlice):
            if not isinstance(value, list):
                self.refuse(go_kind_of(value), kind, struct, path)
                return False, None
            items: list[object] = []
            for item in value:
                stored, decoded = self.value(item, kind.element, struct, path)
                items.append(decoded if stored else None)
            return True, items
        return self.scalar(value, kind, struct, path)

    def scalar(
        self, value: object, kind: GoKind, struct: str | None, path: tuple[str, ...]
    ) -> tuple[bool, object]:
        if kind == "any":
            return True, value
        if kind == "string" or kind == "bool":
            if isinstance(value, str if kind == "string" else bool):
                return True, value
            self.refuse(go_kind_of(value), kind, struct, path)
            return False, None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.refuse(go_kind_of(value), kind, struct, path)
            return False, None
        if kind == "float32":
            if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
                self.refuse(f"number {_number_literal(value)}", kind, struct, path)
                return False, None
            return True, -0.0 if value is _NEGATIVE_ZERO else float(value)
        # int64 / int (Go's int is 64 bits on every platform Toxiproxy ships for)
        if isinstance(value, float) or not _INT64_MIN <= value <= _INT64_MAX:
            self.refuse(f"number {_number_literal(value)}", kind, struct, path)
            return False, None
        return True, int(value)


def go_decode(
    value: object, kind: GoType, *, struct: str | None = None, path: tuple[str, ...] = ()
) -> tuple[object, Exception | None]:
    """Decode ``value`` as Go's ``json.Decoder.Decode`` into ``kind`` would.

    Returns what was stored (a struct is a dict of the fields present and not
    null, in declared order; ``None`` when nothing was) and the first type
    error (an :class:`ApiError` 400), if any: as in Go, the fields after a bad
    one are still decoded. ``struct``/``path`` place the value inside an outer
    struct, for the error wording."""
    decoding = _Decoding()
    stored, decoded = decoding.value(value, kind, struct, path)
    return (decoded if stored else None), decoding.error


def decode_fields(
    value: object, go_type: str, fields: Mapping[str, GoKind], *, path: str = ""
) -> dict[str, object]:
    """Decode a JSON object into the fields named in ``fields`` (Go struct
    semantics: case-insensitive names, ``null`` skipped, unknown ignored);
    raises the first type error. ``path`` (``"attributes"``) places the
    struct as a field of ``ToxicWrapper``, as a toxic's attributes are.

    Returns only the fields present and non-null, in their declared order."""
    kind = GoStruct(go_type, f"toxics.{go_type}" if path else go_type, tuple(fields.items()))
    decoded, error = go_decode(
        value, kind, struct="ToxicWrapper" if path else None, path=(path,) if path else ()
    )
    if error is not None:
        raise error
    return dict(decoded) if isinstance(decoded, dict) else {}


# --- encoding -------------------------------------------------------------

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_HTML_ESCAPES["\u2029"] = "\\u2029"


def _encode_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if any(ch in encoded for ch in _HTML_ESCAPES):
        encoded = "".join(_HTML_ESCAPES.get(ch, ch) for ch in encoded)
    return encoded


def _to_float32(value: float) -> float:
    packed: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return packed


_F32_MICRO = struct.unpack("<f", struct.pack("<f", 1e-6))[0]
_F32_1E21 = struct.unpack("<f", struct.pack("<f", 1e21))[0]


def format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f'|'e', -1, 32)`` as encoding/json uses it."""
    f32 = _to_float32(value)
    if f32 == 0:
        return "-0" if math.copysign(1.0, f32) < 0 else "0"
    digits = f"{f32:.9g}"
    for precision in range(1, 10):
        candidate = f"{f32:.{precision}g}"
        if _to_float32(float(candidate)) == f32:
            digits = candidate
            break
    magnitude = abs(f32)
    # Go compares in float32 (float32(abs) < 1e-6): float32(1e-6) itself is 'f'.
    if magnitude < _F32_MICRO or magnitude >= _F32_1E21:
        mantissa, _, exponent = f"{Decimal(digits):e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exponent.startswith("-") else "+"
        exp_digits = exponent.lstrip("+-").lstrip("0").rjust(2, "0")
        if sign == "-" and exp_digits.startswith("0"):
            # encoding/json cleans strconv's e-09 up to e-9 (negative only).
            exp_digits = exp_digits[1:]
        return f"{mantissa}e{sign}{exp_digits}"
    text = format(Decimal(digits), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, Float32):
        out.append(format_float32(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_encode_string(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: object) -> bytes:
    """Compact JSON in insertion order, as Go's ``json.Marshal`` writes it."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
