"""Processes in tests: ``lab`` as a subprocess, and whether a process is still alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
LAB = [sys.executable, "-m", "poslab"]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def lab_env(**extra: str) -> dict[str, str]:
    """This environment without pytest's variables, in CI mode, unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"CI": "true", "PYTHONUNBUFFERED": "1", **extra})
    return env


def lab(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``lab ARGS`` (``python -m poslab``) to the end, its output captured as text."""
    return subprocess.run(
        [*LAB, *map(str, args)],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_lab(args: Sequence[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``lab ARGS`` started from the repository, stdout and stderr into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*LAB, *args], cwd=REPO, env=lab_env(**env), stdout=out, stderr=subprocess.STDOUT
        )


def run_lab(args: Sequence[str], log: Path, timeout_s: float, **env: str) -> int:
    """:func:`start_lab` to the end: its exit code; past ``timeout_s`` it is sent
    SIGTERM and the test fails, naming the log."""
    proc = start_lab(args, log, **env)
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        raise AssertionError(f"lab {' '.join(args)} overran {timeout_s} s; log {log}") from None
