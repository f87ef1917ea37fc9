"""The stack's health, as ``lab status`` and the scenario runner's probes see it.

A service is healthy when its process runs (embedded) and its health URL
answers 200 — or, for an external service without an admin API, when its
address accepts a TCP connection. A proxy is healthy when a connection through
it reaches its upstream (a disabled proxy — the "down" fault — is not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from poslab.stack.launcher import ServiceLauncher
from poslab.stack.probe import Probe, Prober
from poslab.stack.state import ProxyState, ServiceState
from poslab.stack.topology import Mode, ServiceName


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


# Upstreams that speak HTTP with a /health route: a probe through their proxy
# can send a real request instead of merely holding a connection open.
_HTTP_UPSTREAMS = {ServiceName.AGENT_PRIMARY.value, ServiceName.AGENT_BACKUP.value}


async def probe_proxy(
    prober: Prober, proxy: ProxyState, services: Mapping[str, ServiceState]
) -> Probe:
    """A connection through the proxy reaches its upstream service."""
    host, _, port = proxy.listen.rpartition(":")
    upstream = services.get(proxy.upstream_service)
    embedded = upstream is not None and upstream.mode == Mode.EMBEDDED.value
    http_path = "/health" if embedded and proxy.upstream_service in _HTTP_UPSTREAMS else None
    return await prober.through_proxy(host.strip("[]"), int(port), http_path=http_path)


async def stack_health(
    prober: Prober,
    services: Mapping[str, ServiceState],
    launchers: Mapping[str, ServiceLauncher],
    proxies: Mapping[str, ProxyState],
) -> StackHealth:
    """Every service's and every proxy's health, probed concurrently."""

    async def service(name: str, state: ServiceState) -> ServiceHealth:
        launcher = launchers.get(name)
        running = None if launcher is None else launcher.running()
        probe = await probe_service(prober, state, running=running)
        pid = None if state.process is None else state.process.pid
        return ServiceHealth(name=name, mode=state.mode, pid=pid, probe=probe)

    async def proxy(state: ProxyState) -> ProxyHealth:
        probe = await probe_proxy(prober, state, services)
        return ProxyHealth(
            name=state.name, listen=state.listen, upstream=state.upstream, probe=probe
        )

    service_health = await asyncio.gather(*(service(n, s) for n, s in services.items()))
    proxy_health = await asyncio.gather(*(proxy(p) for p in proxies.values()))
    return StackHealth(
        services={h.name: h for h in service_health}, proxies={h.name: h for h in proxy_health}
    )
