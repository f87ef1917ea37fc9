"""Where random draws come from: toxicity, latency jitter, slicer cuts.

Toxiproxy draws from one global generator, so its ``-seed`` flag cannot make a
run repeatable (goroutines interleave). Here, with ``--seed N``, every stage —
one toxic on one direction of one connection — has its own draws, derived
from the key ``"{seed}/{proxy}/{ordinal}/{direction}/{toxic}"``:

- toxicity draw number k (0 when the stage starts, 1 after the first update,
  …) is the first 8 bytes of ``blake2b(f"{key}/toxicity/{k}")`` read as a
  big-endian integer, divided by 2**64;
- jitter and slicer cuts come from ``random.Random(f"{key}/data")``, created
  the first time the stage needs it.

So connection #3 of proxy ``region-north`` draws the same toxicity and the same
jitter sequence in every run with the same seed, however the other
connections interleave. The connection ordinal counts accepted connections per
proxy from 0 (a proxy re-created or replaced by ``/populate`` starts again at
0). Per-chunk draws repeat as long as the bytes arrive in the same chunks.
Without a seed every stage draws from one generator seeded by the OS.

Both derivations are cheap on purpose: a toxic added while 1,000 connections
are live creates 1,000 stages in one step.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["Draws", "StageDraws"]

_SCALE = float(2**64)


class StageDraws:
    """The draws of one stage."""

    __slots__ = ("_data", "_key", "_shared", "_toxicity_draws")

    def __init__(self, key: str | None, shared: random.Random) -> None:
        self._key = key
        self._shared = shared
        self._data: random.Random | None = None
        self._toxicity_draws = 0

    @property
    def rng(self) -> random.Random:
        """The generator for per-chunk draws (jitter, slice sizes)."""
        if self._key is None:
            return self._shared
        if self._data is None:
            self._data = random.Random(f"{self._key}/data")
        return self._data

    def toxicity(self) -> float:
        """The next toxicity draw, uniform in [0, 1)."""
        if self._key is None:
            return self._shared.random()
        index = self._toxicity_draws
        self._toxicity_draws += 1
        digest = hashlib.blake2b(f"{self._key}/toxicity/{index}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / _SCALE


class Draws:
    """Hands out the draws of each stage."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._shared = random.Random()

    def for_stage(self, proxy: str, ordinal: int, direction: str, toxic: str) -> StageDraws:
        if self.seed is None:
            return StageDraws(None, self._shared)
        return StageDraws(f"{self.seed}/{proxy}/{ordinal}/{direction}/{toxic}", self._shared)
