"""The hidden plan: chosen from the playbook, seeded, timed within its window, held
until mitigated (except device faults, which keep their window)."""

from __future__ import annotations

import pytest

from poslab.drill.mitigations import CATALOGUE
from poslab.drill.plan import MIN_WORKING_S, PlanRequest, build_plan
from poslab.drill.playbook import DRILLABLE, FAILURE_MODES, judge, mode_of
from poslab.errors import ConfigError
from poslab.scenario import Catalogue, FleetFault, ProcessFault

REGIONS = ("north", "south", "east")


def request(
    seed: int = 1,
    scenario: str | None = None,
    window: tuple[float, float] = (20, 40),
    max_s: float = 600,
) -> PlanRequest:
    return PlanRequest(seed, scenario, window, max_s, REGIONS, 30)


def test_every_catalogue_scenario_is_in_the_playbook_once() -> None:
    names = Catalogue().scenario_names()
    assert sorted(n for m in FAILURE_MODES for n in m.scenarios) == sorted(names)
    assert [m.row for m in FAILURE_MODES] == list(range(1, 14))
    assert "peak-hour" not in DRILLABLE and len(DRILLABLE) == len(names) - 1


def test_every_named_mitigation_exists() -> None:
    for mode in FAILURE_MODES:
        assert mode.right | mode.acceptable <= set(CATALOGUE), mode.row
        assert not mode.right & mode.acceptable
        assert mode.right or mode.self_heals, f"row {mode.row}: nothing right, yet not self-healing"


def test_judge_takes_the_best_verdict_over_every_injected_mode() -> None:
    outage, settlement = mode_of("acquirer-outage"), mode_of("settlement-backlog")
    assert judge("use_backup_path", (outage,)) == "right"
    assert judge("restart_acquirer", (outage,)) == "wrong"
    assert judge("restart_acquirer", (outage, settlement)) == "acceptable"
    assert judge("resume_settlement", (outage, settlement)) == "right"


def test_the_same_request_gives_the_same_plan() -> None:
    a, b = build_plan(request(seed=7)), build_plan(request(seed=7))
    assert a.summary() == b.summary()
    assert [p.fault for p in a.faults] == [p.fault for p in b.faults]


def test_different_seeds_draw_different_plans() -> None:
    summaries = {tuple(build_plan(request(seed=s)).scenario_names) for s in range(40)}
    assert len(summaries) >= 8  # a draw, not a constant
    assert any(len(names) == 2 for names in summaries)  # combinations are drawn too


@pytest.mark.parametrize("seed", range(12))
def test_hidden_delay_is_inside_its_window_and_offsets_are_kept(seed: int) -> None:
    plan = build_plan(request(seed=seed, scenario="outdated-software", window=(20, 40)))
    assert 20 <= plan.delay_s <= 40
    first = min(p.fault.at_s for p in plan.faults)
    assert first == pytest.approx(plan.delay_s)
    # The hidden delay moves the scenario's faults together: the offsets between
    # them are the catalogue file's own (read here straight from the scenario).
    (scenario,) = plan.scenarios
    start = min(f.at_s for f in scenario.faults)
    expected = sorted({round(f.at_s - start, 3) for f in scenario.faults})
    offsets = sorted({round(p.fault.at_s - first, 3) for p in plan.faults})
    assert len(expected) >= 2 and offsets == expected


def test_network_application_and_kill_faults_are_held_device_faults_keep_their_window() -> None:
    plan = build_plan(request(scenario="agent-unreachable", max_s=600))
    by_kind = {type(p.fault).__name__: p for p in plan.faults}
    held = by_kind["NetworkFault"]
    assert held.held and held.fault.end_s == pytest.approx(600)
    (scenario,) = plan.scenarios
    windowed = {f.id: f for f in scenario.faults if isinstance(f, FleetFault) and f.windowed}
    devices = [p for p in plan.faults if p.fault.id in windowed]
    assert devices, "agent-unreachable breaks devices for a window"
    for device in devices:
        assert isinstance(device.fault, FleetFault) and device.fault.action in {"crash", "replace"}
        assert not device.held and device.fault.for_s == windowed[device.fault.id].for_s > 0
    kill = build_plan(request(scenario="acquirer-crash-restart")).faults[0]
    assert isinstance(kill.fault, ProcessFault) and kill.held


def test_instant_actions_stay_instant() -> None:
    plan = build_plan(request(scenario="outdated-software"))
    push = next(p for p in plan.faults if p.fault.id == "old-software")
    assert not push.held and push.fault.for_s == 0


def test_a_combination_never_puts_two_faults_on_one_target() -> None:
    combos = [build_plan(request(seed=s)) for s in range(60)]
    combos = [p for p in combos if len(p.scenarios) == 2]
    assert combos
    for plan in combos:
        a, b = (
            {p.fault.target for p in plan.faults if p.scenario == s.name} for s in plan.scenarios
        )
        fleet = [p.fault.action for p in plan.faults if isinstance(p.fault, FleetFault)]
        assert not (a & b) - {"fleet"}, plan.scenario_names
        assert len(fleet) == len(set(fleet))
        assert all("/" in p.fault.id for p in plan.faults)  # ids say which scenario


def test_drill_scenario_is_what_scoring_reads() -> None:
    plan = build_plan(request(scenario="acquirer-outage", max_s=900))
    s = plan.drill_scenario
    assert s.name == "drill" and s.duration_s == 900 and s.load.terminals == 30
    assert s.expectations == () and s.unavoidable == () and s.abort == ()
    assert [f.id for f in s.faults] == [p.fault.id for p in plan.faults]


@pytest.mark.parametrize(
    ("scenario", "window", "max_s", "message"),
    [
        ("peak-hour", (1, 2), 600, "nothing to hide"),
        ("no-such-scenario", (1, 2), 600, "not in the drill playbook"),
        (None, (50, 10), 600, "need 0 ≤ low ≤ high"),
        (None, (10, 590), 600, f"at least {MIN_WORKING_S:g} s"),
    ],
)
def test_bad_requests_are_refused_before_anything_starts(
    scenario: str | None, window: tuple[float, float], max_s: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_plan(request(scenario=scenario, window=window, max_s=max_s))
