"""Exponential backoff for sign-on and retry-later codes.

Why jitter matters here: after a fleet-wide key expiry, a host restart or a
region's power coming back, thousands of terminals fail at the same instant.
Without jitter they all retry at base·2ⁿ — the same instants — and the
sign-on storm repeats at every step. "Full jitter" (a uniform draw between 0
and the exponential ceiling) spreads each wave over the whole interval; the
naive policy keeps the fixed steps so the lab can show the difference.

Some retries must also be *at least* some time apart: a reversal has a
budget of tries, and tries squeezed into a second all land inside one short
outage. ``floor`` keeps that share of each step fixed and jitters the rest
("equal jitter" at 0.5): the fleet is still spread, yet the tries of one
terminal span a known minimum.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for attempt 1, 2, … of one retry sequence."""

    __slots__ = ("base_s", "cap_s", "floor", "jitter", "rng")

    def __init__(
        self,
        base_s: float,
        cap_s: float,
        *,
        jitter: bool,
        rng: random.Random,
        floor: float = 0.0,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"backoff needs 0 < base ≤ cap, got base={base_s} cap={cap_s}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"backoff floor is a share of the step (0..1), got {floor}")
        self.base_s = base_s
        self.cap_s = cap_s
        self.floor = floor
        self.jitter = jitter
        self.rng = rng

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay before retry number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt numbers start at 1, got {attempt}")
        # 2**n overflows a float long before the cap matters: clamp the exponent.
        return min(self.cap_s, self.base_s * float(2 ** min(attempt - 1, 62)))

    def delay(self, attempt: int) -> float:
        ceiling = self.ceiling(attempt)
        if not self.jitter:
            return ceiling
        return self.rng.uniform(ceiling * self.floor, ceiling)
