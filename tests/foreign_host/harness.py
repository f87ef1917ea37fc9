"""Driving the foreign host from the tests: the process, a lossy link in front of
it, the lab's real terminals, and a run directory scored by poslab.scoring.

The lossy link is a TCP relay that can swallow the host's next reply to a
given MTI (the request still reaches the host): the one fault every defect
here needs — a lost sale reply makes the terminal reverse, a lost refund reply
makes it resend the refund from store-and-forward.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poslab.ledger_sources import Window, parse_ledger_source, write_ledger_export
from poslab.mocks.terminal import (
    Terminal,
    TerminalConfig,
    TerminalProfile,
    TerminalStore,
    TxnRecord,
)
from poslab.scoring import RunResult, score_run
from poslab.world import World
from tests.foreign_host.books import LEDGER_SOURCE

REPO = Path(__file__).resolve().parents[2]
_READY_S = 30.0


class HostProcess:
    """``python -m tests.foreign_host`` on port 0, waited for by its ready file."""

    def __init__(
        self,
        workdir: Path,
        db: str,
        world: Path,
        defects: tuple[str, ...] = (),
        day_s: float | None = None,
        name: str = "foreign-host",
        mac: str = "cup-ecb",
        port: int = 0,
    ) -> None:
        self.ready_file = workdir / f"{name}.ready.json"
        self.ready_file.unlink(missing_ok=True)
        self.log_path = workdir / f"{name}.log"
        argv = [sys.executable, "-m", "tests.foreign_host", "--port", str(port)]
        argv += ["--ready-file", str(self.ready_file), "--db", db, "--world", str(world)]
        for d in defects:
            argv += ["--defect", d]
        if day_s is not None:
            argv += ["--day-seconds", str(day_s)]
        argv += ["--mac", mac]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _READY_S
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"foreign host did not start:\n{self.log_path.read_text()}")
            time.sleep(0.02)
        self.port: int = json.loads(self.ready_file.read_text())["port"]
        self.argv = (workdir, db, world, defects, day_s, name, mac)

    def restarted(self) -> HostProcess:
        """The same host started again on the same port and books (a restart hook)."""
        workdir, db, world, defects, day_s, name, mac = self.argv
        self.kill()
        return HostProcess(workdir, db, world, defects, day_s, name, mac, port=self.port)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: what a crash does (no flush, no goodbye)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _mti(payload: bytes) -> str:
    return payload[11:13].hex()


def _read(sock: socket.socket) -> bytes | None:
    head = b""
    while len(head) < 2:
        got = sock.recv(2 - len(head))
        if not got:
            return None
        head += got
    need = int.from_bytes(head, "big")
    body = b""
    while len(body) < need:
        got = sock.recv(need - len(body))
        if not got:
            return None
        body += got
    return head + body


class LossyLink:
    """A relay on 127.0.0.1 that forwards to ``target`` and can lose replies."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lose: dict[str, int] = {}
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = ("127.0.0.1", self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_reply(self, reply_mti: str, count: int = 1) -> None:
        with self._lock:
            self._lose[reply_mti] = self._lose.get(reply_mti, 0) + count

    def _take(self, mti: str) -> bool:
        with self._lock:
            left = self._lose.get(mti, 0)
            if left:
                self._lose[mti] = left - 1
            return bool(left)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        with client, socket.create_connection(self.target, timeout=10) as upstream:
            while True:
                try:
                    request = _read(client)
                    if request is None:
                        return
                    upstream.sendall(request)
                    reply = _read(upstream)
                    if reply is None:
                        return
                    if self._take(_mti(reply[2:])):
                        return  # the host answered; the terminal never hears it
                    client.sendall(reply)
                except OSError:
                    return

    def close(self) -> None:
        self.listener.close()


def make_terminal(
    world: World,
    index: int,
    address: tuple[str, int],
    store: TerminalStore,
    records: list[TxnRecord],
    **config: Any,
) -> Terminal:
    settings: dict[str, Any] = {
        "response_timeout_s": 1.0,
        "connect_timeout_s": 0.5,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "reversal_backoff_base_s": 0.05,
        "reversal_backoff_cap_s": 0.1,
    }
    settings.update(config)
    terminal = world.terminals[index]
    return Terminal(
        TerminalProfile.from_world(world, terminal),
        TerminalConfig(**settings),
        primary=address,
        backup=None,
        store=store,
        on_record=records.append,
        rng=random.Random(index),
    )


SPEC: dict[str, Any] = {
    "weight": 1,
    "min_score": 0,
    "drain_s": 5,
    "slo": {"success_ratio": 0.5, "p99_ms": 5000},
    "recovery": {"target_s": 5, "good_seconds": 1},
    "unavoidable": [],
    "expectations": [],
    "faults": [],
}


def score_books(
    run_root: Path,
    world_json: Path,
    records: list[TxnRecord],
    db: str,
    t0: float,
    name: str = "foreign",
) -> RunResult:
    """A one-scenario run directory: the terminals' journal, the host's books read
    through the sql ledger source (:data:`LEDGER_SOURCE`), then scored."""
    run_dir = run_root / name
    scenario = run_dir / "scenarios" / name
    (scenario / "fleet").mkdir(parents=True)
    t1 = time.time()
    with (scenario / "fleet" / "terminals-0.jsonl").open("w") as fh:
        for rec in records:
            fh.write(json.dumps(rec.to_dict()) + "\n")
    events = [
        {"t": t0, "event": "scenario_started", "scenario": name, "t0": t0},
        {"t": t0, "event": "load_started", "scenario": name, "shape": "test", "users": 1},
        {"t": t1, "event": "load_stopped", "scenario": name, "shape": "test", "users": 0},
        {"t": t1, "event": "drain_finished", "scenario": name, "pending_reversals": 0},
        {"t": t1, "event": "scenario_finished", "scenario": name, "status": "completed"},
    ]
    (run_dir / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    spec = SPEC | {"name": name, "duration_s": max(1.0, t1 - t0)}
    run = {"format": 1, "name": name, "suite": name, "min_score": 0, "scenarios": [spec]}
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "world.json").write_text(world_json.read_text())
    source = parse_ledger_source(LEDGER_SOURCE | {"url": db})
    write_ledger_export(source, scenario / "ledger", Window(name, t0, t1 + 1), run_dir=run_dir)
    return score_run(run_dir)


def checks(result: RunResult) -> dict[str, tuple[str, int]]:
    return {c.kind: (c.status, c.count) for c in result.scenarios[0].checks}


def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
