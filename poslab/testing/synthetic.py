"""Synthetic run directories, written exactly as ``docs/run-directory.md`` defines them.

Scoring is built and tested before the real producers (terminal fleet,
scenario engine, acquirer export) exist, and benchmarked at a scale the lab
cannot generate on two cores; this module writes runs that look like theirs:
a clean run, a fault with a given recovery delay, and each integrity failure
injected on its own (:data:`INJECTIONS`), up to a million transactions.

Each injected failure touches only the files that show it, so a test can
assert that exactly that check fires: for instance a lost approval is missing
from the ledger but the batch's totals are taken from the ledger, as if the
terminal's 0320 upload had been accepted.

Deterministic for a given seed; the hot lines are formatted by hand (not
json.dumps), so a million-transaction run takes well under a minute to write.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from poslab.testing.synthetic_scenario import SyntheticScenario
from poslab.testing.synthetic_traffic import FEES, SETTLE_DATE, ScenarioTraffic, Writer

INJECTIONS: dict[str, str] = {
    "lost_approvals": "lost_approvals",
    "unreversed_failures": "unreversed_failures",
    "orphan_sales": "unreversed_failures",
    "double_bookings": "double_bookings",
    "double_bookings_restan": "double_bookings",
    "reversals_not_landed": "reversals_not_landed",
    "unresolved": "unresolved",
    "unbalanced_batches": "unbalanced_batches",
    "wrong_payouts": "wrong_payouts",
    "issuer_holds_without_sale": "issuer_holds_without_sale",
}
"""Injection name → the integrity check that must find it."""

T_RUN = 1_790_000_000.0


def _journal_events(sc: SyntheticScenario, t0: float) -> list[dict[str, Any]]:
    ev: list[dict[str, Any]] = [
        {"t": t0, "event": "scenario_started", "scenario": sc.name, "t0": t0},
        {
            "t": t0,
            "event": "load_started",
            "scenario": sc.name,
            "shape": "flat",
            "users": sc.terminals,
        },
    ]
    if sc.fault is not None:
        at, length = sc.fault
        common = {"scenario": sc.name, "fault_id": "f1"}
        ev.append(
            {
                "t": t0 + at + 0.013,
                "event": "fault_injected",
                "kind": "network",
                "target": "region-north",
                "action": "down",
                "params": {},
                "planned_t": t0 + at,
                "drift_ms": 13.0,
                **common,
            }
        )
        ev.append(
            {
                "t": t0 + at + length + 0.021,
                "event": "fault_cleared",
                "planned_t": t0 + at + length,
                "drift_ms": 21.0,
                "reason": "window_end",
                **common,
            }
        )
    for i, (name, ok) in enumerate(sc.probes):
        ev.append(
            {
                "t": t0 + 1 + i,
                "event": "probe",
                "scenario": sc.name,
                "name": name,
                "ok": ok,
                "value": None,
                "detail": "",
            }
        )
    end = t0 + sc.duration_s
    ev.append({"t": end, "event": "load_stopped", "scenario": sc.name, "shape": "flat", "users": 0})
    ev.append(
        {
            "t": end + sc.drain_s,
            "event": "drain_finished",
            "scenario": sc.name,
            "pending_reversals": 0,
        }
    )
    if sc.status == "aborted":
        ev.append(
            {
                "t": t0 + sc.duration_s / 2,
                "event": "abort",
                "scenario": sc.name,
                "reason": "success ratio below abort threshold",
            }
        )
    ev.append(
        {
            "t": end + sc.drain_s,
            "event": "scenario_finished",
            "scenario": sc.name,
            "status": sc.status,
            "detail": "synthetic" if sc.status != "error" else "boom",
        }
    )
    return ev


def _scenario_def(sc: SyntheticScenario) -> dict[str, Any]:
    faults = []
    if sc.fault is not None:
        faults.append(
            {
                "id": "f1",
                "at_s": sc.fault[0],
                "for_s": sc.fault[1],
                "kind": "network",
                "target": "region-north",
            }
        )
    return {
        "name": sc.name,
        "weight": sc.weight,
        "min_score": sc.min_score,
        "duration_s": sc.duration_s,
        "drain_s": sc.drain_s,
        "slo": {"success_ratio": sc.success_ratio, "p99_ms": sc.p99_ms},
        "recovery": {"target_s": sc.recovery_target_s, "good_seconds": sc.good_seconds},
        "unavoidable": sc.unavoidable,
        "expectations": sc.expectations,
        "faults": faults,
    }


def _settlement_files(sc: SyntheticScenario, folder: Path, w: Writer) -> None:
    ledger = folder / "ledger"
    rng = random.Random(7)
    broken = set(
        rng.sample(sorted(w.totals), min(len(w.totals), sc.inject.get("unbalanced_batches", 0)))
    )
    with (ledger / "batches.jsonl").open("w") as fh:
        for t, tot in sorted(w.totals.items()):
            host = list(tot)
            if t in broken:
                host[0] += 100
            terminal = {
                "debit_amount": host[0],
                "debit_count": host[1],
                "credit_amount": host[2],
                "credit_count": host[3],
            }
            fh.write(
                json.dumps(
                    {
                        "tid": w.tid(t),
                        "mid": w.mid(t),
                        "batch": "000001",
                        "status": "closed",
                        "closed_by": "terminal",
                        "closed_at": w.t0 + sc.duration_s + 1.2,
                        "host_debit_amount": host[0],
                        "host_debit_count": host[1],
                        "host_credit_amount": host[2],
                        "host_credit_count": host[3],
                        "terminal_totals": terminal,
                        "recon_code": 1,
                        "uploaded": 0,
                    }
                )
                + "\n"
            )
    wrong = sc.inject.get("wrong_payouts", 0)
    with (ledger / "payouts.jsonl").open("w") as fh:
        for i, (mid, (gross, fees, detail, count)) in enumerate(sorted(w.payouts.items())):
            if i < wrong:
                fees += 1
            fh.write(
                json.dumps(
                    {
                        "mid": mid,
                        "settle_date": SETTLE_DATE,
                        "gross": gross,
                        "fees": fees,
                        "net": gross - fees,
                        "count": count,
                        "fee_detail": detail,
                    }
                )
                + "\n"
            )


def _world(regions: tuple[str, ...]) -> dict[str, Any]:
    return {
        "format": 1,
        "seed": 1,
        "regions": list(regions),
        "fees": {
            "credit_ppm": FEES.credit_ppm,
            "debit_ppm": FEES.debit_ppm,
            "debit_cap_fen": FEES.debit_cap_fen,
            "qr_ppm": FEES.qr_ppm,
            "d0_surcharge_ppm": FEES.d0_surcharge_ppm,
        },
        "merchants": {"columns": ["mid", "fee_class"], "rows": []},
    }


def write_run(
    root: Path,
    scenarios: list[SyntheticScenario],
    *,
    name: str = "synthetic",
    suite: str = "gate",
    min_score: float | None = 80.0,
    interrupted: bool = False,
    seed: int = 1,
) -> Path:
    """Write a run directory under ``root`` and return its path."""
    run_dir = root / f"20261123T160000Z-{name}"
    run_dir.mkdir(parents=True)
    events: list[dict[str, Any]] = [
        {"t": T_RUN, "event": "run_started", "scenario": None, "name": name, "seed": seed}
    ]
    t0 = T_RUN + 2.0
    for i, sc in enumerate(scenarios):
        folder = run_dir / "scenarios" / sc.name
        if sc.status == "error":
            events.append(
                {
                    "t": t0,
                    "event": "scenario_finished",
                    "scenario": sc.name,
                    "status": "error",
                    "detail": "stack did not start",
                }
            )
            continue
        gen = ScenarioTraffic(sc, folder, t0, seed * 1000 + i)
        gen.run()
        if sc.write_ledger:
            _settlement_files(sc, folder, gen.w)
        if sc.torn_last_line:
            with (folder / "fleet" / "host-0.jsonl").open("a") as fh:
                fh.write('{"ts_start": 17900')
        events.extend(_journal_events(sc, t0))
        t0 += sc.duration_s + sc.drain_s + 5.0
    events.append(
        {"t": t0, "event": "run_finished", "scenario": None, "status": "done", "exit_code": 0}
    )
    run = {
        "format": 1,
        "name": name,
        "suite": suite,
        "started_at": T_RUN,
        "finished_at": t0,
        "seed": seed,
        "terminals": max((s.terminals for s in scenarios), default=0),
        "time_scale": 1.0,
        "policy": "resilient",
        "min_score": min_score,
        "lab_version": "0.1.0",
        "interrupted": interrupted,
        "scenarios": [_scenario_def(s) for s in scenarios],
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=1))
    (run_dir / "world.json").write_text(
        json.dumps(_world(scenarios[0].regions if scenarios else ()))
    )
    with (run_dir / "journal.jsonl").open("w") as fh:
        for ev in events:
            fh.write(json.dumps(ev) + "\n")
    return run_dir
