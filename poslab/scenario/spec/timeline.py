"""The resolved timeline: every planned step of a scenario, in order, on its own clock.

The runner walks these steps; ``lab run --dry-run`` and ``lab scenario show``
print them. Building and rendering them touches no socket and no process.

Order at one offset: the load starts first, then faults whose window ends are
cleared, then the steady-state deadline, then new faults are injected — so a
fault may start exactly when another on the same target ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from poslab.scenario.spec.durations import format_duration
from poslab.scenario.spec.resolved import (
    ApplicationFault,
    Fault,
    FleetFault,
    IntegrityBreach,
    NetworkFault,
    P99Above,
    PluginFault,
    ProcessFault,
    ResolvedScenario,
    ResolvedSuite,
    SuccessRatioBelow,
)


class Op(StrEnum):
    LOAD_START = "load_start"
    CLEAR = "clear"
    STEADY_STATE = "steady_state"
    INJECT = "inject"
    LOAD_STOP = "load_stop"
    DRAIN_END = "drain_end"


_RANK = {op: i for i, op in enumerate(Op)}


@dataclass(frozen=True, slots=True)
class Step:
    """One planned step: ``offset_s`` after the scenario clock's zero."""

    offset_s: float
    op: Op
    detail: str
    fault: Fault | None = None

    @property
    def fault_id(self) -> str | None:
        return self.fault.id if self.fault is not None else None


def describe_fault(fault: Fault) -> str:
    """One line saying what the fault does to what, for timelines and journals."""
    if isinstance(fault, NetworkFault):
        if fault.toxic is None:
            return f"proxy {fault.target} down"
        t = fault.toxic
        attrs = " ".join(f"{k}={v}" for k, v in t.attributes.items())
        toxicity = "" if t.toxicity == 1 else f" toxicity={t.toxicity:g}"
        return f"proxy {fault.target} toxic {t.type} {t.stream.value} {attrs}{toxicity}".rstrip()
    params = " ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in fault.params.model_dump(exclude_none=True).items()
    )
    if isinstance(fault, ApplicationFault):
        return f"{fault.target} fault {fault.action} {params}".rstrip()
    if isinstance(fault, ProcessFault):
        return f"{fault.action} {fault.target} {params}".rstrip()
    if isinstance(fault, PluginFault):
        return f"plugin {fault.action} on {fault.target} {params}".rstrip()
    assert isinstance(fault, FleetFault)
    return f"fleet {fault.action} {params}".rstrip()


def build_timeline(scenario: ResolvedScenario) -> tuple[Step, ...]:
    """Every step of ``scenario`` in execution order."""
    load = scenario.load
    steps = [
        Step(0.0, Op.LOAD_START, f"{load.shape.value} load, {load.terminals} terminals"),
        Step(scenario.duration_s, Op.LOAD_STOP, "load stops"),
        Step(
            round(scenario.duration_s + scenario.drain_s, 6),
            Op.DRAIN_END,
            "drain ends: pending reversals and settlement must be done",
        ),
    ]
    if scenario.steady_state is not None:
        ss = scenario.steady_state
        health = " and every service healthy" if ss.health else ""
        steps.append(
            Step(ss.within_s, Op.STEADY_STATE, f"{ss.good_seconds} good seconds in a row{health}")
        )
    for fault in scenario.faults:
        what = describe_fault(fault)
        steps.append(Step(fault.at_s, Op.INJECT, what, fault))
        if fault.windowed:
            steps.append(Step(fault.end_s, Op.CLEAR, what, fault))
    return tuple(sorted(steps, key=lambda s: (s.offset_s, _RANK[s.op])))


def fault_steps(scenario: ResolvedScenario) -> tuple[Step, ...]:
    """Only the inject and clear steps (what the fault injector acts on)."""
    return tuple(s for s in build_timeline(scenario) if s.op in (Op.INJECT, Op.CLEAR))


def _abort_text(scenario: ResolvedScenario) -> str:
    parts: list[str] = []
    for cond in scenario.abort:
        if isinstance(cond, SuccessRatioBelow):
            parts.append(f"success ratio < {cond.ratio:.0%} for {format_duration(cond.for_s)}")
        elif isinstance(cond, P99Above):
            parts.append(f"p99 > {cond.ms:g} ms for {format_duration(cond.for_s)}")
        else:
            assert isinstance(cond, IntegrityBreach)
            parts.append("any integrity breach a probe observes")
    return "; ".join(parts) or "none"


def render_timeline(scenario: ResolvedScenario) -> str:
    """The dry-run text: header, steps with offsets, then what is judged."""
    s = scenario
    row = f"row {s.failure_mode}, " if s.failure_mode else ""
    lines = [
        f"scenario {s.name} ({row}weight {s.weight:g}, min score {s.min_score:g})",
        f"  from {s.source}",
        f"  load {s.load.shape.value}, {s.load.terminals} terminals, "
        f"{format_duration(s.duration_s)} + drain {format_duration(s.drain_s)}; "
        f"policy {s.policy.value if s.policy else 'as the run says'}; "
        f"time scale {s.time_scale:g}",
        f"  SLO success ratio ≥ {s.slo.success_ratio:.1%}, p99 ≤ {s.slo.p99_ms:g} ms; "
        f"recovered = {s.recovery.good_seconds} good s in a row, "
        f"target {format_duration(s.recovery.target_s)}",
    ]
    for service, settings in (("acquirer", s.acquirer), ("terminals", s.terminal)):
        if settings:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
            lines.append(f"  {service} settings: {shown}")
    lines.append("  timeline:")
    for step in build_timeline(s):
        ident = f" [{step.fault_id}]" if step.fault_id else ""
        offset = "+" + format_duration(step.offset_s)
        lines.append(f"    {offset:>9}  {step.op.value:<12} {step.detail}{ident}")
    windows = ", ".join(
        f"{format_duration(w.start_s)}–{format_duration(w.end_s)}" for w in s.unavoidable
    )
    lines.append(f"  unavoidable (not judged): {windows or 'none'}")
    lines.append("  expectations:")
    for e in s.expectations:
        params = " ".join(f"{k}={v}" for k, v in e.params.items() if v is not None)
        lines.append(f"    {e.name}: {e.kind} {params}".rstrip())
    if not s.expectations:
        lines.append("    none")
    if s.probes:
        lines.append("  probes:")
    for p in s.probes:
        every = f" every {format_duration(p.interval_s)}" if p.mode.value in _POLLED else ""
        lines.append(f"    {p.name}: {p.type} {p.mode.value}{every} (timeout {p.timeout_s:g} s)")
    lines.append(f"  abort when: {_abort_text(s)}")
    return "\n".join(lines)


#: probe modes that ask every interval (the others ask once)
_POLLED = ("continuous", "during_fault")


def render_suite(suite: ResolvedSuite) -> str:
    """A suite's header (scenarios, weights, estimated wall time) then each timeline."""
    lines = [
        f"suite {suite.name}: {len(suite.scenarios)} scenarios, min score {suite.min_score:g}, "
        f"estimated wall time {format_duration(round(suite.estimated_wall_s()))} "
        "(stack start + load + drain each)",
        f"  from {suite.source}",
    ]
    lines += [
        f"    {s.name:<28} weight {s.weight:g}, min {s.min_score:g}, "
        f"{format_duration(s.duration_s)} + {format_duration(s.drain_s)}"
        for s in suite.scenarios
    ]
    return "\n\n".join(["\n".join(lines), *(render_timeline(s) for s in suite.scenarios)])
