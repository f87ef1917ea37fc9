"""Prometheus metrics of one agent instance (through the kit's prometheus-client
registry); every series carries the instance's name, as both instances are
scraped into the same dashboards."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from prometheus_client import Counter, Histogram

from poslab.mocks.kit import ServiceMetrics

__all__ = ["AgentCounter", "Metrics"]

AgentCounter = Literal[
    "applications_accepted",
    "applications_approved",
    "applications_rejected",
    "replacements_requested",
    "software_downloads",
    "sync_failures",
    "sync_merged",
    "sync_pulls",
    "tickets_accepted",
]

_COUNTED: dict[AgentCounter, str] = {
    "applications_accepted": "merchant applications taken in",
    "applications_approved": "applications the reviewer approved",
    "applications_rejected": "applications the reviewer rejected",
    "replacements_requested": "terminal replacements asked for",
    "software_downloads": "software images served to terminals",
    "sync_failures": "pulls from the peer that failed",
    "sync_merged": "peer records merged into this instance",
    "sync_pulls": "pulls from the peer",
    "tickets_accepted": "support tickets taken in",
}


class Metrics:
    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.service = service = ServiceMetrics()
        self._requests = service.counter(
            "agent_requests",
            "requests answered, by subsystem and status",
            ("instance", "subsystem", "status"),
        )
        self._latency = service.histogram(
            "agent_request_seconds", "time to answer a request", ("instance", "subsystem")
        )
        self._counted = {
            name: service.counter(f"agent_{name}", documentation, ("instance",)).labels(instance)
            for name, documentation in _COUNTED.items()
        }
        # the series a request touches, looked up once (the hot path)
        self._answered: dict[tuple[str, int], Counter] = {}
        self._timed: dict[str, Histogram] = {}

    def observe_request(self, subsystem: str, status: int, seconds: float) -> None:
        answered = self._answered.get((subsystem, status))
        if answered is None:
            answered = self._requests.labels(self.instance, subsystem, str(status))
            self._answered[(subsystem, status)] = answered
        answered.inc()
        timed = self._timed.get(subsystem)
        if timed is None:
            timed = self._timed[subsystem] = self._latency.labels(self.instance, subsystem)
        timed.observe(seconds)

    def count(self, name: AgentCounter, n: int = 1) -> None:
        self._counted[name].inc(n)

    def gauge(
        self,
        name: str,
        documentation: str,
        read: Callable[[], Mapping[tuple[str, ...], float]],
        labels: Sequence[str] = (),
    ) -> None:
        """``agent_<name>``, its series (label values → value) read when scraped."""
        instance = self.instance
        self.service.labelled_gauge(
            f"agent_{name}",
            documentation,
            ("instance", *labels),
            lambda: {(instance, *values): value for values, value in read().items()},
        )

    def render(self) -> bytes:
        return self.service.render()
