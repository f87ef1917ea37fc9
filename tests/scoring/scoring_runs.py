"""Hand-built run directories: every record written explicitly, so a test can state
the exact score it expects. (``poslab.testing`` makes the big realistic ones.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

T0 = 1_790_000_000.0

SPEC: dict[str, Any] = {
    "name": "s",
    "weight": 1,
    "min_score": 0,
    "duration_s": 20,
    "drain_s": 5,
    "slo": {"success_ratio": 0.9, "p99_ms": 500},
    "recovery": {"target_s": 5, "good_seconds": 3},
    "unavoidable": [],
    "expectations": [],
    "faults": [],
}


def fin(
    offset: float,
    outcome: str = "approved",
    *,
    lat: float = 100.0,
    region: str = "north",
    typ: str = "sale",
    tid: str = "10000001",
    stan: str = "000001",
    batch: str = "000001",
    amount: int = 1000,
    **extra: Any,
) -> dict[str, Any]:
    """One fleet record starting ``offset`` seconds after T0."""
    rec: dict[str, Any] = {
        "ts_start": T0 + offset,
        "ts_end": T0 + offset + lat / 1000.0,
        "tid": tid,
        "mid": "898310058120001",
        "region": region,
        "type": typ,
        "stan": stan,
        "batch": batch,
        "amount": amount if typ != "balance" else 0,
        "pan": "622202******1234",
        "rc": {"approved": "00", "declined": "51"}.get(outcome),
        "outcome": outcome,
        "attempts": 1,
        "path": "primary",
        "rrn": None,
        "reason": None if outcome in ("approved", "declined") else "timeout",
        "reversal": None,
        "orig_stan": None,
        "orig_batch": None,
        "latency_ms": lat,
        "policy": "resilient",
    }
    rec.update(extra)
    return rec


def second(offset: int, n: int = 10, outcome: str = "approved", **kw: Any) -> list[dict[str, Any]]:
    """``n`` financial attempts spread over second ``offset``, unique STANs."""
    return [fin(offset + i / n, outcome, stan=f"{offset:03d}{i:03d}", **kw) for i in range(n)]


def seconds(first: int, last: int, outcome: str = "approved", **kw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in range(first, last + 1):
        out.extend(second(s, outcome=outcome, **kw))
    return out


def fault_events(at: float, cleared: float, fid: str = "f1") -> list[dict[str, Any]]:
    return [
        {"t": T0 + at, "event": "fault_injected", "scenario": "s", "fault_id": fid,
         "kind": "network", "target": "region-north", "action": "down", "params": {},
         "planned_t": T0 + at, "drift_ms": 0.0},
        {"t": T0 + cleared, "event": "fault_cleared", "scenario": "s", "fault_id": fid,
         "planned_t": T0 + cleared, "drift_ms": 0.0, "reason": "window_end"},
    ]  # fmt: skip


def ledger_row(rec: dict[str, Any], status: str = "approved", **extra: Any) -> dict[str, Any]:
    row = {
        "tid": rec["tid"],
        "mid": rec["mid"],
        "stan": rec["stan"],
        "batch": rec["batch"],
        "type": rec["type"],
        "amount": rec["amount"],
        "pan": rec["pan"],
        "card_kind": "credit",
        "rrn": "000000000001",
        "rc": "00",
        "status": status,
        "booked_at": rec["ts_start"] + 0.01,
        "reversed_at": None,
        "orig_rrn": None,
        "settle_date": None,
    }
    row.update(extra)
    return row


def _lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


MakeRun = Callable[..., Path]


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """Build a one-scenario run: ``make_run(records, spec=..., events=..., ledger=...)``."""
    counter = iter(range(1000))

    def build(
        records: list[dict[str, Any]],
        *,
        spec: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        ledger: dict[str, list[dict[str, Any]]] | None = None,
        status: str = "completed",
        run: dict[str, Any] | None = None,
        world: dict[str, Any] | None = None,
    ) -> Path:
        run_dir = tmp_path / f"run{next(counter)}"
        scenario = {**SPEC, **(spec or {})}
        name = scenario["name"]
        doc = {"format": 1, "name": "t", "suite": "t", "min_score": 80, "scenarios": [scenario]}
        doc.update(run or {})
        run_dir.mkdir()
        (run_dir / "run.json").write_text(json.dumps(doc))
        journal = [{"t": T0, "event": "scenario_started", "scenario": name, "t0": T0}]
        journal += [{**e, "scenario": name} for e in (events or [])]
        journal.append(
            {"t": T0 + 30, "event": "scenario_finished", "scenario": name, "status": status,
             "detail": ""}
        )  # fmt: skip
        _lines(run_dir / "journal.jsonl", journal)
        _lines(run_dir / "scenarios" / name / "fleet" / "host-1.jsonl", records)
        for which, rows in (ledger or {}).items():
            _lines(run_dir / "scenarios" / name / "ledger" / f"{which}.jsonl", rows)
        if world is not None:
            (run_dir / "world.json").write_text(json.dumps(world))
        return run_dir

    return build
