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

Integrity as the fleet alone can see it, for the ``integrity_breach`` abort:
a reversal the terminal gave up on (``unresolved``: the customer may be
debited without a sale) and the same approved sale journaled twice. The
ledger-side checks (lost approvals, double bookings at the host) need the
ledger export and are scoring's, after the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.scenario.resolved import (
    IntegrityBreach,
    P99Above,
    ResolvedScenario,
    SuccessRatioBelow,
)

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
        for line in data[: end + 1].split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                yield record


def p99(values: list[float]) -> float | None:
    """Nearest-rank 99th percentile (the score's definition)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


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


@dataclass
class Ledgerless:
    """What the fleet journal says about money so far (pending reversals, breaches)."""

    pending: set[tuple[str, str, str]] = field(default_factory=set)
    reversed_ok: set[tuple[str, str, str]] = field(default_factory=set)
    approved_sales: set[tuple[str, str, str]] = field(default_factory=set)
    breaches: list[str] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        kind, outcome = record.get("type"), record.get("outcome")
        tid = str(record.get("tid"))
        if kind == "reversal":
            key = (tid, str(record.get("orig_stan")), str(record.get("orig_batch")))
            if outcome == "approved":
                self.reversed_ok.add(key)
            elif outcome == "unresolved":
                self.breaches.append(
                    f"terminal {tid} gave up reversing STAN {key[1]} batch {key[2]} "
                    "(the customer may be debited without a sale)"
                )
            return
        key = (tid, str(record.get("stan")), str(record.get("batch")))
        if record.get("reversal") == "pending":
            self.pending.add(key)
        if kind == "sale" and outcome == "approved":
            if key in self.approved_sales:
                self.breaches.append(f"terminal {tid} journaled sale STAN {key[1]} approved twice")
            self.approved_sales.add(key)

    @property
    def pending_reversals(self) -> int:
        return len(self.pending - self.reversed_ok)


class SloProbe:
    """Per-second SLO verdicts, steady state and abort conditions for one scenario."""

    def __init__(self, scenario: ResolvedScenario, t0: float, lag_s: float) -> None:
        self.scenario = scenario
        self.t0 = t0
        self.lag_s = lag_s
        self.seconds: dict[int, Second] = {}
        self.money = Ledgerless()
        self.judged_up_to = 0  # seconds < this have been judged
        self.verdicts: list[Verdict] = []
        self.good_run = 0
        self.steady_at: int | None = None  # the second that completed the steady state
        self._runs: dict[int, int] = {}  # abort condition index -> consecutive seconds
        self._breaches_reported = 0

    def feed(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.money.add(record)
            if record.get("type") not in FINANCIAL:
                continue
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
        (integrity breaches: :meth:`new_breach` and :attr:`aborts_on_breach`)."""
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

    def new_breach(self) -> str | None:
        """The first integrity breach not reported yet."""
        if self._breaches_reported < len(self.money.breaches):
            breach = self.money.breaches[self._breaches_reported]
            self._breaches_reported = len(self.money.breaches)
            return breach
        return None
