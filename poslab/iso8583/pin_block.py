"""ISO 9564 format 0 (ANSI X9.8) PIN blocks for field 52.

Clear block = ``0`` + PIN length + PIN + ``F`` filler (16 nibbles), XOR
``0000`` + the 12 rightmost PAN digits excluding the check digit; then
encrypted under the PIN key. A block that does not decrypt to that shape is
what a host answers with 99 (PIN format error).
"""

from __future__ import annotations

from . import des
from .errors import PinBlockError

__all__ = ["decrypt_pin_block", "encrypt_pin_block"]


def _pan_field(pan: str) -> int:
    if not (pan.isascii() and pan.isdigit()) or len(pan) < 13:
        raise PinBlockError("PAN must be at least 13 digits for a format 0 PIN block")
    return int("0000" + pan[-13:-1], 16)


def encrypt_pin_block(pin: str, pan: str, pik: bytes) -> bytes:
    """The 8-byte field 52 for ``pin`` on card ``pan`` under ``pik``."""
    if not (pin.isascii() and pin.isdigit()) or not 4 <= len(pin) <= 12:
        raise PinBlockError("a PIN is 4 to 12 digits")
    clear = int(f"0{len(pin):X}{pin}".ljust(16, "F"), 16) ^ _pan_field(pan)
    try:
        return des.encrypt_ecb(bytes(pik), clear.to_bytes(8, "big"))
    except ValueError as exc:
        raise PinBlockError(f"bad PIN key: {exc}") from None


def decrypt_pin_block(block: bytes, pan: str, pik: bytes) -> str:
    """The clear PIN from field 52; :class:`PinBlockError` if it is not format 0."""
    if len(block) != 8:
        raise PinBlockError(f"a PIN block is 8 bytes, got {len(block)}")
    try:
        decrypted = des.decrypt_ecb(bytes(pik), bytes(block))
    except ValueError as exc:
        raise PinBlockError(f"bad PIN key: {exc}") from None
    clear = f"{int.from_bytes(decrypted, 'big') ^ _pan_field(pan):016X}"
    length = int(clear[1], 16)
    pin, filler = clear[2 : 2 + length], clear[2 + length :]
    if clear[0] != "0" or not 4 <= length <= 12 or not pin.isdigit() or set(filler) - {"F"}:
        raise PinBlockError("PIN block is not ISO format 0 (wrong PIN key or PAN?)")
    return pin
