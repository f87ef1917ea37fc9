"""Seeded fleet draws: the same seed and world always hit the same terminals."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from poslab.errors import ConfigError
from poslab.scenario import FleetFault, draw_terminals
from poslab.scenario.fault_actions import FleetShare, NoParams, PowerOutage


@dataclass(frozen=True)
class Term:
    tid: str
    region: str


REPO = Path(__file__).resolve().parents[2]
FLEET = [Term(f"{10000000 + i}", ("north", "south", "east")[i % 3]) for i in range(300)]


def _fault(params: FleetShare | PowerOutage | NoParams, fid: str = "crash") -> FleetFault:
    action = "power_outage" if isinstance(params, PowerOutage) else "crash"
    return FleetFault(
        id=fid,
        group=fid,
        description="",
        at_s=5,
        for_s=5,
        unavoidable=False,
        index=0,
        action=action,
        params=params,
    )


def test_same_seed_same_terminals_other_seed_others() -> None:
    fault = _fault(FleetShare(share=0.1))
    first = draw_terminals(fault, FLEET, 42, "s")
    assert first == draw_terminals(fault, list(reversed(FLEET)), 42, "s")  # order-free
    assert len(first) == 30 and first == tuple(sorted(first))
    assert first != draw_terminals(fault, FLEET, 43, "s")
    assert first != draw_terminals(_fault(FleetShare(share=0.1), "other"), FLEET, 42, "s")


def test_regions_count_and_rounding() -> None:
    north = {t.tid for t in FLEET if t.region == "north"}
    drawn = draw_terminals(_fault(FleetShare(count=7, regions=["north"])), FLEET, 1, "s")
    assert len(drawn) == 7 and set(drawn) <= north
    assert len(draw_terminals(_fault(FleetShare(share=0.001)), FLEET, 1, "s")) == 1  # never 0
    assert len(draw_terminals(_fault(FleetShare(share=0.005)), FLEET, 1, "s")) == 2  # 1.5 → 2
    whole = draw_terminals(_fault(PowerOutage(regions=["east"])), FLEET, 1, "s")
    assert set(whole) == {t.tid for t in FLEET if t.region == "east"}
    assert len(draw_terminals(_fault(NoParams()), FLEET, 1, "s")) == 300


def test_count_larger_than_the_world() -> None:
    with pytest.raises(ConfigError, match="wants 101 terminals but the world has 100 in north"):
        draw_terminals(_fault(FleetShare(count=101, regions=["north"])), FLEET, 1, "s")


def test_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from poslab.scenario.spec.fleet_draws import draw_terminals\n"
        "from tests.scenario.test_scenario_fleet_draws import FLEET, _fault\n"
        "from poslab.scenario.fault_actions import FleetShare\n"
        "print(','.join(draw_terminals(_fault(FleetShare(share=0.05)), FLEET, 7, 's')))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        ).stdout
        for seed in ("1", "2")
    }
    expected = ",".join(draw_terminals(_fault(FleetShare(share=0.05)), FLEET, 7, "s")) + "\n"
    assert outputs == {expected}
