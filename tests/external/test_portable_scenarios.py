"""Portable scenarios: what a scenario needs of each service, held against a topology
whose services the lab may not own (issue 13, item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from poslab.errors import ConfigError
from poslab.scenario import RunOptions, load_scenario, load_suite
from poslab.stack import Topology, topology_from_mapping
from tests.scenario.scenario_helpers import BASE, fault_block, problems_of

HOOK = {"command": ["true"]}


def _external(**acquirer: Any) -> Topology:
    entry = {"mode": "external", "address": "10.0.0.5:5000", **acquirer}
    return topology_from_mapping({"services": {"acquirer": entry}})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


KILL = "kind: process\ntarget: acquirer\naction: kill\nat: 5s\nfor: 2s"
EXPIRE = "kind: application\ntarget: acquirer\nfault: expire_keys\nat: 12s\nfor: 2s"


def test_a_fault_an_external_service_cannot_take_skips_the_scenario(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + fault_block(KILL, EXPIRE))
    scenario = load_scenario(path, _external())
    assert scenario.skip is not None
    assert "faults[0]: acquirer is external: the lab cannot kill it" in scenario.skip
    assert "kill and start (or restart) hooks" in scenario.skip
    assert "faults[1]: acquirer is external: the lab cannot switch on expire_keys" in scenario.skip
    assert scenario.faults == ()


def test_hooks_make_the_same_scenario_runnable(tmp_path: Path) -> None:
    hooks = {"kill": HOOK, "start": HOOK, "faults": {"expire_keys": {"do": HOOK}}}
    scenario = load_scenario(
        _write(tmp_path, BASE + fault_block(KILL, EXPIRE)), _external(hooks=hooks)
    )
    assert scenario.skip is None
    assert [f.action for f in scenario.faults] == ["kill", "expire_keys"]
    # an admin API serves every application fault; only the kill still needs hooks
    admin_only = _external(admin="10.0.0.5:8080")
    scenario = load_scenario(_write(tmp_path, BASE + fault_block(EXPIRE)), admin_only)
    assert scenario.skip is None


def test_a_typo_is_still_an_error_of_the_file_not_a_skip(tmp_path: Path) -> None:
    text = BASE + fault_block(EXPIRE.replace("expire_keys", "expire_key"))
    problems = problems_of(_write(tmp_path, text), _external())
    assert [p.field for p in problems] == ["faults[0].fault"]


@pytest.mark.parametrize(
    ("needs", "declared", "skip", "note"),
    [
        ("", {}, "cannot be given acquirer day_seconds = 6.0 (not declared)", None),
        ("needs:\n  acquirer:\n    settings: {day_seconds: optional}\n", {}, None,
         "runs without acquirer day_seconds = 6.0 (not declared): the acquirer is external"),
        ("", {"day_seconds": 6}, None, None),
        ("", {"day_seconds": 30}, "(the host runs with 30)", None),
    ],
    ids=["essential-by-default", "optional-noted", "declared-equal", "declared-other"],
)  # fmt: skip
def test_settings_against_an_external_acquirer(
    tmp_path: Path, needs: str, declared: dict[str, Any], skip: str | None, note: str | None
) -> None:
    text = BASE + "acquirer:\n  day_seconds: 6s\n" + needs
    scenario = load_scenario(_write(tmp_path, text), _external(settings=declared))
    if skip is None:
        assert scenario.skip is None
    else:
        assert scenario.skip is not None and skip in scenario.skip
    without = [n for n in scenario.notes if n.startswith("runs without")]
    assert (note in without[0]) if note else not without, scenario.notes
    assert scenario.acquirer == {}


def test_time_scale_applies_before_settings_are_compared(tmp_path: Path) -> None:
    text = BASE + "acquirer:\n  day_seconds: 6s\n"
    scenario = load_scenario(
        _write(tmp_path, text), _external(settings={"day_seconds": 3}), RunOptions(time_scale=0.5)
    )
    assert scenario.skip is None


def test_the_scenarios_own_needs(tmp_path: Path) -> None:
    text = BASE + "needs:\n  acquirer:\n    restartable: true\n    faults: [stall_settlement]\n"
    scenario = load_scenario(_write(tmp_path, text), _external())
    assert scenario.skip is not None
    assert "needs.acquirer: acquirer is external: the lab cannot restart it" in scenario.skip
    assert "cannot switch on stall_settlement" in scenario.skip
    bad = BASE + "needs:\n  acquirr: {killable: true}\n  issuer:\n    faults: [expire_keys]\n"
    problems = problems_of(_write(tmp_path, bad), _external())
    assert {p.field for p in problems} == {"needs.acquirr", "needs.issuer.faults[0]"}


def test_the_gate_against_a_host_with_only_an_address_keys_ledger_and_restart_hook() -> None:
    """Every gate scenario runs once the host declares its business day; without the
    expire_keys hook only working-key-expiry is skipped (could not run)."""
    hooks: dict[str, Any] = {"kill": HOOK, "start": HOOK, "restart": HOOK}
    suite = load_suite("gate", _external(hooks=hooks), RunOptions(time_scale=0.5))
    skipped = {s.name: s.skip for s in suite.scenarios if s.skip}
    assert list(skipped) == ["working-key-expiry"]
    for s in suite.scenarios:
        assert any("runs without acquirer day_seconds" in n for n in s.notes)
        assert any("keeps its books across the run's scenarios (no reset" in n for n in s.notes)
    hooks["faults"] = {"expire_keys": {"do": HOOK}}
    hooks["reset"] = HOOK  # a clean host per scenario, as the lab's own
    declared = _external(hooks=hooks, settings={"day_seconds": 7.5})
    suite = load_suite("gate", declared, RunOptions(time_scale=0.5))
    assert [s.skip for s in suite.scenarios] == [None] * 5
    noted = [n for s in suite.scenarios for n in s.notes if "runs without fault" not in n]
    assert noted == [], "declared settings and a reset hook leave nothing to note"


def test_require_integrity_with_no_ledger_is_refused_before_anything_starts() -> None:
    from poslab.cli.run import _check_judgeable

    blind = _external()
    with pytest.raises(ConfigError, match="cannot judge money without a ledger"):
        _check_judgeable(blind, ("integrity",))
    _check_judgeable(blind, ())  # not required: the report shows "not available"
    _check_judgeable(_external(admin="10.0.0.5:8080"), ("integrity",))  # it exports


def test_a_fault_on_a_path_the_external_host_does_not_take_is_noted(tmp_path: Path) -> None:
    """The lab's ``issuer`` proxy carries its own acquirer's traffic only."""
    late = "kind: network\ntarget: issuer\ntoxic: {type: latency, attributes: {latency: 900}}"
    text = BASE + fault_block(late + "\nat: 5s\nfor: 3s")
    scenario = load_scenario(_write(tmp_path, text), _external())
    assert scenario.skip is None and len(scenario.faults) == 1
    assert any("runs without fault issuer-latency" in n for n in scenario.notes), scenario.notes
    embedded = load_scenario(_write(tmp_path, text), None)
    assert embedded.notes == ()
