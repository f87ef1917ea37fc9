"""``latency``: every chunk delayed by ``latency`` ± ``jitter`` ms.

The delay counts from when the chunk was read, and chunks queue in front of
the stage (1,024 of them, as in Toxiproxy), so the delay is pipelined: a
latency toxic does not cap throughput. Order is kept (a short draw waits for
the long one before it), and stacked latency toxics add up because the stage
moves each chunk's stamp to the time it released it.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub
from poslab.proxy.toxics.registry import register


def jittered_delay(latency: int, jitter: int, stub: ToxicStub) -> float:
    """Seconds: latency ± uniform jitter (ms), drawn as Toxiproxy draws it
    (``Int63n(2·jitter) − jitter``, so in [−jitter, +jitter))."""
    millis = latency
    if jitter > 0:
        millis += stub.rng.randrange(2 * jitter) - jitter
    return millis / 1000.0


@register
@dataclasses.dataclass(frozen=True)
class LatencyToxic(Toxic):
    type_name = "latency"
    go_struct = "LatencyToxic"
    buffer_size = 1024

    latency: int = 0
    jitter: int = 0

    def delay(self, stub: ToxicStub) -> float:
        return jittered_delay(self.latency, self.jitter, stub)

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            due = chunk.stamp + self.delay(stub)
            await stub.sleep_until(due)
            await stub.write(Chunk(chunk.data, max(due, chunk.stamp)))
        stub.close()
