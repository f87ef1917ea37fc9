"""Driving real drills from tests: the ``lab`` CLI in-process, waits on real conditions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from poslab.cli import main
from poslab.drill.client import DrillClient
from poslab.drill.session import DrillFiles, current_drill, read_jsonl

T = TypeVar("T")


class Lab:
    """``lab …`` as a participant types it, with this test's runs directory."""

    def __init__(self, capsys: pytest.CaptureFixture[str], runs: Path) -> None:
        self.capsys = capsys
        self.runs = runs
        self.state = runs / ".stack.json"

    def __call__(self, *args: str) -> tuple[int, str]:
        argv = list(args)
        if argv[0] == "drill" and argv[1] != "report":
            argv.insert(2, f"--runs-dir={self.runs}")
        if argv[:2] == ["drill", "start"]:
            argv.insert(2, f"--state={self.state}")
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def ok(self, *args: str) -> str:
        code, out = self(*args)
        assert code == 0, out
        return out

    def start(self, scenario: str, seed: int, *extra: str) -> DrillFiles:
        self.ok(
            "drill",
            "start",
            f"--scenario={scenario}",
            f"--seed={seed}",
            "--terminals=12",
            "--think-time=1",
            "--delay-window=3:4",
            "--max-minutes=3",
            "--drain=2",
            "--timeout=90",
            *extra,
        )
        return current_drill(self.runs)


def until(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def fault_went_in(files: DrillFiles) -> float:
    def probe() -> float | None:
        for e in read_jsonl(files.journal):
            if e.get("event") == "fault_injected":
                return float(e["t"])
        return None

    return until("the hidden fault to go in", probe)


def samples(files: DrillFiles) -> list[dict[str, Any]]:
    return list(DrillClient(files).metrics(0)["samples"])


def bad_since(files: DrillFiles, since: float, n: int = 2) -> list[dict[str, Any]]:
    """Wait for ``n`` complete seconds after ``since`` whose success ratio is under 50 %."""

    def probe() -> list[dict[str, Any]] | None:
        bad = [
            s for s in samples(files) if s["t"] >= since and (s["all"]["success_ratio"] or 0) < 0.5
        ]
        return bad if len(bad) >= n else None

    return until("the symptom on the dashboard's figures", probe)


def good_run_since(files: DrillFiles, since: float, n: int = 3) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        after = [s for s in samples(files) if s["t"] >= since]
        run: list[dict[str, Any]] = []
        for s in after:
            run = [*run, s] if (s["all"]["success_ratio"] or 0) >= 0.95 else []
            if len(run) >= n:
                return run
        return None

    return until("recovery on the dashboard's figures", probe)


def stack_pids(state_file: Path) -> list[int]:
    data = json.loads(state_file.read_text(encoding="utf-8"))
    return [s["process"]["pid"] for s in data["services"].values() if s.get("process")]


def postmortem(files: DrillFiles) -> dict[str, Any]:
    return dict(json.loads(files.postmortem_json.read_text(encoding="utf-8")))
