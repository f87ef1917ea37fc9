"""Which faults may be active on one target at the same time.

Faults on one target that the proxy, a mock or the fleet cannot hold together
are rejected before a run starts (docs/scenarios.md, "Coexistence"):

- a proxy that is ``down`` carries nothing else: ``down`` overlaps no other
  fault on the same proxy (a disabled proxy cannot take toxics, and re-enabling
  it at one window's end would silently end the other);
- two toxics with the same name on one proxy at once (Toxiproxy answers 409;
  names are unique across both streams, ``<type>_<stream>`` by default) — give
  one of them its own ``name``;
- the same application fault twice on one service at once (the second would
  overwrite the first's params, the first's end would clear both);
- a process fault overlapping any other process or application fault on the
  same service (a killed or restarting service loses the faults switched on in
  it, and cannot be killed twice);
- the same fleet action twice at once, unless both are limited to regions and
  those regions are disjoint.

Windows are half-open ``[at, at + for)``: a fault may start exactly when
another ends (the runner clears before it injects at equal offsets). An
instant action (a restart) at ``t`` overlaps a window that contains ``t``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from poslab.scenario.fault_actions import params_regions
from poslab.scenario.spec.resolved import (
    ApplicationFault,
    Fault,
    FleetFault,
    NetworkFault,
    ProcessFault,
)


@dataclass(frozen=True)
class Conflict:
    """``later`` cannot run while ``earlier`` is active, for ``reason``."""

    earlier: Fault
    later: Fault
    reason: str


def _overlap(a: Fault, b: Fault) -> bool:
    if not a.windowed and not b.windowed:
        return a.at_s == b.at_s
    if not a.windowed:
        return b.at_s <= a.at_s < b.end_s
    if not b.windowed:
        return a.at_s <= b.at_s < a.end_s
    return a.at_s < b.end_s and b.at_s < a.end_s


def _reason(a: Fault, b: Fault) -> str | None:
    """Why two overlapping faults cannot coexist, or None when they can."""
    if a.target != b.target:
        return None
    if isinstance(a, NetworkFault) and isinstance(b, NetworkFault):
        if a.action == "down" or b.action == "down":
            return "a proxy that is down carries no other fault"
        if a.toxic is not None and b.toxic is not None and a.toxic.name == b.toxic.name:
            return (
                f"two toxics named {a.toxic.name!r} on one proxy "
                "(names are unique across streams; give one a `name`)"
            )
        return None
    if isinstance(a, ProcessFault) or isinstance(b, ProcessFault):
        if isinstance(a, ProcessFault | ApplicationFault) and isinstance(
            b, ProcessFault | ApplicationFault
        ):
            return "a service being killed or restarted loses its faults and cannot be killed twice"
        return None
    if isinstance(a, ApplicationFault) and isinstance(b, ApplicationFault):
        if a.action == b.action:
            return f"{a.action} is already active on {a.target}"
        return None
    if isinstance(a, FleetFault) and isinstance(b, FleetFault) and a.action == b.action:
        ra, rb = params_regions(a.params), params_regions(b.params)
        if ra is not None and rb is not None and not (ra & rb):
            return None
        return (
            f"{a.action} is already active on overlapping terminals "
            "(limit both to disjoint regions)"
        )
    return None


def conflicts(faults: Sequence[Fault]) -> Iterator[Conflict]:
    """Every pair that cannot coexist, the later-starting fault named second."""
    ordered = sorted(faults, key=lambda f: (f.at_s, f.index))
    for i, later in enumerate(ordered):
        for earlier in ordered[:i]:
            if _overlap(earlier, later) and (reason := _reason(earlier, later)) is not None:
                yield Conflict(earlier, later, reason)
