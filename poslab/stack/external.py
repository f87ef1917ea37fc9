"""External mode: point a topology at services the lab does not start.

A team that builds its own acquirer front-end (or runs a real Toxiproxy) marks
that service ``external`` with its address, in a topology file::

    services:
      acquirer: {mode: external, address: "10.0.0.5:5000", admin: "10.0.0.5:8080"}

or, for the fault proxy, with ``TOXIPROXY_URL`` (docs/faults.md). The stack then
starts nothing for it: the proxies forward to the given address, and its
health is its admin ``/health`` when an admin address is given, a TCP connect
otherwise. Faults that need a process (kill, restart) are refused for it;
application faults need its admin API.

:class:`ExternalLauncher` is the :class:`~poslab.stack.launcher.ServiceLauncher`
of such a service: starting it is waiting for it to answer, stopping it is
letting go of it.
"""

from __future__ import annotations

import signal
from urllib.parse import urlsplit

from poslab.errors import ConfigError, StackError
from poslab.stack.health import probe_service
from poslab.stack.probe import Prober, until_ok
from poslab.stack.state import ServiceState
from poslab.stack.topology import Endpoint, Mode, Service, ServiceName, Topology


def with_external(
    topology: Topology,
    service: ServiceName,
    address: Endpoint,
    admin: Endpoint | None = None,
) -> Topology:
    """``topology`` with ``service`` already running at ``address``."""
    if address.port == 0:
        raise ConfigError(f"external {service.value}: {address} needs a real port")
    replaced = Service(name=service, mode=Mode.EXTERNAL, address=address, admin=admin)
    return Topology(
        regions=topology.regions,
        services=tuple(replaced if s.name is service else s for s in topology.services),
        proxies=topology.proxies,
    )


def toxiproxy_endpoint(url: str) -> Endpoint:
    """``TOXIPROXY_URL`` (``http://host:8474``, or bare ``host:port``) as an address."""
    parsed = urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme != "http" or not parsed.hostname:
        raise ConfigError(f"TOXIPROXY_URL={url!r}: expected http://host:port")
    try:
        return Endpoint(host=parsed.hostname, port=parsed.port or 8474)
    except ValueError as exc:
        raise ConfigError(f"TOXIPROXY_URL={url!r}: {exc}") from exc


def with_external_proxy(topology: Topology, url: str) -> Topology:
    """Use the real Toxiproxy at ``url`` instead of starting the embedded proxy."""
    return with_external(topology, ServiceName.PROXY, toxiproxy_endpoint(url))


class ExternalLauncher:
    """A service that runs already at its topology address; the lab only probes it."""

    def __init__(self, service: Service, prober: Prober) -> None:
        self.service = service
        self.prober = prober

    @property
    def name(self) -> str:
        return self.service.name.value

    def state(self) -> ServiceState:
        """Its given address; healthy when its admin /health answers, else on a TCP connect."""
        service = self.service
        admin_url = None if service.admin is None else f"http://{service.admin}"
        health: str | None = None if admin_url is None else f"{admin_url}/health"
        if service.name is ServiceName.PROXY:
            health = f"http://{service.address}/version"
        return ServiceState(
            name=self.name,
            mode=Mode.EXTERNAL.value,
            address=str(service.address),
            admin_url=admin_url,
            health_url=health,
        )

    def running(self) -> bool | None:
        return None  # not a process of the lab's: only its probe can tell

    async def start(self, deadline: float) -> None:
        """Nothing to start: it runs already (:meth:`ready` waits for it to answer)."""

    async def ready(self, deadline: float) -> None:
        state = self.state()
        probe = await until_ok(lambda: probe_service(self.prober, state, running=None), deadline)
        if not probe.ok:
            raise StackError(
                f"external service {self.name} at {self.service.address} "
                f"does not answer: {probe.detail}"
            )

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        raise self._not_ours()

    async def restart(self, deadline: float) -> None:
        raise self._not_ours()

    async def stop(self, grace: float) -> None:
        """Nothing to stop: the lab did not start it."""

    async def logs(self, lines: int = 25) -> str:
        return f"(external service at {self.service.address}: its logs are not the lab's)"

    def _not_ours(self) -> StackError:
        return StackError(f"service {self.name} is external: the lab cannot kill or restart it")
