"""Which terminals a fleet fault hits: drawn from the world with the run's seed.

A fleet fault names a ``share`` or ``count`` of terminals, or whole regions;
the concrete TIDs are drawn here, before the run, so the same seed and world
always hit the same terminals (the runner journals the list). Each fault gets
its own random stream, seeded from ``(seed, scenario, fault id)``: adding a
fault to a scenario does not change the draws of the others. Python's
``random.Random`` seeded with a string is stable across processes and
``PYTHONHASHSEED`` (it hashes the string with SHA-512).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from poslab.errors import ConfigError
from poslab.scenario.fault_actions import params_regions
from poslab.scenario.spec.resolved import FleetFault, ResolvedScenario


class TerminalLike(Protocol):
    """What a draw needs of a terminal (``poslab.world.Terminal`` fits)."""

    @property
    def tid(self) -> str: ...

    @property
    def region(self) -> str: ...


def draw_terminals(
    fault: FleetFault, terminals: Sequence[TerminalLike], seed: int, scenario: str
) -> tuple[str, ...]:
    """The TIDs ``fault`` acts on, sorted. Whole-fleet actions return every TID."""
    regions = params_regions(fault.params)
    pool = sorted(t.tid for t in terminals if regions is None or t.region in regions)
    share = getattr(fault.params, "share", None)
    count = getattr(fault.params, "count", None)
    if share is None and count is None:
        return tuple(pool)  # whole regions, or the whole fleet
    if count is not None:
        if count > len(pool):
            where = f" in {', '.join(sorted(regions))}" if regions else ""
            raise ConfigError(
                f"scenario {scenario}: fault {fault.id} wants {count} terminals but the "
                f"world has {len(pool)}{where}"
            )
        n = int(count)
    else:
        assert isinstance(share, float)
        n = int(Decimal(str(share * len(pool))).quantize(Decimal(1), ROUND_HALF_UP))
        n = max(n, 1) if pool else 0  # a share of a non-empty fleet hits someone
    rng = random.Random(f"{seed}/{scenario}/{fault.id}")
    return tuple(sorted(rng.sample(pool, n)))


def resolve_fleet_draws(
    scenario: ResolvedScenario, terminals: Sequence[TerminalLike], seed: int
) -> Mapping[str, tuple[str, ...]]:
    """fault id → TIDs, for every fleet fault of ``scenario``."""
    return {
        f.id: draw_terminals(f, terminals, seed, scenario.name)
        for f in scenario.faults
        if isinstance(f, FleetFault)
    }
