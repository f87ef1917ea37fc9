"""The wire: 2-byte length, TPDU, CUP header, then ISO 8583 on pyiso8583.

Written from docs/pos-domain.md ("Framing on TCP"), not from the lab's codec:
this host must be able to disagree with the lab. Values are kept as pyiso8583
gives them — digit strings for numeric fields, hex strings for binary ones —
and :class:`Message` offers the few conversions the host needs.
"""

from __future__ import annotations

import copy
import socket
from dataclasses import dataclass, field
from typing import Any

import iso8583
from iso8583.specs import default as _default_spec

PREFIX_LEN = 11  # TPDU 5 + header 6


def _n(digits: int, *, right: bool = False) -> dict[str, Any]:
    spec = {"data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": digits}
    spec["len_count"] = "nibbles"
    if digits % 2:
        spec["right_pad" if right else "left_pad"] = "0"
    return spec


def _llvar_n(max_digits: int, len_bytes: int = 1) -> dict[str, Any]:
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_bytes,
        "max_len": max_digits,
        "len_count": "nibbles",
        "right_pad": "0",
    }


def _an(length: int, len_bytes: int = 0) -> dict[str, Any]:
    return {"data_enc": "ascii", "len_enc": "bcd", "len_type": len_bytes, "max_len": length}


def _b(length: int, len_bytes: int = 0) -> dict[str, Any]:
    return {"data_enc": "b", "len_enc": "bcd", "len_type": len_bytes, "max_len": length}


SPEC: dict[str, dict[str, Any]] = copy.deepcopy(_default_spec)  # type: ignore[arg-type]
SPEC.update(
    {
        "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": PREFIX_LEN},
        "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2},
        "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8},
        "2": _llvar_n(19),
        "3": _n(6),
        "4": _n(12),
        "11": _n(6),
        "12": _n(6),
        "13": _n(4),
        "14": _n(4),
        "15": _n(4),
        "22": _n(3, right=True),
        "23": _n(3),
        "25": _n(2),
        "26": _n(2),
        "32": _llvar_n(11),
        "35": _llvar_n(37),
        "36": _llvar_n(104, 2),
        "37": _an(12),
        "38": _an(6),
        "39": _an(2),
        "41": _an(8),
        "42": _an(15),
        "44": _an(25, 1),
        "48": _b(512, 2),  # BCD digits, length in bytes
        "49": _an(3),
        "52": _b(8),
        "53": _n(16),
        "54": _an(20, 2),
        "55": _b(255, 2),
        "60": _llvar_n(64, 2),
        "61": _llvar_n(64, 2),
        "62": _b(512, 2),
        "63": _an(163, 2),
        "64": _b(8),
    }
)


@dataclass(slots=True)
class Message:
    mti: str
    prefix: bytes  # TPDU + header as received
    fields: dict[int, str] = field(default_factory=dict)

    def get(self, n: int) -> str | None:
        return self.fields.get(n)

    def need(self, n: int) -> str:
        value = self.fields.get(n)
        if value is None:
            raise ValueError(f"field {n} missing from {self.mti}")
        return value

    def raw(self, n: int) -> bytes | None:
        value = self.fields.get(n)
        return None if value is None else bytes.fromhex(value)

    def reply_prefix(self, ask_sign_on: bool = False) -> bytes:
        """TPDU with destination and source swapped; the header's processing
        nibble set to 3 ("sign on again") when asked, else 0."""
        tpdu = self.prefix[:5]
        header = bytearray(self.prefix[5:PREFIX_LEN])
        header[2] = (header[2] & 0xF0) | (3 if ask_sign_on else 0)
        return tpdu[:1] + tpdu[3:5] + tpdu[1:3] + bytes(header)


def decode(payload: bytes) -> Message:
    doc, _ = iso8583.decode(payload, SPEC)
    fields = {int(k): v for k, v in doc.items() if k.isdigit() and k not in ("1",)}
    return Message(doc["t"], payload[:PREFIX_LEN], fields)


def encode(msg: Message) -> bytes:
    doc: dict[str, str] = {"h": msg.prefix.hex().upper(), "t": msg.mti}
    doc.update({str(k): v for k, v in sorted(msg.fields.items())})
    raw, _ = iso8583.encode(doc, SPEC)
    return bytes(raw)


def read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed payload; None when the peer closed."""
    head = _read_exact(sock, 2)
    if head is None:
        return None
    return _read_exact(sock, int.from_bytes(head, "big"))


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        got = sock.recv(n - len(chunks))
        if not got:
            return None
        chunks += got
    return bytes(chunks)


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload
