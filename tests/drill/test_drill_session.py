"""The drill's files: the facilitator's secret and journal made 0600, the state file,
the timeline (one write per line, torn lines skipped) and the current-drill pointer."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from poslab.drill.session import (
    DrillFiles,
    DrillState,
    Timeline,
    clear_current,
    current_drill,
    set_current,
)
from poslab.errors import ConfigError, RunDirError
from tests.drill.drill_records import facilitator


def files_in(tmp_path: Path) -> DrillFiles:
    files = DrillFiles(tmp_path / "runs" / "20260101T000000Z-drill")
    files.run_dir.mkdir(parents=True)
    files.write_state(
        DrillState(run_dir=str(files.run_dir), created_at=1.0, stack_state=str(tmp_path / "s.json"))
    )
    return files


def test_the_secret_files_are_0600(tmp_path: Path) -> None:
    files = files_in(tmp_path)
    secret = facilitator(seed=9, scenario=None, delay_window_s=(60, 300), max_s=1800)
    files.write_facilitator(secret)
    files.create_secret_journal()
    for path in (files.facilitator, files.journal):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert files.read_facilitator() == secret
    assert "not a security boundary" in files.facilitator.read_text(encoding="utf-8")
    assert "seed" not in files.state.read_text(encoding="utf-8")  # participants' file


def test_state_round_trip_and_bad_files(tmp_path: Path) -> None:
    files = files_in(tmp_path)
    state = files.update_state(status="running", api_url="http://127.0.0.1:1", token="t")
    # the participants' link: the dashboard with their token in its fragment
    assert files.read_state() == state and state.dashboard_url == "http://127.0.0.1:1/#token=t"
    files.state.write_text("{", encoding="utf-8")
    with pytest.raises(RunDirError, match=r"drill\.json"):
        files.read_state()
    files.state.write_text(json.dumps({"run_dir": "x"}), encoding="utf-8")
    with pytest.raises(RunDirError, match="not a drill state file"):
        files.read_state()
    with pytest.raises(RunDirError, match=r"no facilitator\.json"):
        files.read_facilitator()


def test_timeline_lines_and_a_torn_last_line(tmp_path: Path) -> None:
    timeline = Timeline(tmp_path / "timeline.jsonl")
    timeline.append("note", t=1.0, text="北区 slow")
    timeline.append("mitigation", action="throttle", params={"factor": 0.5})
    with timeline.path.open("a", encoding="utf-8") as fh:
        fh.write('{"t": 3, "event": "no')
    events = timeline.read()
    assert [e["event"] for e in events] == ["note", "mitigation"]
    assert events[0] == {"t": 1.0, "event": "note", "text": "北区 slow"}
    assert events[1]["t"] > 1.0


def test_the_current_drill_pointer(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(ConfigError, match="no drill is running"):
        current_drill(runs)
    files = files_in(tmp_path)
    set_current(runs, files.run_dir)
    assert current_drill(runs).run_dir == files.run_dir
    clear_current(runs, tmp_path / "another")  # not ours: kept
    assert current_drill(runs).run_dir == files.run_dir
    clear_current(runs, files.run_dir)
    with pytest.raises(ConfigError):
        current_drill(runs)
    assert current_drill(runs, files.run_dir).run_dir == files.run_dir
    with pytest.raises(ConfigError, match="not a drill run directory"):
        current_drill(runs, tmp_path)
