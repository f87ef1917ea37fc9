"""The stack's health, as ``lab status`` and the scenario runner's probes see it.

A service is healthy when its process runs (embedded) and its health URL
answers 200 — or, for an external service without an admin API, when its
address accepts a TCP connection. A proxy is healthy when a connection through
it reaches its upstream (a disabled proxy — the "down" fault — is not).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.stack.health import Probe, Prober
from lab.stack.state import ServiceState


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    mode: str
    pid: int | None
    probe: Probe

    @property
    def ok(self) -> bool:
        return self.probe.ok


@dataclass(frozen=True)
class ProxyHealth:
    name: str
    listen: str
    upstream: str
    probe: Probe

    @property
    def ok(self) -> bool:
        return self.probe.ok


@dataclass(frozen=True)
class StackHealth:
    services: dict[str, ServiceHealth]
    proxies: dict[str, ProxyHealth]

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.services.values()) and all(
            h.ok for h in self.proxies.values()
        )

    def unhealthy(self) -> list[str]:
        """Names of what is not healthy: services first, then ``proxy:<name>``."""
        return [n for n, h in self.services.items() if not h.ok] + [
            f"proxy:{n}" for n, h in self.proxies.items() if not h.ok
        ]


async def probe_service(prober: Prober, state: ServiceState, running: bool | None) -> Probe:
    """Probe one service; ``running`` is False when its process is known dead."""
    if running is False:
        return Probe(ok=False, detail="process not running", latency_ms=0.0)
    if state.health_url is not None:
        return await prober.http(state.health_url)
    if state.address is None:
        return Probe(ok=False, detail="no address known", latency_ms=0.0)
    host, _, port = state.address.rpartition(":")
    return await prober.tcp(host.strip("[]"), int(port))
