"""``slicer``: splits chunks into pieces of ``average_size`` ± ``size_variation``
bytes, waiting ``delay`` µs after each piece (TCP fragmentation on demand).

The cut points follow Toxiproxy's recursive halving (no tendency to a small
piece at either end). Delays run on a deadline, so the event loop's ~1 ms
timer resolution shifts single pieces but not the total time.

Toxiproxy recurses forever on ``average_size: 0`` and slices out of range
(and crashes) when ``size_variation ≥ average_size``; both are refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Mapping
from typing import ClassVar

from poslab.proxy.api_error import refused_value
from poslab.proxy.api_json import GoKind
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub
from poslab.proxy.toxics.registry import register

#: Pieces written between yields to the event loop when no delay is set.
_YIELD_EVERY = 64


@register
@dataclasses.dataclass(frozen=True)
class SlicerToxic(Toxic):
    type_name = "slicer"
    go_struct = "SlicerToxic"
    attribute_kinds: ClassVar[Mapping[str, GoKind]] = {
        "average_size": "int",
        "size_variation": "int",
        "delay": "int",
    }

    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def validate(self) -> None:
        super().validate()
        if self.average_size == 0:
            raise refused_value(
                "slicer average_size must be at least 1 byte: with 0 Toxiproxy "
                "splits forever and crashes"
            )
        if self.size_variation >= self.average_size:
            raise refused_value(
                f"slicer size_variation ({self.size_variation}) must be smaller than "
                f"average_size ({self.average_size}): otherwise pieces fall outside "
                "the chunk and Toxiproxy crashes"
            )

    def cuts(self, size: int, rng: random.Random) -> list[int]:
        """Piece boundaries ``[0, …, size]`` for a chunk of ``size`` bytes."""
        bounds = [0]
        pending = [(0, size)]
        while pending:
            start, end = pending.pop()
            if (end - start) - self.average_size <= self.size_variation:
                bounds.append(end)
                continue
            middle = start + (end - start) // 2
            if self.size_variation > 0:
                middle += rng.randrange(2 * self.size_variation) - self.size_variation
            pending.append((middle, end))
            pending.append((start, middle))
        return bounds

    async def pipe(self, stub: ToxicStub) -> None:
        step = self.delay / 1_000_000.0
        while (chunk := await stub.read()) is not None:
            view = memoryview(chunk.data)
            bounds = self.cuts(len(view), stub.rng)
            next_at = stub.now()
            for index in range(1, len(bounds)):
                start, end = bounds[index - 1], bounds[index]
                rest = Chunk(view[end:], chunk.stamp) if end < len(view) else None
                await stub.write(Chunk(view[start:end], chunk.stamp), keep=rest)
                if step > 0:
                    next_at += step
                    await stub.sleep_until(next_at)
                elif index % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        stub.close()
