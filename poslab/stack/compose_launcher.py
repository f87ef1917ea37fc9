"""Container mode's launcher: each service a container of the compose project.

:class:`ComposeLauncher` is the :class:`~poslab.stack.launcher.ServiceLauncher`
of a service run by ``deploy/compose.yaml`` (:class:`~poslab.stack.compose.ComposeProject`).
The host sees the container as an external service at its published port, so
its state and readiness are an :class:`~poslab.stack.external.ExternalLauncher`'s;
starting, killing, restarting and removing it are ``docker compose``'s. The
project is started and removed once for all its services.
"""

from __future__ import annotations

import signal

from poslab.stack.compose import ComposeProject
from poslab.stack.external import ExternalLauncher
from poslab.stack.probe import Prober
from poslab.stack.service import log_tail_text
from poslab.stack.state import ServiceState
from poslab.stack.topology import Service, ServiceName


class ComposeLauncher:
    """A service run as a container of a compose project."""

    def __init__(
        self, service: Service, project: ComposeProject, prober: Prober, *, timeout: float
    ) -> None:
        self.project = project
        self.timeout = timeout
        self.seen = ExternalLauncher(service, prober)
        # The compose file names the fault proxy after its image.
        self.container = "toxiproxy" if service.name is ServiceName.PROXY else service.name.value

    @property
    def name(self) -> str:
        return self.seen.name

    def state(self) -> ServiceState:
        return self.seen.state()

    def running(self) -> bool | None:
        return None  # docker knows; the probe tells

    async def start(self, deadline: float) -> None:
        """Build and start the project (once for all its services) and wait for the
        containers' own healthchecks; :meth:`ready` then probes it as the host sees it."""
        await self.project.up_once(self.timeout)

    async def ready(self, deadline: float) -> None:
        await self.seen.ready(deadline)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        await self.project.kill(self.container, signal.Signals(sig).name)

    async def restart(self, deadline: float) -> None:
        """Start the container again after a kill, or restart it (TERM first)."""
        await self.project.restart(self.container)

    async def stop(self, grace: float) -> None:
        """Remove the whole project (once): containers, network, volumes."""
        await self.project.down_once()

    async def logs(self, lines: int = 25) -> str:
        return log_tail_text(await self.project.logs(self.container), lines)
