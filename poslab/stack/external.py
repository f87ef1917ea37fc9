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
"""

from __future__ import annotations

from urllib.parse import urlsplit

from poslab.errors import ConfigError
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
