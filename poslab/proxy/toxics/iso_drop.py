"""``iso_drop``: drop the ISO 8583 messages that match ``mti`` and/or ``rc``;
everything else passes untouched.

"The host approved but the terminal never heard", exactly: a downstream
``iso_drop`` with ``{"mti": 210, "rc": 0}`` on the terminal's path loses
every approved 0210 after the host booked it, while declines, sign-on
replies and everything upstream go through.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import ToxicStub
from poslab.proxy.toxics.iso_frames import IsoToxic
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class IsoDropToxic(IsoToxic):
    type_name = "iso_drop"
    go_struct = "IsoDropToxic"

    async def on_frame(
        self, stub: ToxicStub, frame: bytes, payload: bytes, stamp: float, rest: Chunk | None
    ) -> None:
        if self.filters:
            message = self.message_of(payload)
            if message is None or not self.matches(message):
                await stub.write(Chunk(frame, stamp), keep=rest)
                return
        stub.hold(rest)  # the frame is gone; what follows it is still held
