"""`lab scenario validate|list|show`: exit codes and one clear line per problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from poslab.cli import main
from tests.scenario.scenario_helpers import BASE, WriteScenario, fault_block, line_of

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_validate_the_whole_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["scenario", "validate"], capsys)
    assert (code, err) == (0, "")
    assert out.count("ok  ") == 16  # 14 scenarios + 2 suites
    assert "suite gate: 5 scenarios" in out


def test_validate_names_and_paths(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        [
            "scenario",
            "validate",
            "acquirer-outage",
            str(REPO / "poslab/catalogue/peak-hour.yaml"),
            "gate",
        ],
        capsys,
    )
    assert code == 0 and out.count("ok  ") == 3


def test_validate_invalid_exits_2_with_one_line_per_problem(
    write_scenario: WriteScenario, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE + fault_block(
        "kind: network\ntarget: nowhere  # <-a\nat: 5s\nfor: 5s\ndown: true",
        "kind: application\ntarget: acquirer\nfault: melt  # <-b\nat: 5s\nfor: 5s",
    )
    bad = write_scenario(text)
    code, out, err = _run(["scenario", "validate", "acquirer-outage", str(bad)], capsys)
    assert code == 2
    assert "ok  acquirer-outage" in out
    lines = err.splitlines()
    assert lines[0].startswith(f"{bad}:{line_of(text, '# <-a')}: faults[0].target: unknown proxy")
    assert lines[1].startswith(f"{bad}:{line_of(text, '# <-b')}: faults[1].fault: unknown acquirer")
    assert lines[2] == "lab: 1 of 2 invalid"
    assert len(lines) == 3


def test_validate_with_options(
    write_scenario: WriteScenario, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    topo = tmp_path / "topology.yaml"
    topo.write_text("regions: [hubei, hunan]\n", encoding="utf-8")
    text = BASE + fault_block("kind: network\nregions: [hubei]\nat: 5s\nfor: 5s\ndown: true")
    path = write_scenario(text)
    code, _, err = _run(["scenario", "validate", str(path)], capsys)
    assert code == 2 and "unknown region 'hubei'" in err
    code, _, err = _run(["scenario", "validate", "--topology", str(topo), str(path)], capsys)
    assert (code, err) == (0, "")
    code, _, err = _run(["scenario", "validate", "--time-scale", "0", str(path)], capsys)
    assert code == 2 and err.startswith("lab: error: --time-scale")


def test_show_prints_the_resolved_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["scenario", "show", "working-key-expiry", "--time-scale", "0.5"], capsys)
    assert code == 0
    assert "+4s  inject       acquirer fault expire_keys [keys-expired]" in out
    assert "+5s  clear        acquirer fault expire_keys [keys-expired]" in out
    assert "time scale 0.5" in out


def test_show_json_is_the_run_json_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["scenario", "show", "acquirer-crash-restart", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["name"] == "acquirer-crash-restart"
    assert data["faults"][0]["params"] == {"signal": "KILL"}
    code, out, _ = _run(["scenario", "show", "gate", "--json", "--terminals", "12"], capsys)
    data = json.loads(out)
    assert {s["load"]["terminals"] for s in data["scenarios"]} == {12}


def test_show_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["scenario", "show", "ghost"], capsys)
    assert code == 2 and "no scenario named ghost" in err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["scenario", "list"], capsys)
    assert code == 0
    assert "response-timeout-reversal" in out and " #3 " in out
    assert "gate" in out and "full" in out


def test_real_command_line_exit_codes(write_scenario: WriteScenario) -> None:
    """The installed `lab` entry point, in its own process."""
    lab = Path(sys.executable).with_name("lab")
    ok = subprocess.run(
        [str(lab), "scenario", "validate", "gate"], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    text = BASE + "weight: -1\n"
    bad = write_scenario(text)
    failed = subprocess.run(
        [str(lab), "scenario", "validate", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 2
    line = line_of(text, "weight: -1")
    assert failed.stderr.splitlines() == [
        f"{bad}:{line}: weight: duplicate key (first on line 3)",
        "lab: 1 of 1 invalid",
    ]


def test_list_marks_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "fine.yaml").write_text(BASE.replace("name: base", "name: fine"), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("name: broken\n", encoding="utf-8")
    code, out, _ = _run(["scenario", "list", "--catalogue", str(tmp_path)], capsys)
    assert code == 2
    assert "broken                       INVALID (lab scenario validate broken)" in out
    assert "  fine " in out


def test_regions_from_a_world_file(
    write_scenario: WriteScenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from poslab.world import generate, save

    world = tmp_path / "world.json"
    save(generate(7, 6, regions=("hubei", "hunan")), world)
    path = write_scenario(
        BASE + fault_block("kind: network\nregions: [hunan]\nat: 5s\nfor: 5s\ndown: true")
    )
    code, _, err = _run(["scenario", "validate", "--world", str(world), str(path)], capsys)
    assert (code, err) == (0, "")
    code, _, err = _run(["scenario", "validate", "--world", str(world), "acquirer-outage"], capsys)
    assert code == 0  # `regions: all` follows the world
    code, _, err = _run(
        ["scenario", "validate", "--world", str(world), "power-outage-region"], capsys
    )
    assert code == 2 and "unknown region(s) east (the world has hubei, hunan)" in err
