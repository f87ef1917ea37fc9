"""A and R on hand-built runs whose scores can be worked out on paper."""

from __future__ import annotations

from pathlib import Path

import pytest

from poslab.scoring import score_run
from poslab.scoring.availability import recovery_value
from poslab.scoring.result import ScenarioResult
from tests.scoring.scoring_runs import MakeRun, fault_events, fin, second, seconds


def only(run_dir: Path) -> ScenarioResult:
    result = score_run(run_dir)
    assert len(result.scenarios) == 1
    return result.scenarios[0]


def test_fault_window_costs_exactly_its_seconds(make_run: MakeRun) -> None:
    # 20 judged seconds, 5 of them (5..9) all failed; the fault clears at 10.0
    records = seconds(0, 4) + seconds(5, 9, "failed") + seconds(10, 19)
    s = only(make_run(records, events=fault_events(5.0, 10.0)))
    assert s.availability.judged_seconds == 20
    assert s.availability.good_seconds == 15
    assert s.components["A"] == pytest.approx(0.75)
    assert s.recovery.recovery_s == 0.0
    assert s.components["R"] == 1.0
    assert s.components["E"] == 1.0  # no expectations declared
    assert s.score == pytest.approx(90.0)  # 100 * (0.4*0.75 + 0.4*1 + 0.2*1)


@pytest.mark.parametrize(
    ("target", "expected_r"),
    [(10.0, 1.0), (5.0, 1.0), (2.5, 2 / 3), (5 / 3, 1 / 3), (1.25, 0.0)],
)
def test_recovery_linear_from_target_to_four_times(
    make_run: MakeRun, target: float, expected_r: float
) -> None:
    # failures go on 5 s after the fault clears at 10.0: recovery takes exactly 5 s
    records = seconds(0, 4) + seconds(5, 14, "failed") + seconds(15, 19)
    spec = {"recovery": {"target_s": target, "good_seconds": 3}}
    s = only(make_run(records, spec=spec, events=fault_events(5.0, 10.0)))
    assert s.recovery.recovery_s == pytest.approx(5.0)
    assert s.recovery.recovered_at == pytest.approx(1_790_000_015.0)
    assert s.components["R"] == pytest.approx(expected_r)


def test_never_recovered_scores_r_zero(make_run: MakeRun) -> None:
    records = seconds(0, 4) + seconds(5, 19, "failed")
    s = only(make_run(records, events=fault_events(5.0, 10.0)))
    assert s.recovery.recovery_s is None
    assert s.components["R"] == 0.0
    assert "never" in s.recovery.note


def test_good_run_shorter_than_n_does_not_count(make_run: MakeRun) -> None:
    # good 10-11, bad 12, good from 13: N=3 is first reached by the run starting at 13
    records = seconds(0, 9) + seconds(10, 11) + second(12, outcome="failed") + seconds(13, 19)
    s = only(make_run(records, events=fault_events(5.0, 10.0)))
    assert s.recovery.recovery_s == pytest.approx(3.0)


def test_recovery_has_sub_second_resolution(make_run: MakeRun) -> None:
    # the fault clears at 10.4 and second 10 is already good: recovered at the fault end
    records = seconds(0, 4) + seconds(5, 9, "failed") + seconds(10, 19)
    s = only(make_run(records, events=fault_events(5.0, 10.4)))
    assert s.recovery.recovery_s == 0.0
    # second 10 still bad: the good run starts at 11.0, 0.6 s after the clear
    records = seconds(0, 4) + seconds(5, 10, "failed") + seconds(11, 19)
    s = only(make_run(records, events=fault_events(5.0, 10.4)))
    assert s.recovery.recovery_s == pytest.approx(0.6)


def test_no_fault_means_nothing_to_recover(make_run: MakeRun) -> None:
    s = only(make_run(seconds(0, 19)))
    assert s.components == {"A": 1.0, "R": 1.0, "E": 1.0}
    assert s.score == 100.0
    assert s.recovery.note == "no fault to recover from"


def test_idle_seconds_are_not_judged(make_run: MakeRun) -> None:
    # only even seconds carry traffic: the odd ones are idle, not good and not bad
    records = [r for s in range(0, 20, 2) for r in second(s)]
    s = only(make_run(records))
    assert s.availability.judged_seconds == 10
    assert s.availability.idle_seconds == 10
    assert s.components["A"] == 1.0


