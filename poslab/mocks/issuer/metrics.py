"""The issuer's Prometheus metrics (through the kit's prometheus-client registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from poslab.mocks.kit import ServiceMetrics

__all__ = ["IssuerMetrics"]


class IssuerMetrics:
    def __init__(self, holds: Callable[[], float], connections: Callable[[], float]) -> None:
        self.service = ServiceMetrics()
        self._requests = self.service.counter(
            "issuer_requests", "requests answered, by MTI and response code", ("mti", "rc")
        )
        self.service.gauge("issuer_holds", "authorisations currently holding funds", holds)
        self.service.gauge("issuer_connections", "acquirer connections open", connections)
        # the series a reply touches, looked up once (the hot path)
        self._answered: dict[tuple[str, str], Counter] = {}

    def answered(self, mti: str, rc: str) -> None:
        series = self._answered.get((mti, rc))
        if series is None:
            series = self._answered[(mti, rc)] = self._requests.labels(mti, rc)
        series.inc()

    def render(self) -> bytes:
        return self.service.render()
