"""The expectation registry: validation, and every kind evaluated both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from poslab.errors import ScenarioError
from poslab.scoring import EXPECTATION_KINDS, score_run, validate_expectation
from poslab.scoring.expectations import EVALUATORS
from poslab.scoring.result import ExpectationResult
from poslab.testing import SyntheticScenario, write_run


def test_registry_names_and_params_are_exported() -> None:
    assert set(EVALUATORS) == set(EXPECTATION_KINDS)
    assert EXPECTATION_KINDS["success_ratio_min"].param_names == ("min", "window", "regions")
    assert EXPECTATION_KINDS["no_unresolved"].param_names == ()


def test_validation_fills_defaults_and_rejects_nonsense() -> None:
    assert validate_expectation("sign_on_rate_max_multiple", {"k": 5}) == {
        "k": 5.0,
        "window_s": 1,
        "baseline_floor_per_s": 1.0,
    }
    with pytest.raises(ScenarioError, match=r"known kinds: .*no_unresolved"):
        validate_expectation("no_such_kind", {})
    with pytest.raises(ScenarioError, match="'min' is required"):
        validate_expectation("success_ratio_min", {})
    with pytest.raises(ScenarioError, match="unknown param"):
        validate_expectation("no_unresolved", {"x": 1})
    with pytest.raises(ScenarioError, match=r"<= 1\.0"):
        validate_expectation("success_ratio_min", {"min": 1.5})
    with pytest.raises(ScenarioError, match="one of whole"):
        validate_expectation("p99_max_ms", {"max_ms": 5, "window": "lunch"})
    with pytest.raises(ScenarioError, match="list of strings"):
        validate_expectation("region_unaffected", {"affected": "north"})
    with pytest.raises(ScenarioError, match="whole number"):
        validate_expectation("tms_resumed", {"min_count": 1.5})
    with pytest.raises(ScenarioError, match="true or false"):
        validate_expectation("all_batches_settled", {"paid_out": 1})


def evaluate(tmp_path: Path, *expectations: dict[str, Any], **kw: Any) -> list[ExpectationResult]:
    exps = [{"name": f"e{i}", **e} for i, e in enumerate(expectations)]
    run = write_run(tmp_path, [SyntheticScenario(expectations=exps, **kw)])
    return score_run(run).scenarios[0].expectations


def held(tmp_path: Path, kind: str, params: dict[str, Any] | None = None, **kw: Any) -> bool:
    (result,) = evaluate(tmp_path, {"kind": kind, "params": params or {}}, **kw)
    assert result.detail
    return result.held


# A 60 s run; the fault (20..30 s) fails every attempt unless limited to some regions.
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("success_ratio_min", {"min": 0.8}, {}, True),
    ("success_ratio_min", {"min": 0.9}, {}, False),
    ("success_ratio_min", {"min": 0.9, "window": "before_fault"}, {}, True),
    ("success_ratio_min", {"min": 0.1, "window": "during_fault"}, {}, False),
    ("success_ratio_min", {"min": 0.9, "window": "during_fault", "regions": ["south"]},
     {"fault_regions": ("north",)}, True),
    ("p99_max_ms", {"max_ms": 300}, {"fault": None}, True),
    ("p99_max_ms", {"max_ms": 300, "window": "during_fault"}, {}, False),
    ("p99_max_ms", {"max_ms": 300, "window": "after_fault"}, {}, True),
    ("throughput_min_tps", {"min_tps": 40}, {"fault": None}, True),
    ("throughput_min_tps", {"min_tps": 60}, {"fault": None}, False),
    ("sign_on_rate_max_multiple", {"k": 5}, {"sign_on_storm_spread_s": 20.0}, True),
    ("sign_on_rate_max_multiple", {"k": 5}, {"sign_on_storm_spread_s": 0.0}, False),
    ("sign_on_rate_max_multiple", {"k": 5, "window_s": 30}, {"sign_on_storm_spread_s": 0.0},
     True),
    ("region_unaffected", {"affected": ["north"]}, {"fault_regions": ("north",)}, True),
    ("region_unaffected", {"affected": ["south"]}, {"fault_regions": ("north",)}, False),
    ("recovered_within_s", {"max_s": 1}, {}, True),
    ("recovered_within_s", {"max_s": 5}, {"recovery_delay_s": 8.0}, False),
    ("no_unresolved", {}, {}, True),
    ("no_unresolved", {}, {"inject": {"unresolved": 1}}, False),
    ("reversals_resolved", {}, {}, True),
    ("reversals_resolved", {}, {"inject": {"unresolved": 1}}, False),
    ("all_batches_settled", {"paid_out": True}, {}, True),
    ("all_batches_settled", {}, {"write_ledger": False}, False),
    ("backup_path_used", {}, {"backup_during_fault": True}, True),
    ("backup_path_used", {}, {}, False),
    ("tickets_failover", {"min_count": 2}, {"tickets": 2}, True),
    ("tickets_failover", {}, {"tickets": 0}, False),
    ("tms_resumed", {}, {"tms": 1}, True),
    ("tms_resumed", {}, {}, False),
    ("no_stuck_terminals", {}, {}, True),
    ("no_stuck_terminals", {"min_share": 0.9},
     {"fault_regions": ("north",), "recovery_delay_s": 40.0}, False),
    ("probe_ok", {"name": "health"}, {"probes": [("health", True), ("health", True)]}, True),
    ("probe_ok", {"name": "health"}, {"probes": [("health", True), ("health", False)]}, False),
    ("probe_ok", {"name": "health"}, {}, False),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "params", "scenario", "expected"), CASES)
def test_kind(
    tmp_path: Path, kind: str, params: dict[str, Any], scenario: dict[str, Any], expected: bool
) -> None:
    assert held(tmp_path, kind, params, **scenario) is expected


def test_every_kind_has_a_case_both_ways() -> None:
    for kind in EXPECTATION_KINDS:
        outcomes = {c[3] for c in CASES if c[0] == kind}
        assert outcomes == {True, False}, kind


def test_open_batch_fails_all_batches_settled(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        [SyntheticScenario(expectations=[{"name": "x", "kind": "all_batches_settled"}])],
    )
    path = run / "scenarios" / "synthetic" / "ledger" / "batches.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["status"] = "open"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (result,) = score_run(run).scenarios[0].expectations
    assert not result.held and "still open" in result.detail


def test_expectations_set_e_and_an_unknown_kind_does_not_hold(tmp_path: Path) -> None:
    results = evaluate(
        tmp_path,
        {"kind": "no_unresolved"},
        {"kind": "recovered_within_s", "params": {"max_s": 1}},
        {"kind": "made_up"},
        {"kind": "p99_max_ms", "params": {}},
    )
    assert [r.held for r in results] == [True, True, False, False]
    assert "known kinds" in results[2].detail
    assert "required" in results[3].detail
    run = next(tmp_path.glob("*"))
    s = score_run(run).scenarios[0]
    assert s.components["E"] == 0.5
