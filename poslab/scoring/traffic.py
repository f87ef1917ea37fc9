"""Per-second traffic of one scenario: what the fleet attempted, per region.

Availability and recovery are judged on these 1-second buckets. What goes in:

- only *financial* attempts the customer waits for: sale, void, refund,
  balance. Sign-on, settlement, TMS and reversals are the terminal's own
  housekeeping; they show up in the score through the financial attempts they
  delay, and through expectations;
- a record lands in the second of its ``ts_start`` — the moment the card was
  presented. A sale that hangs for 30 s counts against the second it began in,
  which is the second the fault hurt;
- latencies are kept exactly (``array('d')``, 8 bytes each) so p99 is the true
  nearest-rank percentile, not an estimate.

A second in which nothing started is not evidence of health: when financial
attempts that end *bad* (not approved, or slower than the SLO's p99) were in
flight across it, the fleet was stuck waiting, so it is marked ``blocked`` and
judged bad (see :mod:`poslab.scoring.availability`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FINANCIAL_TYPES = frozenset({"sale", "void", "refund", "balance"})


class RegionSeconds:
    """Accumulators for one region over ``n`` seconds of the scenario clock."""

    __slots__ = ("approved", "attempts", "backup_approved", "blocked", "declined", "latencies", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self.attempts = [0] * n
        self.approved = [0] * n
        self.declined = [0] * n
        self.backup_approved = [0] * n
        self.latencies: list[array[float] | None] = [None] * n
        # difference array: +1 where a bad attempt's shadow begins, -1 after it ends
        self.blocked = [0] * (n + 1)

    def block(self, first: int, last: int) -> None:
        """Mark seconds ``first..last`` (inclusive, clipped) as spent waiting on a bad attempt."""
        first, last = max(first, 0), min(last, self.n - 1)
        if first <= last:
            self.blocked[first] += 1
            self.blocked[last + 1] -= 1

    def blocked_mask(self) -> list[bool]:
        out, level = [], 0
        for i in range(self.n):
            level += self.blocked[i]
            out.append(level > 0)
        return out


def p99(values: Sequence[float]) -> float | None:
    """Nearest-rank 99th percentile: the smallest value with ≥ 99 % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(slots=True)
class SecondFigures:
    """Finished per-second figures of one region or of the whole fleet."""

    attempts: list[int]
    approved: list[int]
    declined: list[int]
    backup_approved: list[int]
    p99_ms: list[float | None]
    blocked: list[bool]
    latencies: list[array[float] | None]

    @property
    def n(self) -> int:
        return len(self.attempts)

    def success_ratio(self, i: int) -> float | None:
        judged = self.attempts[i] - self.declined[i]
        return self.approved[i] / judged if judged > 0 else None


def finish(parts: Iterable[RegionSeconds], n: int) -> SecondFigures:
    """Sum regions (or take one) into per-second figures, p99 included."""
    parts = list(parts)
    # one region: its latency arrays are reused as they are, not copied
    alias = len(parts) == 1
    attempts, approved, declined, backup = [0] * n, [0] * n, [0] * n, [0] * n
    lat: list[array[float] | None] = [None] * n
    blocked = [False] * n
    for part in parts:
        mask = part.blocked_mask()
        for i in range(n):
            if not part.attempts[i] and not mask[i]:
                continue
            attempts[i] += part.attempts[i]
            approved[i] += part.approved[i]
            declined[i] += part.declined[i]
            backup[i] += part.backup_approved[i]
            blocked[i] = blocked[i] or mask[i]
            values = part.latencies[i]
            if values is not None:
                current = lat[i]
                if current is None:
                    lat[i] = values if alias else array("d", values)
                else:
                    current.extend(values)
    return SecondFigures(
        attempts, approved, declined, backup, [p99(v) if v else None for v in lat], blocked, lat
    )


@dataclass(slots=True)
class WindowFigures:
    """Totals over a set of seconds (for expectations)."""

    seconds: int
    attempts: int
    approved: int
    declined: int
    backup_approved: int
    p99_ms: float | None

    @property
    def success_ratio(self) -> float | None:
        judged = self.attempts - self.declined
        return self.approved / judged if judged > 0 else None


def window_figures(parts: Sequence[SecondFigures], seconds: Sequence[int]) -> WindowFigures:
    """Totals over ``seconds`` of one or more regions' figures; p99 over all their latencies."""
    attempts = approved = declined = backup = 0
    values: list[float] = []
    for fig in parts:
        for i in seconds:
            if not 0 <= i < fig.n:
                continue
            attempts += fig.attempts[i]
            approved += fig.approved[i]
            declined += fig.declined[i]
            backup += fig.backup_approved[i]
            lat = fig.latencies[i]
            if lat is not None:
                values.extend(lat)
    return WindowFigures(len(seconds), attempts, approved, declined, backup, p99(values))
