"""The codec: :class:`IsoMessage` <-> CUP payload bytes (without the length prefix).

``encode_reference`` and ``decode_reference`` sit on ``pyiso8583`` and add only
what it does not check: field types, decimal-only BCD, the TPDU/header objects,
and a bitmap limited to the fields the CUP spec knows. ``encode`` and
``decode`` -- what everything calls -- first try the codec compiled from the
same spec (:mod:`.compiled_codec`, about 5x cheaper) and hand anything it does
not plainly accept to the reference path, so errors are the library's own.
``use_codec(CodecPath.PYISO8583)`` makes the library do all the work (a
server's ``--codec pyiso8583``, the benchmarks' comparison). ``decode`` is the
boundary for bytes from the network and raises :class:`DecodeError` and
nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

import iso8583

from .compiled_codec import CompiledCodec, compile_codec
from .errors import DecodeError, EncodeError, FieldError
from .framing import TPDU_LEN, Header, ProcessingRequirement, Tpdu
from .spec import ALLOWED_BITMAP_MASK, CUP_SPEC, FIELD_KINDS, HEADER_AND_TPDU_LEN, FieldKind

__all__ = [
    "ECHOED_FIELDS",
    "CodecPath",
    "FieldValue",
    "IsoMessage",
    "codec_in_use",
    "decode",
    "decode_reference",
    "encode",
    "encode_reference",
    "is_reply_to",
    "mask_pan",
    "reply_to",
    "response_mti",
    "use_codec",
]

FieldValue = str | bytes
SpecDict = Mapping[str, Mapping[str, Any]]

# What a CUP host copies from a request into its reply unless told otherwise.
# F3/F11/F41 are what the terminal matches the reply on; the rest lets the
# reply stand on its own in a journal (PAN, amount, batch in 60).
ECHOED_FIELDS: tuple[int, ...] = (2, 3, 4, 11, 22, 25, 41, 42, 49, 60, 61)

_MIN_PAYLOAD = HEADER_AND_TPDU_LEN + 2 + 8
_BITMAP_START = HEADER_AND_TPDU_LEN + 2
_TRACK_CHARS = frozenset("0123456789D")
_KEYS: dict[int, str] = {number: str(number) for number in FIELD_KINDS}
_NUMBERS: dict[str, int] = {key: number for number, key in _KEYS.items()}
# Enum attribute access costs ~150 ns on 3.11; the codec loops read these a
# dozen times per message, so they are bound once here.
_NUMERIC, _TRACK, _BINARY = FieldKind.NUMERIC, FieldKind.TRACK, FieldKind.BINARY
_COMPILED = compile_codec(CUP_SPEC, FIELD_KINDS)


class CodecPath(Enum):
    """Which code turns messages into bytes and back (same bytes, same errors)."""

    COMPILED = "compiled"  # compiled from CUP_SPEC, falling back to pyiso8583
    PYISO8583 = "pyiso8583"  # the library alone: the reference


_active: CompiledCodec | None = _COMPILED


def use_codec(path: CodecPath | str) -> CodecPath:
    """Select the codec path for this process; returns the one it replaces.
    ``COMPILED`` is refused only if CUP_SPEC's layout could not be compiled."""
    global _active
    previous = codec_in_use()
    _active = _COMPILED if CodecPath(path) is CodecPath.COMPILED else None
    return previous


def codec_in_use() -> CodecPath:
    return CodecPath.COMPILED if _active is not None else CodecPath.PYISO8583


def mask_pan(pan: str) -> str:
    """First 6 + last 4 digits, the rest ``*``; track data after ``D`` is hidden."""
    account, separator, _ = pan.partition("D")
    if len(account) <= 10:
        masked = "*" * len(account)
    else:
        masked = account[:6] + "*" * (len(account) - 10) + account[-4:]
    return masked + ("D***" if separator else "")


