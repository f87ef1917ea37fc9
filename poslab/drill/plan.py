"""The hidden plan of a drill: which faults, and when.

A plan is a pure function of its :class:`PlanRequest` — the catalogue
scenario (or a seeded random draw of one or a combination), the seed, the
window the hidden delay is drawn from, the drill's maximum length and the
world's regions — so the facilitator file stores only the request and the
controller rebuilds the very same faults from it (resolved faults carry typed
params that are rebuilt, not deserialised).

How a scenario's faults become a drill's:

- every fault keeps its offset from the scenario's first fault, shifted to
  the hidden injection time ``delay_s`` on the drill clock;
- network, application and ``kill`` faults are *held*: they last until the
  drill ends or a mitigation ends them (a real incident does not stop after
  twelve seconds because a scenario file said so);
- fleet faults that model the terminals themselves (``crash``,
  ``power_outage``, ``replace``) keep their window: devices come back or are
  replaced on their own;
- instant actions (``restart``, ``set_software``, ``force_sign_on``) happen once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from poslab.drill.mitigations import FaultRef, neutralisers
from poslab.drill.playbook import DRILLABLE, FailureMode, mode_of
from poslab.drill.session import DrillFiles, FacilitatorFile
from poslab.errors import ConfigError
from poslab.scenario import (
    Fault,
    FleetFault,
    Load,
    LoadShape,
    Op,
    ProcessFault,
    ResolvedScenario,
    RunOptions,
    Step,
    describe_fault,
    load_scenario,
    read_journal,
)
from poslab.stack import default_topology

DRILL_SCENARIO = "drill"
#: Terminal-side fleet faults keep the scenario's window.
_DEVICE_FAULTS = frozenset({"crash", "power_outage", "replace"})
#: Share of random draws that hide two failures at once.
COMBINATION_SHARE = 0.3
#: The hidden fault must leave this much of the drill to work on it.
MIN_WORKING_S = 30.0


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """What the facilitator asked for; the facilitator file stores exactly this."""

    seed: int
    scenario: str | None  # None: a random draw
    delay_window_s: tuple[float, float]
    max_s: float
    regions: tuple[str, ...]
    terminals: int
    #: Further faults the facilitator injected while the drill ran: (scenario, offset s).
    extras: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        lo, hi = self.delay_window_s
        if not 0 <= lo <= hi:
            raise ConfigError(f"delay window {lo:g}:{hi:g}: need 0 ≤ low ≤ high seconds")
        if hi + MIN_WORKING_S > self.max_s:
            raise ConfigError(
                f"the hidden delay may reach {hi:g} s but the drill lasts at most "
                f"{self.max_s:g} s: leave at least {MIN_WORKING_S:g} s to work on it"
            )


@dataclass(frozen=True, slots=True)
class PlannedFault:
    fault: Fault  # offsets on the drill clock
    scenario: str  # the catalogue scenario it comes from
    held: bool  # lasts until the drill ends or a mitigation ends it

    @property
    def description(self) -> str:
        return describe_fault(self.fault)


@dataclass(frozen=True, slots=True)
class DrillPlan:
    request: PlanRequest
    scenarios: tuple[ResolvedScenario, ...]
    delay_s: float
    faults: tuple[PlannedFault, ...]
    drill_scenario: ResolvedScenario  # what run.json records and scoring reads

    @property
    def modes(self) -> tuple[FailureMode, ...]:
        return tuple(mode_of(s.name) for s in self.scenarios)

    @property
    def scenario_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)

    def answers(self) -> dict[str, list[str]]:
        """For each held fault, the mitigations that neutralise it, with their narrowest
        params (``use_backup_path regions=east``): held faults do not end by themselves,
        so whatever the playbook says of the failure mode, these end the incident."""
        out: dict[str, list[str]] = {}
        for p in self.faults:
            if not p.held:
                continue
            named = []
            for name, params in neutralisers(FaultRef.of(p.fault)):
                given = " ".join(
                    f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in params.items()
                )
                named.append(f"{name} {given}".strip())
            out[p.fault.id] = named
        return out

    def right_mitigations(self) -> list[str]:
        """The playbook's right mitigations, and every one that neutralises a held fault
        (unless the playbook calls it only acceptable: heavy-handed)."""
        right = set().union(*(m.right for m in self.modes))
        acceptable = set().union(*(m.acceptable for m in self.modes))
        for named in self.answers().values():
            right |= {n.split(" ", 1)[0] for n in named} - acceptable
        return sorted(right)

    def summary(self) -> dict[str, object]:
        """The plan as the facilitator reads it (``lab drill reveal``, the report)."""
        return {
            "scenarios": list(self.scenario_names),
            "failure_modes": [{"row": m.row, "title": m.title} for m in self.modes],
            "delay_s": self.delay_s,
            "faults": [
                {
                    "id": p.fault.id,
                    "scenario": p.scenario,
                    "at_s": p.fault.at_s,
                    "held": p.held,
                    "for_s": None if p.held else p.fault.for_s,
                    "what": p.description,
                }
                for p in self.faults
            ],
            "right_mitigations": self.right_mitigations(),
            "answers": self.answers(),
            "acceptable_mitigations": sorted(set().union(*(m.acceptable for m in self.modes))),
        }


def fault_steps(plan: DrillPlan) -> list[Step]:
    """What the controller's schedule runs: every fault injected at its hidden time;
    only the device faults' windows are cleared by the clock (held faults end with a
    mitigation or the drill)."""
    steps = [Step(p.fault.at_s, Op.INJECT, p.description, p.fault) for p in plan.faults]
    steps += [
        Step(p.fault.end_s, Op.CLEAR, p.description, p.fault)
        for p in plan.faults
        if not p.held and p.fault.windowed
    ]
    # At one offset a clear comes before an inject, as in a scenario's timeline.
    return sorted(steps, key=lambda st: (st.offset_s, st.op is Op.INJECT))


def plan_of(secret: FacilitatorFile) -> DrillPlan:
    """The plan a drill's facilitator file asked for (rebuilt, never deserialised)."""
    return build_plan(
        PlanRequest(
            secret.seed,
            secret.scenario,
            secret.delay_window_s,
            secret.max_s,
            tuple(secret.regions),
            secret.terminals,
            tuple((name, at) for name, at in secret.injected),
        )
    )


