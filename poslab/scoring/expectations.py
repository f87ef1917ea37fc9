"""Evaluating a scenario's own expectations (the E component of its score).

Each kind in :data:`~poslab.scoring.expectation_kinds.EXPECTATION_KINDS` has one
evaluator here, a function of the scenario's measured context and the
validated params that answers (held, what was measured, why). An expectation
that cannot be evaluated — unknown kind, bad params, its data not available —
does not hold: E only counts what was shown to be true.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from poslab.errors import ScenarioError
from poslab.scoring.expectation_kinds import (
    EXPECTATION_KINDS,
    PLUGIN_EVALUATORS,
    validate_expectation,
)
from poslab.scoring.fleet_scan import FleetScan
from poslab.scoring.result import ExpectationResult, Recovery
from poslab.scoring.run_dir import ExpectationSpec
from poslab.scoring.settlement import SettlementState
from poslab.scoring.traffic import SecondFigures, WindowFigures, window_figures


@dataclass(slots=True)
class Context:
    """Everything an expectation may look at, for one scenario."""

    n: int
    overall: SecondFigures
    regions: dict[str, SecondFigures]
    windows: dict[str, list[int]]  # window name -> second offsets
    fault_spans: list[tuple[float, float]]  # epoch (injected, cleared)
    last_fault_end: float | None
    recovery: Recovery
    scan: FleetScan
    unresolved: int
    reversals_unacknowledged: int
    pending_at_drain: int | None
    settlement: SettlementState
    probes: list[dict[str, Any]]


Verdict = tuple[bool, str, str]
Evaluator = Callable[[Context, dict[str, Any]], Verdict]


def _measure(ctx: Context, window: str, regions: Sequence[str] | None) -> WindowFigures:
    parts = (
        [ctx.overall] if regions is None else [ctx.regions[r] for r in regions if r in ctx.regions]
    )
    return window_figures(parts, ctx.windows.get(window, []))


def _empty(window: str) -> Verdict:
    return False, "-", f"window {window!r} is empty for this scenario"


def _unknown_regions(ctx: Context, regions: Sequence[str] | None) -> str:
    missing = sorted(set(regions or ()) - set(ctx.regions))
    return f" (no traffic from region(s) {', '.join(missing)})" if missing else ""


def success_ratio_min(ctx: Context, p: dict[str, Any]) -> Verdict:
    w = _measure(ctx, p["window"], p["regions"])
    if not w.seconds:
        return _empty(p["window"])
    ratio = w.success_ratio
    if ratio is None:
        return (
            False,
            "-",
            "no non-declined attempts in the window" + _unknown_regions(ctx, p["regions"]),
        )
    return ratio >= p["min"], f"{ratio:.4f}", f"success ratio {ratio:.4f} vs min {p['min']}"


def p99_max_ms(ctx: Context, p: dict[str, Any]) -> Verdict:
    w = _measure(ctx, p["window"], p["regions"])
    if not w.seconds:
        return _empty(p["window"])
    if w.p99_ms is None:
        return False, "-", "no attempts in the window" + _unknown_regions(ctx, p["regions"])
    return (
        w.p99_ms <= p["max_ms"],
        f"{w.p99_ms:.0f} ms",
        f"p99 {w.p99_ms:.0f} ms vs max {p['max_ms']:.0f}",
    )


def throughput_min_tps(ctx: Context, p: dict[str, Any]) -> Verdict:
    w = _measure(ctx, p["window"], p["regions"])
    if not w.seconds:
        return _empty(p["window"])
    tps = w.approved / w.seconds
    return (
        tps >= p["min_tps"],
        f"{tps:.1f} tps",
        f"mean approved tps {tps:.1f} vs min {p['min_tps']}",
    )


def sign_on_rate_max_multiple(ctx: Context, p: dict[str, Any]) -> Verdict:
    # The baseline includes the cold-start sign-ons: it is the rate the host
    # already absorbs when the fleet comes up. The storm is looked for from the
    # first fault on, so the cold start itself is never held against the stack.
    tries, width = ctx.scan.sign_on_tries, p["window_s"]
    before = ctx.windows.get("before_fault", [])
    base_tries = sum(tries[i] for i in before)
    baseline = max(p["baseline_floor_per_s"], base_tries / len(before) if before else 0.0)
    start = (before[-1] + 1) if before and ctx.fault_spans else 0
    peak = 0.0
    for i in range(start, max(start, ctx.n - width + 1)):
        peak = max(peak, sum(tries[i : i + width]) / width)
    limit = p["k"] * baseline
    return (
        peak <= limit,
        f"{peak:.1f}/s",
        f"peak sign-on tries {peak:.1f}/s vs {p['k']}x baseline {baseline:.2f}/s = {limit:.1f}/s",
    )


def region_unaffected(ctx: Context, p: dict[str, Any]) -> Verdict:
    others = sorted(set(ctx.regions) - set(p["affected"]))
    if not others:
        return False, "-", "no region outside `affected` has traffic"
    if not ctx.windows.get("during_fault") or not ctx.windows.get("before_fault"):
        return False, "-", "needs both a pre-fault and a fault window"
    worst: list[str] = []
    for region in others:
        before = _measure(ctx, "before_fault", [region])
        during = _measure(ctx, "during_fault", [region])
        rb, rd = before.success_ratio, during.success_ratio
        if rb is None or rd is None or before.p99_ms is None or during.p99_ms is None:
            worst.append(f"{region}: no traffic to compare")
            continue
        if rd < rb - p["ratio_drop_max"]:
            worst.append(f"{region}: success {rb:.4f} → {rd:.4f}")
        allowed = before.p99_ms * (1 + p["p99_growth_max"]) + p["p99_slack_ms"]
        if during.p99_ms > allowed:
            worst.append(f"{region}: p99 {before.p99_ms:.0f} → {during.p99_ms:.0f} ms")
    detail = "; ".join(worst) if worst else f"{', '.join(others)} unchanged"
    return not worst, f"{len(others) - len(worst)}/{len(others)} regions", detail


def recovered_within_s(ctx: Context, p: dict[str, Any]) -> Verdict:
    r = ctx.recovery
    if r.fault_end is None:
        return True, "-", "no fault to recover from"
    if r.recovery_s is None:
        return False, "never", "never recovered"
    return r.recovery_s <= p["max_s"], f"{r.recovery_s:.1f} s", f"recovered in {r.recovery_s:.1f} s"


def no_unresolved(ctx: Context, p: dict[str, Any]) -> Verdict:
    pending = ctx.pending_at_drain or 0
    held = ctx.unresolved == 0 and pending == 0
    return held, str(ctx.unresolved), f"{ctx.unresolved} unresolved, {pending} pending at drain end"


def reversals_resolved(ctx: Context, p: dict[str, Any]) -> Verdict:
    n = ctx.reversals_unacknowledged
    return n == 0, str(n), f"{n} pending reversal(s) never acknowledged by the host"


def all_batches_settled(ctx: Context, p: dict[str, Any]) -> Verdict:
    s = ctx.settlement
    if not s.batches_available:
        return False, "-", "ledger batches not available"
    problems = []
    if s.open_batches:
        problems.append(f"{len(s.open_batches)} batch(es) still open, e.g. {s.open_batches[0]}")
    if p["paid_out"]:
        if not s.payouts_available:
            problems.append("payouts not available")
        if s.unsettled_rows:
            problems.append(f"{s.unsettled_rows} approved row(s) without a settle date")
        if s.unpaid_merchant_days:
            problems.append(f"{s.unpaid_merchant_days} merchant-day(s) without a payout")
    return not problems, str(len(s.open_batches)), "; ".join(problems) or "every batch closed"


def backup_path_used(ctx: Context, p: dict[str, Any]) -> Verdict:
    w = _measure(ctx, "during_fault", p["regions"])
    if not w.seconds:
        return _empty("during_fault")
    return (
        w.backup_approved >= p["min_count"],
        str(w.backup_approved),
        f"{w.backup_approved} approved over the backup path during faults (min {p['min_count']})",
    )


def _in_faults(ctx: Context, t: float) -> bool:
    return any(a <= t < b for a, b in ctx.fault_spans)


def tickets_failover(ctx: Context, p: dict[str, Any]) -> Verdict:
    tickets = ctx.scan.tickets
    backup = sum(
        1
        for c in tickets
        if c.outcome == "approved" and c.path == "backup" and _in_faults(ctx, c.t)
    )
    lost = sum(1 for c in tickets if c.outcome in ("failed", "unresolved"))
    held = backup >= p["min_count"] and lost == 0
    return (
        held,
        str(backup),
        f"{backup} ticket(s) answered by the backup agent during faults, {lost} lost",
    )


def tms_resumed(ctx: Context, p: dict[str, Any]) -> Verdict:
    since = ctx.last_fault_end if ctx.last_fault_end is not None else float("-inf")
    ok = sum(1 for c in ctx.scan.tms if c.outcome == "approved" and c.t >= since)
    return ok >= p["min_count"], str(ok), f"{ok} TMS download(s) succeeded after the last fault"


def no_stuck_terminals(ctx: Context, p: dict[str, Any]) -> Verdict:
    if ctx.last_fault_end is None:
        return True, "-", "no fault"
    before = ctx.scan.active_before
    if not before:
        return False, "-", "no terminal transacted before the first fault"
    alive = len(before & ctx.scan.answered_after)
    share = alive / len(before)
    return (
        share >= p["min_share"],
        f"{share:.3f}",
        f"{alive}/{len(before)} terminals answered after the faults",
    )


def probe_ok(ctx: Context, p: dict[str, Any]) -> Verdict:
    mine = [e for e in ctx.probes if e.get("name") == p["name"]]
    if not mine:
        return False, "-", f"no probe named {p['name']!r} in the journal"
    bad = [e for e in mine if e.get("ok") is not True]
    return (
        not bad,
        f"{len(mine) - len(bad)}/{len(mine)}",
        f"{len(bad)} of {len(mine)} probe(s) failed",
    )


EVALUATORS: dict[str, Evaluator] = {
    "success_ratio_min": success_ratio_min,
    "p99_max_ms": p99_max_ms,
    "throughput_min_tps": throughput_min_tps,
    "sign_on_rate_max_multiple": sign_on_rate_max_multiple,
    "region_unaffected": region_unaffected,
    "recovered_within_s": recovered_within_s,
    "no_unresolved": no_unresolved,
    "reversals_resolved": reversals_resolved,
    "all_batches_settled": all_batches_settled,
    "backup_path_used": backup_path_used,
    "tickets_failover": tickets_failover,
    "tms_resumed": tms_resumed,
    "no_stuck_terminals": no_stuck_terminals,
    "probe_ok": probe_ok,
}
assert set(EVALUATORS) == set(EXPECTATION_KINDS), "every registered kind needs an evaluator"


def evaluate(ctx: Context, specs: Sequence[ExpectationSpec]) -> list[ExpectationResult]:
    out: list[ExpectationResult] = []
    for spec in specs:
        raw = dict(spec.params)
        try:
            params = validate_expectation(spec.kind, raw)
        except ScenarioError as exc:
            out.append(ExpectationResult(spec.name, spec.kind, raw, False, "-", str(exc)))
            continue
        evaluator = EVALUATORS.get(spec.kind) or PLUGIN_EVALUATORS[spec.kind]
        try:
            held, measured, detail = evaluator(ctx, params)
        except Exception as exc:  # a plugin's bug is a check not shown to hold, not a crash
            if spec.kind in EVALUATORS:
                raise
            held, measured, detail = False, "-", f"the evaluator failed: {exc!r}"
        out.append(ExpectationResult(spec.name, spec.kind, params, held, measured, detail))
    return out
