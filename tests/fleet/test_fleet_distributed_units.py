"""The distributed fleet's pieces that need no process: the config's workers,
the journal's sink (a worker's batches go to the master, not a file), the
master's address from the environment, the worker's command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poslab.errors import ConfigError
from poslab.fleet import FleetConfig, FleetError, LocustOptions
from poslab.fleet.runner import worker_argv
from poslab.loadtests.journal import JournalWriter


def _config(**fields: object) -> FleetConfig:
    base: dict[str, object] = {
        "world": "/w.json",
        "regions": {"north": "127.0.0.1:1"},
        "journal_dir": "/j",
        "control_file": "/j/c.jsonl",
        "state_dir": "/s",
    }
    return FleetConfig.from_dict({**base, **fields})


def test_workers_are_the_partition_and_exclude_processes() -> None:
    assert _config().slots == 1
    assert _config(processes=2).slots == 2
    config = _config(workers=3)
    assert config.slots == 3 and FleetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="exclude"):
        _config(workers=2, processes=2)
    with pytest.raises(ConfigError, match="workers"):
        _config(workers=-1)


def test_a_journal_with_a_sink_sends_its_batches_and_writes_no_file(tmp_path: Path) -> None:
    sent: list[list[str]] = []
    writer = JournalWriter(tmp_path / "j", flush_every_s=3600, sink=sent.append)
    writer.write({"tid": "1", "pan": "6217001234567890123"})
    writer.write({"tid": "2", "pan": None})
    writer.flush()
    writer.close()
    assert not (tmp_path / "j").exists()
    (batch,) = sent
    assert [json.loads(line)["tid"] for line in batch] == ["1", "2"]
    assert "*" in json.loads(batch[0])["pan"]  # masked before it leaves the worker
    # the master writes the lines as they came
    master = JournalWriter(tmp_path / "m", host="master")
    master.write_lines(batch)
    master.close()
    assert master.path.read_text().splitlines() == batch


def test_the_master_address_and_local_workers_from_the_environment() -> None:
    options = LocustOptions.from_env(
        {"LAB_FLEET_MASTER": "10.0.0.5:5557", "LAB_FLEET_LOCAL_WORKERS": "2"}
    )
    assert (options.master_bind_host, options.master_port, options.local_workers) == (
        "10.0.0.5",
        5557,
        2,
    )
    default = LocustOptions.from_env({})
    assert default.master_bind_host == "127.0.0.1" and default.local_workers is None
    with pytest.raises(FleetError, match="HOST:PORT"):
        LocustOptions.from_env({"LAB_FLEET_MASTER": "nowhere"})


def test_a_worker_needs_only_its_master() -> None:
    argv = worker_argv("python", "10.0.0.5", 5557)
    assert "--worker" in argv and argv[argv.index("--master-host") + 1] == "10.0.0.5"
    assert argv[argv.index("--master-port") + 1] == "5557"
