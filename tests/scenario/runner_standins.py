"""Stand-ins for the runner tests: a small load that really goes through the proxy,
and a stack wrapper that photographs the proxy just before the stack stops.

``EchoLoad`` plays the fleet's part of the contract (``poslab.scenario.lifecycle.LoadLike``):
a handful of "terminals" in a thread, each connecting through its region's
proxy to an echo service and journaling one record per round trip in the
fleet journal format (``approved`` when the echo came back in time,
``failed`` otherwise). Fleet commands are written to the real control file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.fleet import ControlWriter, FleetConfig
from poslab.proxy.client import ProxyInfo
from poslab.scenario import ResolvedScenario
from poslab.stack import Programs, Stack, default_topology

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "stack" / "fake_service.py"


def fake_programs() -> Programs:
    """The mocks played by the stack tests' contract-obeying echo service; the
    proxy is the real embedded one."""
    programs = {
        name: [sys.executable, str(FAKE), "--name", name]
        for name in ("issuer", "acquirer", "agent-primary", "agent-backup")
    }
    programs["agent-primary"].append("--http-main")
    programs["agent-backup"].append("--http-main")
    return programs


class EchoLoad:
    """A tiny fleet: ``users`` threads of round trips through the region proxies."""

    def __init__(self, run_dir: Path, *, users: int = 6, pause_s: float = 0.02) -> None:
        self.fleet_dir = run_dir / "fleet"
        self.users = users
        self.pause_s = pause_s
        self.commands: list[tuple[str, dict[str, Any], float | None]] = []
        self._control: ControlWriter | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._file: Any = None

    def config_for(self, **fields: Any) -> FleetConfig:
        fields.setdefault("journal_dir", str(self.fleet_dir))
        fields.setdefault("control_file", str(self.fleet_dir / "control.jsonl"))
        fields.setdefault("state_dir", str(self.fleet_dir / "state"))
        return FleetConfig(**fields)

    def start(self, config: FleetConfig, *, timeout_s: float) -> None:
        self.fleet_dir.mkdir(parents=True, exist_ok=True)
        self._control = ControlWriter(Path(config.control_file))
        self._file = (self.fleet_dir / f"standin-{os.getpid()}.jsonl").open("a", encoding="utf-8")
        duration = float(config.shape.params.get("duration_s", 10.0))
        regions = sorted(config.regions.items())
        ends = time.monotonic() + duration
        for i in range(self.users):
            region, address = regions[i % len(regions)]
            thread = threading.Thread(
                target=self._terminal, args=(f"{10000001 + i}", region, address, ends), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _terminal(self, tid: str, region: str, address: str, ends: float) -> None:
        host, _, port = address.rpartition(":")
        stan = 0
        while not self._stop.is_set() and time.monotonic() < ends:
            stan += 1
            began = time.time()
            outcome, reason = "approved", None
            try:
                with socket.create_connection((host, int(port)), timeout=0.3) as conn:
                    conn.settimeout(0.3)
                    conn.sendall(b"0200-sale")
                    if conn.recv(64) != b"0200-sale":
                        outcome, reason = "failed", "reset"
            except TimeoutError:
                outcome, reason = "failed", "timeout"
            except OSError:
                outcome, reason = "failed", "connect"
            ended = time.time()
            self._write(
                {
                    "ts_start": began, "ts_end": ended, "tid": tid, "mid": "1" * 15,
                    "region": region, "type": "sale", "stan": f"{stan:06d}", "batch": "000001",
                    "amount": 100, "pan": None, "rc": "00" if outcome == "approved" else None,
                    "outcome": outcome, "attempts": 1, "path": "primary", "rrn": None,
                    "reason": reason, "reversal": None, "orig_stan": None, "orig_batch": None,
                    "latency_ms": (ended - began) * 1000, "policy": "resilient",
                }
            )  # fmt: skip
            self._stop.wait(self.pause_s)

    def _write(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps(record) + "\n")
                self._file.flush()

    def control(
        self, action: str, params: Mapping[str, Any] | None = None, until: float | None = None
    ) -> int:
        assert self._control is not None, "control before start"
        self.commands.append((action, dict(params or {}), until))
        return self._control.send(action, params, until)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout_s: float | None = None) -> int | None:
        for thread in self._threads:
            thread.join(timeout_s)
        return None if self.running else 0

    def stop(self, grace_s: float = 10.0) -> int:
        self._stop.set()
        self.wait(grace_s)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        return 0

    def log_tail(self, lines: int = 30) -> str:
        return "(stand-in load)"


@dataclass
class Photographed:
    """A real :class:`Stack` that records every proxy's state right before it stops
    (so a test can check the rollback on the stack's own proxy)."""

    stack: Stack
    before_stop: dict[str, ProxyInfo] = field(default_factory=dict)
    photographed: bool = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)

    async def stop(self) -> None:
        try:
            if self.stack.ready_seconds is not None:  # it came up: its proxy answers
                self.before_stop = await self.stack.proxy_api.proxies()
                self.photographed = True
        finally:
            await self.stack.stop()


def make_stack_factory(
    stacks: list[Photographed], programs: Programs | None = None, seed: int = 7
) -> Any:
    def make(scenario_dir: Path, world_file: Path, scenario: ResolvedScenario) -> Photographed:
        stack = Stack(
            default_topology(),
            world_file,
            scenario_dir,
            seed=seed,
            programs=fake_programs() if programs is None else programs,
            acquirer_config=scenario.acquirer or None,
        )
        wrapped = Photographed(stack)
        stacks.append(wrapped)
        return wrapped

    return make
