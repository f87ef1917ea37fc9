"""How one service of the payment world is run: the launcher protocol.

The stack (:class:`poslab.stack.stack.Stack`) holds one launcher per topology
service and drives every service only through this protocol, so how a service
runs is decided once, when its launcher is made, and never again in the
stack's start, kill, restart or stop. A new way to run services (containers
started one by one, a remote system reached through hooks, ...) is a new class
that implements :class:`ServiceLauncher`, not new branches in the stack.

The implementations, one per mode (:meth:`poslab.stack.stack.Stack._launcher`
picks one per service):

- :class:`poslab.stack.embedded.EmbeddedLauncher` — a process the lab starts
  in its own process group (wraps :class:`poslab.stack.process.ServiceProcess`);
- :class:`poslab.stack.external.ExternalLauncher` — a service that already
  runs at a given address; the lab only probes it and refuses to kill or
  restart it;
- :class:`poslab.stack.compose_launcher.ComposeLauncher` — a container of the
  ``deploy/compose.yaml`` project.

Contract every implementation keeps:

- :meth:`~ServiceLauncher.start` returns as soon as the service has been
  *begun* (spawned, created — or at once for a service that already runs),
  without waiting for it to be ready; the stack then writes the state file, so
  a lab that dies during :meth:`~ServiceLauncher.ready` leaves enough behind
  for ``lab down``;
- :meth:`~ServiceLauncher.ready` returns once the service answers its health
  check and raises :class:`poslab.errors.StackError` naming the service, with
  the tail of its logs, when it exits first or ``deadline`` (a
  ``time.monotonic()`` instant) passes;
- :meth:`~ServiceLauncher.state` is what the state file records for it at any
  moment (address and ports once known, what a later ``lab down`` needs to
  stop it), so a launcher can be rebuilt from a state file by its mode;
- :meth:`~ServiceLauncher.kill` and :meth:`~ServiceLauncher.restart` raise
  :class:`~poslab.errors.StackError` when the mode cannot do that (an external
  service); :meth:`~ServiceLauncher.restart` keeps the service's ports and
  data and, like :meth:`~ServiceLauncher.start`, returns once the service is
  begun again — the stack records it, then awaits :meth:`~ServiceLauncher.ready`;
- :meth:`~ServiceLauncher.stop` is idempotent and releases everything the
  launcher started (a no-op for what the lab did not start).
"""

from __future__ import annotations

import signal
from typing import Protocol

from poslab.stack.state import ServiceState


class ServiceLauncher(Protocol):
    """One service, run in one mode; the stack's only handle on it."""

    @property
    def name(self) -> str:
        """The topology service it runs (``acquirer``, ``proxy``, ...)."""
        ...

    def state(self) -> ServiceState:
        """The service as the state file records it now."""
        ...

    def running(self) -> bool | None:
        """False when the service is known to be down, None when the lab cannot tell."""
        ...

    async def start(self, deadline: float) -> None:
        """Begin running the service; return without waiting for it to be ready."""
        ...

    async def ready(self, deadline: float) -> None:
        """Return once the service answers its health check (StackError otherwise)."""
        ...

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the service; for SIGKILL return once it is gone."""
        ...

    async def restart(self, deadline: float) -> None:
        """Stop it if it runs and begin it again on the same ports and data."""
        ...

    async def stop(self, grace: float) -> None:
        """Stop the service (TERM, then KILL after ``grace``) and release it; idempotent."""
        ...

    async def logs(self, lines: int = 25) -> str:
        """The last ``lines`` lines of its output, for error messages."""
        ...