def build_plan(request: PlanRequest) -> DrillPlan:
    """The faults of ``request``; the same request always gives the same plan."""
    rng = random.Random(f"drill/{request.seed}")
    names = _choose(request, rng)
    lo, hi = request.delay_window_s
    delay = round(rng.uniform(lo, hi), 1)
    topology = default_topology(request.regions)
    options = RunOptions(terminals=request.terminals)
    scenarios = tuple(load_scenario(name, topology, options) for name in names)
    faults: list[PlannedFault] = []
    for scenario in scenarios:
        if not scenario.faults:
            raise ConfigError(f"scenario {scenario.name} injects no fault: nothing to hide")
        first = min(f.at_s for f in scenario.faults)
        for fault in scenario.faults:
            faults.append(_drill_fault(fault, scenario, delay + fault.at_s - first, request, names))
    for name, at_s in request.extras:
        extra = _extra(name, at_s, names + tuple(n for n, _ in request.extras), request)
        scenarios += (extra[0],)
        faults += extra[1]
    faults.sort(key=lambda p: (p.fault.at_s, p.fault.id))
    drill = _drill_scenario(scenarios, tuple(p.fault for p in faults), request)
    return DrillPlan(request, scenarios, delay, tuple(faults), drill)


def _extra(
    name: str, at_s: float, taken: tuple[str, ...], request: PlanRequest
) -> tuple[ResolvedScenario, list[PlannedFault]]:
    """A fault the facilitator injected at ``at_s``: its scenario's faults from there,
    named ``<scenario>/<fault>`` (a scenario is injected at most once)."""
    if name not in DRILLABLE:
        raise ConfigError(f"scenario {name} cannot be injected (drillable: {', '.join(DRILLABLE)})")
    if taken.count(name) > 1:
        raise ConfigError(f"scenario {name} is in this drill already")
    scenario = load_scenario(
        name, default_topology(request.regions), RunOptions(terminals=request.terminals)
    )
    first = min(f.at_s for f in scenario.faults)
    planned = [
        _drill_fault(fault, scenario, at_s + fault.at_s - first, request, ("", name))
        for fault in scenario.faults
    ]
    return scenario, planned


