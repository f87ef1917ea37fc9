"""Prometheus metrics for the mocks, through prometheus-client.

Each service builds its metrics on its own :class:`ServiceMetrics` (its own
registry, so several services in one test process do not collide, and the
client library's process-wide default registry stays out of it) and serves
:meth:`ServiceMetrics.render` on ``GET /metrics``. Latencies share one set of
buckets across the mocks, so the same dashboard panel reads all of them.

Values that are cheap to read from a service's state (open connections, a
backlog) are read when scraped, not kept up to date on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "REQUEST_SECONDS", "STORAGE_SECONDS", "ServiceMetrics"]

#: The text format generate_latest writes for our metric names; announced as
#: 0.0.4 (not the client's newest, 1.0.0) so that every Prometheus reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: A request's time in a mock, from 1 ms (a cached answer) to 5 s (beyond any
#: terminal's reply timeout).
REQUEST_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: A commit or an fsync: from half a millisecond (page cache) to 250 ms (a
#: disk under contention).
STORAGE_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)

#: Label values → value, read at scrape time.
LabelledReading = Callable[[], Mapping[tuple[str, ...], float]]


class _ReadAtScrape(Collector):
    def __init__(self, name: str, documentation: str, labels: Sequence[str], read: LabelledReading):
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, value in sorted(self.read().items()):
            family.add_metric(list(values), value)
        yield family


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = REQUEST_SECONDS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge read from the service's state when scraped."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def labelled_gauge(
        self, name: str, documentation: str, labels: Sequence[str], read: LabelledReading
    ) -> None:
        """A gauge with labels, all its series read when scraped."""
        self.registry.register(_ReadAtScrape(name, documentation, labels, read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
