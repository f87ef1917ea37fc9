"""The files between the lab and the Locust processes: fleet config, control
channel, journal, and what reads them back — without starting Locust."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from poslab.errors import ConfigError
from poslab.fleet import ControlWriter, FleetConfig, ShapeSpec, iter_journal, journal_files
from poslab.loadtests.control import ControlReader
from poslab.loadtests.journal import JournalWriter


def make_config(tmp_path: Path, **overrides: object) -> FleetConfig:
    values: dict[str, object] = {
        "world": str(tmp_path / "world.json"),
        "regions": {"north": "127.0.0.1:4001", "south": "127.0.0.1:4002"},
        "backup": "127.0.0.1:4009",
        "agents": {"primary": "http://127.0.0.1:5001", "backup": "http://127.0.0.1:5002"},
        "journal_dir": str(tmp_path / "fleet"),
        "control_file": str(tmp_path / "fleet" / "control.jsonl"),
        "state_dir": str(tmp_path / "fleet" / "state"),
        "shape": ShapeSpec("lunch-peak", {"duration_s": 30.0}),
        "terminal": {"settle_every": 20},
        "tids": ("10000001", "10000002"),
    }
    values.update(overrides)
    return FleetConfig(**values)  # type: ignore[arg-type]


def test_fleet_config_round_trips_through_its_json_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, policy="naive", processes=2)
    path = config.write(tmp_path / "fleet" / "config.json")
    assert FleetConfig.read(path) == config
    data = json.loads(path.read_text())
    assert data["format"] == 1 and data["shape"] == {
        "name": "lunch-peak",
        "params": {"duration_s": 30.0},
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"regions": {}},
        {"regions": {"north": "nohost"}},
        {"backup": "127.0.0.1:0"},
        {"policy": "brave"},
        {"processes": 0},
        {"think_time_s": -1.0},
        {"agents": {"primary": "ftp://x"}},
        {"format": 2},
    ],
)
def test_fleet_config_rejects_bad_values(tmp_path: Path, bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        make_config(tmp_path, **bad)


def test_unknown_fields_and_unknown_shapes_are_errors(tmp_path: Path) -> None:
    data = make_config(tmp_path).to_dict()
    with pytest.raises(ConfigError, match="unknown field"):
        FleetConfig.from_dict({**data, "extra": 1})
    with pytest.raises(ConfigError, match="must be a number"):
        ShapeSpec("lunch-peak", {"duration_s": "long"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="unknown shape"):
        FleetConfig.from_dict({**data, "shape": {"name": "brunch", "params": {}}})
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError):
        FleetConfig.read(tmp_path / "broken.json")


def test_control_commands_reach_the_reader_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    writer = ControlWriter(path)
    reader = ControlReader(path)
    assert reader.poll() == []
    first = writer.send("crash", {"share": 0.5, "regions": ["north"]}, until=123.0)
    second = writer.send("force_sign_on")
    commands = reader.poll()
    assert [(c.seq, c.action, c.until) for c in commands] == [
        (first, "crash", 123.0),
        (second, "force_sign_on", None),
    ]
    assert reader.poll() == []
    # a torn line (the writer died mid-write) waits until it is complete
    with path.open("ab") as fh:
        fh.write(b'{"seq": 3, "t": 1.0, "action": "throt')
    assert reader.poll() == []
    with path.open("ab") as fh:
        fh.write(b'tle", "params": {"factor": 0.5}, "until": null}\n')
        fh.write(b"garbage that is no command\n")
    assert [c.action for c in reader.poll()] == ["throttle"]
    # a new writer (a restarted lab) continues the sequence
    assert ControlWriter(path).send("clear", {"all": True}) == 4
    assert [c.seq for c in reader.poll()] == [4]


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("explode", {}),
        ("crash", {"share": 1.5}),
        ("crash", {"count": 0}),
        ("power_outage", {}),
        ("set_software", {"version": "2.1"}),
        ("throttle", {"factor": 0}),
        ("clear", {}),
        ("crash", {"regions": "north"}),
    ],
)
def test_control_writer_refuses_bad_commands(
    tmp_path: Path, action: str, params: dict[str, object]
) -> None:
    with pytest.raises(ConfigError):
        ControlWriter(tmp_path / "control.jsonl").send(action, params)
    assert not (tmp_path / "control.jsonl").exists()


def test_instant_actions_carry_no_window(tmp_path: Path) -> None:
    writer = ControlWriter(tmp_path / "c.jsonl")
    writer.send("set_software", {"version": "020300", "share": 0.5}, until=99.0)
    line = json.loads((tmp_path / "c.jsonl").read_text())
    assert line["until"] is None


def test_journal_writer_buffers_flushes_and_masks(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "fleet", flush_every_s=3600, max_buffered=3, host="h")
    writer.write({"tid": "1", "pan": "6222021234567890"})
    writer.write({"tid": "2", "pan": None})
    assert not writer.path.exists()  # buffered
    writer.write({"tid": "3", "pan": "622202******7890"})
    assert writer.path.name == f"h-{os.getpid()}.jsonl"
    lines = [json.loads(line) for line in writer.path.read_text().splitlines()]
    assert [r["pan"] for r in lines] == ["622202******7890", None, "622202******7890"]
    writer.write({"tid": "4", "pan": None})
    writer.close()
    assert len(writer.path.read_text().splitlines()) == 4


def test_journal_writer_flushes_on_time(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path, flush_every_s=0.0, host="h")
    writer.write({"tid": "1"})
    assert len(writer.path.read_text().splitlines()) == 1
    writer.close()


def test_journal_reader_skips_torn_and_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "a-1.jsonl").write_text('{"n": 1}\n["not an object"]\n{"n": 2}\n{"n": 3, "tor')
    (tmp_path / "b-2.jsonl").write_text('{"n": 4}\nnot json\n')
    (tmp_path / "control.jsonl").write_text('{"seq": 1}\n')
    assert [p.name for p in journal_files(tmp_path)] == ["a-1.jsonl", "b-2.jsonl"]
    assert [r["n"] for r in iter_journal(tmp_path)] == [1, 2, 4]
