"""``python -m tests.external.hostctl ACTION DIR``: the foreign host as a team runs it.

What a team's own scripts would be to the lab's hooks: start, kill, restart,
reset and stop their acquirer host, here the foreign host of tests/foreign_host
(``python -m tests.foreign_host``). ``DIR/host.json`` says how it runs::

    {"port": 40123, "db": "sqlite:////…/books.db", "world": "/…/world.json",
     "defects": [], "day_seconds": 7.5, "mac": "cup-ecb", "fail": []}

``fail`` lists actions that exit 1 (a broken hook, for the bad-input tests);
``hang`` lists actions that sleep past any timeout. The host runs in a session
of its own (the hook that started it exits at once); its pid is in
``DIR/host.pid``, its output appended to ``DIR/host.log``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_S = 30.0


def _config(state: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((state / "host.json").read_text(encoding="utf-8"))
    return config


def _pid(state: Path) -> int | None:
    try:
        pid = int((state / "host.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is gone


def start(state: Path) -> None:
    if _pid(state) is not None:
        return
    c = _config(state)
    ready = state / "ready.json"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.foreign_host", "--port", str(c["port"])]
    argv += ["--ready-file", str(ready), "--db", c["db"], "--world", c["world"]]
    for defect in c.get("defects", []):
        argv += ["--defect", defect]
    if c.get("day_seconds") is not None:
        argv += ["--day-seconds", str(c["day_seconds"])]
    argv += ["--mac", c.get("mac", "cup-ecb")]
    with (state / "host.log").open("ab") as log:
        proc = subprocess.Popen(
            argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (state / "host.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + READY_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"foreign host did not start (exit {proc.poll()})")
        time.sleep(0.02)
    print(f"foreign host up on port {c['port']} (pid {proc.pid})")


def kill(state: Path, sig: int = signal.SIGKILL) -> None:
    pid = _pid(state)
    if pid is None:
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    print(f"foreign host {pid} {'killed' if sig == signal.SIGKILL else 'stopped'}")


def reset(state: Path) -> None:
    """A fresh test host: stopped, its books emptied, started again."""
    kill(state, signal.SIGTERM)
    db = _config(state)["db"]
    if db.startswith("sqlite:///"):
        Path(db.removeprefix("sqlite:///")).unlink(missing_ok=True)
    start(state)


def main(argv: list[str]) -> int:
    action, state = argv[0], Path(argv[1])
    config = _config(state)
    if action in config.get("fail", []):
        print(f"{action}: refused (a broken hook, on purpose)", file=sys.stderr)
        return 1
    if action in config.get("hang", []):
        time.sleep(3600)
    params = json.loads(os.environ.get("LAB_FAULT_PARAMS") or "{}")
    if action == "start":
        start(state)
    elif action == "kill":
        kill(state, signal.SIGTERM if params.get("signal") == "TERM" else signal.SIGKILL)
    elif action == "restart":
        kill(state, signal.SIGTERM)
        start(state)
    elif action == "reset":
        reset(state)
    elif action == "stop":
        kill(state, signal.SIGTERM)
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
