"""The ISO 8583 layer's own exception tree.

``poslab.iso8583`` is pure and imports nothing else from the lab, so it keeps its
own tree instead of deriving from :mod:`poslab.errors`. Callers at a boundary (the
acquirer's connection handler, the terminal's channel) catch
:class:`Iso8583Error` and answer code 30 or close the connection.

    Iso8583Error
    ├── FramingError          the length-prefixed TCP stream is unusable: close it
    │   ├── EmptyFrame        a frame announced 0 bytes
    │   └── FrameTooLarge     a frame announced more than the framer accepts
    ├── DecodeError           bytes that are not a valid CUP message (answer 30)
    │   └── FieldError        a decoded field whose sub-fields are malformed (60, 48, 61, ...)
    ├── EncodeError           a message that cannot be put on the wire (a caller bug)
    ├── MacError              MAC cannot be computed: no bit 64, bad key length
    ├── KeyBlockError         field 62 too short, check value mismatch, bad key length
    └── PinBlockError         a PIN block that does not decrypt to ISO format 0
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "EmptyFrame",
    "EncodeError",
    "FieldError",
    "FrameTooLarge",
    "FramingError",
    "Iso8583Error",
    "KeyBlockError",
    "MacError",
    "PinBlockError",
]


class Iso8583Error(Exception):
    """Base of every error ``poslab.iso8583`` raises on purpose."""


class FramingError(Iso8583Error):
    """The TCP byte stream cannot be split into frames; the connection must be closed."""


class EmptyFrame(FramingError):
    """A length prefix of zero: no CUP peer sends an empty message."""


class FrameTooLarge(FramingError):
    """A length prefix above the configured maximum (garbage, or a hostile peer)."""


class DecodeError(Iso8583Error):
    """The payload is not a well-formed CUP message."""


class FieldError(DecodeError):
    """A field decoded, but its sub-fields (60.x, 48 totals, 61, 62) are malformed."""


class EncodeError(Iso8583Error):
    """A message that cannot be encoded: wrong type, length or characters in a field."""


class MacError(Iso8583Error):
    """The MAC cannot be computed (no bit 64, wrong key length)."""


class KeyBlockError(Iso8583Error):
    """Field 62 working keys that are truncated or fail their check value."""


class PinBlockError(Iso8583Error):
    """A PIN or PIN block that is not valid ISO 9564 format 0."""
