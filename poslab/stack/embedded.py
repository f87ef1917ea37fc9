"""Embedded mode: a service the lab runs as a process of its own.

:class:`EmbeddedLauncher` is the :class:`~poslab.stack.launcher.ServiceLauncher`
of a service started from a :class:`~poslab.stack.service.ServiceSpec` (or
adopted from a state file written by an earlier ``lab up``): it wraps a
:class:`~poslab.stack.process.ServiceProcess`, which owns the process group,
the ready file and the reaping.
"""

from __future__ import annotations

import signal

from poslab.stack.commands import fixed_ports
from poslab.stack.probe import Prober
from poslab.stack.process import DEFAULT_GRACE_S, ServiceProcess
from poslab.stack.service import ServiceSpec, log_tail
from poslab.stack.state import ProcessState, ServiceState
from poslab.stack.topology import Mode, Service, ServiceName
from poslab.stack.wiring import bracket


class EmbeddedLauncher:
    """A service run as a process in its own process group."""

    def __init__(
        self,
        service: Service,
        process: ServiceProcess,
        prober: Prober,
        *,
        grace: float = DEFAULT_GRACE_S,
    ) -> None:
        self.service = service
        self.process = process
        self.prober = prober
        self.grace = grace

    @classmethod
    def of(
        cls,
        service: Service,
        spec: ServiceSpec,
        prober: Prober,
        *,
        orphan_guard: bool,
        grace: float = DEFAULT_GRACE_S,
    ) -> EmbeddedLauncher:
        """A service to start from ``spec``; ``orphan_guard`` ties its life to this process."""
        return cls(service, ServiceProcess(spec, orphan_guard=orphan_guard), prober, grace=grace)

    @classmethod
    def adopt(
        cls,
        service: Service,
        state: ProcessState,
        ports: dict[str, int],
        prober: Prober,
        *,
        grace: float = DEFAULT_GRACE_S,
    ) -> EmbeddedLauncher:
        """A service an earlier ``lab`` started, as its state file describes it."""
        proc = ServiceProcess.adopt(state.spec(service.name.value), state.identity, ports)
        return cls(service, proc, prober, grace=grace)

    @property
    def name(self) -> str:
        return self.service.name.value

    def state(self) -> ServiceState:
        """The process, its ports once its ready file named them, and its URLs."""
        proc, service = self.process, self.service
        ports = dict(proc.ports)
        host = bracket(service.address.host)
        main = next(iter(proc.spec.port_flags))
        # An agent's admin API shares its one HTTP port; the proxy's API is its address.
        admin_port = ports.get("admin", ports.get(main) if service.admin else None)
        if service.name is ServiceName.PROXY:
            admin_port = None
        return ServiceState(
            name=self.name,
            mode=Mode.EMBEDDED.value,
            address=f"{host}:{ports[main]}" if main in ports else None,
            admin_url=None if admin_port is None else f"http://{host}:{admin_port}",
            health_url=proc.spec.health_url(ports) if proc.spec.health_port in ports else None,
            ports=ports,
            process=None if proc.identity is None else ProcessState.of(proc.spec, proc.identity),
        )

    def running(self) -> bool | None:
        return self.process.running

    async def start(self, deadline: float) -> None:
        """Spawn it on the topology's fixed ports (0: any free port)."""
        spec = self.process.spec
        self.process.spawn(fixed_ports(self.service.address, self.service.admin, spec))

    async def ready(self, deadline: float) -> None:
        await self.process.wait_ready(self.prober, deadline)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal its whole process group; for KILL, wait until it is gone."""
        self.process.signal(sig)
        if sig == signal.SIGKILL:
            await self.process.wait_exit(self.grace)

    async def restart(self, deadline: float) -> None:
        """Stop it if it runs (TERM, then KILL) and spawn it again on the same ports;
        its files (database, log) are the same, so it resumes where it was."""
        proc = self.process
        if proc.running:
            await proc.stop(self.grace)
        proc.spawn(proc.ports)

    async def stop(self, grace: float) -> None:
        await self.process.stop(grace)

    async def logs(self, lines: int = 25) -> str:
        return log_tail(self.process.spec.log_file, lines)
