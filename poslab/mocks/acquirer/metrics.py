"""The acquirer's Prometheus metrics, rendered as text exposition format 0.0.4.

Counted on the hot path, so each update is a dict increment or a bisect;
gauges that are cheap to read from state (open connections, settlement
backlog) are read at scrape time through callables.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable

__all__ = ["LATENCY_BUCKETS_S", "Metrics"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    __slots__ = ("buckets", "count", "counts", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.count += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list[str]:
        out: list[str] = []
        cumulative = 0
        sep = "," if labels else ""
        for bound, n in zip(self.buckets, self.counts, strict=False):
            cumulative += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        label_block = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{label_block} {self.total:.6f}")
        out.append(f"{name}_count{label_block} {self.count}")
        return out


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()  # (MTI, rc)
        self.latency: dict[str, Histogram] = {}
        self.issuer_requests: Counter[tuple[str, str]] = Counter()
        self.connections_total = 0
        self.connections_rejected = 0
        self.frames_rejected = 0
        self.undecodable = 0
        self.idle_closed = 0
        self.ledger_commits = 0
        self.ledger_items = 0
        self.ledger_commit = Histogram((0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1))
        self.ledger_fsync = Histogram((0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
        self.ledger_fsynced_items = 0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def request(self, mti: str, rc: str, seconds: float) -> None:
        self.requests[(mti, rc)] += 1
        histogram = self.latency.get(mti)
        if histogram is None:
            histogram = self.latency[mti] = Histogram(LATENCY_BUCKETS_S)
        histogram.observe(seconds)

    def committed(self, items: int, seconds: float) -> None:
        self.ledger_commits += 1
        self.ledger_items += items
        self.ledger_commit.observe(seconds)

    def fsynced(self, items: int, seconds: float) -> None:
        self.ledger_fsynced_items += items
        self.ledger_fsync.observe(seconds)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        lines: list[str] = [
            "# HELP acquirer_requests_total ISO 8583 requests answered, by MTI and response code",
            "# TYPE acquirer_requests_total counter",
        ]
        for (mti, rc), n in sorted(self.requests.items()):
            lines.append(f'acquirer_requests_total{{mti="{mti}",rc="{rc}"}} {n}')
        lines += [
            "# HELP acquirer_request_seconds time from a request's arrival to its reply",
            "# TYPE acquirer_request_seconds histogram",
        ]
        for mti, histogram in sorted(self.latency.items()):
            lines += histogram.lines("acquirer_request_seconds", f'mti="{mti}"')
        lines += [
            "# HELP acquirer_issuer_requests_total requests to the issuer, by MTI and outcome",
            "# TYPE acquirer_issuer_requests_total counter",
        ]
        for (mti, outcome), n in sorted(self.issuer_requests.items()):
            lines.append(f'acquirer_issuer_requests_total{{mti="{mti}",outcome="{outcome}"}} {n}')
        for name, value, help_text in (
            ("acquirer_connections_total", self.connections_total, "terminal connections accepted"),
            ("acquirer_connections_rejected_total", self.connections_rejected, "over the cap"),
            ("acquirer_frames_rejected_total", self.frames_rejected, "broken or oversize frames"),
            ("acquirer_undecodable_total", self.undecodable, "payloads closed as unanswerable"),
            ("acquirer_idle_closed_total", self.idle_closed, "connections closed for idling"),
            ("acquirer_ledger_commits_total", self.ledger_commits, "group commits"),
            ("acquirer_ledger_items_total", self.ledger_items, "requests made durable"),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name} {value}"]
        lines += [
            "# HELP acquirer_ledger_commit_seconds duration of one group commit",
            "# TYPE acquirer_ledger_commit_seconds histogram",
            *self.ledger_commit.lines("acquirer_ledger_commit_seconds", ""),
            "# HELP acquirer_ledger_fsync_seconds one fsync of the WAL (ledger FULL)",
            "# TYPE acquirer_ledger_fsync_seconds histogram",
            *self.ledger_fsync.lines("acquirer_ledger_fsync_seconds", ""),
            "# HELP acquirer_ledger_fsynced_items_total requests made durable by fsyncs",
            "# TYPE acquirer_ledger_fsynced_items_total counter",
            f"acquirer_ledger_fsynced_items_total {self.ledger_fsynced_items}",
        ]
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"
