"""poslab.common: atomic replacement, the paused collector, the ready file."""

from __future__ import annotations

import gc
import json
import os
import stat
from pathlib import Path

import pytest

from poslab.common import SHARED, atomic_output, atomic_write, paused_gc, write_ready_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    atomic_write(target, "new ☃")
    assert target.read_text(encoding="utf-8") == "new ☃"
    assert _mode(target) == 0o600  # private unless asked: some of these files hold tokens
    atomic_write(target, b"\x00bytes", mode=SHARED)
    assert target.read_bytes() == b"\x00bytes" and _mode(target) == SHARED
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.jsonl"
    target.write_text("complete\n")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("the source broke mid-stream")
    assert target.read_text() == "complete\n"
    assert os.listdir(tmp_path) == ["export.jsonl"]


def test_a_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nowhere" / "file", "x")


def test_paused_gc_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            pass
        assert not gc.isenabled()  # the inner block does not switch it back on early
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "run" / "acquirer.ready.json"
    write_ready_file(ready, {"main": 5000, "admin": 5001})
    assert json.loads(ready.read_text()) == {
        "pid": os.getpid(),
        "ports": {"main": 5000, "admin": 5001},
    }
