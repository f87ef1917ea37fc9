"""What happened in a drill, computed: symptom, detection, mitigations, recovery.

Pure functions over the drill's records — the facilitator's journal (when
each fault really went in), the participants' timeline and the per-second
samples of ``metrics.jsonl`` — so the same analysis runs on a finished
drill's directory and in unit tests on hand-made records.

A second is *bad* on a signal (:class:`poslab.drill.playbook.Signal`) when:

- payments: the fleet's success ratio (approved / not declined) is under the
  SLO or its p99 over it; or one region's success ratio over its last three
  seconds (at least five judged transactions) is under the SLO; or a region's
  p99 is over ``max(250 ms, 4 × its pre-fault median)`` — one flaky district
  hides in the fleet's figures but not in its own; or a region that usually
  does at least one transaction a second did none for three seconds (a
  district gone dark: no failures to count, only silence). The three-second
  window smooths small regions' noise; a region's second that has no failure
  of its own is good, so recoveries are not seen late;
- settlement: the worker reports stalled, or the backlog is above
  ``max(3, 2 × its pre-fault maximum)``;
- agent: the agent merchants are sent to does not answer through its proxy
  (the backup one after a ``use_backup_agent``), or agent calls failed;
- sign_on: sign-ons per second above ``max(5, 5 × their pre-fault mean)``.

The *first measurable symptom* is the first second, at or after the fault
went in, of a run of at least two bad seconds. *Recovery* is the start of the
first run of ``good_seconds`` good seconds after the last run of two or more
bad seconds — so a recovery that relapses is not one — counted only until the
participants ended the drill (the rollback at the end is not their recovery).

A mitigation is judged by what it did to the failure in place, not only by the
playbook's list (:func:`judge_mitigations`):

- the faults it *neutralised*: those in place when it ran that it ends or takes
  the merchants' traffic off (:meth:`poslab.drill.mitigations.Mitigation.neutralises`
  — pinning east to the backup host path neutralises a latency toxic held on
  ``region-east``), and those the journal shows it ended as a side effect (a
  restarted host forgets its switches);
- the recovery is *credited* to the last mitigation before it that neutralised
  a fault; failing that, to nobody when every fault had ended by itself first;
  failing that, to the last mitigation the playbook calls right or acceptable.
  The system *recovered by itself* only when no mitigation is credited;
- the verdict: the playbook's, raised to ``right`` for an action that neutralised
  a fault and is credited with the recovery (``acceptable`` when it neutralised
  one but the signals did not follow, or only as a side effect); a right action
  aimed where the failure was not (``use_backup_path regions=north`` with the
  fault on east) is ``wrong`` — ``acceptable`` when it reached only part of it;
- the watched signals just before it and what they were after it, in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import fmean, median
from typing import Any

from poslab.drill.mitigations import CATALOGUE, FaultRef
from poslab.drill.playbook import FailureMode, Signal, judge

#: Consecutive bad seconds that make a symptom (a single one is noise).
SYMPTOM_RUN = 2
_WINDOW_S = 3  # seconds a region is judged over (success ratio, silence)
_MIN_REGION_JUDGED = 5
_P99_FLOOR_MS = 250.0
_P99_FACTOR = 4.0


@dataclass(frozen=True, slots=True)
class Rules:
    success_ratio: float
    p99_ms: float
    good_seconds: int
    signals: frozenset[Signal]


@dataclass(frozen=True, slots=True)
class Verdict:
    t: float  # start of the second (epoch)
    bad: bool
    reasons: tuple[str, ...]


@dataclass(slots=True)
class MitigationVerdict:
    t: float
    action: str
    params: dict[str, Any]
    ok: bool
    result: str
    verdict: str  # right | acceptable | wrong
    before_fault: bool
    system_bad: bool | None  # was the system in trouble when it was run
    effect: str  # what followed, in words
    recovery_after_s: float | None
    neutralised: list[str] = field(default_factory=list)  # fault ids it ended or bypassed
    credited: bool = False  # the recovery is credited to it
    signals_before: str = ""  # the watched signals in the last second before it
    signals_after: str = ""  # … and after it (its recovery, or the next action / the end)
    by: str = ""  # who ran it (a participant's name in a team drill; "" from the CLI)


@dataclass(slots=True)
class Incident:
    t0: float
    end_at: float
    fault_start: float | None
    faults: list[dict[str, Any]]
    symptom_at: float | None = None
    symptom: str = ""
    detect_at: float | None = None
    detect_text: str = ""
    detect_named: list[str] = field(default_factory=list)
    false_alarms: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[MitigationVerdict] = field(default_factory=list)
    recovered_at: float | None = None
    self_healed: bool = False
    credited_to: str | None = None  # the mitigation the recovery is credited to
    verdicts: list[Verdict] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)  # the facilitator's

    def since_fault(self, t: float | None) -> float | None:
        """Drill time from the fault going in to ``t``: the facilitator's pauses are
        not the team's time to detect, mitigate or recover."""
        if t is None or self.fault_start is None:
            return None
        start = self.fault_start
        paused = sum(max(0.0, min(b, t) - max(a, start)) for a, b in self.pauses)
        return round(t - start - paused, 1)

    @property
    def first_mitigation_at(self) -> float | None:
        after = [m.t for m in self.mitigations if not m.before_fault]
        return min(after) if after else None

    @property
    def first_good_mitigation_at(self) -> float | None:
        good = [
            m.t
            for m in self.mitigations
            if not m.before_fault and m.ok and m.verdict in ("right", "acceptable")
        ]
        return min(good) if good else None

    def figures(self) -> dict[str, float | None]:
        """Time to detect / mitigate / recover, seconds from the fault going in."""
        return {
            "symptom_s": self.since_fault(self.symptom_at),
            "detect_s": self.since_fault(self.detect_at),
            "first_mitigation_s": self.since_fault(self.first_mitigation_at),
            "mitigate_s": self.since_fault(self.first_good_mitigation_at),
            "recover_s": self.since_fault(self.recovered_at),
        }


