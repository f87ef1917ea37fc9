"""``slicer``: splits chunks into pieces of ``average_size`` ± ``size_variation``
bytes, waiting ``delay`` µs after each piece (TCP fragmentation on demand).

The cut points follow Toxiproxy's recursive halving (no tendency to a small
piece at either end). Delays run on a deadline, so the event loop's ~1 ms
timer resolution shifts single pieces but not the total time.

Refused: the values with which Toxiproxy crashes on some chunk it can read
(up to 32 KiB, its read buffer) — see :func:`crash_reason`. Everything else is
accepted as there (``{1000, 1000, 1000}`` included).
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
from poslab.proxy.toxics.base import GO_READ_SIZE, Toxic, ToxicStub, go_duration
from poslab.proxy.toxics.registry import register

#: Pieces written between yields to the event loop when no delay is set.
_YIELD_EVERY = 64


def crash_reason(average_size: int, size_variation: int) -> str | None:
    """Why Toxiproxy's slicer would crash the server with these values, or
    ``None``. It splits a piece of ``n`` bytes while ``n - average > variation``
    at ``n // 2 + Intn(2 * variation) - variation``; let ``n0`` be the smallest
    piece it splits:

    - with no variation, a 1-byte piece that is split (``n0 <= 1``) splits
      into itself forever: stack overflow;
    - with a variation, a cut can fall outside the piece when
      ``n0 // 2 < variation``: slice bounds out of range, a panic.

    A piece never exceeds 32 KiB, so values that split nothing that size are safe.
    """
    smallest = max(average_size + size_variation + 1, 0)
    if smallest > GO_READ_SIZE:
        return None
    if size_variation <= 0:
        if smallest <= 1:
            return "a 1-byte piece is split into itself forever (stack overflow)"
        return None
    if smallest // 2 < size_variation:
        return f"a {smallest}-byte piece can be cut outside itself (slice bounds out of range)"
    return None


@register
@dataclasses.dataclass(frozen=True)
class SlicerToxic(Toxic):
    type_name = "slicer"
    go_struct = "SlicerToxic"
    releases_on_interrupt = True
    attribute_kinds: ClassVar[Mapping[str, GoKind]] = {
        "average_size": "int",
        "size_variation": "int",
        "delay": "int",
    }

    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def lint(self) -> None:
        super().lint()
        if self.average_size == 0:
            raise refused_value("slicer average_size must be at least 1 byte")
        if self.size_variation >= self.average_size:
            raise refused_value(
                f"slicer size_variation ({self.size_variation}) must be smaller than "
                f"average_size ({self.average_size})"
            )

    def validate(self) -> None:
        reason = crash_reason(self.average_size, self.size_variation)
        if reason is not None:
            raise refused_value(
                f"slicer average_size {self.average_size} with size_variation "
                f"{self.size_variation} would crash Toxiproxy: {reason}"
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
        step = go_duration(self.delay, 1_000)  # µs, Go's int64 arithmetic
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
