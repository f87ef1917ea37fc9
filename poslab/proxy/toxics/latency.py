"""``latency``: every chunk delayed by ``latency`` ± ``jitter`` ms.

The delay counts from when the chunk was read, and chunks queue in front of
the stage (1,024 of them, as in Toxiproxy), so the delay is pipelined: a
latency toxic does not cap throughput. Order is kept (a short draw waits for
the long one before it), and stacked latency toxics add up because the stage
moves each chunk's stamp to the time it released it.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.api_error import refused_value
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub, go_duration, go_int64
from poslab.proxy.toxics.registry import register

#: Toxiproxy draws ``Int63n(jitter * 2)``: from 2**62 on the product
#: overflows int64, Int63n panics and the server process dies.
MAX_JITTER = 2**62 - 1
_MS = 1_000_000


def jittered_delay(latency: int, jitter: int, stub: ToxicStub) -> float:
    """Seconds: latency ± uniform jitter (ms), drawn as Toxiproxy draws it
    (``Int63n(2·jitter) − jitter``, so in [−jitter, +jitter)); a negative
    result is no delay, and the arithmetic is Go's int64 (see ``go_duration``)."""
    millis = latency
    if jitter > 0:
        millis = go_int64(millis + stub.rng.randrange(2 * jitter) - jitter)
    return go_duration(millis, _MS)


@register
@dataclasses.dataclass(frozen=True)
class LatencyToxic(Toxic):
    type_name = "latency"
    go_struct = "LatencyToxic"
    buffer_size = 1024
    releases_on_interrupt = True

    latency: int = 0
    jitter: int = 0

    def validate(self) -> None:
        if self.jitter > MAX_JITTER:
            raise refused_value(
                f"latency jitter must be at most {MAX_JITTER} ms (got {self.jitter}): "
                "Toxiproxy doubles it, overflows int64 and crashes"
            )

    def delay(self, stub: ToxicStub) -> float:
        return jittered_delay(self.latency, self.jitter, stub)

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            due = chunk.stamp + self.delay(stub)
            await stub.sleep_until(due)
            await stub.write(Chunk(chunk.data, max(due, chunk.stamp)))
        stub.close()
