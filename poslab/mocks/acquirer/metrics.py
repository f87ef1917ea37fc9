"""The acquirer's Prometheus metrics (through the kit's prometheus-client registry).

Counted on the hot path, so the labelled series a request touches are looked
up once and kept (a dict hit instead of the client's label lookup); gauges
that are cheap to read from state (open connections, settlement backlog) are
read at scrape time through callables.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Histogram

from poslab.mocks.kit import STORAGE_SECONDS, ServiceMetrics

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.service = service = ServiceMetrics()
        self._requests = service.counter(
            "acquirer_requests",
            "ISO 8583 requests answered, by MTI and response code",
            ("mti", "rc"),
        )
        self._latency = service.histogram(
            "acquirer_request_seconds", "time from a request's arrival to its reply", ("mti",)
        )
        self._issuer = service.counter(
            "acquirer_issuer_requests",
            "requests to the issuer, by MTI and outcome",
            ("mti", "outcome"),
        )
        self.connections = service.counter("acquirer_connections", "terminal connections accepted")
        self.connections_rejected = service.counter("acquirer_connections_rejected", "over the cap")
        self.frames_rejected = service.counter(
            "acquirer_frames_rejected", "broken or oversize frames"
        )
        self.undecodable = service.counter(
            "acquirer_undecodable", "payloads closed as unanswerable"
        )
        self.idle_closed = service.counter("acquirer_idle_closed", "connections closed for idling")
        self._commits = service.counter("acquirer_ledger_commits", "group commits")
        self._items = service.counter("acquirer_ledger_items", "requests made durable")
        self._commit_seconds = service.histogram(
            "acquirer_ledger_commit_seconds",
            "duration of one group commit",
            buckets=STORAGE_SECONDS,
        )
        self._fsync_seconds = service.histogram(
            "acquirer_ledger_fsync_seconds",
            "one fsync of the WAL (ledger FULL)",
            buckets=STORAGE_SECONDS,
        )
        self._fsynced_items = service.counter(
            "acquirer_ledger_fsynced_items", "requests made durable by fsyncs"
        )
        self._answered: dict[tuple[str, str], Counter] = {}
        self._timed: dict[str, Histogram] = {}
        self._asked: dict[tuple[str, str], Counter] = {}

    def request(self, mti: str, rc: str, seconds: float) -> None:
        answered = self._answered.get((mti, rc))
        if answered is None:
            answered = self._answered[(mti, rc)] = self._requests.labels(mti, rc)
        answered.inc()
        timed = self._timed.get(mti)
        if timed is None:
            timed = self._timed[mti] = self._latency.labels(mti)
        timed.observe(seconds)

    def issuer_request(self, mti: str, outcome: str) -> None:
        """A request to the issuer: its response code, or why it had none."""
        asked = self._asked.get((mti, outcome))
        if asked is None:
            asked = self._asked[(mti, outcome)] = self._issuer.labels(mti, outcome)
        asked.inc()

    def committed(self, items: int, seconds: float) -> None:
        self._commits.inc()
        self._items.inc(items)
        self._commit_seconds.observe(seconds)

    def fsynced(self, items: int, seconds: float) -> None:
        self._fsynced_items.inc(items)
        self._fsync_seconds.observe(seconds)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.service.gauge(name, help_text, read)

    def render(self) -> bytes:
        return self.service.render()
