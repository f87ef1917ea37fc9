"""The CUP POS field specification, as a ``pyiso8583`` spec.

Encodings follow docs/pos-domain.md:

- fixed numeric fields are BCD, left-padded with 0 when the digit count is odd,
  except field 22 which is right-padded;
- LLVAR numeric (2, 32, 35) has a 1-byte BCD length counted in digits and is
  right-padded; track 2 (35) is BCD with ``D`` as the separator nibble;
- LLLVAR has a 2-byte BCD length: 60 and 61 count digits, 48/54/62/63 count bytes;
- 37, 38, 39, 41, 42, 44, 49, 54, 63 are ASCII; 52 and 64 are 8 raw bytes and
  55 and 62 are LLLVAR binary;
- ``h`` holds TPDU + header (11 bytes) and the MTI is 2 bytes BCD.

pyiso8583 ≥ 3 reads ``len_enc="b"`` as a *binary* length, so every BCD length
here says ``"bcd"``. Field 48 is BCD data (settlement totals and batch-upload
records are all digits) with its length counted in bytes, as the guide says;
its content is therefore always an even number of digits.

``FIELD_KINDS`` tells the codec which Python type each field carries: numeric,
track and text fields are ``str``, binary fields are ``bytes``. Acquirers
differ; a variant spec can be passed to ``encode``/``decode`` if it keeps the
same kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

__all__ = [
    "ALLOWED_BITMAP_MASK",
    "BINARY_FIELDS",
    "CUP_SPEC",
    "FIELD_KINDS",
    "HEADER_AND_TPDU_LEN",
    "FieldKind",
]

HEADER_AND_TPDU_LEN = 11

FieldSpec = dict[str, Any]


class FieldKind(Enum):
    NUMERIC = "n"  # BCD digits, carried as a str of decimal digits
    TRACK = "z"  # BCD digits with D separators (track 2/3), a str
    TEXT = "an"  # ASCII, a str
    BINARY = "b"  # raw bytes


def _bcd_fixed(digits: int, desc: str, *, right_pad: bool = False) -> FieldSpec:
    spec: FieldSpec = {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": 0,
        "max_len": digits,
        "len_count": "nibbles",
        "desc": desc,
    }
    if digits % 2:
        spec["right_pad" if right_pad else "left_pad"] = "0"
    return spec


def _bcd_var(len_bytes: int, max_digits: int, desc: str) -> FieldSpec:
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_bytes,
        "max_len": max_digits,
        "len_count": "nibbles",
        "right_pad": "0",
        "desc": desc,
    }


def _ascii(len_bytes: int, max_len: int, desc: str) -> FieldSpec:
    return {
        "data_enc": "ascii",
        "len_enc": "bcd",
        "len_type": len_bytes,
        "max_len": max_len,
        "desc": desc,
    }


def _binary(len_bytes: int, max_len: int, desc: str) -> FieldSpec:
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": len_bytes,
        "max_len": max_len,
        "desc": desc,
    }


_FIXED, _LL, _LLL = 0, 1, 2

_FIELDS: dict[int, tuple[FieldKind, FieldSpec]] = {
    2: (FieldKind.NUMERIC, _bcd_var(_LL, 19, "Primary account number")),
    3: (FieldKind.NUMERIC, _bcd_fixed(6, "Processing code")),
    4: (FieldKind.NUMERIC, _bcd_fixed(12, "Amount, transaction (fen)")),
    11: (FieldKind.NUMERIC, _bcd_fixed(6, "System trace audit number")),
    12: (FieldKind.NUMERIC, _bcd_fixed(6, "Time, local transaction hhmmss")),
    13: (FieldKind.NUMERIC, _bcd_fixed(4, "Date, local transaction MMDD")),
    14: (FieldKind.NUMERIC, _bcd_fixed(4, "Date, expiration YYMM")),
    15: (FieldKind.NUMERIC, _bcd_fixed(4, "Date, settlement MMDD")),
    22: (FieldKind.NUMERIC, _bcd_fixed(3, "POS entry mode", right_pad=True)),
    23: (FieldKind.NUMERIC, _bcd_fixed(3, "Card sequence number")),
    25: (FieldKind.NUMERIC, _bcd_fixed(2, "POS condition code")),
    26: (FieldKind.NUMERIC, _bcd_fixed(2, "POS PIN capture code")),
    32: (FieldKind.NUMERIC, _bcd_var(_LL, 11, "Acquiring institution id")),
    35: (FieldKind.TRACK, _bcd_var(_LL, 37, "Track 2 data")),
    36: (FieldKind.TRACK, _bcd_var(_LLL, 104, "Track 3 data")),
    37: (FieldKind.TEXT, _ascii(_FIXED, 12, "Retrieval reference number")),
    38: (FieldKind.TEXT, _ascii(_FIXED, 6, "Authorization id response")),
    39: (FieldKind.TEXT, _ascii(_FIXED, 2, "Response code")),
    41: (FieldKind.TEXT, _ascii(_FIXED, 8, "Card acceptor terminal id")),
    42: (FieldKind.TEXT, _ascii(_FIXED, 15, "Card acceptor id (merchant)")),
    44: (FieldKind.TEXT, _ascii(_LL, 25, "Additional response data")),
    48: (FieldKind.NUMERIC, _binary(_LLL, 512, "Additional data: totals, batch detail")),
    49: (FieldKind.TEXT, _ascii(_FIXED, 3, "Currency code, transaction")),
    52: (FieldKind.BINARY, _binary(_FIXED, 8, "PIN data")),
    53: (FieldKind.NUMERIC, _bcd_fixed(16, "Security related control information")),
    54: (FieldKind.TEXT, _ascii(_LLL, 20, "Additional amounts (balance)")),
    55: (FieldKind.BINARY, _binary(_LLL, 255, "ICC system related data")),
    60: (FieldKind.NUMERIC, _bcd_var(_LLL, 64, "Reserved private: type, batch, net mgmt")),
    61: (FieldKind.NUMERIC, _bcd_var(_LLL, 64, "Original message data")),
    62: (FieldKind.BINARY, _binary(_LLL, 512, "Reserved private: working keys")),
    63: (FieldKind.TEXT, _ascii(_LLL, 163, "Reserved private: operator")),
    64: (FieldKind.BINARY, _binary(_FIXED, 8, "Message authentication code")),
}

CUP_SPEC: Mapping[str, Mapping[str, Any]] = {
    "h": {
        "data_enc": "b",
        "len_enc": "b",
        "len_type": 0,
        "max_len": HEADER_AND_TPDU_LEN,
        "desc": "TPDU (5) + CUP header (6)",
    },
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI, BCD"},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "Bitmap"},
    **{str(number): spec for number, (_, spec) in _FIELDS.items()},
}

FIELD_KINDS: Mapping[int, FieldKind] = {number: kind for number, (kind, _) in _FIELDS.items()}

# 48 holds digits but on the wire is BCD counted in bytes: the codec treats it
# as numeric text, so it is not in BINARY_FIELDS.
BINARY_FIELDS: frozenset[int] = frozenset(
    number for number, kind in FIELD_KINDS.items() if kind is FieldKind.BINARY
)

# Bit n of the 64-bit primary bitmap (MSB = field 1) for every field the spec
# knows; a bitmap with any other bit set (including 1: no secondary bitmap in
# CUP) is rejected before pyiso8583 sees it.
ALLOWED_BITMAP_MASK: int = sum(1 << (64 - number) for number in FIELD_KINDS)
