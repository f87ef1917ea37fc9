"""One encoder and one decoder per CUP field, built once from its pyiso8583 spec.

What pyiso8583 works out on every call -- length prefix width and encoding,
nibble or byte counting, which pad goes where, whether the data is BCD, ASCII
or raw -- is read from ``spec.CUP_SPEC`` here, once, and frozen into a small
closure per field with its BCD length prefixes precomputed both ways.

Every handler accepts only what is plainly valid and otherwise *bails*: an
encoder returns ``None``, a decoder returns ``-1``. The caller then lets
pyiso8583 handle the whole message, so each error is the library's own.
A spec entry this module does not know how to compile gets handlers that
always bail (the field is then always the library's).

The checks on values are the ones :mod:`.message` adds on top of the library:
numeric fields hold ASCII decimal digits, track fields digits and ``D``, text
fields whatever their ``data_enc`` can carry, binary fields ``bytes``.
"""

from __future__ import annotations

from binascii import a2b_hex
from collections.abc import Callable, Mapping
from typing import Any

from .spec import FieldKind

__all__ = ["FieldDecoder", "FieldEncoder", "FieldValue", "compile_field"]

FieldValue = str | bytes
# value -> the field as on the wire (length prefix + data), or None: bail.
FieldEncoder = Callable[[object], bytes | None]
# (payload, position, fields) -> position after the field, having stored its
# value in ``fields``; or -1: bail.
FieldDecoder = Callable[[bytes, int, dict[int, FieldValue]], int]

_TRACK_CHARS = frozenset("0123456789D")


def _bail_encoder(value: object) -> None:
    return None


def _bail_decoder(data: bytes, pos: int, fields: dict[int, FieldValue]) -> int:
    return -1


def _digits_or_empty(text: str) -> bool:
    return not text or (text.isdigit() and text.isascii())


def _track(text: str) -> bool:
    return _TRACK_CHARS.issuperset(text)


def _length_tables(width: int, max_count: int) -> tuple[list[bytes], dict[bytes, int]]:
    """BCD length prefixes of ``width`` bytes for every count the field may
    carry, both ways. Counts the prefix cannot hold are left out (pyiso8583
    rejects them, so such a value bails)."""
    if width == 0:
        return [], {}
    top = min(max_count, 10 ** (2 * width) - 1)
    prefixes = [bytes.fromhex(f"{count:0{2 * width}d}") for count in range(top + 1)]
    return prefixes, {prefix: count for count, prefix in enumerate(prefixes)}


def _fixed_digits(number: int, field: Mapping[str, Any]) -> tuple[FieldEncoder, FieldDecoder]:
    """Fixed numeric BCD (3, 4, 11, 22, 25...), the commonest fields, with no
    branch left to take: an odd count's pad nibble is a digit, checked with
    the rest. Same results as :func:`_nibbles`, which the tests compare."""
    digits: int = field["max_len"]
    size = (digits + 1) // 2
    left: str = field.get("left_pad", "")[:1] if digits & 1 else ""
    right: str = "" if left or not digits & 1 else field.get("right_pad", "")[:1]
    start, stop = len(left), 2 * size - len(right)

    def encode(value: object) -> bytes | None:
        if type(value) is str and len(value) == digits and value.isdigit() and value.isascii():
            return a2b_hex(left + value + right)
        return None

    def decode(data: bytes, pos: int, fields: dict[int, FieldValue]) -> int:
        end = pos + size
        text = data[pos:end].hex()
        if len(text) != 2 * size or not text.isdigit():
            return -1
        if (start and text[0] != left) or (stop < 2 * size and text[-1] != right):
            return -1
        fields[number] = text[start:stop]
        return end

    return encode, decode


