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
string``) so messages read the same against either server.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from poslab.proxy.api_error import bad_request_body

__all__ = [
    "Float32",
    "GoKind",
    "decode_fields",
    "dumps",
    "go_kind_of",
    "parse_body",
]

GoKind = Literal["string", "bool", "float32", "int64", "int"]

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


_DECODER = json.JSONDecoder(parse_float=GoFloat, parse_constant=_refuse_constant)


def parse_body(raw: bytes) -> object:
    """The first JSON value of a request body; trailing bytes are ignored."""
    text = raw.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise bad_request_body("EOF")
    try:
        value, _end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text):
            raise bad_request_body("unexpected EOF") from None
        raise bad_request_body(
            f"invalid character {text[exc.pos]!r} at offset {exc.pos}: {exc.msg}"
        ) from None
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


def _convert(value: object, kind: GoKind, where: str) -> object:
    def refuse(what: str) -> Exception:
        return bad_request_body(
            f"json: cannot unmarshal {what} into Go struct field {where} of type {kind}"
        )

    if kind == "string":
        if isinstance(value, str):
            return value
        raise refuse(go_kind_of(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise refuse(go_kind_of(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(go_kind_of(value))
    if kind == "float32":
        if not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
            raise refuse(f"number {_number_literal(value)}")
        return float(value)
    # int64 / int (Go's int is 64 bits on every platform Toxiproxy ships for)
    if isinstance(value, float) or not _INT64_MIN <= value <= _INT64_MAX:
        raise refuse(f"number {_number_literal(value)}")
    return value


def decode_fields(
    value: object, go_type: str, fields: Mapping[str, GoKind], *, path: str = ""
) -> dict[str, object]:
    """Decode a JSON object into the fields named in ``fields`` (Go struct
    semantics: case-insensitive names, ``null`` skipped, unknown ignored).

    Returns only the fields present and non-null, in their declared order."""
    if value is None:
        return {}
    where_type = f"{go_type}.{path}" if path else go_type
    if not isinstance(value, dict):
        raise bad_request_body(
            f"json: cannot unmarshal {go_kind_of(value)} into Go "
            + (f"struct field {where_type} of type object" if path else f"value of type {go_type}")
        )
    lowered = {name.lower(): name for name in fields}
    found: dict[str, object] = {}
    for key, item in value.items():
        name = key if key in fields else lowered.get(key.lower())
        if name is None or item is None:
            continue
        found[name] = _convert(item, fields[name], f"{where_type}.{name}")
    return {name: found[name] for name in fields if name in found}


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


def format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'f'|'e', -1, 32)`` as encoding/json uses it."""
    f32 = _to_float32(value)
    if f32 == 0:
        return "0"
    digits = f"{f32:.9g}"
    for precision in range(1, 10):
        candidate = f"{f32:.{precision}g}"
        if _to_float32(float(candidate)) == f32:
            digits = candidate
            break
    magnitude = abs(f32)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = f"{Decimal(digits):e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exponent.startswith("-") else "+"
        exp_digits = exponent.lstrip("+-").lstrip("0").rjust(2, "0")
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
