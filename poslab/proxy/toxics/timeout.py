"""``timeout``: discards all data in its direction and closes the connection
``timeout`` ms after the last chunk (the timer restarts on each chunk);
``0`` holds the connection open, silent, until the toxic is removed.

Removing it closes the connections it was holding (Toxiproxy's ``Cleanup``):
a client that saw its request vanish does not suddenly get a late answer.
"""

from __future__ import annotations

import asyncio
import dataclasses

from poslab.proxy.toxics.base import Toxic, ToxicStub, go_duration
from poslab.proxy.toxics.registry import register


@register
@dataclasses.dataclass(frozen=True)
class TimeoutToxic(Toxic):
    type_name = "timeout"
    go_struct = "TimeoutToxic"
    closes_on_removal = True

    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        seconds = go_duration(self.timeout, 1_000_000)  # ms, Go's int64 arithmetic
        if seconds <= 0:
            while await stub.read() is not None:
                stub.discard()
            stub.close()
            return
        while True:
            try:
                async with asyncio.timeout_at(stub.now() + seconds):
                    chunk = await stub.read()
            except TimeoutError:
                stub.close()
                return
            if chunk is None:
                stub.close()
                return
            stub.discard()
