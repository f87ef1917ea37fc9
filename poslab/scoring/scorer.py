"""Scoring a run directory: every scenario, the suite, the gate.

``score_run(run_dir)`` is the one entry point the CLI, ``lab run`` and the
discrimination test use; ``gate(run_dir)`` is its verdict alone. Both read the
run directory only (``docs/run-directory.md``) and never touch a live stack.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from poslab.common import paused_gc
from poslab.scoring import availability as av
from poslab.scoring.baseline import read_result_scores
from poslab.scoring.expectations import Context, evaluate
from poslab.scoring.fees import Fees, load_fees
from poslab.scoring.fleet_scan import FleetScan, first_start, scan_fleet
from poslab.scoring.gate import DEFAULT_MARGIN, DEFAULT_MIN_SCORE, compare, decide, scenario_score
from poslab.scoring.jsonl import ReadStats
from poslab.scoring.ledger_side import LedgerSide, start_ledger_side
from poslab.scoring.reconciliation import Reconciler
from poslab.scoring.result import (
    COULD_NOT_RUN,
    FAILED,
    SCORED,
    FaultRecord,
    Gate,
    RunResult,
    ScenarioResult,
    Series,
    new_checks,
)
from poslab.scoring.run_dir import (
    RunInfo,
    ScenarioJournal,
    ScenarioSpec,
    fleet_files,
    ledger_file,
    load_journals,
    load_run_info,
)
from poslab.scoring.settlement import SettlementState
from poslab.scoring.timeline import fault_windows, scenario_windows, timeline
from poslab.scoring.traffic import SecondFigures, finish

_LEDGER_CHECKS = (
    "lost_approvals",
    "unreversed_failures",
    "double_bookings",
    "reversals_not_landed",
    "unbalanced_batches",
    "wrong_payouts",
    "issuer_holds_without_sale",
)
# Fleet files are numbered in 8 bits inside a reconciliation claim.
MAX_FLEET_FILES = 255


def _could_not_run(res: ScenarioResult, reason: str) -> ScenarioResult:
    res.status, res.reason, res.score, res.passed = COULD_NOT_RUN, reason, 0.0, False
    res.components = {"A": 0.0, "R": 0.0, "E": 0.0}
    return res


def _series(
    name: str, fig: SecondFigures, verdicts: list[bool | None], rec_at: float | None, t0: float
) -> Series:
    return Series(
        region=name,
        attempts=fig.attempts,
        approved=fig.approved,
        declined=fig.declined,
        success_ratio=[
            None if r is None else round(r, 5) for r in map(fig.success_ratio, range(fig.n))
        ],
        p99_ms=[None if v is None else round(v, 1) for v in fig.p99_ms],
        good=verdicts,
        recovered_at_s=None if rec_at is None else round(rec_at - t0, 3),
    )


def _join_ledger(
    res: ScenarioResult, recon: Reconciler, side: LedgerSide | None
) -> SettlementState:
    if side is None:
        for kind in _LEDGER_CHECKS:
            recon.checks[kind].unavailable("no ledger export (ledger/transactions.jsonl)")
        return SettlementState()
    res.data_notes.extend(side.notes)
    for kind, check in side.checks.items():
        check.title = recon.checks[kind].title
        recon.checks[kind] = check
    recon.join(side.index)
    return side.state


def _faults(
    res: ScenarioResult, spec: ScenarioSpec, j: ScenarioJournal, t0: float
) -> list[tuple[float, float]]:
    """Record the faults as they happened; return their (start, end) epoch spans."""
    windows, notes = fault_windows(spec, j, t0)
    res.data_notes.extend(notes)
    res.faults = [
        FaultRecord(w.id, w.kind, w.target, w.action, w.injected_at, w.cleared_at,
                    w.planned_at_s, w.planned_for_s)
        for w in windows
    ]  # fmt: skip
    return [(w.start, w.end) for w in windows]


def _judge(
    res: ScenarioResult,
    spec: ScenarioSpec,
    scan: FleetScan,
    j: ScenarioJournal,
    last_end: float | None,
) -> tuple[SecondFigures, dict[str, SecondFigures]]:
    """A and R from the per-second figures; the series the reports draw."""
    t0, n = res.t0 or 0.0, scan.n
    regions = {name: finish([rs], n) for name, rs in sorted(scan.regions.items())}
    overall = finish(scan.regions.values(), n)
    excluded = av.excluded_mask(n, spec.unavoidable)
    aborted_at = j.aborted_at if j.aborted_at is not None else (
        j.finished_at if j.status == "aborted" else None)  # fmt: skip
    aborted_from = None if aborted_at is None else max(0, math.floor(aborted_at - t0))
    slo = (spec.success_ratio, spec.p99_ms)
    verdicts = av.judge_seconds(overall, *slo, excluded, aborted_from)
    res.availability = av.availability(verdicts, excluded, aborted_from)
    res.recovery = av.recovery(verdicts, t0, last_end, spec.recovery_target_s, spec.good_seconds)
    res.series = [_series("all", overall, verdicts, res.recovery.recovered_at, t0)]
    for name, fig in regions.items():
        v = av.judge_seconds(fig, *slo, excluded, aborted_from)
        at = av.recovered_at(v, t0, last_end, spec.good_seconds) if last_end is not None else None
        res.series.append(_series(name, fig, v, at, t0))
    return overall, regions


def score_scenario(
    run_dir: Path,
    spec: ScenarioSpec,
    journal: ScenarioJournal | None,
    fees: Fees | None,
    fees_note: str = "",
    example_limit: int = 5,
    parallel: bool | None = None,
) -> ScenarioResult:
    """Reconcile and score one scenario (see poslab/scoring/availability.py for A and R)."""
    res = ScenarioResult(spec.name, SCORED, spec.weight, spec.min_score, duration_s=spec.duration_s)
    res.slo = {"success_ratio": spec.success_ratio, "p99_ms": spec.p99_ms}
    res.unavoidable = [{"start_s": w.start_s, "end_s": w.end_s} for w in spec.unavoidable]
    j = journal or ScenarioJournal()
    res.run_status = j.status
    res.events = timeline(j)
    res.data_notes.extend(spec.notes)
    if j.status == "error":
        return _could_not_run(res, f"scenario ended in error: {j.detail or 'no detail'}")
    if j.status == "skipped":  # the topology cannot give it what it needs: never a pass
        return _could_not_run(res, f"skipped: {j.detail or 'no reason given'}")
    files = fleet_files(run_dir, spec.name)
    if not files:
        return _could_not_run(res, "no fleet journal (scenarios/<name>/fleet/*.jsonl)")
    if len(files) > MAX_FLEET_FILES:
        return _could_not_run(res, f"more than {MAX_FLEET_FILES} fleet journal files")
    t0 = j.t0
    if t0 is None:
        t0 = first_start(files)
        res.data_notes.append("no scenario_started event: t0 is the earliest fleet ts_start")
    if t0 is None:
        return _could_not_run(res, "the fleet journal holds no transaction")
    res.t0 = t0
    spans = _faults(res, spec, j, t0)
    first_fault = min((a for a, _ in spans), default=None)
    last_end = max((b for _, b in spans), default=None)

    # the ledger side is read (maybe in another process) while the fleet journal streams
    ledger_dir = ledger_file(run_dir, spec.name, "transactions").parent
    ledger_side = start_ledger_side(ledger_dir, fees, fees_note, example_limit, parallel)
    recon = Reconciler(new_checks(example_limit), files)
    n = max(1, math.ceil(spec.duration_s))
    scan = scan_fleet(files, t0, n, spec.p99_ms, first_fault, last_end, recon)
    settlement = _join_ledger(res, recon, ledger_side())
    res.data_notes.extend(scan.stats.notes("fleet journal"))
    if scan.bad_records:
        res.data_notes.append(f"{scan.bad_records} fleet record(s) without a ts_start ignored")
    res.counts = scan.counts
    if scan.records == 0:
        return _could_not_run(res, "the fleet journal holds no transaction")
    recon.finish(j.pending_reversals)
    res.checks = list(recon.checks.values())
    res.integrity_ok = not any(c.status == FAILED for c in res.checks)

    overall, regions = _judge(res, spec, scan, j, last_end)
    ctx = Context(
        n=n,
        overall=overall,
        regions=regions,
        windows=scenario_windows(n, t0, spans),
        fault_spans=spans,
        last_fault_end=last_end,
        recovery=res.recovery,
        scan=scan,
        unresolved=recon.checks["unresolved"].count,
        reversals_unacknowledged=recon.unacknowledged_reversals(),
        pending_at_drain=j.pending_reversals,
        settlement=settlement,
        probes=j.probes,
    )
    res.expectations = evaluate(ctx, spec.expectations)
    held = sum(1 for e in res.expectations if e.held)
    e_value = held / len(res.expectations) if res.expectations else 1.0
    a, r = res.availability.value, res.recovery.value
    res.components = {"A": a, "R": r, "E": e_value}
    res.score = scenario_score(a, r, e_value, res.integrity_ok)
    res.passed = res.integrity_ok and res.score >= spec.min_score
    return res


def _run_dict(info: RunInfo, run_dir: Path) -> dict[str, object]:
    return {
        "dir": str(run_dir),
        "name": info.name,
        "suite": info.suite,
        "format": info.format,
        "started_at": info.started_at,
        "finished_at": info.finished_at,
        "seed": info.seed,
        "terminals": info.terminals,
        "time_scale": info.time_scale,
        "policy": info.policy,
        "min_score": info.min_score,
        "lab_version": info.lab_version,
        "interrupted": info.interrupted,
    }


def score_run(
    run_dir: Path | str,
    *,
    min_score: float | None = None,
    baseline: Path | str | None = None,
    margin: float = DEFAULT_MARGIN,
    example_limit: int = 5,
    parallel: bool | None = None,
) -> RunResult:
    """Score every scenario of a run, then decide the gate.

    ``parallel`` reads each scenario's ledger in a second process (None: only
    when the ledger is big enough to gain from it)."""
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    stats = ReadStats()
    journals = load_journals(run_dir, stats)
    fees, fees_note = load_fees(run_dir)
    with paused_gc():
        scenarios = [
            score_scenario(
                run_dir, spec, journals.get(spec.name), fees, fees_note, example_limit, parallel
            )
            for spec in info.scenarios
        ]
    threshold = (
        min_score
        if min_score is not None
        else (info.min_score if info.min_score is not None else DEFAULT_MIN_SCORE)
    )
    comparison = None
    gate_now = decide(scenarios, threshold, info.interrupted, require=info.require)
    if baseline is not None:
        label, scores, suite = baseline_scores(baseline)
        mine = {s.name: s.score for s in scenarios}
        comparison = compare(label, scores, suite, mine, gate_now.suite_score, margin)
    verdict: Gate = decide(scenarios, threshold, info.interrupted, comparison, info.require)
    return RunResult(
        run=_run_dict(info, run_dir),
        scenarios=scenarios,
        gate=verdict,
        generated_at=time.time(),
        data_notes=stats.notes("journal.jsonl"),
    )


def gate(run_dir: Path | str, *, min_score: float | None = None) -> Gate:
    """The gate's verdict on a run directory (the hook for the discrimination test)."""
    return score_run(run_dir, min_score=min_score).gate


def baseline_scores(path: Path | str) -> tuple[str, dict[str, float], float]:
    """A baseline's scores: re-scored from its run directory when the raw data is there
    (both sides then use this very formula), else read from its result.json."""
    path = Path(path)
    if path.is_dir() and (path / "run.json").exists():
        result = score_run(path)
        return str(path), {s.name: s.score for s in result.scenarios}, result.gate.suite_score
    return read_result_scores(path)
