"""The shipped catalogue: one scenario per failure-mode row, valid suites, a 5-minute gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from poslab.scenario import (
    CATALOGUE_DIR,
    STACK_START_S,
    Catalogue,
    RunOptions,
    load_scenario,
    load_suite,
)
from poslab.scoring import EXPECTATION_KINDS

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = Catalogue()
NAMES = CATALOGUE.scenario_names()
ROW_NAMES = {  # failure-modes.md, column "Lab scenario (name)"
    1: {"acquirer-outage"},
    2: {"merchant-network-flaky", "bandwidth-bottleneck"},
    3: {"response-timeout-reversal"},
    4: {"working-key-expiry"},
    5: {"settlement-backlog"},
    6: {"agent-unreachable"},
    7: {"device-replacement"},
    8: {"peak-hour"},
    9: {"power-outage-region"},
    10: {"issuer-slow"},
    11: {"acquirer-crash-restart"},
    12: {"outdated-software"},
    13: {"day-end-cutover"},
}


def test_the_catalogue_is_package_data() -> None:
    # inside poslab, so a wheel carries it (tests/packaging checks the wheel itself)
    assert CATALOGUE_DIR == REPO / "poslab" / "catalogue"
    assert (CATALOGUE_DIR / "suites" / "gate.yaml").is_file()


def test_one_scenario_per_failure_mode_row() -> None:
    assert set(NAMES) == set().union(*ROW_NAMES.values())
    for row, names in ROW_NAMES.items():
        for name in names:
            assert load_scenario(name).failure_mode == row


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_is_complete(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name  # file name and scenario name agree
    assert s.description and s.weight > 0 and 0 < s.min_score <= 100
    assert s.expectations, "what 'resilient' means for the row"
    assert all(e.kind in EXPECTATION_KINDS for e in s.expectations)
    assert any(a.kind == "integrity_breach" for a in s.abort)
    assert s.recovery.target_s > 0 and s.slo.success_ratio >= 0.9
    assert 100 <= s.load.terminals <= 200, "modest: the lab shares 2 cores"
    assert s.faults or name == "peak-hour"


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_survives_compression(name: str) -> None:
    load_scenario(name, options=RunOptions(time_scale=0.25, terminals=10))


def test_gate_suite_fits_five_minutes_with_stack_starts() -> None:
    gate = load_suite("gate")
    assert 4 <= len(gate.scenarios) <= 5
    assert gate.estimated_wall_s() <= 300 - 30, "leave room for world, reports and overhead"
    assert gate.estimated_wall_s() == pytest.approx(
        sum(STACK_START_S + s.duration_s + s.drain_s for s in gate.scenarios)
    )
    assert {"response-timeout-reversal", "working-key-expiry", "acquirer-outage"} <= {
        s.name for s in gate.scenarios
    }
    assert gate.min_score == 80


def test_full_suite_runs_everything() -> None:
    full = load_suite("full")
    assert sorted(s.name for s in full.scenarios) == sorted(NAMES)


def test_suite_overrides_and_problems(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    for name in ("acquirer-outage", "peak-hour"):
        (tmp_path / f"{name}.yaml").write_text(
            (CATALOGUE_DIR / f"{name}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    cat = Catalogue(tmp_path)
    (tmp_path / "suites" / "mine.yaml").write_text(
        "name: mine\nscenarios:\n  - acquirer-outage\n"
        "  - {scenario: ../peak-hour.yaml, weight: 9, min_score: 50}\n",
        encoding="utf-8",
    )
    suite = load_suite("mine", catalogue=cat)
    assert suite.min_score == 80  # the default
    weights = {s.name: (s.weight, s.min_score) for s in suite.scenarios}
    assert weights == {"acquirer-outage": (3.0, 70.0), "peak-hour": (9.0, 50.0)}

    (tmp_path / "suites" / "bad.yaml").write_text(
        "name: bad\nscenarios:\n  - acquirer-outage\n  - nowhere\n  - acquirer-outage\n"
        "min_score: 120\n",
        encoding="utf-8",
    )
    from poslab.scenario import ScenarioInvalid

    with pytest.raises(ScenarioInvalid) as info:
        load_suite("bad", catalogue=cat)
    assert [str(p).split(": ", 1)[1] for p in info.value.problems] == [
        "min_score: must be less than or equal to 100"
    ]
    (tmp_path / "suites" / "bad.yaml").write_text(
        "name: bad\nscenarios:\n  - acquirer-outage\n  - nowhere\n  - acquirer-outage\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioInvalid) as info:
        load_suite("bad", catalogue=cat)
    lines = [(p.line, p.field, p.message) for p in info.value.problems]
    assert lines[0][:2] == (4, "scenarios[1]") and "no scenario 'nowhere'" in lines[0][2]
    assert lines[1][:2] == (5, "scenarios[2]") and "already entry 0" in lines[1][2]


def test_a_broken_scenario_breaks_its_suite(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "broken.yaml").write_text("name: broken\nweight: 0\n", encoding="utf-8")
    (tmp_path / "suites" / "s.yaml").write_text("name: s\nscenarios: [broken]\n", encoding="utf-8")
    from poslab.scenario import ScenarioInvalid

    with pytest.raises(ScenarioInvalid) as info:
        load_suite("s", catalogue=Catalogue(tmp_path))
    assert {p.file for p in info.value.problems} == {str(tmp_path / "broken.yaml")}
