"""The drill's steady background load: the fleet (Locust, detached) against the stack.

A steady shape whose length is twice the drill's maximum plus its drain (the
facilitator may pause the drill clock for as long again: the payment world runs
on), and an outer timeout a minute beyond: even a controller killed outright
cannot leave a load running for ever. Terminals flush their journal every half second so the
dashboard's seconds are complete soon after they end.
"""

from __future__ import annotations

import asyncio
import time

from poslab.drill.errors import DrillError
from poslab.drill.session import DrillFiles, FacilitatorFile
from poslab.fleet import Fleet, ShapeSpec
from poslab.scenario import FleetTail
from poslab.stack import StackAddresses

#: Seconds the load may take from its process start to its first transaction.
LOAD_READY_TIMEOUT_S = 60.0
JOURNAL_FLUSH_S = 0.5


def start_load(files: DrillFiles, secret: FacilitatorFile, addresses: StackAddresses) -> Fleet:
    fleet = Fleet(files.scenario_dir)
    backups = sorted({p.backup for p in addresses.regions.values() if p.backup})
    config = fleet.config_for(
        world=str(files.world),
        regions={r: p.primary for r, p in addresses.regions.items()},
        backup=backups[0] if backups else None,
        agents=dict(addresses.agents),
        policy=secret.policy,
        seed=secret.seed,
        shape=ShapeSpec("steady", {"duration_s": _length(secret) + 5}),
        terminals=secret.terminals,
        think_time_s=secret.think_time_s,
        journal_flush_s=JOURNAL_FLUSH_S,
    )
    fleet.start(config, timeout_s=_length(secret) + LOAD_READY_TIMEOUT_S + 60)
    return fleet


def _length(secret: FacilitatorFile) -> float:
    return 2 * secret.max_s + secret.drain_s


async def first_transaction(fleet: Fleet) -> None:
    """Return once the fleet journal has its first record (the drill clock's zero)."""
    tail = FleetTail(fleet.fleet_dir)
    deadline = time.monotonic() + LOAD_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if tail.read():
            return
        if not fleet.running:
            raise DrillError(f"the load exited before its first transaction:\n{fleet.log_tail(20)}")
        await asyncio.sleep(0.05)
    raise DrillError(f"no transaction within {LOAD_READY_TIMEOUT_S:g} s:\n{fleet.log_tail(20)}")