def _choose(request: PlanRequest, rng: random.Random) -> tuple[str, ...]:
    if request.scenario is not None:
        mode_of(request.scenario)  # refuses what the playbook does not know
        if request.scenario not in DRILLABLE:
            raise ConfigError(f"scenario {request.scenario} injects no fault: nothing to hide")
        return (request.scenario,)
    first = rng.choice(DRILLABLE)
    if rng.random() >= COMBINATION_SHARE:
        return (first,)
    # A second failure from another row whose faults touch other targets, so
    # the two never fight over one proxy or service.
    partners = [n for n in DRILLABLE if mode_of(n).row != mode_of(first).row]
    rng.shuffle(partners)
    topology = default_topology(request.regions)
    options = RunOptions(terminals=request.terminals)
    mine = _targets(load_scenario(first, topology, options))
    for name in partners:
        if _targets(load_scenario(name, topology, options)).isdisjoint(mine):
            return tuple(sorted((first, name)))
    return (first,)


def _targets(scenario: ResolvedScenario) -> set[str]:
    out: set[str] = set()
    for fault in scenario.faults:
        out.add(f"fleet:{fault.action}" if isinstance(fault, FleetFault) else fault.target)
    return out


def _held(fault: Fault) -> bool:
    if not fault.windowed:
        return False
    return not (isinstance(fault, FleetFault) and fault.action in _DEVICE_FAULTS)


def _drill_fault(
    fault: Fault, scenario: ResolvedScenario, at_s: float, req: PlanRequest, names: Sequence[str]
) -> PlannedFault:
    held = _held(fault)
    at_s = round(at_s, 3)
    if held:
        # Held until the drill ends: the window is the rest of the drill, so the
        # injector tracks it as active and the rollback always undoes it.
        for_s = round(req.max_s - at_s, 3)
    elif isinstance(fault, ProcessFault) or not fault.windowed:
        for_s = 0.0
    else:
        for_s = fault.for_s
    fault_id = fault.id if len(names) == 1 else f"{scenario.name}/{fault.id}"
    moved = fault.model_copy(
        update={"id": fault_id, "at_s": at_s, "for_s": for_s, "unavoidable": False}
    )
    return PlannedFault(moved, scenario.name, held)


def _drill_scenario(
    scenarios: tuple[ResolvedScenario, ...], faults: tuple[Fault, ...], req: PlanRequest
) -> ResolvedScenario:
    """One scenario named ``drill`` that scoring and the run directory understand.

    SLO and recovery come from the first scenario; a drill has no expectations,
    no unavoidable windows (everything the merchants lived through is judged)
    and no abort conditions (the people end it).
    """
    base = scenarios[0]
    return base.model_copy(
        update={
            "name": DRILL_SCENARIO,
            "description": "incident drill: " + ", ".join(s.name for s in scenarios),
            "source": "drill",
            "failure_mode": base.failure_mode if len(scenarios) == 1 else None,
            "policy": None,
            "load": Load(
                shape=LoadShape.STEADY, terminals=req.terminals, duration_s=req.max_s, params={}
            ),
            "duration_s": req.max_s,
            "steady_state": None,
            "faults": faults,
            "unavoidable": (),
            "expectations": (),
            "abort": (),
        }
    )


def reveal_view(files: DrillFiles, seed: int, plan: DrillPlan) -> dict[str, Any]:
    """The plan as the facilitator reads it, with when each fault really went in."""
    journal = read_journal(files.journal) if files.journal.exists() else []
    went_in = {e["fault_id"]: e["t"] for e in journal if e.get("event") == "fault_injected"}
    t0 = files.read_state().t0
    summary: dict[str, Any] = {"seed": seed, **plan.summary()}
    for fault in summary["faults"]:
        t = went_in.get(fault["id"])
        fault["went_in_s"] = None if t is None or t0 is None else round(t - t0, 1)
    return summary
