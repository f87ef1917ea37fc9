"""Where random draws come from: toxicity, latency jitter, slicer cuts.

Toxiproxy draws from one global generator, so its ``-seed`` flag cannot make a
run repeatable (goroutines interleave). Here, with ``--seed N``, every stage —
one toxic on one direction of one connection — gets its own generators
derived from ``(seed, proxy name, connection ordinal, direction, toxic
name)``: connection #3 of proxy ``region-north`` draws the same toxicity and
the same jitter sequence in every run with the same seed, however the other
connections interleave. The connection ordinal counts accepted connections
per proxy from 0 (a proxy replaced by ``/populate`` starts again at 0).

Toxicity has its own generator per stage, so the k-th update of a toxic
redraws the same value whatever jitter was drawn in between. Per-chunk draws
(jitter, slice sizes) repeat as long as the bytes arrive in the same chunks.
Without a seed every stage shares one generator seeded from the OS.
"""

from __future__ import annotations

import random

__all__ = ["Draws"]


class Draws:
    """Hands out the random generators of each stage."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._shared = random.Random()

    def for_stage(
        self, proxy: str, ordinal: int, direction: str, toxic: str
    ) -> tuple[random.Random, random.Random]:
        """``(data draws, toxicity draws)`` for one stage."""
        if self.seed is None:
            return self._shared, self._shared
        key = f"{self.seed}/{proxy}/{ordinal}/{direction}/{toxic}"
        return random.Random(f"{key}/data"), random.Random(f"{key}/toxicity")
