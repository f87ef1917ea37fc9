"""Probes: the steady state before the faults, the SLO while they run, abort conditions.

Everything here reads the fleet journal *tail* (``fleet/*.jsonl``, appended
by the Locust processes every ``journal_flush_s``) incrementally: each poll
reads only the bytes added since the last one, so probing costs the same at
the end of a long run as at its start.

Live seconds versus scored seconds: scoring buckets a transaction by the
second it *started* in; a live probe can only see a transaction once it has
*ended* and been flushed, so it buckets by ``ts_end`` and judges a second
only once it is complete (its end plus the flush lag has passed). The live
figures therefore trail the score's by up to one response timeout in the
worst second — close enough to steer a run (steady state, aborts, the live
view), never used for the score itself.

Integrity, for the ``integrity_breach`` abort: the fleet journal shows
*suspects* — a reversal the terminal gave up on (``unresolved``, 冲正不成功).
It is a breach only if the host booked the original: then the customer was
debited for a sale the terminal shows as failed. :class:`LedgerOracle` asks
the acquirer's ledger (its admin export) about the suspects, at most once a
second and only while there are any; a suspect whose original the ledger
does not hold as approved is cleared, one it cannot ask about (the host is
down) is asked again later, and scoring judges whatever is left after the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from poslab.scenario.journal import parse_lines
from poslab.scenario.spec.resolved import (
    IntegrityBreach,
    P99Above,
    ResolvedScenario,
    SuccessRatioBelow,
)
from poslab.scoring.traffic import p99  # the score's own nearest-rank definition

FINANCIAL = frozenset({"sale", "void", "refund", "balance"})
_CONTROL_FILE = "control.jsonl"


class FleetTail:
    """New complete records of every ``fleet/*.jsonl`` since the last read."""

    def __init__(self, fleet_dir: Path) -> None:
        self.fleet_dir = fleet_dir
        self._offsets: dict[Path, int] = {}
        self.records = 0

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for path in sorted(self.fleet_dir.glob("*.jsonl")):
            if path.name == _CONTROL_FILE:
                continue
            out.extend(self._read_file(path))
        self.records += len(out)
        return out

    def _read_file(self, path: Path) -> Iterator[dict[str, Any]]:
        offset = self._offsets.get(path, 0)
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            return  # nothing complete yet: a torn line waits for its end
        self._offsets[path] = offset + end + 1
        yield from parse_lines(data[: end + 1])


@dataclass
class Second:
    """Financial transactions that ended in one second of the scenario clock."""

    attempts: int = 0
    approved: int = 0
    declined: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def success_ratio(self) -> float | None:
        judged = self.attempts - self.declined
        return self.approved / judged if judged > 0 else None

    @property
    def p99_ms(self) -> float | None:
        return p99(self.latencies)


@dataclass(frozen=True)
class Verdict:
    """One complete second judged against the SLO (``good`` None: idle or excluded)."""

    second: int
    good: bool | None
    figures: Second
    excluded: bool


Key = tuple[str, str, str]  # tid, stan, batch


@dataclass
class FleetMoney:
    """What the fleet journal says about money so far: pending reversals,
    refunds held in store-and-forward, and suspects."""

    pending: set[Key] = field(default_factory=set)
    reversed_ok: set[Key] = field(default_factory=set)
    given_up: set[Key] = field(default_factory=set)
    #: refunds whose latest record says they wait in store-and-forward
    saf_open: set[Key] = field(default_factory=set)
    #: originals of reversals the terminal gave up on, not yet confirmed or cleared
    suspects: dict[Key, str] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        kind, outcome = record.get("type"), record.get("outcome")
        tid = str(record.get("tid"))
        if kind == "reversal":
            key = (tid, str(record.get("orig_stan")), str(record.get("orig_batch")))
            if outcome == "approved":
                self.reversed_ok.add(key)
            elif outcome == "unresolved":
                self.given_up.add(key)
                self.suspects[key] = (
                    f"terminal {tid} gave up reversing STAN {key[1]} batch {key[2]} "
                    f"({record.get('amount', 0)} fen)"
                )
            return
        key = (tid, str(record.get("stan")), str(record.get("batch")))
        if record.get("reversal") == "pending":
            self.pending.add(key)
        if record.get("saf") == "pending":
            self.saf_open.add(key)
        elif record.get("retransmission"):
            self.saf_open.discard(key)  # the host answered the queued refund

    @property
    def pending_reversals(self) -> int:
        """Reversals still waiting in a terminal's store (given-up ones are not:
        they are unresolved, which scoring counts on its own)."""
        return len(self.pending - self.reversed_ok - self.given_up)

    @property
    def pending_saf(self) -> int:
        """Refunds still waiting in a terminal's store-and-forward queue."""
        return len(self.saf_open)


class LedgerOracle:
    """Asks the acquirer's ledger whether suspects' originals were booked."""

    def __init__(self, admin_url: str | None, *, min_interval_s: float = 1.0) -> None:
        self.admin_url = admin_url
        self.min_interval_s = min_interval_s
        self._last = -math.inf

    def due(self, now_mono: float) -> bool:
        return self.admin_url is not None and now_mono - self._last >= self.min_interval_s

    async def confirm(self, money: FleetMoney, now_mono: float) -> list[str]:
        """Confirmed breaches among ``money.suspects`` (each removed once judged)."""
        self._last = now_mono
        if not money.suspects or self.admin_url is None:
            return []
        try:
            booked = await self._approved_originals(set(money.suspects))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return []  # the host is down: ask again next time
        confirmed = [money.suspects[k] + ": booked by the host" for k in booked]
        money.suspects.clear()
        return confirmed

    async def _approved_originals(self, keys: set[Key]) -> set[Key]:
        url = f"{self.admin_url}/admin/export/transactions"
        found: set[Key] = set()
        timeout = aiohttp.ClientTimeout(total=5.0)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            async for line in response.content:
                if not line.strip():
                    continue
                row = json.loads(line)
                key = (str(row.get("tid")), str(row.get("stan")), str(row.get("batch")))
                if key in keys and row.get("type") == "sale" and row.get("status") == "approved":
                    found.add(key)
        return found


class SloProbe:
    """Per-second SLO verdicts, steady state and abort conditions for one scenario."""

    def __init__(self, scenario: ResolvedScenario, t0: float, lag_s: float) -> None:
        self.scenario = scenario
        self.t0 = t0
        self.lag_s = lag_s
        self.seconds: dict[int, Second] = {}
        self.money = FleetMoney()
        self.judged_up_to = 0  # seconds < this have been judged
        self.verdicts: list[Verdict] = []
        self.good_run = 0
        self.steady_at: int | None = None  # the second that completed the steady state
        self._runs: dict[int, int] = {}  # abort condition index -> consecutive seconds

    def feed(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.money.add(record)
            if record.get("type") not in FINANCIAL or record.get("retransmission"):
                continue  # a store-and-forward resend is housekeeping, not a customer
            ts_end = record.get("ts_end")
            if not isinstance(ts_end, int | float):
                continue
            i = math.floor(ts_end - self.t0)
            if i < 0:
                continue
            sec = self.seconds.setdefault(i, Second())
            sec.attempts += 1
            outcome = record.get("outcome")
            if outcome == "approved":
                sec.approved += 1
            elif outcome == "declined":
                sec.declined += 1
            latency = record.get("latency_ms")
            if isinstance(latency, int | float):
                sec.latencies.append(float(latency))

    def _excluded(self, i: int) -> bool:
        return any(w.start_s < i + 1 and i < w.end_s for w in self.scenario.unavoidable)

    def judge(self, now: float, until_s: float | None = None) -> list[Verdict]:
        """Judge every second that is complete at ``now`` (epoch); returns the new verdicts."""
        complete = math.floor(now - self.lag_s - self.t0)
        if until_s is not None:
            complete = min(complete, math.ceil(until_s))
        fresh: list[Verdict] = []
        slo = self.scenario.slo
        while self.judged_up_to < complete:
            i = self.judged_up_to
            self.judged_up_to += 1
            sec = self.seconds.pop(i, Second())
            excluded = self._excluded(i)
            good: bool | None = None
            if not excluded and sec.attempts:
                ratio, latency = sec.success_ratio, sec.p99_ms
                good = (ratio is None or ratio >= slo.success_ratio) and (
                    latency is not None and latency <= slo.p99_ms
                )
            if good is True:
                self.good_run += 1
            elif good is False:
                self.good_run = 0
            ss = self.scenario.steady_state
            if ss is not None and self.steady_at is None and self.good_run >= ss.good_seconds:
                self.steady_at = i
            verdict = Verdict(i, good, sec, excluded)
            self.verdicts.append(verdict)
            fresh.append(verdict)
        return fresh

    def abort_reason(self, fresh: list[Verdict]) -> str | None:
        """The first ratio/latency abort condition the new verdicts complete, if any
        (integrity breaches: :class:`LedgerOracle` and :attr:`aborts_on_breach`)."""
        for verdict in fresh:
            if verdict.excluded or verdict.figures.attempts == 0:
                continue  # neither extends nor breaks a run
            for index, cond in enumerate(self.scenario.abort):
                if isinstance(cond, IntegrityBreach):
                    continue
                if isinstance(cond, SuccessRatioBelow):
                    ratio = verdict.figures.success_ratio
                    holds = ratio is not None and ratio < cond.ratio
                    text = f"success ratio below {cond.ratio:.0%} for {cond.for_s:g} s"
                else:
                    assert isinstance(cond, P99Above)
                    latency = verdict.figures.p99_ms
                    holds = latency is not None and latency > cond.ms
                    text = f"p99 above {cond.ms:g} ms for {cond.for_s:g} s"
                run = self._runs.get(index, 0) + 1 if holds else 0
                self._runs[index] = run
                if run >= max(1, math.ceil(cond.for_s)):
                    return f"{text} (seconds {verdict.second - run + 1}–{verdict.second})"
        return None

    @property
    def aborts_on_breach(self) -> bool:
        return any(isinstance(c, IntegrityBreach) for c in self.scenario.abort)
