"""One pass over a scenario's fleet journal: traffic per second, reconciliation, counts.

This is the hot loop of scoring (a run may journal a million transactions), so
it touches each record once, keeps nothing per record except a few integers in
per-second buckets, and hands money records straight to the reconciler.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path

from poslab.scoring.jsonl import ReadStats, iter_jsonl
from poslab.scoring.reconciliation import Reconciler
from poslab.scoring.traffic import FINANCIAL_TYPES, RegionSeconds


@dataclass(slots=True)
class AgentCall:
    """A ticket or TMS request (few per run; kept whole for expectations)."""

    t: float
    outcome: str
    path: str


@dataclass(slots=True)
class FleetScan:
    n: int
    regions: dict[str, RegionSeconds] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    records: int = 0
    sign_on_tries: list[int] = field(default_factory=list)
    tickets: list[AgentCall] = field(default_factory=list)
    tms: list[AgentCall] = field(default_factory=list)
    active_before: set[str] = field(default_factory=set)
    answered_after: set[str] = field(default_factory=set)
    bad_records: int = 0
    stats: ReadStats = field(default_factory=ReadStats)


def first_start(files: list[Path]) -> float | None:
    """Earliest ``ts_start`` among the first records of each file (a t0 fallback)."""
    best: float | None = None
    for path in files:
        for _, rec in iter_jsonl(path, ReadStats()):
            ts = rec.get("ts_start")
            if isinstance(ts, int | float) and (best is None or ts < best):
                best = float(ts)
            break
    return best


def scan_fleet(
    files: list[Path],
    t0: float,
    n: int,
    p99_ms: float,
    first_fault: float | None,
    last_fault_end: float | None,
    recon: Reconciler | None,
) -> FleetScan:
    """Stream every fleet record of one scenario (see module docstring)."""
    scan = FleetScan(n=n, sign_on_tries=[0] * n)
    regions = scan.regions
    flat_counts: dict[tuple[object, object], int] = {}
    sign_on = scan.sign_on_tries
    before = first_fault if first_fault is not None else float("inf")
    after = last_fault_end if last_fault_end is not None else float("inf")
    for file_no, path in enumerate(files):
        for offset, r in iter_jsonl(path, scan.stats):
            scan.records += 1
            typ = r.get("type")
            outcome = r.get("outcome")
            ck = (typ, outcome)
            flat_counts[ck] = flat_counts.get(ck, 0) + 1
            ts = r.get("ts_start")
            if not isinstance(ts, int | float):
                scan.bad_records += 1
                continue
            i = int((ts - t0) // 1)
            if typ in FINANCIAL_TYPES and r.get("retransmission"):
                # A store-and-forward resend of an earlier refund: no customer
                # waited for it (its time shows in the transaction it preceded),
                # but its answer is the terminal's final belief about that refund.
                if recon is not None:
                    recon.money(r, file_no, offset)
            elif typ in FINANCIAL_TYPES:
                lat = r.get("latency_ms")
                if not isinstance(lat, int | float):
                    end = r.get("ts_end")
                    lat = (end - ts) * 1000.0 if isinstance(end, int | float) else 0.0
                if 0 <= i < n:
                    region = r.get("region") or "?"
                    reg = regions.get(region)
                    if reg is None:
                        reg = regions[region] = RegionSeconds(n)
                    reg.attempts[i] += 1
                    if outcome == "approved":
                        reg.approved[i] += 1
                        if r.get("path") == "backup":
                            reg.backup_approved[i] += 1
                        bad = lat > p99_ms
                    elif outcome == "declined":
                        reg.declined[i] += 1
                        bad = lat > p99_ms
                    else:
                        bad = True
                    arr = reg.latencies[i]
                    if arr is None:
                        arr = reg.latencies[i] = array("d")
                    arr.append(lat)
                    if bad:
                        last = int((ts + lat / 1000.0 - t0) // 1)
                        if last > i:
                            reg.block(i + 1, last)
                tid = r.get("tid")
                if ts < before:
                    scan.active_before.add(str(tid))
                elif ts >= after and outcome in ("approved", "declined"):
                    scan.answered_after.add(str(tid))
                if typ != "balance" and recon is not None:
                    recon.money(r, file_no, offset)
            elif typ == "reversal":
                if recon is not None:
                    recon.reversal(r)
            elif typ == "sign_on":
                if 0 <= i < n:
                    tries = r.get("attempts")
                    sign_on[i] += tries if isinstance(tries, int) and tries > 0 else 1
            elif typ in ("ticket", "tms"):
                call = AgentCall(float(ts), str(outcome), str(r.get("path")))
                (scan.tickets if typ == "ticket" else scan.tms).append(call)
    for (typ, outcome), count in flat_counts.items():
        scan.counts.setdefault(str(typ), {})[str(outcome)] = count
    return scan