def _nibbles(
    number: int, field: Mapping[str, Any], track: bool
) -> tuple[FieldEncoder, FieldDecoder]:
    """BCD digits counted in nibbles (2, 3, 4, 22, 35, 60...); odd counts padded."""
    width: int = field["len_type"]
    max_len: int = field["max_len"]
    left: str = field.get("left_pad", "")[:1]
    right: str = field.get("right_pad", "")[:1]
    prefixes, counts = _length_tables(width, max_len)
    limit = len(prefixes)
    valid = _track if track else _digits_or_empty
    fixed_bytes = (max_len + 1) // 2

    def encode(value: object) -> bytes | None:
        if type(value) is not str or not valid(value):
            return None
        size = len(value)
        if width:
            if size >= limit:
                return None
            head = prefixes[size]
        elif size == max_len:
            head = b""
        else:
            return None
        if size & 1:
            if left:
                value = left + value
            elif right:
                value += right
            else:
                return None
        try:
            return head + a2b_hex(value)
        except ValueError:  # a pad character that is not a hex digit
            return None

    def decode(data: bytes, pos: int, fields: dict[int, FieldValue]) -> int:
        if width:
            count = counts.get(data[pos : pos + width], -1)
            if count < 0:
                return -1
            pos += width
            end = pos + (count + 1) // 2
        else:
            count = max_len
            end = pos + fixed_bytes
        text = data[pos:end].hex()
        if len(text) != 2 * (end - pos):
            return -1
        if track:  # digits read the same in either case; D is upper case
            text = text.upper()
        if count & 1:
            if left and text[0] == left:
                text = text[1:]
            elif right and text[-1] == right:
                text = text[:-1]
            else:
                return -1
        if not valid(text):
            return -1
        fields[number] = text
        return end

    return encode, decode


def _byte_counted(
    number: int, field: Mapping[str, Any], kind: FieldKind
) -> tuple[FieldEncoder, FieldDecoder]:
    """Fields whose length counts bytes: raw binary (52, 55, 62, 64), BCD
    digits counted in bytes (48), text in the field's ``data_enc`` (37, 63...)."""
    width: int = field["len_type"]
    max_len: int = field["max_len"]
    data_enc: str = field["data_enc"]
    prefixes, counts = _length_tables(width, max_len)
    limit = len(prefixes)
    binary = kind is FieldKind.BINARY
    digits = kind is FieldKind.NUMERIC
    ascii_text = data_enc == "ascii"

    def to_wire(value: object) -> bytes | None:
        if binary:
            return value if type(value) is bytes else None
        if type(value) is not str:
            return None
        if digits:  # 48: an even number of digits
            return a2b_hex(value) if _digits_or_empty(value) and not len(value) & 1 else None
        if ascii_text:
            return value.encode() if value.isascii() else None
        try:
            return value.encode(data_enc)
        except (UnicodeError, LookupError):
            return None

    def encode(value: object) -> bytes | None:
        data = to_wire(value)
        if data is None:
            return None
        size = len(data)
        if width:
            return prefixes[size] + data if size < limit else None
        return data if size == max_len else None

    def decode(data: bytes, pos: int, fields: dict[int, FieldValue]) -> int:
        if width:
            count = counts.get(data[pos : pos + width], -1)
            if count < 0:
                return -1
            pos += width
        else:
            count = max_len
        end = pos + count
        chunk = data[pos:end]
        if len(chunk) != count:
            return -1
        if binary:
            fields[number] = chunk
        elif digits:
            text = chunk.hex()
            if not _digits_or_empty(text):
                return -1
            fields[number] = text
        elif ascii_text:
            if not chunk.isascii():
                return -1
            fields[number] = chunk.decode()
        else:
            try:
                fields[number] = chunk.decode(data_enc)
            except (UnicodeError, LookupError):
                return -1
        return end

    return encode, decode


def compile_field(
    number: int, field: Mapping[str, Any], kind: FieldKind
) -> tuple[FieldEncoder, FieldDecoder] | None:
    """Handlers for field ``number``; None when its spec is not one compiled here
    (a binary or text length prefix, nibble-counted text...)."""
    width = field.get("len_type")
    if not isinstance(width, int) or width < 0 or (width and field.get("len_enc") != "bcd"):
        return None
    nibbles = field.get("len_count", "bytes") == "nibbles"
    data_enc = field.get("data_enc")
    if data_enc == "b":
        if nibbles and kind is FieldKind.NUMERIC and not width and _digit_pad(field):
            return _fixed_digits(number, field)
        if nibbles and kind in (FieldKind.NUMERIC, FieldKind.TRACK):
            return _nibbles(number, field, kind is FieldKind.TRACK)
        if not nibbles and kind in (FieldKind.BINARY, FieldKind.NUMERIC):
            return _byte_counted(number, field, kind)
    elif isinstance(data_enc, str) and not nibbles and kind is FieldKind.TEXT:
        return _byte_counted(number, field, kind)
    return None


def _digit_pad(field: Mapping[str, Any]) -> bool:
    """An even digit count, or an odd one padded by a single digit nibble
    (the left pad is the one pyiso8583 writes when both are given)."""
    if not field["max_len"] & 1:
        return True
    pad = field.get("left_pad", "")[:1] or field.get("right_pad", "")[:1]
    return bool(pad.isdigit() and pad.isascii())


BAIL: tuple[FieldEncoder, FieldDecoder] = (_bail_encoder, _bail_decoder)
