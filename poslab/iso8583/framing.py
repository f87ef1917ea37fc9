"""TCP framing of CUP messages: 2-byte length, TPDU, application header.

On the wire every message is::

    [LEN 2 bytes big-endian][TPDU 5][Header 6][MTI 2 BCD][bitmap 8][fields]

``frame``/``Framer`` deal with the length prefix only; ``Tpdu`` and ``Header``
are the 11 bytes at the start of every payload (the codec in
:mod:`poslab.iso8583.message` reads and writes them). Nothing here does I/O: the
``Framer`` is fed whatever ``recv`` returned and hands back whole payloads.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum

from .errors import DecodeError, EmptyFrame, EncodeError, FrameTooLarge

__all__ = [
    "HEADER_LEN",
    "LENGTH_PREFIX_LEN",
    "TPDU_LEN",
    "Framer",
    "Header",
    "ProcessingRequirement",
    "Tpdu",
    "frame",
]

LENGTH_PREFIX_LEN = 2
TPDU_LEN = 5
HEADER_LEN = 6
_MAX_PREFIX_VALUE = 0xFFFF
_HEX_DIGITS = frozenset("0123456789ABCDEF")


class ProcessingRequirement(IntEnum):
    """Low nibble of header byte 3, set by the host in a reply: what the
    terminal must do next, without failing the transaction it just did."""

    NONE = 0
    DOWNLOAD_MAGSTRIPE_PARAMS = 1
    UPLOAD_STATUS = 2
    SIGN_ON = 3
    UPDATE_PUBLIC_KEYS = 4
    DOWNLOAD_IC_PARAMS = 5
    TMS_DOWNLOAD = 6
    BIN_BLACKLIST = 7
    RATES = 8


def _is_decimal(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


@dataclasses.dataclass(frozen=True, slots=True)
class Tpdu:
    """Transport PDU: id (0x60) + destination + source addresses.

    Addresses are 4 hex digits as on the wire ("0003"). They are nominally BCD,
    but network access points in the field carry any nibble, so any hex digit
    is accepted rather than rejecting real traffic.
    """

    destination: str = "0000"
    source: str = "0000"
    id: int = 0x60

    def __post_init__(self) -> None:
        for name in ("destination", "source"):
            value = getattr(self, name)
            if len(value) != 4 or not set(value) <= _HEX_DIGITS:
                raise EncodeError(f"TPDU {name} must be 4 uppercase hex digits, got {value!r}")
        if not 0 <= self.id <= 0xFF:
            raise EncodeError(f"TPDU id must be one byte, got {self.id}")

    def swapped(self) -> Tpdu:
        """The TPDU of a reply: the host swaps destination and source."""
        return Tpdu(destination=self.source, source=self.destination, id=self.id)

    def to_bytes(self) -> bytes:
        return bytes((self.id,)) + bytes.fromhex(self.destination + self.source)

    @classmethod
    def from_bytes(cls, data: bytes) -> Tpdu:
        if len(data) != TPDU_LEN:
            raise DecodeError(f"TPDU must be {TPDU_LEN} bytes, got {len(data)}")
        text = data[1:].hex().upper()
        return cls(destination=text[:4], source=text[4:], id=data[0])


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    """The 6-byte CUP application header.

    ``processing_requirement`` is kept as an ``int`` when it is outside
    :class:`ProcessingRequirement` (a newer host may send 9-15); known values
    are the enum members.
    """

    app_type: str = "60"
    spec_version: str = "31"
    terminal_status: int = 0
    processing_requirement: int = ProcessingRequirement.NONE
    software_version: str = "000000"

    def __post_init__(self) -> None:
        if not _is_decimal(self.app_type, 2):
            raise EncodeError(f"header app type must be 2 digits, got {self.app_type!r}")
        if not _is_decimal(self.spec_version, 2):
            raise EncodeError(f"header spec version must be 2 digits, got {self.spec_version!r}")
        if not _is_decimal(self.software_version, 6):
            raise EncodeError(
                f"header software version must be 6 digits, got {self.software_version!r}"
            )
        for name in ("terminal_status", "processing_requirement"):
            value = getattr(self, name)
            if not 0 <= value <= 0xF:
                raise EncodeError(f"header {name} must be one nibble (0-15), got {value}")
        try:
            requirement = ProcessingRequirement(self.processing_requirement)
        except ValueError:
            return
        object.__setattr__(self, "processing_requirement", requirement)

    def with_requirement(self, requirement: int) -> Header:
        """This header with another processing-requirement nibble (host replies)."""
        return dataclasses.replace(self, processing_requirement=requirement)

    def to_bytes(self) -> bytes:
        nibbles = (self.terminal_status << 4) | self.processing_requirement
        return (
            bytes.fromhex(self.app_type + self.spec_version)
            + bytes((nibbles,))
            + bytes.fromhex(self.software_version)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        if len(data) != HEADER_LEN:
            raise DecodeError(f"header must be {HEADER_LEN} bytes, got {len(data)}")
        text = data.hex()
        try:
            return cls(
                app_type=text[0:2],
                spec_version=text[2:4],
                terminal_status=data[2] >> 4,
                processing_requirement=data[2] & 0xF,
                software_version=text[6:12],
            )
        except EncodeError as exc:
            raise DecodeError(f"malformed header {text.upper()}: {exc}") from None


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 2-byte big-endian length, ready to send."""
    size = len(payload)
    if size == 0:
        raise EmptyFrame("refusing to frame an empty payload")
    if size > _MAX_PREFIX_VALUE:
        raise FrameTooLarge(f"payload of {size} bytes does not fit a 2-byte length prefix")
    return size.to_bytes(LENGTH_PREFIX_LEN, "big") + payload


class Framer:
    """Sans-IO splitter of a TCP byte stream into CUP payloads.

    ``feed`` takes whatever a read returned (part of a frame, exactly one, or
    several) and returns the payloads completed by it, length prefix removed.

    A zero length or one above ``max_frame`` raises :class:`EmptyFrame` /
    :class:`FrameTooLarge`. The stream cannot be resynchronised after that (the
    next length prefix is somewhere unknown), so the caller must close the
    connection; the framer stays poisoned and raises the same error on any
    further ``feed``.
    """

    __slots__ = ("_buffer", "_error", "max_frame")

    def __init__(self, max_frame: int = 8192) -> None:
        if not 1 <= max_frame <= _MAX_PREFIX_VALUE:
            raise ValueError(f"max_frame must be 1..{_MAX_PREFIX_VALUE}, got {max_frame}")
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._error: EmptyFrame | FrameTooLarge | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a complete payload."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._error is not None:
            raise type(self._error)(f"{self._error} (framer already failed; close the connection)")
        buffer = self._buffer
        buffer += data
        payloads: list[bytes] = []
        start = 0
        end = len(buffer)
        while end - start >= LENGTH_PREFIX_LEN:
            size = (buffer[start] << 8) | buffer[start + 1]
            if size == 0:
                self._error = EmptyFrame("peer sent a frame with length 0")
            elif size > self.max_frame:
                self._error = FrameTooLarge(
                    f"peer announced a {size}-byte frame, above the {self.max_frame}-byte limit"
                )
            if self._error is not None:
                del buffer[:start]
                raise self._error
            if end - start - LENGTH_PREFIX_LEN < size:
                break
            body_start = start + LENGTH_PREFIX_LEN
            payloads.append(bytes(buffer[body_start : body_start + size]))
            start = body_start + size
        if start:
            del buffer[:start]
        return payloads
