"""The score formula, suite weighting, the gate's verdicts and exit codes, baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poslab.scoring import compare, scenario_score, score_run
from poslab.scoring.gate import decide, round_score, suite_score
from poslab.scoring.result import COULD_NOT_RUN, FAILED, Check, ScenarioResult
from poslab.testing import SyntheticScenario, write_run


def scenario(name: str, score: float, weight: float = 1.0, min_score: float = 0.0,
             integrity: bool = True, status: str = "scored") -> ScenarioResult:  # fmt: skip
    s = ScenarioResult(name, status, weight, min_score, score=score, integrity_ok=integrity)
    if not integrity:
        s.checks = [Check("lost_approvals", "t", FAILED, 2)]
    return s


@pytest.mark.parametrize(
    ("a", "r", "e", "ok", "expected"),
    [
        (1.0, 1.0, 1.0, True, 100.0),
        (0.75, 1.0, 1.0, True, 90.0),
        (0.5, 0.5, 0.5, True, 50.0),
        (0.9, 2 / 3, 0.75, True, 77.7),  # 36 + 26.67 + 15 = 77.67
        (1.0, 1.0, 1.0, False, 0.0),
        (0.0, 0.0, 1.0, True, 20.0),
    ],
)
def test_formula(a: float, r: float, e: float, ok: bool, expected: float) -> None:
    assert scenario_score(a, r, e, ok) == expected


def test_rounding_is_half_up_to_a_tenth() -> None:
    assert round_score(84.25) == 84.3
    assert round_score(84.249) == 84.2
    assert round_score(79.95) == 80.0


def test_suite_score_is_weighted_and_counts_could_not_run_as_zero() -> None:
    scenarios = [
        scenario("a", 90.0, weight=3),
        scenario("b", 60.0, weight=1),
        scenario("c", 0.0, weight=2, status=COULD_NOT_RUN),
    ]
    assert suite_score(scenarios) == 55.0  # (270 + 60 + 0) / 6
    assert suite_score(scenarios[:2]) == 82.5
    assert suite_score([scenario("z", 70.0, weight=0), scenario("y", 90.0, weight=0)]) == 80.0


def test_gate_passes_and_fails_for_each_reason() -> None:
    ok = decide([scenario("a", 90.0), scenario("b", 85.0)], 80.0)
    assert (ok.status, ok.exit_code, ok.reasons) == ("passed", 0, [])
    low = decide([scenario("a", 90.0), scenario("b", 60.0)], 80.0)
    assert low.exit_code == 1 and low.reasons == ["suite score 75.0 < min score 80.0"]
    own_min = decide([scenario("a", 95.0), scenario("b", 75.0, min_score=80)], 80.0)
    assert own_min.exit_code == 1
    assert own_min.reasons == ["b: score 75.0 < its min score 80.0"]
    integrity = decide([scenario("a", 100.0), scenario("b", 100.0, integrity=False)], 0.0)
    assert integrity.exit_code == 1
    assert integrity.reasons == ["b: integrity failed (lost_approvals 2)"]
    skipped = decide([scenario("a", 100.0), scenario("b", 0.0, status=COULD_NOT_RUN)], 0.0)
    assert skipped.exit_code == 1 and "b: could not run" in skipped.reasons[0]


def test_gate_could_not_run_and_interrupted() -> None:
    none_ran = decide([scenario("a", 0.0, status=COULD_NOT_RUN)], 80.0)
    assert (none_ran.status, none_ran.exit_code) == ("could_not_run", 2)
    assert decide([], 80.0).exit_code == 2
    stopped = decide([scenario("a", 100.0)], 80.0, interrupted=True)
    assert (stopped.status, stopped.exit_code) == ("interrupted", 130)


def test_compare_margin_and_missing_scenarios() -> None:
    c = compare("base", {"a": 90.0, "b": 80.0, "gone": 70.0}, 80.0,
                {"a": 86.0, "b": 74.0, "new": 50.0}, 70.0, margin=5.0)  # fmt: skip
    deltas = {d.name: (d.delta, d.dropped) for d in c.deltas}
    assert deltas == {
        "a": (-4.0, False),
        "b": (-6.0, True),
        "gone": (-70.0, True),
        "new": (None, False),
    }
    assert c.suite_delta == -10.0 and c.suite_dropped and c.failed
    assert not compare("b", {"a": 90.0}, 90.0, {"a": 85.0}, 85.0, margin=5.0).failed


def test_run_gate_end_to_end(tmp_path: Path) -> None:
    good = write_run(tmp_path / "good", [SyntheticScenario(name="a", weight=2),
                                         SyntheticScenario(name="b")])  # fmt: skip
    result = score_run(good)
    assert result.gate.status == "passed", result.gate.reasons
    assert result.gate.suite_score == pytest.approx(93.3)
    assert score_run(good, min_score=95).gate.exit_code == 1

    broken = write_run(tmp_path / "broken", [
        SyntheticScenario(name="a", weight=2),
        SyntheticScenario(name="b", status="error"),
    ])  # fmt: skip
    result = score_run(broken)
    b = result.scenarios[1]
    assert b.status == COULD_NOT_RUN and b.score == 0.0 and "error" in b.reason
    assert result.gate.suite_score == pytest.approx(62.2)  # (2 * 93.3 + 0) / 3
    assert result.gate.exit_code == 1

    stopped = write_run(tmp_path / "stopped", [SyntheticScenario()], interrupted=True)
    assert score_run(stopped).gate.exit_code == 130
    nothing = write_run(tmp_path / "nothing", [SyntheticScenario(status="error")])
    assert score_run(nothing).gate.exit_code == 2


def test_baseline_from_run_dir_and_from_result_json(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", [SyntheticScenario()])
    slow = write_run(tmp_path / "slow", [SyntheticScenario(recovery_delay_s=15.0)])
    result = score_run(slow, baseline=base, margin=5.0)
    comparison = result.gate.comparison
    assert comparison is not None and comparison.failed
    assert result.gate.exit_code == 1
    assert any("below the baseline" in r for r in result.gate.reasons)
    # the same baseline as a result.json only (raw data gone)
    doc = score_run(base).to_dict()
    (tmp_path / "result.json").write_text(json.dumps(doc))
    again = score_run(slow, baseline=tmp_path / "result.json", margin=5.0)
    assert again.gate.comparison is not None
    assert again.gate.comparison.deltas == comparison.deltas
    # a generous margin lets the same drop through
    assert not score_run(slow, baseline=base, margin=60.0).gate.comparison.failed  # type: ignore[union-attr]
