"""Secrets at rest outside the world file: sealed, never in clear.

A value a mock must keep on disk and use again — a card's PAN in a terminal's
durable reversal, a replacement terminal's master key in the acquirer's
registry — is written sealed: AES-256-GCM (confidential and tamper-evident)
under a data key that is never written anywhere. The key is derived from the
world's terminal master keys (:func:`world_key`), because the world file is
already the run's one secret store (0600): any process of the run derives the
same key again after a crash, and a file without the world reveals nothing.
The lab's stand-in for an HSM's local master key.

    sealer = Sealer(world_key(world, "terminal flash"))
    text = sealer.seal(b"6212...")        # "sealed:v1:<base64>"
    sealer.unseal(text)                   # b"6212..."
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from poslab.world import World

__all__ = ["SEALED", "SealError", "Sealer", "world_key"]

#: How a sealed value starts; anything else was written in clear by an older lab.
SEALED = "sealed:v1:"
_NONCE = 12


class SealError(ValueError):
    """A sealed value this key does not open (another world's, or altered)."""


def world_key(world: World, purpose: str) -> bytes:
    """A 32-byte data key for ``purpose``, derived from ``world``'s terminal
    master keys (only the world file holds them)."""
    digest = hashlib.sha256(f"poslab data key v1: {purpose}\0".encode())
    for terminal in world.terminals:
        digest.update(bytes.fromhex(terminal.tmk))
    return digest.digest()


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, data: bytes) -> str:
        nonce = os.urandom(_NONCE)
        return SEALED + base64.b64encode(nonce + self._aead.encrypt(nonce, data, None)).decode()

    def unseal(self, text: str) -> bytes:
        """What :meth:`seal` sealed; a value written in clear comes back as it is."""
        if not text.startswith(SEALED):
            return text.encode()
        raw = base64.b64decode(text[len(SEALED) :])
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], None)
        except InvalidTag:
            raise SealError("a value sealed under another data key (another world?)") from None
