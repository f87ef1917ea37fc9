"""The score formula, the suite score and the gate — the contract pipelines gate on.

Per scenario (DESIGN.md, "Scoring"):

    score = 100 × (0.4·A + 0.4·R + 0.2·E)   when integrity holds, else 0

Why these weights: availability and recovery are what merchants feel — whether
a card works right now, and how long a bad spell lasts — so they carry equal,
large shares. Expectations are the scenario author's specific claims ("the
sign-on storm stays bounded", "other regions are untouched"); they matter, but
a scenario must not pass on its own checklist while customers cannot pay.
Integrity is not weighed at all: a lost approval or a customer debited without
a sale is money, and no amount of speed buys it back, so it zeroes the score.

Scores are rounded half-up to 0.1 *before* anything compares them, so the
number a person reads in a report is exactly the number the gate judged.

Suite score = Σ weightᵢ·scoreᵢ / Σ weightᵢ over every scenario of the suite; a
scenario that could not run counts 0 (a suite is not healthier for the
scenarios it skipped). The gate passes when the suite score ≥ ``min_score``
(default 80, ``--min-score`` overrides the suite's), no scenario failed
integrity, every scenario reached its own ``min_score``, none could not run,
and — with a baseline — no score dropped more than the margin below it.

Changing this formula is allowed when the reason is written here and the tests
(tests/scoring/test_gate.py) are updated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from poslab.scoring.result import (
    COULD_NOT_RUN,
    EXIT_CODES,
    GATE_COULD_NOT_RUN,
    GATE_FAILED,
    GATE_INTERRUPTED,
    GATE_PASSED,
    NOT_AVAILABLE,
    Comparison,
    Gate,
    ScenarioResult,
    ScoreDelta,
)

W_AVAILABILITY, W_RECOVERY, W_EXPECTATIONS = 0.4, 0.4, 0.2
DEFAULT_MIN_SCORE = 80.0
DEFAULT_MARGIN = 5.0


def round_score(value: float) -> float:
    """Half-up to 0.1 (Decimal, so 84.25 → 84.3 on every platform)."""
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def scenario_score(a: float, r: float, e: float, integrity_ok: bool) -> float:
    if not integrity_ok:
        return 0.0
    return round_score(100.0 * (W_AVAILABILITY * a + W_RECOVERY * r + W_EXPECTATIONS * e))


def suite_score(scenarios: Sequence[ScenarioResult]) -> float:
    total = sum(s.weight for s in scenarios)
    if not scenarios:
        return 0.0
    if total <= 0:  # every weight 0: a plain mean rather than a division by zero
        return round_score(sum(s.score for s in scenarios) / len(scenarios))
    return round_score(sum(s.weight * s.score for s in scenarios) / total)


def blind_money(s: ScenarioResult) -> str | None:
    """Why integrity cannot be judged for a scored scenario (None when every check ran)."""
    missing = [c.kind for c in s.checks if c.status == NOT_AVAILABLE]
    if s.status == COULD_NOT_RUN or not missing:
        return None
    return f"{s.name}: cannot judge money without a ledger ({', '.join(missing)} not available)"


def decide(
    scenarios: Sequence[ScenarioResult],
    min_score: float,
    interrupted: bool = False,
    comparison: Comparison | None = None,
    require: Sequence[str] = (),
) -> Gate:
    """The gate's verdict, with every reason it failed.

    ``require`` (run.json's, from the suite or topology) with ``integrity``:
    a scenario whose integrity checks are not all available cannot pass — a
    host whose ledger the lab cannot read once passed at 97.5 with seven of
    eight money checks blind. That is exit 2 (could not judge) unless the gate
    already failed on what it could judge.
    """
    suite = suite_score(scenarios)
    reasons: list[str] = []
    blind = [b for s in scenarios if (b := blind_money(s))] if "integrity" in require else []
    if not scenarios:
        reasons.append("the run has no scenarios")
    if suite < min_score:
        reasons.append(f"suite score {suite:.1f} < min score {min_score:.1f}")
    for s in scenarios:
        if s.status == COULD_NOT_RUN:
            reasons.append(f"{s.name}: could not run ({s.reason})")
        elif not s.integrity_ok:
            failed = ", ".join(f"{c.kind} {c.count}" for c in s.failed_checks)
            reasons.append(f"{s.name}: integrity failed ({failed})")
        elif s.score < s.min_score:
            reasons.append(f"{s.name}: score {s.score:.1f} < its min score {s.min_score:.1f}")
    if comparison is not None:
        for d in comparison.deltas:
            if d.dropped:
                reasons.append(
                    f"{d.name}: {d.candidate or 0:.1f} dropped more than {comparison.margin:g} "
                    f"below the baseline {d.baseline:.1f}"
                )
        if comparison.suite_dropped:
            reasons.append(
                f"suite score {comparison.suite_candidate:.1f} dropped more than "
                f"{comparison.margin:g} below the baseline {comparison.suite_baseline:.1f}"
            )
    judged_failed = bool(reasons)
    reasons.extend(blind)
    if interrupted:
        status = GATE_INTERRUPTED
        reasons.insert(0, "the run was interrupted")
    elif (
        not scenarios
        or all(s.status == COULD_NOT_RUN for s in scenarios)
        or (blind and not judged_failed)
    ):
        status = GATE_COULD_NOT_RUN
    else:
        status = GATE_FAILED if reasons else GATE_PASSED
    return Gate(status, EXIT_CODES[status], suite, min_score, reasons, comparison)


def compare(
    baseline_label: str,
    baseline: Mapping[str, float],
    baseline_suite: float,
    candidate: Mapping[str, float],
    candidate_suite: float,
    margin: float = DEFAULT_MARGIN,
) -> Comparison:
    """Per-scenario deltas (candidate − baseline). A scenario of the baseline missing
    from the candidate counts 0; a new scenario has no baseline and cannot drop."""
    deltas: list[ScoreDelta] = []
    for name in list(baseline) + [n for n in candidate if n not in baseline]:
        b = baseline.get(name)
        c = candidate.get(name, 0.0 if b is not None else None)
        delta = None if b is None or c is None else round_score(c - b)
        dropped = delta is not None and delta < -margin
        deltas.append(ScoreDelta(name, b, c, delta, dropped))
    suite_delta = round_score(candidate_suite - baseline_suite)
    return Comparison(
        baseline_label,
        margin,
        deltas,
        baseline_suite,
        candidate_suite,
        suite_delta,
        suite_delta < -margin,
    )
