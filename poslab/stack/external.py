"""External mode: point a topology at services the lab does not start.

A team that builds its own acquirer front-end (or runs a real Toxiproxy) marks
that service ``external`` with its address, in a topology file::

    services:
      acquirer: {mode: external, address: "10.0.0.5:5000", admin: "10.0.0.5:8080"}

or, for the fault proxy, with ``TOXIPROXY_URL`` (docs/faults.md). The stack then
starts nothing for it: the proxies forward to the given address, and its
health is its admin ``/health`` when an admin address is given, a TCP connect
otherwise. Killing and restarting it go through the topology's hooks
(:mod:`poslab.stack.hook_model`: ``kill``, ``start``, ``restart`` as commands
or HTTP calls, their output kept in ``services/<name>.hooks.log``); without
them the lab refuses. Application faults need its admin API or a fault hook.

:class:`ExternalLauncher` is the :class:`~poslab.stack.launcher.ServiceLauncher`
of such a service: starting it is waiting for it to answer, stopping it is
letting go of it — except that a service the lab killed through its hook is
started again on the way out, so a run never leaves a team's host down.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from poslab.errors import ConfigError, StackError
from poslab.stack.health import probe_service
from poslab.stack.hook_model import Hook
from poslab.stack.hooks import hooks_log, run_hook
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


log = logging.getLogger("poslab.stack.external")


class ExternalLauncher:
    """A service that runs already at its topology address; the lab probes it, and
    kills or restarts it only through its hooks."""

    def __init__(self, service: Service, prober: Prober, run_dir: Path | None = None) -> None:
        self.service = service
        self.prober = prober
        self.run_dir = run_dir
        # killed by a hook and not started again yet: stop() brings it back
        self.down = False

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
        """Nothing to start: it runs already (:meth:`ready` waits for it to answer).
        A ``reset`` hook brings it back to a clean state first (a fresh stack)."""
        hooks = self.service.hooks
        if hooks is not None and hooks.reset is not None:
            await self._run(hooks.reset, "reset")

    async def ready(self, deadline: float) -> None:
        state = self.state()
        probe = await until_ok(lambda: probe_service(self.prober, state, running=None), deadline)
        if not probe.ok:
            raise StackError(
                f"external service {self.name} at {self.service.address} "
                f"does not answer: {probe.detail}"
            )

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """The ``kill`` hook; the signal asked for is in its params (``LAB_FAULT_PARAMS``)."""
        hooks = self.service.hooks
        if hooks is None or hooks.kill is None:
            raise self._not_ours("kill")
        self.down = True  # even a failed kill hook may have half-killed it
        name = "TERM" if sig == signal.SIGTERM else "KILL"
        await self._run(hooks.kill, "kill", params={"signal": name})

    async def restart(self, deadline: float) -> None:
        """After a kill, ``start`` (else ``restart``); otherwise ``restart`` (else kill, start)."""
        hooks = self.service.hooks
        if hooks is None:
            raise self._not_ours("restart")
        if self.down and hooks.start is not None:
            await self._run(hooks.start, "start")
        elif hooks.restart is not None:
            await self._run(hooks.restart, "restart")
        elif hooks.kill is not None and hooks.start is not None:
            await self._run(hooks.kill, "kill")
            self.down = True
            await self._run(hooks.start, "start")
        else:
            raise self._not_ours("restart")
        self.down = False

    async def stop(self, grace: float) -> None:
        """Nothing to stop: the lab did not start it. One it killed is started again."""
        if not self.down:
            return
        try:
            await self.restart(time.monotonic() + 60.0)
        except StackError as exc:
            log.error("%s was killed by the lab and could not be started again: %s", self.name, exc)
            raise

    async def logs(self, lines: int = 25) -> str:
        where = f"external service at {self.service.address}: its logs are not the lab's"
        if self.run_dir is None or not self.service.hooks:
            return f"({where})"
        return f"({where}; what its hooks did: {hooks_log(self.run_dir, self.name)})"

    async def _run(self, hook: Hook, what: str, params: dict[str, str] | None = None) -> None:
        if self.run_dir is None:
            raise StackError(f"{self.name}: hooks need the run directory for their log")
        # The hook's own timeout_s bounds it; the stack's deadline bounds the readiness after.
        log_file = hooks_log(self.run_dir, self.name)
        await run_hook(hook, service=self.name, what=what, log=log_file, params=params)

    def _not_ours(self, what: str) -> StackError:
        return StackError(
            f"service {self.name} is external: the lab cannot {what} it "
            f"(give services.{self.name}.hooks.{what} in the topology file)"
        )
