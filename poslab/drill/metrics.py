"""What the operations team watches, one sample per second.

Two sources, merged into one JSON-ready sample per second of the drill clock:

- the **fleet journal tail** (``scenarios/drill/fleet/*.jsonl``, read
  incrementally with :class:`poslab.scenario.probes.FleetTail`): per region the
  financial transactions that *ended* in that second — throughput, approved,
  declined, failed, success ratio, p99 and the response-code mix (a missing
  reply is labelled by its reason: ``timeout``, ``connect``, ``reset`` …) —
  plus sign-ons, agent calls (TMS and tickets) and the reversal backlog
  (sales left with a pending reversal that no acknowledged 0400 has settled);
- the **stack's own APIs**, polled once a second: the acquirer's
  ``/admin/state`` (settlement backlog, whether settlement is stalled, open
  batches, terminal connections, issuer links), the issuer's health, and each
  agent's ``/health`` *through its proxy* — the way merchants reach it.

A second is published once it is complete: its end plus the journal's flush
lag has passed, so a transaction is never counted in a second already shown.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from poslab.scenario import FINANCIAL, FleetMoney, FleetTail, ScenarioClock
from poslab.scoring.traffic import p99

#: How long after a second ends it is published: the fleet's journal flush
#: interval plus a margin for the write and the read.
PUBLISH_LAG_S = 1.1
_PROBE_TIMEOUT_S = 0.8
_AGENT_TYPES = frozenset({"tms", "ticket"})
ALL = "all"


@dataclass
class Bucket:
    """Financial transactions of one region that ended in one second."""

    attempts: int = 0
    approved: int = 0
    declined: int = 0
    failed: int = 0
    backup: int = 0
    latencies: list[float] = field(default_factory=list)
    rc: Counter[str] = field(default_factory=Counter)

    def add(self, record: Mapping[str, Any]) -> None:
        self.attempts += 1
        outcome = record.get("outcome")
        if outcome == "approved":
            self.approved += 1
        elif outcome == "declined":
            self.declined += 1
        elif outcome in ("failed", "unresolved"):
            self.failed += 1
        if record.get("path") == "backup":
            self.backup += 1
        latency = record.get("latency_ms")
        if isinstance(latency, int | float):
            self.latencies.append(float(latency))
        rc = record.get("rc")
        self.rc[str(rc) if rc else str(record.get("reason") or "no reply")] += 1

    def figures(self) -> dict[str, Any]:
        judged = self.attempts - self.declined
        return {
            "tps": self.attempts,
            "approved": self.approved,
            "declined": self.declined,
            "failed": self.failed,
            "success_ratio": round(self.approved / judged, 4) if judged > 0 else None,
            "p99_ms": None if not self.latencies else round(p99(self.latencies) or 0.0, 1),
            "backup_share": round(self.backup / self.attempts, 4) if self.attempts else None,
            "rc": dict(self.rc.most_common()),
        }


@dataclass
class _Second:
    regions: dict[str, Bucket] = field(default_factory=dict)
    sign_ons: int = 0
    sign_ons_failed: int = 0
    agent_ok: int = 0
    agent_failed: int = 0
    agent_backup: int = 0


class FleetSeconds:
    """The fleet journal tail, bucketed by the second each record ended in."""

    def __init__(self, fleet_dir: Path, t0: float, regions: Iterable[str]) -> None:
        self.tail = FleetTail(fleet_dir)
        self.t0 = t0
        self.regions = tuple(regions)
        self.money = FleetMoney()
        self.unresolved = 0  # reversals a terminal gave up on (冲正不成功)
        self.next_second = 0  # seconds < this were published
        self.late = 0  # records that ended in a second already published
        self.last_seen: dict[str, float] = {}  # tid -> last time it finished anything
        self._open: dict[int, _Second] = {}

    def feed(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            self.money.add(dict(record))
            if record.get("type") == "reversal" and record.get("outcome") == "unresolved":
                self.unresolved += 1
            ts_end = record.get("ts_end")
            if not isinstance(ts_end, int | float):
                continue
            tid = str(record.get("tid"))
            self.last_seen[tid] = max(ts_end, self.last_seen.get(tid, 0.0))
            i = math.floor(ts_end - self.t0)
            if i < self.next_second:
                self.late += 1
                continue
            sec = self._open.setdefault(i, _Second())
            kind = record.get("type")
            if kind in FINANCIAL and not record.get("retransmission"):
                # a store-and-forward resend is not a customer's attempt
                region = str(record.get("region") or "?")
                sec.regions.setdefault(region, Bucket()).add(record)
            elif kind == "sign_on":
                sec.sign_ons += 1
                sec.sign_ons_failed += record.get("outcome") != "approved"
            elif kind in _AGENT_TYPES:
                if record.get("outcome") == "approved":
                    sec.agent_ok += 1
                else:
                    sec.agent_failed += 1
                sec.agent_backup += record.get("path") == "backup"

    def complete(self, now: float, lag_s: float = PUBLISH_LAG_S) -> list[dict[str, Any]]:
        """Read the tail and return the fleet part of every second now complete."""
        self.feed(self.tail.read())
        done = math.floor(now - lag_s - self.t0)
        out: list[dict[str, Any]] = []
        while self.next_second < done:
            i = self.next_second
            self.next_second += 1
            out.append(self._figures(i, self._open.pop(i, _Second())))
        return out

    def _figures(self, i: int, sec: _Second) -> dict[str, Any]:
        total = Bucket()
        regions: dict[str, Any] = {}
        for region in sorted(set(self.regions) | set(sec.regions)):
            bucket = sec.regions.get(region, Bucket())
            regions[region] = bucket.figures()
            total.attempts += bucket.attempts
            total.approved += bucket.approved
            total.declined += bucket.declined
            total.failed += bucket.failed
            total.backup += bucket.backup
            total.latencies += bucket.latencies
            total.rc.update(bucket.rc)
        return {
            "second": i,
            "t": self.t0 + i,
            "regions": regions,
            ALL: total.figures(),
            "sign_ons": sec.sign_ons,
            "sign_ons_failed": sec.sign_ons_failed,
            "agent_calls": {
                "ok": sec.agent_ok,
                "failed": sec.agent_failed,
                "backup": sec.agent_backup,
            },
            "reversal_backlog": self.money.pending_reversals,
            "unresolved": self.unresolved,
        }


class StackProbe:
    """The stack's state as its admin APIs and the merchants' paths tell it."""

    def __init__(self, admin: Mapping[str, str], agents: Mapping[str, str]) -> None:
        self.admin = dict(admin)
        self.agents = dict(agents)
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # No keep-alive: a probe must reach a restarted service, and a pooled
            # socket through a disabled proxy would hide that it is down.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_S),
                headers={"User-Agent": "lab-drill-metrics"},
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _get(self, url: str) -> tuple[bool, float, Any, str]:
        """(answered 200, ms, JSON body or None, detail) — never raises."""
        started = time.perf_counter()
        try:
            async with self._session().get(url) as response:
                body = await response.json(content_type=None) if response.status == 200 else None
                ms = (time.perf_counter() - started) * 1000
                return response.status == 200, ms, body, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            ms = (time.perf_counter() - started) * 1000
            return False, ms, None, type(exc).__name__ if not str(exc) else str(exc)[:80]

    async def poll(self) -> dict[str, Any]:
        acquirer = self.admin.get("acquirer")
        issuer = self.admin.get("issuer")
        jobs: dict[str, Awaitable[tuple[bool, float, Any, str]]] = {}
        if acquirer:
            jobs["acquirer"] = self._get(f"{acquirer}/admin/state")
        if issuer:
            jobs["issuer"] = self._get(f"{issuer}/health")
        for key, url in self.agents.items():
            jobs[f"agent:{key}"] = self._get(f"{url}/health")
        answers = await asyncio.gather(*jobs.values())
        got = dict(zip(jobs, answers, strict=True))
        host: dict[str, Any] = {"up": False}
        if "acquirer" in got:
            ok, ms, body, detail = got["acquirer"]
            host = {"up": ok, "ms": round(ms, 1), "detail": "" if ok else detail}
            if ok and isinstance(body, dict):
                for key in (
                    "settlement_backlog",
                    "settlement_stalled",
                    "open_batches",
                    "connections",
                    "issuer_links",
                    "advices_pending",
                ):
                    host[key] = body.get(key)
        issuer_up = got["issuer"][0] if "issuer" in got else None
        agents = {
            key.split(":", 1)[1]: {"ok": ok, "ms": round(ms, 1), "detail": "" if ok else detail}
            for key, (ok, ms, _, detail) in got.items()
            if key.startswith("agent:")
        }
        return {"host": host, "issuer": {"up": issuer_up}, "agents": agents}


class MetricsBoard:
    """The samples so far: a ring for the dashboard, ``metrics.jsonl`` for the report."""

    def __init__(self, path: Path | None, keep: int = 1800) -> None:
        self.path = path
        self.samples: deque[dict[str, Any]] = deque(maxlen=keep)
        self.seq = 0

    def publish(self, sample: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        sample = {"seq": self.seq, **sample}
        self.samples.append(sample)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(sample, separators=(",", ":")) + "\n")
        return sample

    def after(self, seq: int, limit: int = 600) -> list[dict[str, Any]]:
        """Samples newer than ``seq`` (at most the last ``limit``)."""
        fresh = [s for s in self.samples if s["seq"] > seq]
        return fresh[-limit:]

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.samples[-1] if self.samples else None


async def sample_every_second(
    clock: ScenarioClock,
    seconds: FleetSeconds,
    probe: StackProbe,
    board: MetricsBoard,
    phase: Callable[[], str],
) -> None:
    """Publish one sample per second of ``clock`` once that second is complete (runs
    until cancelled); ``phase`` labels it (``drill``, or ``drain`` after the end)."""
    k = 1
    try:
        while True:
            await clock.sleep_until(k + PUBLISH_LAG_S)
            # After a stall (a slow probe) the next wake-up is the next whole second.
            k = max(k + 1, int(clock.elapsed() - PUBLISH_LAG_S) + 1)
            fleet_part = seconds.complete(time.time())
            stack_part = await probe.poll()
            for sample in fleet_part:
                board.publish({**sample, **stack_part, "phase": phase()})
    finally:
        await probe.close()
