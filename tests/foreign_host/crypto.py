"""Keys and MACs of this host, on `cryptography` (docs/pos-domain.md, "Sign-on
and working keys" and "MAC").

- Working keys are fresh random DES keys at every sign-on, sent in field 62
  encrypted (ECB) under the terminal's master key, each followed by its check
  value (first 4 bytes of the key encrypting 8 zero bytes). Mode 001: PIN key
  and MAC key of 8 bytes (24 bytes of field 62); 003: 16 bytes each (40);
  004: plus a track-data key (60).
- The CUP "ECB" MAC over the message from the MTI to the end of field 63:
  XOR of the zero-padded 8-byte blocks, hex-encoded (16 ASCII characters);
  the first 8 encrypted under the MAK, XORed with the last 8, encrypted again;
  field 64 is the first 8 hex characters of that, in ASCII.

Key bytes never reach a log or a message text of this host.
"""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

KEY_LEN = {"001": 8, "003": 16, "004": 16}


def _cipher(key: bytes) -> Cipher[modes.ECB]:
    # Single DES is triple DES with one key three times; two-key 3DES is K1K2K1.
    full = key * 3 if len(key) == 8 else key + key[:8] if len(key) == 16 else key
    return Cipher(TripleDES(full), modes.ECB())


def ecb_encrypt(key: bytes, data: bytes) -> bytes:
    enc = _cipher(key).encryptor()
    return enc.update(data) + enc.finalize()


def ecb_decrypt(key: bytes, data: bytes) -> bytes:
    dec = _cipher(key).decryptor()
    return dec.update(data) + dec.finalize()


def _odd_parity(raw: bytes) -> bytes:
    return bytes((b & 0xFE) | (1 - bin(b >> 1).count("1") % 2) for b in raw)


def new_key(length: int) -> bytes:
    while True:
        key = _odd_parity(os.urandom(length))
        if length == 8 or key[:8] != key[8:]:
            return key


def check_value(key: bytes) -> bytes:
    return ecb_encrypt(key, bytes(8))[:4]


def working_keys(mode: str) -> list[bytes]:
    """PIN key, MAC key (and track key in mode 004)."""
    length = KEY_LEN[mode]
    return [new_key(length) for _ in range(3 if mode == "004" else 2)]


def field62(keys: list[bytes], tmk: bytes) -> bytes:
    return b"".join(ecb_encrypt(tmk, k) + check_value(k) for k in keys)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def cup_mac(block: bytes, mak: bytes) -> bytes:
    padded = block + bytes(-len(block) % 8)
    folded = bytes(8)
    for i in range(0, len(padded), 8):
        folded = _xor(folded, padded[i : i + 8])
    text = folded.hex().upper().encode("ascii")
    first = ecb_encrypt(mak, text[:8])
    second = ecb_encrypt(mak, _xor(first, text[8:]))
    return second.hex().upper()[:8].encode("ascii")


def x919_mac(block: bytes, mak: bytes) -> bytes:
    """ANSI X9.19: DES-CBC under the left half, then decrypt with the right half
    and encrypt with the left; field 64 is all 8 bytes."""
    left, right = mak[:8], mak[8:16]
    padded = block + bytes(-len(block) % 8) if block else bytes(8)
    state = bytes(8)
    for i in range(0, len(padded), 8):
        state = ecb_encrypt(left, _xor(state, padded[i : i + 8]))
    return ecb_encrypt(left, ecb_decrypt(right, state))


MACS = {"cup-ecb": cup_mac, "x9.19": x919_mac}


def mac_ok(payload: bytes, mak: bytes, prefix_len: int, algorithm: str = "cup-ecb") -> bool:
    """The request's field 64 (its last 8 bytes) against the MAC of the rest."""
    return hmac.compare_digest(MACS[algorithm](payload[prefix_len:-8], mak), payload[-8:])


def signed(
    payload_with_placeholder: bytes, mak: bytes, prefix_len: int, algorithm: str = "cup-ecb"
) -> bytes:
    """An encoded reply whose field 64 (8 placeholder bytes at the end) gets its MAC."""
    body = payload_with_placeholder[:-8]
    return body + MACS[algorithm](body[prefix_len:], mak)
