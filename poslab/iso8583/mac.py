"""Message authentication: CUP "ECB" MAC and ANSI X9.19, over field 64.

The MAC block runs from the MTI to the end of field 63 (TPDU and header are not
covered), with bit 64 already set in the bitmap. Which algorithm and key length
an acquirer uses is configuration:

- ``CUP_ECB``: the CUP POS variant, under the whole MAK (8 bytes: DES,
  16 bytes: two-key 3DES);
- ``CUP_ECB_LEFT_HALF``: the same under the MAK's left 8 bytes with single DES,
  as terminals do that receive a 16-byte MAK slot holding an 8-byte key;
- ``X9_19``: ANSI X9.19 retail MAC with a 16-byte MAK (DES-CBC under the left
  half, then decrypt with the right half and encrypt with the left). F64 is the
  full 8-byte result.
"""

from __future__ import annotations

import functools
import hmac
import operator
import sys
from enum import Enum

from . import des
from .errors import MacError
from .message import IsoMessage, encode
from .spec import HEADER_AND_TPDU_LEN

__all__ = [
    "MAC_LEN",
    "MacAlgorithm",
    "compute_mac",
    "mac_block",
    "sign",
    "sign_encoded",
    "verify",
]

MAC_LEN = 8
_BITMAP_LAST_BYTE = HEADER_AND_TPDU_LEN + 2 + 7
_MIN_SIGNED = _BITMAP_LAST_BYTE + 1 + MAC_LEN


class MacAlgorithm(Enum):
    CUP_ECB = "cup-ecb"
    CUP_ECB_LEFT_HALF = "cup-ecb-left-half"
    X9_19 = "x9.19"


def mac_block(encoded_payload: bytes) -> bytes:
    """The bytes a MAC covers: MTI up to, not including, the 8 bytes of F64."""
    if len(encoded_payload) < _MIN_SIGNED:
        raise MacError(f"payload of {len(encoded_payload)} bytes is too short to carry a MAC")
    if not encoded_payload[_BITMAP_LAST_BYTE] & 1:
        raise MacError("bit 64 is not set: the message carries no MAC field")
    return bytes(encoded_payload[HEADER_AND_TPDU_LEN:-MAC_LEN])


def _xor_blocks(block: bytes) -> bytes:
    # XOR of the 8-byte blocks as machine words, folded in C (a Python loop
    # over slices cost 6 µs a message, twice per sale on each side). Words
    # read and written in the same byte order XOR exactly as bytes do.
    padded = block + bytes(-len(block) % des.BLOCK)
    folded: int = functools.reduce(operator.xor, memoryview(padded).cast("Q"), 0)
    return folded.to_bytes(des.BLOCK, sys.byteorder)


def _cup_ecb(block: bytes, key: bytes) -> bytes:
    folded = _xor_blocks(block).hex().upper().encode("ascii")
    first = des.encrypt_ecb(key, folded[:8])
    second = des.encrypt_ecb(key, des.xor8(first, folded[8:]))
    return second.hex().upper()[:8].encode("ascii")


def _x9_19(block: bytes, key: bytes) -> bytes:
    left, right = key[:8], key[8:]
    padded = block + bytes(-len(block) % des.BLOCK) if block else bytes(des.BLOCK)
    state = des.cbc_last_block(left, padded)
    return des.encrypt_ecb(left, des.decrypt_ecb(right, state))


def compute_mac(block: bytes, mak: bytes, algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB) -> bytes:
    """The 8 bytes of F64 for ``block`` (see :func:`mac_block`)."""
    if algorithm is MacAlgorithm.X9_19:
        if len(mak) != 16:
            raise MacError(f"X9.19 needs a 16-byte MAK, got {len(mak)} bytes")
        return _x9_19(block, mak)
    if algorithm is MacAlgorithm.CUP_ECB_LEFT_HALF:
        if len(mak) not in (8, 16):
            raise MacError(f"CUP ECB (left half) needs an 8- or 16-byte MAK, got {len(mak)}")
        return _cup_ecb(block, mak[:8])
    if len(mak) not in (8, 16):
        raise MacError(f"CUP ECB needs an 8- or 16-byte MAK, got {len(mak)} bytes")
    return _cup_ecb(block, mak)


def sign_encoded(
    payload: bytes, mak: bytes, algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB
) -> bytes:
    """``payload`` (bit 64 set, any 8 bytes in F64) with its real MAC in place.
    Lets a host sign an already encoded reply without encoding twice."""
    return payload[:-MAC_LEN] + compute_mac(mac_block(payload), mak, algorithm)


def sign(msg: IsoMessage, mak: bytes, algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB) -> IsoMessage:
    """A copy of ``msg`` with F64 set to its MAC under ``mak``."""
    fields = dict(msg.fields)
    fields[64] = bytes(MAC_LEN)
    signed = IsoMessage(msg.mti, fields, msg.tpdu, msg.header)
    fields[64] = compute_mac(mac_block(encode(signed)), mak, algorithm)
    return signed


def verify(
    payload_or_msg: bytes | IsoMessage,
    mak: bytes,
    algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB,
) -> bool:
    """True when F64 matches the MAC under ``mak``; False when it does not or
    the message has no F64. Compared in constant time."""
    if isinstance(payload_or_msg, IsoMessage):
        if 64 not in payload_or_msg.fields:
            return False
        payload = encode(payload_or_msg)
    else:
        payload = bytes(payload_or_msg)
    try:
        block = mac_block(payload)
    except MacError:
        return False
    return hmac.compare_digest(compute_mac(block, mak, algorithm), payload[-MAC_LEN:])