@dataclasses.dataclass(slots=True)
class IsoMessage:
    """One CUP message. ``fields`` maps field number to ``str`` (numeric, track
    and text fields) or ``bytes`` (52, 55, 62, 64); see ``spec.FIELD_KINDS``."""

    mti: str
    fields: dict[int, FieldValue] = dataclasses.field(default_factory=dict)
    tpdu: Tpdu = dataclasses.field(default_factory=Tpdu)
    header: Header = dataclasses.field(default_factory=Header)

    def text(self, number: int) -> str | None:
        """Field ``number`` as text, ``None`` when absent."""
        value = self.fields.get(number)
        if value is None or isinstance(value, str):
            return value
        raise FieldError(f"field {number} is binary, not text")

    def binary(self, number: int) -> bytes | None:
        """Field ``number`` as bytes, ``None`` when absent."""
        value = self.fields.get(number)
        if value is None or isinstance(value, bytes):
            return value
        raise FieldError(f"field {number} is text, not binary")

    def require(self, number: int) -> str:
        """Field ``number`` as text; :class:`FieldError` when absent (answer 30)."""
        value = self.text(number)
        if value is None:
            raise FieldError(f"{self.mti} is missing mandatory field {number}")
        return value

    def copy(self) -> IsoMessage:
        return IsoMessage(self.mti, dict(self.fields), self.tpdu, self.header)

    def __repr__(self) -> str:
        # Messages end up in logs: never show a PAN, track data, PIN block or key.
        shown: list[str] = []
        for number in sorted(self.fields):
            value = self.fields[number]
            if isinstance(value, bytes):
                text = f"<{len(value)} bytes>"
            elif number in (2, 35, 36):
                text = repr(mask_pan(value))
            else:
                text = repr(value)
            shown.append(f"{number}: {text}")
        return (
            f"IsoMessage(mti={self.mti!r}, fields={{{', '.join(shown)}}}, "
            f"tpdu={self.tpdu!r}, header={self.header!r})"
        )


@functools.lru_cache(maxsize=1024)
def _prefix_bytes(tpdu: Tpdu, header: Header) -> bytes:
    return tpdu.to_bytes() + header.to_bytes()


@functools.lru_cache(maxsize=1024)
def _prefix_hex(tpdu: Tpdu, header: Header) -> str:
    return _prefix_bytes(tpdu, header).hex()


@functools.lru_cache(maxsize=1024)
def _parse_prefix(prefix: bytes) -> tuple[Tpdu, Header]:
    return Tpdu.from_bytes(prefix[:TPDU_LEN]), Header.from_bytes(prefix[TPDU_LEN:])


def _is_digits(value: str) -> bool:
    return value.isdigit() and value.isascii()


def encode(msg: IsoMessage, spec: SpecDict = CUP_SPEC) -> bytes:
    """The payload for ``msg`` (TPDU onwards, no length prefix; see ``framing.frame``)."""
    codec = _active
    if codec is not None and spec is CUP_SPEC:
        payload = codec.encode(msg.mti, msg.fields, _prefix_bytes(msg.tpdu, msg.header))
        if payload is not None:
            return payload
    return encode_reference(msg, spec)


def decode(payload: bytes | bytearray | memoryview, spec: SpecDict = CUP_SPEC) -> IsoMessage:
    """Parse one payload (as returned by ``Framer.feed``). Raises only :class:`DecodeError`."""
    codec = _active
    if codec is not None and spec is CUP_SPEC:
        if type(payload) is not bytes and isinstance(payload, bytearray | memoryview):
            payload = bytes(payload)
        parsed = codec.decode(payload) if type(payload) is bytes else None
        if parsed is not None:
            try:
                tpdu, header = _parse_prefix(payload[:HEADER_AND_TPDU_LEN])
            except DecodeError:
                pass  # the reference path raises it, after the checks it makes first
            else:
                return IsoMessage(parsed[0], parsed[1], tpdu, header)
    return decode_reference(payload, spec)


def encode_reference(msg: IsoMessage, spec: SpecDict = CUP_SPEC) -> bytes:
    """``encode`` done by pyiso8583 itself (the reference for the compiled codec)."""
    mti = msg.mti
    if not (len(mti) == 4 and _is_digits(mti)):
        raise EncodeError(f"MTI must be 4 digits, got {mti!r}")
    doc: dict[str, str] = {"h": _prefix_hex(msg.tpdu, msg.header), "t": mti}
    for number, value in msg.fields.items():
        kind = FIELD_KINDS.get(number)
        if kind is None:
            raise EncodeError(f"field {number} is not in the CUP spec")
        if kind is _BINARY:
            if not isinstance(value, bytes):
                raise EncodeError(f"field {number} must be bytes, got {type(value).__name__}")
            doc[_KEYS[number]] = value.hex()
            continue
        if not isinstance(value, str):
            raise EncodeError(f"field {number} must be str, got {type(value).__name__}")
        if kind is _NUMERIC:
            if value and not (value.isdigit() and value.isascii()):
                raise EncodeError(f"field {number} must be decimal digits, got {value!r}")
        elif kind is _TRACK and not set(value) <= _TRACK_CHARS:
            raise EncodeError(f"field {number} must be digits and 'D' separators")
        doc[_KEYS[number]] = value
    try:
        encoded, _ = iso8583.encode(doc, spec)
    except iso8583.EncodeError as exc:
        raise EncodeError(f"{msg.mti}: {exc}") from None
    return bytes(encoded)


