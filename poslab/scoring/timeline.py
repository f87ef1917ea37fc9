"""A scenario's faults and events on its clock: real fault windows, expectation
windows, and the event timeline the reports draw.

Fault windows come from the journal (``fault_injected`` / ``fault_cleared``, the
exact times); the scenario's plan (``at_s``, ``for_s``) fills in only what the
journal lacks, and every such gap becomes a data note, because a fault the
journal does not show was perhaps never injected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from poslab.scoring.run_dir import ScenarioJournal, ScenarioSpec

MAX_EVENTS = 500
_TIMELINE_EVENTS = frozenset(
    {
        "scenario_started",
        "load_started",
        "load_stopped",
        "fault_injected",
        "fault_cleared",
        "probe",
        "abort",
        "rollback",
        "drain_finished",
        "scenario_finished",
    }
)


@dataclass(slots=True)
class FaultSpan:
    id: str
    kind: str
    target: str
    action: str
    start: float
    end: float
    injected_at: float | None
    cleared_at: float | None
    planned_at_s: float | None
    planned_for_s: float | None


def fault_windows(
    spec: ScenarioSpec, journal: ScenarioJournal, t0: float
) -> tuple[list[FaultSpan], list[str]]:
    """Every fault's real window (epoch), falling back to the plan where the journal is silent."""
    notes: list[str] = []
    planned = {f.id: f for f in spec.faults}
    spans: list[FaultSpan] = []
    for fid in list(planned) + [f for f in journal.faults if f not in planned]:
        plan, seen = planned.get(fid), journal.faults.get(fid)
        start = seen.injected_at if seen else None
        end = seen.cleared_at if seen else None
        if start is None:
            if plan is None:
                continue
            start = t0 + plan.at_s
            notes.append(f"fault {fid}: no fault_injected in the journal; planned time used")
        if end is None:
            if plan is not None:
                end = start + plan.for_s
                if plan.for_s > 0:  # an instant action (restart, push) has nothing to clear
                    notes.append(f"fault {fid}: no fault_cleared in the journal; planned end used")
            else:
                end = journal.finished_at if journal.finished_at is not None else start
                notes.append(f"fault {fid}: no fault_cleared in the journal; scenario end used")
        spans.append(
            FaultSpan(
                fid,
                seen.kind if seen and seen.kind else (plan.kind if plan else ""),
                seen.target if seen and seen.target else (plan.target if plan else ""),
                seen.action if seen else "",
                start,
                end,
                seen.injected_at if seen else None,
                seen.cleared_at if seen else None,
                plan.at_s if plan else None,
                plan.for_s if plan else None,
            )
        )
    return spans, notes


def scenario_windows(n: int, t0: float, spans: list[tuple[float, float]]) -> dict[str, list[int]]:
    """Second offsets of each expectation window (see expectation_kinds)."""
    whole = list(range(n))
    if not spans:
        return {"whole": whole, "before_fault": whole, "during_fault": [], "after_fault": []}
    first = min(a for a, _ in spans)
    last = max(b for _, b in spans)
    during: set[int] = set()
    for a, b in spans:
        during.update(range(max(0, math.floor(a - t0)), min(n, math.ceil(b - t0))))
    return {
        "whole": whole,
        "before_fault": list(range(0, min(n, max(0, math.floor(first - t0))))),
        "during_fault": sorted(during),
        "after_fault": list(range(max(0, math.ceil(last - t0)), n)),
    }


def _event_time(event: dict[str, Any]) -> float:
    t = event.get("t")
    return float(t) if isinstance(t, int | float) else 0.0


def timeline(journal: ScenarioJournal) -> list[dict[str, Any]]:
    """The journal events worth showing, oldest first, capped at MAX_EVENTS."""
    keep = [e for e in journal.events if e.get("event") in _TIMELINE_EVENTS]
    keep.sort(key=_event_time)
    if len(keep) > MAX_EVENTS:
        dropped = len(keep) - MAX_EVENTS
        keep = [*keep[:MAX_EVENTS], {"event": "truncated", "detail": f"{dropped} more events"}]
    return keep
