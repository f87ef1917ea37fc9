"""Load shapes: a business day's traffic, compressed into minutes.

A shape says, at each second of the run, how many terminals are on
(``users``) and how busy each one is (``intensity``: 1.0 = the day's busiest
hour; a terminal's mean think time is the fleet's ``think_time_s`` divided
by it). Shops keep their terminals on all day, so the peak shapes keep every
terminal on and let the time-of-day curve drive the transaction rate — which
is also how a real lunch rush looks to an acquirer: the same devices, more
customers.

The curve is the hourly profile of card-present retail in Chinese cities
(share of the busiest hour): quiet nights, a morning rise, the lunch peak at
12–13, an afternoon lull and a broad dinner peak 18–20, as published
hour-of-day charts of UnionPay POS volume show. It is an approximation to be
replaced by a measured profile when one is at hand; its shape, not its exact
values, is what the scenarios depend on.

All parameters live in :data:`SHAPE_DEFAULTS`; a fleet config may override
any of them. Pure Python (no Locust import), so it is tested without gevent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

__all__ = ["RETAIL_HOURLY", "SHAPE_DEFAULTS", "Shape", "Tick", "intensity_at_hour", "make_shape"]

# Share of the busiest hour's transactions, hour 0..23 (local time).
RETAIL_HOURLY: tuple[float, ...] = (
    0.03, 0.02, 0.01, 0.01, 0.01, 0.02, 0.06, 0.15,  # 00-07
    0.30, 0.42, 0.55, 0.80, 1.00, 0.90, 0.62, 0.50,  # 08-15
    0.55, 0.72, 0.93, 0.97, 0.80, 0.55, 0.30, 0.10,  # 16-23
)  # fmt: skip

SHAPE_DEFAULTS: dict[str, dict[str, float]] = {
    # every terminal on at full intensity
    "steady": {"duration_s": 60.0, "spawn_rate": 100.0, "intensity": 1.0},
    # terminals come on linearly from a share of the fleet to all of it
    "ramp": {"duration_s": 120.0, "spawn_rate": 100.0, "start_share": 0.1, "intensity": 1.0},
    # 10:00-15:00 of the day in duration_s seconds: lunch rises, peaks, falls
    "lunch-peak": {"duration_s": 300.0, "spawn_rate": 200.0, "from_hour": 10.0, "to_hour": 15.0},
    # 16:00-22:00: the broad evening peak
    "dinner-peak": {"duration_s": 300.0, "spawn_rate": 200.0, "from_hour": 16.0, "to_hour": 22.0},
}


def intensity_at_hour(hour: float) -> float:
    """The curve at ``hour`` (0 ≤ hour < 24), linear between hour centres."""
    position = (hour - 0.5) % 24.0
    low = math.floor(position)
    frac = position - low
    a, b = RETAIL_HOURLY[low % 24], RETAIL_HOURLY[(low + 1) % 24]
    return a + (b - a) * frac


@dataclasses.dataclass(frozen=True, slots=True)
class Tick:
    users: int
    spawn_rate: float
    intensity: float


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    name: str
    terminals: int
    params: Mapping[str, float]

    @property
    def duration_s(self) -> float:
        return self.params["duration_s"]

    def at(self, elapsed_s: float) -> Tick | None:
        """What the fleet does ``elapsed_s`` into the run; None once it is over."""
        if elapsed_s >= self.duration_s:
            return None
        p = self.params
        progress = max(0.0, elapsed_s) / self.duration_s
        users = self.terminals
        intensity = p.get("intensity", 1.0)
        if self.name == "ramp":
            start = p["start_share"]
            users = max(1, math.ceil(self.terminals * (start + (1.0 - start) * progress)))
        elif self.name in ("lunch-peak", "dinner-peak"):
            hour = p["from_hour"] + (p["to_hour"] - p["from_hour"]) * progress
            intensity = intensity_at_hour(hour)
        return Tick(users=users, spawn_rate=p["spawn_rate"], intensity=intensity)

    def hour_at(self, elapsed_s: float) -> float | None:
        """The compressed clock of a peak shape (for reports); None otherwise."""
        if "from_hour" not in self.params:
            return None
        progress = min(max(elapsed_s / self.duration_s, 0.0), 1.0)
        return (
            self.params["from_hour"]
            + (self.params["to_hour"] - self.params["from_hour"]) * progress
        )


def make_shape(name: str, terminals: int, overrides: Mapping[str, float] | None = None) -> Shape:
    if name not in SHAPE_DEFAULTS:
        raise ValueError(f"unknown shape {name!r} (known: {', '.join(SHAPE_DEFAULTS)})")
    if terminals < 1:
        raise ValueError("a shape needs at least one terminal")
    params = dict(SHAPE_DEFAULTS[name])
    unknown = sorted(set(overrides or {}) - set(params))
    if unknown:
        raise ValueError(f"shape {name}: unknown parameter(s) {', '.join(unknown)}")
    params.update(overrides or {})
    if params["duration_s"] <= 0 or params["spawn_rate"] <= 0:
        raise ValueError(f"shape {name}: duration_s and spawn_rate must be > 0")
    if name == "ramp" and not 0 < params["start_share"] <= 1:
        raise ValueError("shape ramp: start_share must be in (0, 1]")
    if "from_hour" in params and not 0 <= params["from_hour"] < params["to_hour"] <= 24:
        raise ValueError(f"shape {name}: need 0 ≤ from_hour < to_hour ≤ 24")
    return Shape(name=name, terminals=terminals, params=params)
