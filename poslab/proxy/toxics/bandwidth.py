"""``bandwidth``: data paced to ``rate`` KB/s (KB = 1000 bytes).

Each chunk is released when the link would have finished sending it at that
rate; a chunk larger than 100 ms worth (``rate × 100`` bytes) is cut into
100 ms slices, as Toxiproxy does. The pacing keeps a running deadline rather
than sleeping per chunk, so timer granularity does not accumulate: 480 KB at
1000 KB/s arrives 480 ms after the first byte was read.

``rate: 0`` stalls the direction as on Toxiproxy (it sends an empty slice
every 100 ms, forever): the first chunk is held until the toxic is updated or
removed, which lets it go. Toxiproxy crashes (a slice out of range) on a
negative rate and on one whose ``rate × 100`` overflows int64: both refused.
"""

from __future__ import annotations

import asyncio
import dataclasses

from poslab.proxy.api_error import refused_value
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import GO_READ_SIZE, Toxic, ToxicStub
from poslab.proxy.toxics.registry import register

SLICE_SECONDS = 0.1
#: The largest rate whose ``rate * 100`` (bytes per slice) fits Go's int64.
MAX_RATE = (2**63 - 1) // 100


@register
@dataclasses.dataclass(frozen=True)
class BandwidthToxic(Toxic):
    type_name = "bandwidth"
    go_struct = "BandwidthToxic"
    releases_on_interrupt = True

    rate: int = 0

    def validate(self) -> None:
        if self.rate < 0:
            raise refused_value(
                f"bandwidth rate must not be negative (got {self.rate}): Toxiproxy slices "
                "the data out of range and crashes"
            )
        if self.rate > MAX_RATE:
            raise refused_value(
                f"bandwidth rate must be at most {MAX_RATE} KB/s (got {self.rate}): "
                "Toxiproxy's rate × 100 overflows int64 and it crashes"
            )

    def lint(self) -> None:
        super().lint()
        if self.rate == 0:
            raise refused_value(
                "bandwidth rate must be at least 1 KB/s: rate 0 stalls the direction "
                "(to stop data, use a timeout toxic)"
            )

    async def pipe(self, stub: ToxicStub) -> None:
        if self.rate == 0:
            # Toxiproxy never gets past the first chunk: hold it (an update or
            # a removal lets it go, as an interrupt does there).
            if await stub.read() is not None:
                await asyncio.get_running_loop().create_future()
            stub.close()
            return
        bytes_per_second = self.rate * 1000
        slice_bytes = self.rate * 100
        free_at = stub.now()
        while (chunk := await stub.read()) is not None:
            free_at = max(free_at, stub.now())
            view = memoryview(chunk.data)
            size, start = len(view), 0
            while start < size:
                # Paced in Toxiproxy's reads (32 KiB at most): the first bytes
                # of a large write arrive when its first 32 KiB would have
                # been sent, not after a whole 100 ms slice.
                read_end = min(size, start + GO_READ_SIZE)
                while read_end - start > slice_bytes:
                    free_at += SLICE_SECONDS
                    await stub.sleep_until(free_at)
                    end = start + slice_bytes
                    rest = Chunk(view[end:], chunk.stamp)
                    await stub.write(Chunk(view[start:end], chunk.stamp), keep=rest)
                    start = end
                free_at += (read_end - start) / bytes_per_second
                await stub.sleep_until(free_at)
                if start == 0 and read_end == size:
                    await stub.write(chunk)
                else:
                    after = Chunk(view[read_end:], chunk.stamp) if read_end < size else None
                    await stub.write(Chunk(view[start:read_end], chunk.stamp), keep=after)
                start = read_end
        stub.close()