# -- per-second verdicts ------------------------------------------------------------


def _baseline(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    regions: dict[str, list[float]] = {}
    p99s: dict[str, list[float]] = {}
    for s in samples:
        for region, fig in s.get("regions", {}).items():
            regions.setdefault(region, []).append(float(fig.get("tps", 0)))
            if fig.get("p99_ms") is not None:
                p99s.setdefault(region, []).append(float(fig["p99_ms"]))
    backlogs = [s.get("host", {}).get("settlement_backlog") for s in samples]
    return {
        "region_tps": {r: fmean(v) for r, v in regions.items() if v},
        "region_p99": {r: median(v) for r, v in p99s.items() if v},
        "backlog_max": max((b for b in backlogs if isinstance(b, int | float)), default=0),
        "sign_on_mean": fmean([s.get("sign_ons", 0) for s in samples]) if samples else 0.0,
    }


def judge_seconds(
    samples: Sequence[Mapping[str, Any]],
    rules: Rules,
    fault_start: float | None,
    backup_agent_from: float | None = None,
) -> list[Verdict]:
    """Every sample judged on ``rules``' signals (baselines from before the fault)."""
    cut = fault_start if fault_start is not None else float("inf")
    base = _baseline([s for s in samples if float(s["t"]) + 1 <= cut])
    verdicts: list[Verdict] = []
    window: dict[str, list[Mapping[str, Any]]] = {}
    for s in samples:
        reasons: list[str] = []
        for region, fig in s.get("regions", {}).items():
            window.setdefault(region, []).append(fig)
            del window[region][:-_WINDOW_S]
        if Signal.PAYMENTS in rules.signals:
            reasons += _payments(s, rules, base, window)
        if Signal.SETTLEMENT in rules.signals:
            reasons += _settlement(s, base)
        if Signal.AGENT in rules.signals:
            pinned = backup_agent_from is not None and float(s["t"]) >= backup_agent_from
            reasons += _agent(s, pinned)
        if Signal.SIGN_ON in rules.signals:
            limit = max(5.0, 5 * base["sign_on_mean"])
            if s.get("sign_ons", 0) > limit:
                reasons.append(f"{s['sign_ons']} sign-ons/s (storm above {limit:.0f}/s)")
        verdicts.append(Verdict(float(s["t"]), bool(reasons), tuple(reasons)))
    return verdicts


def _payments(
    s: Mapping[str, Any],
    rules: Rules,
    base: Mapping[str, Any],
    window: Mapping[str, list[Mapping[str, Any]]],
) -> list[str]:
    out: list[str] = []
    total = s.get("all", {})
    ratio, p99 = total.get("success_ratio"), total.get("p99_ms")
    if ratio is not None and ratio < rules.success_ratio:
        out.append(f"success ratio {ratio:.1%} under {rules.success_ratio:.0%}")
    if p99 is not None and p99 > rules.p99_ms:
        out.append(f"p99 {p99:.0f} ms over {rules.p99_ms:.0f} ms")
    for region, fig in sorted(s.get("regions", {}).items()):
        recent = window.get(region, [])
        judged = sum(f.get("tps", 0) - f.get("declined", 0) for f in recent)
        approved = sum(f.get("approved", 0) for f in recent)
        own = fig.get("success_ratio")
        # The window decides that a region is failing; its own second, that it still is
        # (so a recovery is seen the first clean second, not two seconds late).
        failing_now = own is not None and own < rules.success_ratio
        if failing_now and judged >= _MIN_REGION_JUDGED and approved / judged < rules.success_ratio:
            out.append(f"{region} success ratio {approved / judged:.1%} over {len(recent)} s")
        usual_p99 = base["region_p99"].get(region, 0.0)
        limit = max(_P99_FLOOR_MS, _P99_FACTOR * usual_p99)
        if fig.get("p99_ms") is not None and fig["p99_ms"] > limit:
            out.append(f"{region} p99 {fig['p99_ms']:.0f} ms (usually {usual_p99:.0f} ms)")
        usual = base["region_tps"].get(region, 0.0)
        silent = len(recent) == _WINDOW_S and not any(f.get("tps", 0) for f in recent)
        if usual >= 1.0 and silent:
            out.append(f"{region} silent for {_WINDOW_S} s, usually {usual:.1f} txn/s")
    return out


def _settlement(s: Mapping[str, Any], base: Mapping[str, Any]) -> list[str]:
    host = s.get("host", {})
    out = []
    if host.get("settlement_stalled"):
        out.append("settlement worker stalled")
    backlog = host.get("settlement_backlog")
    limit = max(3, 2 * base["backlog_max"])
    if isinstance(backlog, int | float) and backlog > limit:
        out.append(f"settlement backlog {backlog:g} (usually ≤ {base['backlog_max']:g})")
    return out


def _agent(s: Mapping[str, Any], pinned: bool) -> list[str]:
    agents = s.get("agents", {})
    key = "backup" if pinned else "primary"
    out = []
    probe = agents.get(key)
    if probe is not None and not probe.get("ok"):
        out.append(f"{key} agent not answering ({probe.get('detail') or 'no answer'})")
    failed = s.get("agent_calls", {}).get("failed", 0)
    if failed:
        out.append(f"{failed} agent calls failed")
    return out


# -- symptom and recovery --------------------------------------------------------------


def find_symptom(verdicts: Sequence[Verdict], fault_start: float | None) -> Verdict | None:
    if fault_start is None:
        return None
    run: list[Verdict] = []
    for v in verdicts:
        if v.t + 1 <= fault_start:
            continue
        if v.bad:
            run.append(v)
            if len(run) >= SYMPTOM_RUN:
                return run[0]
        else:
            run = []
    return None


def find_recovery(verdicts: Sequence[Verdict], after: float, good_seconds: int) -> float | None:
    """Start of the first ``good_seconds`` good run after the last bad run (≥ 2 s)."""
    tail = [v for v in verdicts if v.t >= after]
    last_bad_end = -1
    i = 0
    while i < len(tail):
        if tail[i].bad:
            j = i
            while j < len(tail) and tail[j].bad:
                j += 1
            if j - i >= SYMPTOM_RUN:
                last_bad_end = j - 1
            i = j
        else:
            i += 1
    good = 0
    for k in range(last_bad_end + 1, len(tail)):
        good = good + 1 if not tail[k].bad else 0
        if good >= good_seconds:
            return tail[k - good_seconds + 1].t
    return None


# -- the whole incident ---------------------------------------------------------------


def analyse(
    *,
    t0: float,
    end_at: float,
    journal: Iterable[Mapping[str, Any]],
    timeline: Iterable[Mapping[str, Any]],
    samples: Iterable[Mapping[str, Any]],
    modes: Sequence[FailureMode],
    rules: Rules,
    detection_keywords: Sequence[str] = (),
) -> Incident:
    injected = [dict(e) for e in journal if e.get("event") == "fault_injected"]
    cleared = {str(e.get("fault_id")): e for e in journal if e.get("event") == "fault_cleared"}
    faults = [
        {
            "id": e.get("fault_id"),
            "kind": e.get("kind"),
            "target": e.get("target"),
            "action": e.get("action"),
            "t": e.get("t"),
            "cleared_at": cleared.get(str(e.get("fault_id")), {}).get("t"),
            "cleared_by": cleared.get(str(e.get("fault_id")), {}).get("reason"),
        }
        for e in injected
    ]
    fault_start = min((float(e["t"]) for e in injected), default=None)
    incident = Incident(t0=t0, end_at=end_at, fault_start=fault_start, faults=faults)
    events = sorted((dict(e) for e in timeline), key=lambda e: float(e.get("t", 0)))
    incident.pauses = _pauses(events, end_at)
    mitigations = [e for e in events if e.get("event") == "mitigation"]
    pinned_at = min(
        (
            float(e["t"])
            for e in mitigations
            if e.get("action") == "use_backup_agent" and e.get("ok")
        ),
        default=None,
    )
    kept = [
        s for s in samples if s.get("phase", "drill") == "drill" and float(s["t"]) + 1 <= end_at
    ]
    incident.verdicts = judge_seconds(kept, rules, fault_start, pinned_at)
    symptom = find_symptom(incident.verdicts, fault_start)
    if symptom is not None and fault_start is not None:
        # The symptom's second may have begun just before the fault went in.
        incident.symptom_at = max(symptom.t, fault_start)
        incident.symptom = "; ".join(symptom.reasons)
        incident.recovered_at = find_recovery(incident.verdicts, symptom.t, rules.good_seconds)
    _detection(incident, events, detection_keywords)
    judge_mitigations(incident, mitigations, injected, list(cleared.values()), modes)
    return incident


def _pauses(events: Sequence[Mapping[str, Any]], end_at: float) -> list[tuple[float, float]]:
    """(from, to) of each pause of the drill clock; one still on lasts to the end."""
    out: list[tuple[float, float]] = []
    since: float | None = None
    for e in events:
        if e.get("event") == "pause" and since is None:
            since = float(e["t"])
        elif e.get("event") == "resume" and since is not None:
            out.append((since, float(e["t"])))
            since = None
    if since is not None:
        out.append((since, end_at))
    return out


def _detection(
    incident: Incident, events: Sequence[Mapping[str, Any]], words: Sequence[str]
) -> None:
    start = incident.fault_start
    for e in (e for e in events if e.get("event") == "detect"):
        if start is None or float(e["t"]) < start:
            incident.false_alarms.append({"t": e["t"], "text": e.get("text", "")})
            continue
        if incident.detect_at is None:
            incident.detect_at, incident.detect_text = float(e["t"]), str(e.get("text", ""))
            folded = incident.detect_text.casefold()
            incident.detect_named = [w for w in words if w.casefold() in folded]


def _ref(event: Mapping[str, Any]) -> FaultRef:
    return FaultRef(
        str(event.get("fault_id")),
        str(event.get("kind")),
        str(event.get("target")),
        str(event.get("action")),
    )


def _in_place(
    t: float, injected: Sequence[Mapping[str, Any]], cleared: Mapping[str, Mapping[str, Any]]
) -> list[FaultRef]:
    """The faults in place at ``t``: went in before it, not cleared before it."""
    out = []
    for e in injected:
        gone = cleared.get(str(e.get("fault_id")), {}).get("t")
        if float(e["t"]) <= t and (gone is None or float(gone) >= t):
            out.append(_ref(e))
    return out


def _signals(verdict: Verdict | None) -> str:
    if verdict is None:
        return "no complete second yet"
    return "; ".join(verdict.reasons) if verdict.bad else "every watched signal good"


@dataclass(frozen=True, slots=True)
class _Run:
    """One mitigation event with what it reached of the faults in place."""

    event: Mapping[str, Any]
    t: float
    action: str
    ok: bool
    before: bool
    reached: tuple[FaultRef, ...]  # neutralised, with the params it was run with
    reachable: tuple[FaultRef, ...]  # what it would neutralise with its widest params
    side: tuple[FaultRef, ...]  # ended beyond its reach (the journal says so)

    @property
    def neutralising(self) -> bool:
        return bool(self.reached or self.side)


def _runs(
    incident: Incident,
    mitigations: Sequence[Mapping[str, Any]],
    injected: Sequence[Mapping[str, Any]],
    cleared: Mapping[str, Mapping[str, Any]],
) -> list[_Run]:
    runs = []
    for event in mitigations:
        t = float(event["t"])
        action = str(event.get("action"))
        params = dict(event.get("params") or {})
        ok = bool(event.get("ok"))
        before = incident.fault_start is None or t < incident.fault_start
        in_place = [] if before or not ok else _in_place(t, injected, cleared)
        mitigation = CATALOGUE.get(action)
        reached = [f for f in in_place if mitigation and mitigation.neutralises(f, params)]
        reachable = [f for f in in_place if mitigation and mitigation.neutralises(f)]
        done = t + float(event.get("seconds") or 0) + 1.0
        side = [
            f
            for f in in_place
            if f not in reached
            and str(cleared.get(f.id, {}).get("reason", "")).startswith("mitigation")
            and t <= float(cleared[f.id]["t"]) <= done
        ]
        runs.append(
            _Run(event, t, action, ok, before, tuple(reached), tuple(reachable), tuple(side))
        )
    return runs


def judge_mitigations(
    incident: Incident,
    mitigations: Sequence[Mapping[str, Any]],
    injected: Sequence[Mapping[str, Any]],
    cleared_events: Sequence[Mapping[str, Any]],
    modes: Sequence[FailureMode],
) -> None:
    """Each mitigation's verdict, effect and signals; the recovery's credit."""
    cleared = {str(e.get("fault_id")): e for e in cleared_events}
    runs = _runs(incident, mitigations, injected, cleared)
    recovered = incident.recovered_at
    credited_i: int | None = None
    if recovered is not None:
        prior = [i for i, r in enumerate(runs) if r.ok and not r.before and r.t <= recovered]
        neutralising = [i for i in prior if runs[i].neutralising]
        if neutralising:
            credited_i = neutralising[-1]
        elif not _ended_by_themselves(incident, cleared, recovered):
            named = [i for i in prior if judge(runs[i].action, tuple(modes)) != "wrong"]
            credited_i = named[-1] if named else None
    incident.self_healed = recovered is not None and credited_i is None
    for i, run in enumerate(runs):
        listed = judge(run.action, tuple(modes))
        credited = i == credited_i
        verdict = listed
        if run.neutralising and listed == "wrong":
            verdict = "right" if credited and run.reached else "acceptable"
        if listed == "right" and run.reachable and not run.neutralising:
            verdict = "wrong"  # aimed where the failure was not
        elif listed == "right" and run.reached and len(run.reached) < len(run.reachable):
            verdict = "acceptable"  # reached only part of it
        incident.mitigations.append(_describe(incident, runs, i, verdict, credited))
        if credited:
            incident.credited_to = run.action


def _ended_by_themselves(
    incident: Incident, cleared: Mapping[str, Mapping[str, Any]], at: float
) -> bool:
    """Every fault had ended on its own clock (its window, not a mitigation) by ``at``."""
    if not incident.faults:
        return False
    for f in incident.faults:
        end = cleared.get(str(f["id"]))
        if end is None or float(end["t"]) > at or end.get("reason") != "window_end":
            return False
    return True


def _describe(
    incident: Incident, runs: Sequence[_Run], i: int, verdict: str, credited: bool
) -> MitigationVerdict:
    run = runs[i]
    t = run.t
    complete = [v for v in incident.verdicts if v.t + 1 <= t]
    later = [r.t for r in runs if r.t > t]
    recovered = incident.recovered_at
    after: float | None = None
    what = ""
    if run.reached:
        what = "neutralised " + ", ".join(f"{f.id} ({_fault_words(f)})" for f in run.reached)
    if run.side:
        what += ("; " if what else "") + "ended " + ", ".join(f.id for f in run.side)
    if not run.ok:
        effect = "the action failed: " + str(run.event.get("result", ""))
    elif run.before:
        effect = "run before the fault went in"
    elif verdict == "wrong" and run.reachable and not run.neutralising:
        aimed = ", ".join(f"{f.id} on {f.target}" for f in run.reachable)
        effect = f"it did not reach the failure in place ({aimed})"
    elif recovered is None:
        effect = "no recovery followed before the drill ended"
    elif recovered < t:
        effect = "the system had already recovered"
    elif credited:
        after = round(recovered - t, 1)
        effect = f"recovery followed {after:g} s later, credited to it"
    elif later and min(later) <= recovered:
        effect = "no recovery followed before the next mitigation"
    elif incident.self_healed:
        after = round(recovered - t, 1)
        effect = f"recovery followed {after:g} s later, when the fault ended by itself"
    else:
        after = round(recovered - t, 1)
        effect = f"recovery followed {after:g} s later"
    if what and run.ok and not run.before:
        effect = f"{what}; {effect}"
    # The signals after it: at its credited recovery, else in the last second before
    # the next action (or the end of the drill).
    if credited and recovered is not None:
        signals_after = f"every watched signal good from T{recovered - incident.t0:+.0f} s"
    else:
        until = min([*later, incident.end_at])
        tail = [v for v in incident.verdicts if t <= v.t and v.t + 1 <= until]
        signals_after = _signals(tail[-1] if tail else None)
    return MitigationVerdict(
        t=t,
        action=run.action,
        params=dict(run.event.get("params") or {}),
        ok=run.ok,
        result=str(run.event.get("result", "")),
        verdict=verdict,
        before_fault=run.before,
        system_bad=complete[-1].bad if complete else None,
        effect=effect,
        recovery_after_s=after,
        neutralised=[f.id for f in (*run.reached, *run.side)],
        credited=credited,
        signals_before=_signals(complete[-1] if complete else None),
        signals_after=signals_after,
        by=str(run.event.get("by") or ""),
    )


def _fault_words(fault: FaultRef) -> str:
    if fault.kind == "network":
        what = "down" if fault.action == "down" else fault.action.removeprefix("toxic:")
        return f"{what} on {fault.target}"
    return f"{fault.action} on {fault.target}"
