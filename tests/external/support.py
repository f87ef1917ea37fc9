"""A foreign host set up as a team would for the gate: its state folder, the world of
its test terminals, and the topology file that points the lab at it.

The host offers the lab only what issue 13 allows: a TCP address, its test
terminals' keys (the world file, through ``lab world import``), a ledger
source (its own SQLite books through the sql source and a column mapping) and
hooks — kill/start/restart and a per-scenario reset (tests.external.hostctl),
``expire_keys`` mapped to a restart (the host keeps its sessions in memory, so
a restart expires every terminal's keys).
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from poslab.world import generate
from tests.foreign_host.books import LEDGER_SOURCE

REPO = Path(__file__).resolve().parents[2]
#: How many of each scenario's rows are the scenario's: the rows booked in its window.
_WINDOW = "booked_ts >= :since AND booked_ts < :until"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def hostctl(state: Path, action: str) -> list[str]:
    return [sys.executable, "-m", "tests.external.hostctl", action, str(state)]


def write_team_files(folder: Path, terminals: int = 12, seed: int = 7) -> tuple[Path, Path]:
    """The team's test terminals and cards as CSV (from a lab world: real keys, Luhn PANs)."""
    world = generate(seed, terminals)
    term_csv, card_csv = folder / "terminals.csv", folder / "cards.csv"
    with term_csv.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["tid", "mid", "tmk", "region"])
        for t in world.terminals:
            out.writerow([t.tid, t.mid, t.tmk, t.region])
    with card_csv.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["pan", "pin", "expect", "kind"])
        for c in world.cards:
            out.writerow([c.pan, c.pin, "approve" if c.status == "active" else "41", c.kind])
    return term_csv, card_csv


@dataclass
class ForeignSetup:
    state: Path
    world: Path
    topology: Path
    port: int

    def stop(self) -> None:
        subprocess.run(hostctl(self.state, "stop"), cwd=REPO, check=False, timeout=30)


def foreign_setup(
    folder: Path,
    world: Path,
    *,
    defects: tuple[str, ...] = (),
    day_seconds: float | None = None,
    mac: str = "cup-ecb",
    broken: tuple[str, ...] = (),
    hanging: tuple[str, ...] = (),
    hook_timeout_s: float = 40.0,
    ledger_columns: dict[str, str] | None = None,
    dialect: dict[str, Any] | None = None,
    reset: bool = True,
    start: bool = True,
) -> ForeignSetup:
    """The host's state folder and topology file; the host started (as its start hook does)."""
    state = folder / "host"
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db = f"sqlite:///{state / 'books.db'}"
    config = {
        "port": port,
        "db": db,
        "world": str(world),
        "defects": list(defects),
        "day_seconds": day_seconds,
        "mac": mac,
        "fail": list(broken),
        "hang": list(hanging),
    }
    (state / "host.json").write_text(json.dumps(config), encoding="utf-8")

    def hook(action: str, timeout: float = hook_timeout_s) -> dict[str, Any]:
        return {"command": hostctl(state, action), "timeout_s": timeout, "cwd": str(REPO)}

    source = dict(LEDGER_SOURCE) | {"url": db}
    source["query"] = f"SELECT * FROM acq_journal WHERE {_WINDOW} ORDER BY seq"
    source["columns"] = dict(source["columns"]) | (ledger_columns or {})
    acquirer: dict[str, Any] = {
        "mode": "external",
        "address": f"127.0.0.1:{port}",
        "hooks": {
            "kill": hook("kill"),
            "start": hook("start"),
            "restart": hook("restart"),
            "faults": {"expire_keys": {"do": hook("restart")}},
        },
    }
    if reset:
        acquirer["hooks"]["reset"] = hook("reset")
    if day_seconds is not None:
        acquirer["settings"] = {"day_seconds": day_seconds}
    doc: dict[str, Any] = {
        "services": {"acquirer": acquirer},
        "ledger": source,
        "require": ["integrity"],
        "terminal": {"mac_algorithm": mac, **(dialect or {})},
    }
    topology = folder / "ext.yaml"
    topology.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    if start:
        subprocess.run(hostctl(state, "start"), cwd=REPO, check=True, timeout=60)
    return ForeignSetup(state, world, topology, port)
