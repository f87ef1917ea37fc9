"""Prometheus text metrics of one agent instance (hand-rolled: a handful of
counters and one histogram do not need a client library)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable

__all__ = ["Metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, list[int]] = {}
        self._latency_sum: dict[str, float] = defaultdict(float)
        self.counters: dict[str, int] = defaultdict(int)
        # gauges read when scraped (records by state, peer status, ...)
        self.gauges: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}

    def observe_request(self, subsystem: str, status: int, seconds: float) -> None:
        self.requests[(subsystem, status)] += 1
        buckets = self._latency.get(subsystem)
        if buckets is None:
            buckets = self._latency[subsystem] = [0] * (len(_BUCKETS) + 1)
        buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self._latency_sum[subsystem] += seconds

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def render(self) -> str:
        inst = f'instance="{self.instance}"'
        out = ["# TYPE agent_requests_total counter"]
        for (sub, status), n in sorted(self.requests.items()):
            out.append(f'agent_requests_total{{{inst},subsystem="{sub}",status="{status}"}} {n}')
        out.append("# TYPE agent_request_seconds histogram")
        for sub, buckets in sorted(self._latency.items()):
            running = 0
            for le, n in zip((*_BUCKETS, float("inf")), buckets, strict=True):
                running += n
                le_text = "+Inf" if le == float("inf") else repr(le)
                out.append(
                    f'agent_request_seconds_bucket{{{inst},subsystem="{sub}",le="{le_text}"}} '
                    f"{running}"
                )
            out.append(f'agent_request_seconds_count{{{inst},subsystem="{sub}"}} {running}')
            out.append(
                f'agent_request_seconds_sum{{{inst},subsystem="{sub}"}} '
                f"{self._latency_sum[sub]:.6f}"
            )
        for name, n in sorted(self.counters.items()):
            out.append(f"# TYPE agent_{name}_total counter")
            out.append(f"agent_{name}_total{{{inst}}} {n}")
        for name, read in sorted(self.gauges.items()):
            out.append(f"# TYPE agent_{name} gauge")
            for labels, value in sorted(read().items()):
                text = "".join(f',{k}="{v}"' for k, v in labels)
                out.append(f"agent_{name}{{{inst}{text}}} {value:g}")
        return "\n".join(out) + "\n"
