"""Container mode: the payment world as a docker compose project.

``deploy/compose.yaml`` runs one container per service (images built from
``deploy/Dockerfile``) and the official Toxiproxy image, whose proxies come
from a ``/populate``-shaped config file (``deploy/toxiproxy.json`` for the
default regions; :func:`toxiproxy_config` writes one for any world). Inside
the compose network every service listens on a fixed port and the proxies
reach them by service name; on the host, every port is published on
127.0.0.1 only, under the same number.

Seen from the lab, a compose project is a stack of *external* services at
those published ports (:func:`container_topology`) plus a controller that can
kill, restart and remove containers (:class:`ComposeProject`), so the same
``Stack`` API, health checks and scenarios work unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from poslab.errors import StackError
from poslab.stack.service import log_tail_text
from poslab.stack.topology import (
    DEFAULT_REGIONS,
    Proxy,
    ServiceName,
    Topology,
    topology_from_mapping,
)

TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"
TOXIPROXY_API_PORT = 8474
DEFAULT_PROJECT = "pos-lab"
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"


@dataclass(frozen=True)
class ContainerPorts:
    main: int
    admin: int | None = None  # None: the admin API shares the main (HTTP) port


SERVICE_PORTS: dict[ServiceName, ContainerPorts] = {
    ServiceName.ACQUIRER: ContainerPorts(9000, 9001),
    ServiceName.ISSUER: ContainerPorts(9100, 9101),
    ServiceName.AGENT_PRIMARY: ContainerPorts(9200),
    ServiceName.AGENT_BACKUP: ContainerPorts(9300),
}
FIRST_REGION_PORT = 20001  # region-<r> proxies: 20001, 20002, ... in world order
PATH_PORTS = {"acquirer-backup": 20100, "issuer": 20101, "agent": 20102, "agent-backup": 20103}
FIRST_EXTRA_PORT = 20200  # proxies a topology file adds


def proxy_port(topology: Topology, proxy: Proxy) -> int:
    """The fixed port a proxy listens on inside (and is published on outside)."""
    if proxy.region is not None:
        return FIRST_REGION_PORT + topology.regions.index(proxy.region)
    if proxy.name in PATH_PORTS:
        return PATH_PORTS[proxy.name]
    extras = [p.name for p in topology.proxies if p.region is None and p.name not in PATH_PORTS]
    return FIRST_EXTRA_PORT + extras.index(proxy.name)


def upstream_in_network(service: ServiceName) -> str:
    """Where Toxiproxy reaches a service inside the compose network."""
    return f"{service.value}:{SERVICE_PORTS[service].main}"


def toxiproxy_config(topology: Topology) -> list[dict[str, object]]:
    """The ``/populate`` body (Toxiproxy ``-config`` file) for a topology."""
    return [
        {
            "name": proxy.name,
            "listen": f"0.0.0.0:{proxy_port(topology, proxy)}",
            "upstream": upstream_in_network(proxy.upstream),
            "enabled": True,
        }
        for proxy in topology.proxies
    ]


def write_toxiproxy_config(topology: Topology, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(toxiproxy_config(topology), indent=2) + "\n", encoding="utf-8")
    return path


def container_topology(regions: Sequence[str] = DEFAULT_REGIONS) -> Topology:
    """The compose project as the lab on the host sees it: external services on
    127.0.0.1's published ports, the real Toxiproxy's API, fixed proxy ports."""
    services: dict[str, dict[str, str]] = {
        ServiceName.PROXY.value: {
            "mode": "external",
            "address": f"127.0.0.1:{TOXIPROXY_API_PORT}",
        }
    }
    for name, ports in SERVICE_PORTS.items():
        services[name.value] = {
            "mode": "external",
            "address": f"127.0.0.1:{ports.main}",
            "admin": f"127.0.0.1:{ports.admin or ports.main}",
        }
    base = topology_from_mapping({"regions": list(regions), "services": services})
    proxies = [{"name": p.name, "listen": f"0.0.0.0:{proxy_port(base, p)}"} for p in base.proxies]
    return topology_from_mapping(
        {"regions": list(regions), "services": services, "proxies": proxies},
        source="container topology",
    )


def proxy_upstreams() -> dict[str, str]:
    """service -> the upstream Toxiproxy dials for it (a compose service name)."""
    return {name.value: upstream_in_network(name) for name in SERVICE_PORTS}


@dataclass
class ComposeProject:
    """A docker compose project driven through the ``docker compose`` CLI."""

    file: Path = DEPLOY_DIR / "compose.yaml"
    project: str = DEFAULT_PROJECT
    env: Mapping[str, str] = field(default_factory=dict)
    docker: str = "docker"
    # One `up` and one `down` for the whole project, however many of its
    # services' launchers ask (each service's launcher starts and stops it).
    _up: asyncio.Task[None] | None = field(default=None, init=False, repr=False, compare=False)
    _down: asyncio.Task[None] | None = field(default=None, init=False, repr=False, compare=False)

    async def up_once(self, timeout: float) -> None:
        """:meth:`up`, run by the first caller; the others await the same start."""
        if self._up is None:
            self._up = asyncio.ensure_future(self.up(timeout))
        await self._up

    async def down_once(self) -> None:
        """:meth:`down`, run by the first caller; the others await the same removal."""
        if self._down is None:
            self._down = asyncio.ensure_future(self.down())
        await self._down

    async def up(self, timeout: float) -> None:
        """Build, start and wait until every container's healthcheck passes."""
        await self._compose(
            "up", "--detach", "--build", "--wait", "--wait-timeout", str(int(timeout))
        )

    async def down(self) -> None:
        """Remove every container, network and volume of the project."""
        await self._compose("down", "--volumes", "--remove-orphans", "--timeout", "5")

    async def kill(self, service: str, signal_name: str = "SIGKILL") -> None:
        await self._compose("kill", "--signal", signal_name, service)

    async def restart(self, service: str) -> None:
        """Start the service's container again (after a kill) or restart it (TERM first)."""
        await self._compose("restart", "--timeout", "5", service)

    async def logs(self, service: str) -> str:
        return await self._compose("logs", "--no-color", "--tail", "50", service)

    def command(self, *args: str) -> list[str]:
        return [self.docker, "compose", "--file", str(self.file), "--project-name", self.project,
                *args]  # fmt: skip

    async def _compose(self, *args: str) -> str:
        argv = self.command(*args)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        except OSError as exc:
            raise StackError(f"cannot run {self.docker} compose: {exc}") from exc
        out, _ = await proc.communicate()
        text = out.decode("utf-8", errors="replace")
        if proc.returncode != 0:
            raise StackError(
                f"{' '.join(argv[:2])} {' '.join(args)} failed (exit {proc.returncode}):\n"
                f"{log_tail_text(text)}"
            )
        return text
