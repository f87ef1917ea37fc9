"""DES / triple-DES block operations for MACs, key blocks and PIN blocks.

Payment keys are 8 bytes (single DES), 16 (two-key 3DES) or 24. ``cryptography``
deprecates short TripleDES keys, so they are expanded here to the equivalent
24-byte key (K1K1K1 is single DES, K1K2K1 two-key 3DES): same results, no
warning. ECB contexts are reused per key and per thread because building one
costs about 10 µs, more than the MAC itself; the cache is per thread because a
cipher context must not be shared between threads.
"""

from __future__ import annotations

import threading

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

__all__ = ["BLOCK", "KEY_LENGTHS", "cbc_last_block", "decrypt_ecb", "encrypt_ecb", "xor8"]

BLOCK = 8
KEY_LENGTHS = (8, 16, 24)
_CACHE_LIMIT = 4096


class _ThreadCiphers(threading.local):
    def __init__(self) -> None:
        self.contexts: dict[tuple[bytes, bool], CipherContext] = {}


_local = _ThreadCiphers()


def _full_key(key: bytes) -> bytes:
    if len(key) == 8:
        return key * 3
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise ValueError(f"DES keys are 8, 16 or 24 bytes, got {len(key)}")


def _context(key: bytes, encrypt: bool) -> CipherContext:
    contexts = _local.contexts
    context = contexts.get((key, encrypt))
    if context is None:
        cipher = Cipher(TripleDES(_full_key(key)), modes.ECB())
        context = cipher.encryptor() if encrypt else cipher.decryptor()
        if len(contexts) >= _CACHE_LIMIT:
            contexts.clear()
        contexts[(bytes(key), encrypt)] = context
    return context


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """ECB-encrypt ``data`` (a multiple of 8 bytes) under ``key``."""
    if len(data) % BLOCK:
        raise ValueError(f"ECB data must be a multiple of {BLOCK} bytes, got {len(data)}")
    return _context(key, True).update(data)


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """ECB-decrypt ``data`` (a multiple of 8 bytes) under ``key``."""
    if len(data) % BLOCK:
        raise ValueError(f"ECB data must be a multiple of {BLOCK} bytes, got {len(data)}")
    return _context(key, False).update(data)


def cbc_last_block(key: bytes, data: bytes) -> bytes:
    """Last block of CBC encryption with a zero IV (a CBC-MAC). A CBC context
    carries chaining state, so unlike ECB it is built afresh for every call."""
    if not data or len(data) % BLOCK:
        raise ValueError(f"CBC data must be a non-empty multiple of {BLOCK} bytes")
    cipher = Cipher(TripleDES(_full_key(key)), modes.CBC(bytes(BLOCK)))
    return cipher.encryptor().update(data)[-BLOCK:]


def xor8(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left, "big") ^ int.from_bytes(right, "big")).to_bytes(BLOCK, "big")
