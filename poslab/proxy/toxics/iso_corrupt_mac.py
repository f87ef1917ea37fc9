"""``iso_corrupt_mac``: corrupt the MAC (field 64) of the ISO 8583 messages
that match ``mti`` and/or ``rc``, so the receiver's MAC check fails (a host
answers A0; a terminal must reverse the sale).

Field 64 is the last 8 bytes of a CUP message. Each byte is changed to a
different value of the same kind — a hex digit (CUP ECB MACs are ASCII hex)
to the next hex digit, any other byte inverted — so the message still
parses and only its MAC is wrong. Messages without field 64 pass untouched.
"""

from __future__ import annotations

import dataclasses

from poslab.iso8583.mac import MAC_LEN
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import ToxicStub
from poslab.proxy.toxics.iso_frames import IsoToxic
from poslab.proxy.toxics.registry import register

_HEX_DIGITS = "0123456789ABCDEFabcdef"
_NEXT_DIGITS = "123456789ABCDEF0bcdefa"
_NEXT_HEX = {ord(a): ord(b) for a, b in zip(_HEX_DIGITS, _NEXT_DIGITS, strict=True)}


def corrupt_mac(frame: bytes) -> bytes:
    """``frame`` with every byte of its trailing MAC changed."""
    head, mac = frame[:-MAC_LEN], frame[-MAC_LEN:]
    return head + bytes(_NEXT_HEX.get(byte, byte ^ 0xFF) for byte in mac)


@register
@dataclasses.dataclass(frozen=True)
class IsoCorruptMacToxic(IsoToxic):
    type_name = "iso_corrupt_mac"
    go_struct = "IsoCorruptMacToxic"

    async def on_frame(
        self, stub: ToxicStub, frame: bytes, payload: bytes, stamp: float, rest: Chunk | None
    ) -> None:
        message = self.message_of(payload)
        if message is not None and 64 in message.fields and self.matches(message):
            frame = corrupt_mac(frame)
        await stub.write(Chunk(frame, stamp), keep=rest)
