"""The post-incident report's content, built from a drill's run directory.

:func:`build_postmortem` reads what the drill left behind (:mod:`poslab.drill.session`)
and analyses it into a :class:`Postmortem`; the renderers (:mod:`.markdown`,
:mod:`.html`) and ``postmortem.json`` (:meth:`Postmortem.to_dict`) only read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from poslab.drill.actions import action_items
from poslab.drill.incident import Incident, Rules, analyse
from poslab.drill.money import MoneyImpact, money_impact
from poslab.drill.plan import DrillPlan, plan_of
from poslab.drill.playbook import Signal
from poslab.drill.runbooks import Runbook, StepOutcome, load_runbook, match_steps
from poslab.drill.session import DrillFiles, Timeline, read_jsonl
from poslab.errors import RunDirError


@dataclass
class Postmortem:
    name: str
    plan: DrillPlan
    incident: Incident
    money: MoneyImpact
    steps: list[StepOutcome]
    runbooks: list[Runbook]
    actions: list[str]
    timeline: list[dict[str, Any]]
    samples: list[dict[str, Any]] = field(repr=False, default_factory=list)

    def moments(self) -> list[tuple[float, str, str]]:
        """(time, what, detail) of everything on the incident's timeline, in order."""
        inc = self.incident
        out: list[tuple[float, str, str]] = []
        for f in inc.faults:
            out.append(
                (float(f["t"]), "fault injected", f"{f['id']}: {f['action']} on {f['target']}")
            )
            if f.get("cleared_at") is not None:
                out.append(
                    (float(f["cleared_at"]), "fault cleared", f"{f['id']} ({f.get('cleared_by')})")
                )
        if inc.symptom_at is not None:
            out.append((inc.symptom_at, "first measurable symptom", inc.symptom))
        for e in self.timeline:
            kind = e.get("event")
            by = _by(e.get("by"))
            if kind in ("note", "detect"):
                out.append(
                    (
                        float(e["t"]),
                        "detection" if kind == "detect" else "note",
                        by + str(e.get("text", "")),
                    )
                )
            elif kind == "check":
                out.append((float(e["t"]), "check", f"{by}{e.get('area')}: {e.get('verdict')}"))
            elif kind in FACILITATOR_EVENTS:
                out.append((float(e["t"]), FACILITATOR_EVENTS[kind], by + _facilitated(e)))
        for m in inc.mitigations:
            out.append(
                (
                    m.t,
                    f"mitigation ({m.verdict})",
                    f"{_by(m.by)}{m.action}: {m.result} — {m.effect}",
                )
            )
        if inc.recovered_at is not None:
            out.append((inc.recovered_at, "recovered", "every watched signal good again"))
        out.append((inc.end_at, "drill ended", _end_reason(self.timeline)))
        return sorted(out, key=lambda m: m[0])

    def to_dict(self) -> dict[str, Any]:
        inc = self.incident
        return {
            "name": self.name,
            "plan": self.plan.summary(),
            "t0": inc.t0,
            "end_at": inc.end_at,
            "fault_start": inc.fault_start,
            "faults": inc.faults,
            "symptom": {"t": inc.symptom_at, "detail": inc.symptom},
            "detection": {
                "t": inc.detect_at,
                "text": inc.detect_text,
                "named": inc.detect_named,
                "false_alarms": inc.false_alarms,
            },
            "recovered_at": inc.recovered_at,
            "self_healed": inc.self_healed,
            "recovery_credited_to": inc.credited_to,
            "figures": inc.figures(),
            "pauses": [{"from": a, "to": b} for a, b in inc.pauses],
            "mitigations": [asdict(m) for m in inc.mitigations],
            "money": self.money.to_dict(),
            "runbook_steps": [s.to_dict() for s in self.steps],
            "action_items": self.actions,
            "timeline": [{"t": t, "what": w, "detail": d} for t, w, d in self.moments()],
        }


#: What the facilitator did, as the timeline names it.
FACILITATOR_EVENTS = {
    "reveal": "facilitator revealed the plan",
    "inject": "facilitator injected a further fault",
    "pause": "facilitator paused the clock",
    "resume": "facilitator resumed the clock",
}


def _by(name: object) -> str:
    return f"[{name}] " if name else ""


def _facilitated(event: dict[str, Any]) -> str:
    if event.get("event") == "inject":
        return f"{event.get('scenario')} ({', '.join(event.get('faults') or [])})"
    if event.get("event") == "resume":
        return f"after {float(event.get('paused_s') or 0):.1f} s"
    return ""


def _end_reason(timeline: list[dict[str, Any]]) -> str:
    ends = [e for e in timeline if e.get("event") == "end"]
    return str(ends[-1].get("reason", "")) if ends else ""


def build_postmortem(files: DrillFiles) -> Postmortem:
    secret = files.read_facilitator()
    state = files.read_state()
    plan = plan_of(secret)
    journal = read_jsonl(files.journal)
    timeline = Timeline(files.timeline).read()
    samples = read_jsonl(files.metrics)
    t0 = state.t0 or next(
        (float(e["t0"]) for e in journal if e.get("event") == "scenario_started"), None
    )
    if t0 is None:
        raise RunDirError(f"{files.run_dir}: the drill never started its load: nothing to report")
    ends = [float(e["t"]) for e in timeline if e.get("event") == "end" and e.get("t") is not None]
    end_at = (
        ends[-1] if ends else state.ended_at or (float(samples[-1]["t"]) + 1 if samples else t0)
    )
    runbooks = [load_runbook(m.runbook) for m in plan.modes]
    keywords = [k for book in runbooks for k in book.detection_keywords]
    scenario = plan.drill_scenario
    rules = Rules(
        success_ratio=scenario.slo.success_ratio,
        p99_ms=scenario.slo.p99_ms,
        good_seconds=scenario.recovery.good_seconds,
        signals=frozenset(sig for m in plan.modes for sig in m.signals) | {Signal.PAYMENTS},
    )
    incident = analyse(
        t0=t0,
        end_at=end_at,
        journal=journal,
        timeline=timeline,
        samples=samples,
        modes=plan.modes,
        rules=rules,
        detection_keywords=keywords,
    )
    steps = match_steps(runbooks, timeline, since=t0)
    money = money_impact(
        files.run_dir, files.fleet_dir, incident.fault_start, incident.recovered_at or end_at
    )
    actions = action_items(plan, incident, money, steps)
    return Postmortem(
        files.run_dir.name, plan, incident, money, steps, runbooks, actions, timeline, samples
    )