def test_seconds_spent_stuck_on_a_timeout_are_bad(make_run: MakeRun) -> None:
    # one sale hangs 5 s from 3.0 (to 8.0) and nothing else starts meanwhile
    records = [*seconds(0, 2), fin(3.0, "failed", lat=5000.0), *seconds(9, 19)]
    s = only(make_run(records))
    verdicts = s.series[0].good
    assert verdicts[3] is False  # the second it started in
    assert verdicts[4:9] == [False] * 5  # blocked: 4, 5, 6, 7 and 8 (it ends at 8.0)
    assert s.availability.judged_seconds == 20
    assert s.availability.good_seconds == 14


def test_unavoidable_windows_are_excluded(make_run: MakeRun) -> None:
    records = seconds(0, 4) + seconds(5, 9, "failed") + seconds(10, 19)
    spec = {"unavoidable": [{"start_s": 5.0, "end_s": 10.0}]}
    s = only(make_run(records, spec=spec, events=fault_events(5.0, 10.0)))
    assert s.availability.excluded_seconds == 5
    assert s.availability.judged_seconds == 15
    assert s.components["A"] == 1.0


def test_seconds_after_an_abort_are_bad(make_run: MakeRun) -> None:
    records = seconds(0, 9)
    events = [{"t": 1_790_000_010.0, "event": "abort", "reason": "success ratio"}]
    s = only(make_run(records, events=events, status="aborted"))
    assert s.availability.aborted_seconds == 10
    assert s.components["A"] == pytest.approx(0.5)


def test_p99_is_nearest_rank(make_run: MakeRun) -> None:
    # 100 attempts in second 0: with one slow the 99th value is fast, with two it is slow
    def sec(slow: int) -> list[dict[str, object]]:
        return [fin(i / 100, lat=600.0 if i < slow else 100.0, stan=f"{i:06d}") for i in range(100)]

    s = only(make_run(sec(1), spec={"duration_s": 1}))
    assert s.series[0].p99_ms[0] == 100.0 and s.series[0].good[0] is True
    s = only(make_run(sec(2), spec={"duration_s": 1}))
    assert s.series[0].p99_ms[0] == 600.0 and s.series[0].good[0] is False


def test_declines_are_the_system_working(make_run: MakeRun) -> None:
    # second 0: only declines (meets the ratio); second 1: 9 approved + 1 declined = 100 %
    records = second(0, outcome="declined") + second(1, n=9) + [fin(1.95, "declined")]
    s = only(make_run(records, spec={"duration_s": 2}))
    assert s.series[0].success_ratio == [None, 1.0]
    assert s.series[0].good == [True, True]


def test_success_ratio_threshold(make_run: MakeRun) -> None:
    # 10 attempts, 1 failed = 0.9 meets 0.9; 2 failed = 0.8 does not
    one = [*second(0, n=9), fin(0.95, "failed", stan="900001")]
    two = [*second(1, n=8), fin(1.9, "failed", stan="900002"), fin(1.95, "failed", stan="900003")]
    s = only(make_run(one + two, spec={"duration_s": 2}))
    assert s.series[0].good == [True, False]


def test_series_per_region_and_recovery_marks(make_run: MakeRun) -> None:
    north = seconds(0, 4) + seconds(5, 12, "failed") + seconds(13, 19)
    south = seconds(0, 19, region="south", tid="10000002")
    s = only(make_run(north + south, events=fault_events(5.0, 10.0)))
    regions = {x.region: x for x in s.series}
    assert set(regions) == {"all", "north", "south"}
    assert regions["north"].recovered_at_s == pytest.approx(13.0)
    assert regions["south"].recovered_at_s == pytest.approx(10.0)
    assert regions["all"].attempts[0] == 20


def test_recovery_value_edges() -> None:
    assert recovery_value(None, 10) == 0.0
    assert recovery_value(0.0, 0.0) == 1.0
    assert recovery_value(0.1, 0.0) == 0.0
    assert recovery_value(40.0, 10.0) == 0.0
    assert recovery_value(25.0, 10.0) == pytest.approx(0.5)