def decode_reference(
    payload: bytes | bytearray | memoryview, spec: SpecDict = CUP_SPEC
) -> IsoMessage:
    """``decode`` done by pyiso8583 itself. Raises only :class:`DecodeError`."""
    try:
        data = bytes(payload)
    except TypeError:
        raise DecodeError(f"payload must be bytes, got {type(payload).__name__}") from None
    if len(data) < _MIN_PAYLOAD:
        raise DecodeError(f"payload of {len(data)} bytes is shorter than TPDU+header+MTI+bitmap")
    bitmap = int.from_bytes(data[_BITMAP_START : _BITMAP_START + 8], "big")
    unknown = bitmap & ~ALLOWED_BITMAP_MASK
    if unknown:
        numbers = [64 - bit for bit in range(64) if unknown >> bit & 1]
        raise DecodeError(f"bitmap sets fields outside the CUP spec: {sorted(numbers)}")
    tpdu, header = _parse_prefix(data[:HEADER_AND_TPDU_LEN])
    try:
        decoded, encoded = iso8583.decode(data, spec)
    except iso8583.DecodeError as exc:
        raise DecodeError(str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # a spec/library gap
        raise DecodeError(f"undecodable payload ({type(exc).__name__}: {exc})") from None
    mti = decoded["t"]
    if not mti.isdigit():
        raise DecodeError(f"MTI {mti!r} is not BCD")
    fields: dict[int, FieldValue] = {}
    for key, value in decoded.items():
        number = _NUMBERS.get(key)
        if number is None:  # h, t, p
            continue
        kind = FIELD_KINDS[number]
        if kind is _BINARY:
            fields[number] = encoded[key]["data"]
            continue
        if kind is _NUMERIC:
            if value and not value.isdigit():
                raise DecodeError(f"field {number} holds non-decimal BCD {value!r}")
        elif kind is _TRACK and not set(value) <= _TRACK_CHARS:
            raise DecodeError(f"field {number} holds nibbles other than digits and D")
        fields[number] = value
    return IsoMessage(mti, fields, tpdu, header)


def response_mti(mti: str) -> str:
    """The reply MTI for a request (0200 -> 0210, 0421 repeat -> 0430)."""
    if not (len(mti) == 4 and _is_digits(mti)) or int(mti[2]) % 2:
        raise EncodeError(f"{mti!r} is not a request MTI")
    return f"{mti[:2]}{int(mti[2]) + 1}0"


def reply_to(
    request: IsoMessage,
    mti: str | None = None,
    fields: Mapping[int, FieldValue | None] | None = None,
    *,
    echo: Iterable[int] = ECHOED_FIELDS,
    processing_requirement: int = ProcessingRequirement.NONE,
) -> IsoMessage:
    """A host's reply: MTI + 10, TPDU swapped, ``echo`` fields copied from the
    request, then ``fields`` applied (a ``None`` value removes a field).
    ``processing_requirement`` goes into the header nibble (e.g. SIGN_ON).
    Field 64 is never copied: sign the reply with ``mac.sign``."""
    reply_fields: dict[int, FieldValue] = {
        number: request.fields[number] for number in echo if number in request.fields
    }
    for number, value in (fields or {}).items():
        if value is None:
            reply_fields.pop(number, None)
        else:
            reply_fields[number] = value
    reply_fields.pop(64, None)
    tpdu, header = _reply_prefix(request.tpdu, request.header, processing_requirement)
    return IsoMessage(
        mti=mti if mti is not None else response_mti(request.mti),
        fields=reply_fields,
        tpdu=tpdu,
        header=header,
    )


@functools.lru_cache(maxsize=4096)
def _reply_prefix(tpdu: Tpdu, header: Header, requirement: int) -> tuple[Tpdu, Header]:
    # A host's replies repeat a few prefixes; building and validating the two
    # dataclasses anew cost ~8 µs a reply (a tenth of the issuer's CPU).
    return tpdu.swapped(), header.with_requirement(requirement)


def is_reply_to(response: IsoMessage, request: IsoMessage) -> bool:
    """True when ``response`` answers ``request``: reply MTI and the same F3,
    F11 and F41. A terminal treats anything else as no answer."""
    try:
        expected_mti = response_mti(request.mti)
    except EncodeError:
        return False
    if response.mti != expected_mti:
        return False
    return all(response.fields.get(number) == request.fields.get(number) for number in (3, 11, 41))
