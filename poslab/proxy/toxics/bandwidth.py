"""``bandwidth``: data paced to ``rate`` KB/s (KB = 1000 bytes).

Each chunk is released when the link would have finished sending it at that
rate; a chunk larger than 100 ms worth (``rate × 100`` bytes) is cut into
100 ms slices, as Toxiproxy does. The pacing keeps a running deadline rather
than sleeping per chunk, so timer granularity does not accumulate: 480 KB at
1000 KB/s arrives 480 ms after the first byte was read.

Toxiproxy spins forever on ``rate: 0`` (every slice is empty) and crashes on
a negative rate, so both are refused.
"""

from __future__ import annotations

import dataclasses

from poslab.proxy.api_error import refused_value
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub
from poslab.proxy.toxics.registry import register

SLICE_SECONDS = 0.1


@register
@dataclasses.dataclass(frozen=True)
class BandwidthToxic(Toxic):
    type_name = "bandwidth"
    go_struct = "BandwidthToxic"

    rate: int = 0

    def validate(self) -> None:
        super().validate()
        if self.rate == 0:
            raise refused_value(
                "bandwidth rate must be at least 1 KB/s: with rate 0 Toxiproxy loops "
                "forever on the first chunk (to stop data, use a timeout toxic)"
            )

    async def pipe(self, stub: ToxicStub) -> None:
        bytes_per_second = self.rate * 1000
        slice_bytes = self.rate * 100
        free_at = stub.now()
        while (chunk := await stub.read()) is not None:
            free_at = max(free_at, stub.now())
            view = memoryview(chunk.data)
            start = 0
            while len(view) - start > slice_bytes:
                free_at += SLICE_SECONDS
                await stub.sleep_until(free_at)
                end = start + slice_bytes
                rest = Chunk(view[end:], chunk.stamp)
                await stub.write(Chunk(view[start:end], chunk.stamp), keep=rest)
                start = end
            free_at += (len(view) - start) / bytes_per_second
            await stub.sleep_until(free_at)
            await stub.write(Chunk(view[start:], chunk.stamp) if start else chunk)
        stub.close()
