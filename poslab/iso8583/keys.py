"""Terminal master key, working keys and the field 62 key block.

At sign-on the host generates fresh working keys (PIN key, MAC key, and in
mode 004 a track-data key), encrypts each under the terminal's master key (TMK)
and sends them in field 62 with check values; the terminal decrypts them and
rejects the lot if a check value does not match. Mode (60.3 of the 0800):
``001`` single-length (8-byte) keys, ``003`` double-length, ``004`` double
plus TDK. Where each key and check value sits in field 62 differs between
acquirers, so :class:`KeyLayout` is data.

Key bytes are wrapped in :class:`Key`, a ``bytes`` whose ``repr``/``str`` show
only the length and check value, so a key that reaches a log is not leaked.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
from typing import Literal, Protocol

from . import des
from .errors import KeyBlockError
from .pin_block import decrypt_pin_block, encrypt_pin_block

__all__ = [
    "LAYOUT_001",
    "LAYOUT_003",
    "LAYOUT_004",
    "ByteSource",
    "Key",
    "KeyLayout",
    "KeyMode",
    "KeySlot",
    "WorkingKeys",
    "build_field62",
    "check_value",
    "decrypt_pin_block",
    "decrypt_under_tmk",
    "encrypt_pin_block",
    "encrypt_under_tmk",
    "generate_key",
    "generate_tmk",
    "generate_working_keys",
    "key_length_for",
    "parse_field62",
]

KeyMode = Literal["001", "003", "004"]
CHECK_VALUE_LEN = 4


class ByteSource(Protocol):
    """Anything with ``randbytes``: ``random.Random(seed)`` for a reproducible
    world, ``random.SystemRandom()`` for real secrets."""

    def randbytes(self, n: int, /) -> bytes: ...


class Key(bytes):
    """Key material that never shows itself in ``repr``/``str``/f-strings."""

    def __repr__(self) -> str:
        if len(self) in des.KEY_LENGTHS:
            return f"Key(<{len(self)} bytes, kcv {check_value(self).hex().upper()[:6]}>)"
        return f"Key(<{len(self)} bytes>)"

    __str__ = __repr__


# Each byte with its low bit set so that it has odd parity, as a translate
# table: a host issues working keys in every sign-on storm (a per-byte Python
# loop was a twentieth of a sign-on's CPU).
_ODD_PARITY = bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) & 1) for b in range(256))


def _set_odd_parity(raw: bytes) -> bytes:
    # DES ignores the low bit of each byte; HSMs insist on odd parity, so set it.
    return raw.translate(_ODD_PARITY)


def generate_key(length: int, rng: ByteSource | None = None) -> Key:
    """A random DES key of 8, 16 or 24 bytes with odd parity. A 16/24-byte key
    never has equal halves (that would silently degrade to single DES)."""
    if length not in des.KEY_LENGTHS:
        raise KeyBlockError(f"DES keys are 8, 16 or 24 bytes, not {length}")
    while True:
        raw = rng.randbytes(length) if rng is not None else os.urandom(length)
        key = _set_odd_parity(raw)
        if length == 8 or key[:8] != key[8:16]:
            return Key(key)


def generate_tmk(rng: ByteSource | None = None, length: int = 16) -> Key:
    """A terminal master key (double length by default)."""
    return generate_key(length, rng)


def key_length_for(mode: KeyMode) -> int:
    """Working-key length for a sign-on mode: 8 for 001, 16 for 003/004."""
    if mode == "001":
        return 8
    if mode in ("003", "004"):
        return 16
    raise KeyBlockError(f"unknown key mode {mode!r} (expected 001, 003 or 004)")


@dataclasses.dataclass(frozen=True, slots=True)
class WorkingKeys:
    """The session keys of one terminal. ``tdk`` only in mode 004. Plain
    ``bytes`` given here are wrapped in :class:`Key` so they never print."""

    pik: bytes
    mak: bytes
    tdk: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("pik", "mak", "tdk"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Key):
                object.__setattr__(self, name, Key(value))


def generate_working_keys(mode: KeyMode = "003", rng: ByteSource | None = None) -> WorkingKeys:
    length = key_length_for(mode)
    pik = generate_key(length, rng)
    mak = generate_key(length, rng)
    tdk = generate_key(length, rng) if mode == "004" else None
    return WorkingKeys(pik=pik, mak=mak, tdk=tdk)


def check_value(key: bytes) -> bytes:
    """First 4 bytes of ``key`` encrypting 8 zero bytes (KCV)."""
    try:
        return des.encrypt_ecb(bytes(key), bytes(des.BLOCK))[:CHECK_VALUE_LEN]
    except ValueError as exc:
        raise KeyBlockError(str(exc)) from None


def encrypt_under_tmk(key: bytes, tmk: bytes) -> bytes:
    """``key`` encrypted (ECB) under the terminal master key."""
    try:
        return des.encrypt_ecb(bytes(tmk), bytes(key))
    except ValueError as exc:
        raise KeyBlockError(f"cannot encrypt a {len(key)}-byte key: {exc}") from None


def decrypt_under_tmk(data: bytes, tmk: bytes) -> Key:
    try:
        return Key(des.decrypt_ecb(bytes(tmk), bytes(data)))
    except ValueError as exc:
        raise KeyBlockError(f"cannot decrypt a {len(data)}-byte key: {exc}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class KeySlot:
    """Where one encrypted key and its check value sit in field 62."""

    key_offset: int
    key_len: int
    cv_offset: int
    cv_len: int = CHECK_VALUE_LEN

    @property
    def end(self) -> int:
        return max(self.key_offset + self.key_len, self.cv_offset + self.cv_len)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyLayout:
    """Field 62 layout. The defaults are the common CUP ones (see ``LAYOUT_*``);
    build another for an acquirer that orders or sizes them differently."""

    pik: KeySlot
    mak: KeySlot
    tdk: KeySlot | None = None

    @property
    def length(self) -> int:
        return max(slot.end for _, slot in _named_slots(self))

    @classmethod
    def for_mode(cls, mode: KeyMode) -> KeyLayout:
        return {"001": LAYOUT_001, "003": LAYOUT_003, "004": LAYOUT_004}[mode]


LAYOUT_001 = KeyLayout(pik=KeySlot(0, 8, 8), mak=KeySlot(12, 8, 20))
LAYOUT_003 = KeyLayout(pik=KeySlot(0, 16, 16), mak=KeySlot(20, 16, 36))
LAYOUT_004 = KeyLayout(pik=KeySlot(0, 16, 16), mak=KeySlot(20, 16, 36), tdk=KeySlot(40, 16, 56))


def _named_slots(layout: KeyLayout) -> list[tuple[str, KeySlot]]:
    slots = [("pik", layout.pik), ("mak", layout.mak)]
    if layout.tdk is not None:
        slots.append(("tdk", layout.tdk))
    return slots


def build_field62(keys: WorkingKeys, tmk: bytes, layout: KeyLayout = LAYOUT_003) -> bytes:
    """Field 62 of an 0810: each key under the TMK with its clear-key check value."""
    block = bytearray(layout.length)
    if keys.tdk is not None and layout.tdk is None:
        raise KeyBlockError("working keys include a TDK but the layout has no slot for it")
    for name, slot in _named_slots(layout):
        key: bytes | None = getattr(keys, name)
        if key is None:
            raise KeyBlockError(f"the layout needs a {name.upper()} but none was given")
        if len(key) != slot.key_len:
            raise KeyBlockError(
                f"{name.upper()} is {len(key)} bytes, the layout slot holds {slot.key_len}"
            )
        block[slot.key_offset : slot.key_offset + slot.key_len] = encrypt_under_tmk(key, tmk)
        block[slot.cv_offset : slot.cv_offset + slot.cv_len] = check_value(key)[: slot.cv_len]
    return bytes(block)


def parse_field62(data: bytes, tmk: bytes, layout: KeyLayout = LAYOUT_003) -> WorkingKeys:
    """Working keys from an 0810's field 62. Raises :class:`KeyBlockError` when
    the block is short or any check value fails (the terminal keeps its old keys
    and must sign on again)."""
    if len(data) < layout.length:
        raise KeyBlockError(f"field 62 is {len(data)} bytes, the layout needs {layout.length}")
    found: dict[str, bytes] = {}
    for name, slot in _named_slots(layout):
        key = decrypt_under_tmk(data[slot.key_offset : slot.key_offset + slot.key_len], tmk)
        expected = data[slot.cv_offset : slot.cv_offset + slot.cv_len]
        if not hmac.compare_digest(check_value(key)[: slot.cv_len], expected):
            raise KeyBlockError(f"{name.upper()} check value mismatch (wrong TMK or corrupt 62)")
        found[name] = key
    return WorkingKeys(pik=found["pik"], mak=found["mak"], tdk=found.get("tdk"))
