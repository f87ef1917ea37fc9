"""CUP-style ISO 8583 for POS terminals and hosts: framing, codec, MAC, keys.

Pure and I/O-free: callers own the sockets. The usual path is::

    framer = Framer()
    for payload in framer.feed(data):          # bytes from recv()
        request = decode(payload)              # DecodeError -> answer 30 / close
        if not verify(payload, mak):           # MAC failure -> A0
            ...
        reply = sign(reply_to(request, fields={39: "00"}), mak)
        send(frame(encode(reply)))
"""

from __future__ import annotations

from .errors import (
    DecodeError,
    EmptyFrame,
    EncodeError,
    FieldError,
    FrameTooLarge,
    FramingError,
    Iso8583Error,
    KeyBlockError,
    MacError,
    PinBlockError,
)
from .framing import Framer, Header, ProcessingRequirement, Tpdu, frame
from .mac import MacAlgorithm, compute_mac, mac_block, sign, sign_encoded, verify
from .message import (
    ECHOED_FIELDS,
    FieldValue,
    IsoMessage,
    decode,
    encode,
    is_reply_to,
    mask_pan,
    reply_to,
    response_mti,
)
from .spec import CUP_SPEC, FIELD_KINDS, FieldKind

__all__ = [
    "CUP_SPEC",
    "ECHOED_FIELDS",
    "FIELD_KINDS",
    "DecodeError",
    "EmptyFrame",
    "EncodeError",
    "FieldError",
    "FieldKind",
    "FieldValue",
    "FrameTooLarge",
    "Framer",
    "FramingError",
    "Header",
    "Iso8583Error",
    "IsoMessage",
    "KeyBlockError",
    "MacAlgorithm",
    "MacError",
    "PinBlockError",
    "ProcessingRequirement",
    "Tpdu",
    "compute_mac",
    "decode",
    "encode",
    "frame",
    "is_reply_to",
    "mac_block",
    "mask_pan",
    "reply_to",
    "response_mti",
    "sign",
    "sign_encoded",
    "verify",
]
