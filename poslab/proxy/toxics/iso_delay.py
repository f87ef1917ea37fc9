"""``iso_delay``: delay the ISO 8583 messages that match ``mti`` and/or ``rc``
by ``latency`` ± ``jitter`` ms (as the latency toxic draws it, counted from
when the message was read), e.g. approvals that arrive after the terminal's
timeout. Order on the connection is kept, as TCP keeps it: a message behind a
delayed one waits for it.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import ToxicStub
from poslab.proxy.toxics.iso_frames import IsoToxic
from poslab.proxy.toxics.latency import jittered_delay
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class IsoDelayToxic(IsoToxic):
    type_name = "iso_delay"
    go_struct = "IsoDelayToxic"
    buffer_size = 1024  # keep reading while a message waits, as latency does

    latency: int = 0
    jitter: int = 0

    def _matching(self, payload: bytes) -> bool:
        message = self.message_of(payload)
        return message is not None and self.matches(message)

    async def on_frame(
        self, stub: ToxicStub, frame: bytes, payload: bytes, stamp: float, rest: Chunk | None
    ) -> None:
        if not self.filters or self._matching(payload):
            await stub.sleep_until(stamp + jittered_delay(self.latency, self.jitter, stub))
        await stub.write(Chunk(frame, stamp), keep=rest)
