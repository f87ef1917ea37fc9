"""Container mode on the engine's API: each service of the world in a container.

:class:`ContainerLauncher` is the :class:`~poslab.stack.launcher.ServiceLauncher`
of one service run from the lab's images (``scripts/build-images``): the
issuer, the acquirer and both agents from ``pos-lab/<service>``, the fault
proxy from the real Toxiproxy 2.12.0 (``pos-lab/toxiproxy:2.12.0``, built
``FROM scratch`` from Shopify's binary; never the lab's own proxy).
:class:`~poslab.stack.container_stack.ContainerStack` is the
:class:`~poslab.stack.stack.Stack` whose services run that way; everything
else (wiring, proxies, probes, faults, scenarios) is the embedded stack's.

Why host networking: the containers share the host's network namespace, so
every service binds ``127.0.0.1`` exactly as an embedded one does (nothing is
published, nothing listens beyond loopback), the lab's probes, the terminals
and Toxiproxy reach each other on loopback, and the services' contract
(``--port 0``, the ready file, the agents finding each other through their
ready files) holds as it is. The run directory and the world file are
bind-mounted at the same paths and the containers run as the lab's user, so
databases, ready files and settings are where the lab looks for them.

What the engine does for the lab: kill (any signal) and restart act on the
container; a restart makes a new container on the same ports and database.
Every container carries the labels ``org.poslab.run`` (the run) and
``org.poslab.service``; :meth:`ContainerLauncher.stop` saves its output to
``services/<name>.log`` and removes it; :func:`remove_run_containers`
removes whatever a run left, and :func:`remove_orphans` the containers of a
lab that died without stopping them (SIGKILL: their ``org.poslab.owner-pid``
is gone; the next container stack's start calls it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.errors import StackError
from poslab.stack.commands import fixed_ports
from poslab.stack.probe import Prober
from poslab.stack.process import DEFAULT_GRACE_S
from poslab.stack.service import ServiceSpec, free_port, log_tail_text, read_ready_file
from poslab.stack.state import ServiceState
from poslab.stack.topology import Service, ServiceName
from poslab.stack.wiring import bracket

MODE = "container"
LABEL_RUN = "org.poslab.run"
LABEL_SERVICE = "org.poslab.service"
# The lab process that owns a run's containers, unless the run is detached (lab up).
LABEL_OWNER = "org.poslab.owner-pid"
TOXIPROXY_LOCAL_IMAGE = "pos-lab/toxiproxy:2.12.0"

#: service -> image (scripts/build-images builds them all)
DEFAULT_IMAGES: dict[ServiceName, str] = {
    ServiceName.PROXY: TOXIPROXY_LOCAL_IMAGE,
    ServiceName.ISSUER: "pos-lab/issuer",
    ServiceName.ACQUIRER: "pos-lab/acquirer",
    ServiceName.AGENT_PRIMARY: "pos-lab/agent",
    ServiceName.AGENT_BACKUP: "pos-lab/agent",
}
PROVISION_HINT = "scripts/ensure-docker (an engine), then scripts/build-images (the images)"


def engine(timeout: float = 10.0) -> Any:
    """A client of the Docker engine (DOCKER_HOST or the default socket) that answers."""
    try:
        import docker
    except ImportError as exc:
        raise StackError(
            "container mode needs the Docker SDK: pip install 'pos-resilience-lab[containers]' "
            f"({exc})"
        ) from exc
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # the SDK raises several types for "no daemon"
        raise StackError(
            f"no reachable Docker daemon ({exc}); provision one: {PROVISION_HINT}"
        ) from exc
    return client


def run_label(run_dir: Path) -> str:
    """The label value (and container-name part) of a run: its directory's digest."""
    return hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]


def missing_images(client: Any, images: Mapping[ServiceName, str] = DEFAULT_IMAGES) -> list[str]:
    """The images of ``images`` the engine does not have."""
    import docker.errors

    missing = []
    for image in sorted(set(images.values())):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            missing.append(image)
    return missing


def remove_orphans(client: Any) -> list[str]:
    """Remove the containers of runs whose lab died without stopping them (SIGKILL,
    a crash): the owner pid they carry is gone. Detached runs carry none."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL_OWNER}):
        try:
            os.kill(int(container.labels[LABEL_OWNER]), 0)
            continue  # its lab still runs
        except ProcessLookupError:
            pass
        except (PermissionError, ValueError):
            continue
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
            removed.append(container.name)
    return removed


def remove_run_containers(client: Any, label: str | None = None) -> list[str]:
    """Remove every lab container of one run (``label``) or of every run; their names."""
    selector = LABEL_RUN if label is None else f"{LABEL_RUN}={label}"
    removed = []
    for container in client.containers.list(all=True, filters={"label": selector}):
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True, v=True)
            removed.append(container.name)
    return removed


def cgroup_parent_for(client: Any) -> str | None:
    """``/`` on an engine with the cgroupfs driver, else None (the engine's default).

    By default every container's cgroup sits under one ``docker`` group, whose
    CPU weight is that of a single process: on a busy machine the whole stack
    then shares one process's CPU time while an embedded stack's five services
    get five shares (the gate's scores fell by 20 points at a load of 12). Under
    the root each container weighs what one embedded service process does.
    (A systemd driver wants a slice name there: left as it is.)
    """
    try:
        driver = client.info().get("CgroupDriver")
    except Exception:
        return None
    return "/" if driver == "cgroupfs" else None


@dataclass
class ContainerSettings:
    """What every container of one run shares."""

    client: Any
    run_dir: Path
    world_file: Path
    label: str
    images: Mapping[ServiceName, str] = field(default_factory=lambda: dict(DEFAULT_IMAGES))
    seed: int | None = None
    user: str = field(default_factory=lambda: f"{os.getuid()}:{os.getgid()}")
    # None: the containers outlive the lab (lab up); else the lab's pid, for remove_orphans
    owner_pid: int | None = field(default_factory=os.getpid)
    # Where the containers' cgroups go (see cgroup_parent_for); None: the engine's default.
    cgroup_parent: str | None = None

    @classmethod
    def for_run(
        cls, run_dir: Path, world_file: Path, *, seed: int | None = None, client: Any = None
    ) -> ContainerSettings:
        client = client if client is not None else engine()
        return cls(
            client=client,
            run_dir=run_dir.resolve(),
            world_file=world_file.resolve(),
            label=run_label(run_dir),
            seed=seed,
            cgroup_parent=cgroup_parent_for(client),
        )


class ContainerLauncher:
    """One service in a container on the host's network (see the module's doc)."""

    def __init__(
        self,
        service: Service,
        spec: ServiceSpec,
        prober: Prober,
        settings: ContainerSettings,
        *,
        grace: float = DEFAULT_GRACE_S,
    ) -> None:
        self.service = service
        self.spec = spec
        self.prober = prober
        self.settings = settings
        self.grace = grace
        self.ports: dict[str, int] = {}
        self.container: Any = None
        self.container_name = f"poslab-{settings.label}-{service.name.value}"
        self.image = settings.images[service.name]
        self.exit_code: int | None = None
        self._status: tuple[float, bool] | None = None  # (monotonic time, running)

    @property
    def name(self) -> str:
        return self.service.name.value

    @property
    def is_proxy(self) -> bool:
        return self.service.name is ServiceName.PROXY

    # -- what the stack records -------------------------------------------

    def state(self) -> ServiceState:
        ports, service = dict(self.ports), self.service
        host = bracket(service.address.host)
        main = next(iter(self.spec.port_flags))
        admin_port = ports.get("admin", ports.get(main) if service.admin else None)
        if self.is_proxy:
            admin_port = None
        return ServiceState(
            name=self.name,
            mode=MODE,
            address=f"{host}:{ports[main]}" if main in ports else None,
            admin_url=None if admin_port is None else f"http://{host}:{admin_port}",
            health_url=self.spec.health_url(ports) if self.spec.health_port in ports else None,
            ports=ports,
        )

    def running(self) -> bool | None:
        """Whether the container runs, as the engine said at most 0.5 s ago (the
        stack's health asks for every service each time it probes)."""
        if self.container is None:
            return False
        now = time.monotonic()
        if self._status is not None and now - self._status[0] < 0.5:
            return self._status[1]
        try:
            self.container.reload()
            running = bool(self.container.status == "running")
        except Exception:
            running = False
        self._status = (now, running)
        return running

    # -- the protocol -----------------------------------------------------

    async def start(self, deadline: float) -> None:
        """Create and start the container on the topology's ports; a port the
        topology leaves free (0) is picked here, so a restart of the same
        container (same command) keeps it."""
        wanted = fixed_ports(self.service.address, self.service.admin, self.spec)
        ports = {name: wanted.get(name) or free_port() for name in self.spec.port_flags}
        await self._run(ports)
        if self.is_proxy:
            self.ports = ports  # Toxiproxy writes no ready file

    async def ready(self, deadline: float) -> None:
        """The ready file names the ports (lab services), then the health check answers."""
        spec, delay = self.spec, 0.02
        waiting_for = "its health check" if self.ports else "its ready file"
        while True:
            self._status = None
            if not await asyncio.to_thread(self.running):
                code = await self._exit_code()
                output = await self._output()
                raise self._failure(
                    f"its container exited with code {code} before it was ready", output
                )
            if not self.ports and spec.ready_file is not None:
                info = read_ready_file(spec.ready_file)
                if info is not None:
                    self.ports = {name: info.ports[name] for name in spec.port_flags}
            if self.ports:
                url = spec.health_url(self.ports)
                left = deadline - time.monotonic()
                probe = await self.prober.http(url, timeout=max(0.2, min(2.0, left)))
                if probe.ok:
                    return
                waiting_for = f"its health check ({probe.detail})"
            if time.monotonic() >= deadline:
                output = await self._output()
                raise self._failure(f"not ready in time: still waiting for {waiting_for}", output)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the service through the engine; for KILL, return once it is gone."""
        if self.container is None:
            raise StackError(f"{self.name} was never started")
        await asyncio.to_thread(self.container.kill, int(sig))
        self._status = None
        if sig == signal.SIGKILL:
            end = time.monotonic() + self.grace
            while await asyncio.to_thread(self.running) and time.monotonic() < end:
                await asyncio.sleep(0.05)

    async def restart(self, deadline: float) -> None:
        """The same container again (TERM, then KILL after the grace, then start):
        same command, so same ports; same database and log."""
        container = self.container
        if container is None:
            raise StackError(f"{self.name} was never started")
        if not self.is_proxy:
            if self.spec.ready_file is not None:
                self.spec.ready_file.unlink(missing_ok=True)
            self.ports = {}  # read back from the new ready file
        self._status = None
        try:
            await asyncio.to_thread(container.restart, timeout=max(1, round(self.grace)))
        except Exception as exc:
            raise self._failure(f"the engine would not restart it: {exc}") from exc

    async def stop(self, grace: float) -> None:
        """Stop (TERM, then KILL after ``grace``), keep its output, remove it; idempotent."""
        await self._remove(grace)

    async def logs(self, lines: int = 25) -> str:
        output = await self._output()
        return log_tail_text(_read(self.spec.log_file) if output is None else output, lines)

    # -- the engine -------------------------------------------------------

    def _command(self, ports: Mapping[str, int]) -> tuple[list[str] | None, list[str]]:
        """(entrypoint, command) for a start on ``ports``."""
        if self.is_proxy:
            flags = ["-host", self.service.address.host, "-port", str(ports["api"])]
            if self.settings.seed is not None:
                flags += ["-seed", str(self.settings.seed)]
            return None, flags  # the image's /toxiproxy
        argv = self.spec.command(ports)
        try:
            module = argv[argv.index("-m") + 1]
        except (ValueError, IndexError):
            raise StackError(
                f"{self.name}: container mode runs the lab's images; "
                f"{argv[0]!r} is not a python -m program"
            ) from None
        return ["python", "-m", module], argv[argv.index("-m") + 2 :]

    async def _run(self, ports: Mapping[str, int]) -> None:
        if self.spec.ready_file is not None and not self.is_proxy:
            self.spec.ready_file.unlink(missing_ok=True)
        self.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        entrypoint, command = self._command(ports)
        settings = self.settings
        volumes = {
            str(settings.run_dir): {"bind": str(settings.run_dir), "mode": "rw"},
            str(settings.world_file): {"bind": str(settings.world_file), "mode": "ro"},
        }
        kwargs: dict[str, Any] = {
            "command": command,
            "name": self.container_name,
            "detach": True,
            "network_mode": "host",
            "init": not self.is_proxy,  # signals reach python; Toxiproxy is Go, PID 1 is fine
            "labels": self._labels(),
            "environment": dict(self.spec.env),
        }
        if entrypoint is not None:
            kwargs.update(entrypoint=entrypoint, user=settings.user, volumes=volumes)
        if settings.cgroup_parent is not None:
            kwargs["cgroup_parent"] = settings.cgroup_parent
        client = settings.client

        def run() -> Any:
            with contextlib.suppress(Exception):  # a container left by a crashed run
                client.containers.get(self.container_name).remove(force=True, v=True)
            return client.containers.run(self.image, **kwargs)

        try:
            self.container = await asyncio.to_thread(run)
        except Exception as exc:
            raise self._failure(f"the engine would not run {self.image}: {exc}") from exc
        self.exit_code = None

    def _labels(self) -> dict[str, str]:
        labels = {LABEL_RUN: self.settings.label, LABEL_SERVICE: self.name}
        if self.settings.owner_pid is not None:
            labels[LABEL_OWNER] = str(self.settings.owner_pid)
        return labels

    async def _exit_code(self) -> int | None:
        if self.container is None:
            return None
        with contextlib.suppress(Exception):
            result = await asyncio.to_thread(self.container.wait, timeout=2)
            self.exit_code = int(result.get("StatusCode", -1))
        return self.exit_code

    async def _output(self) -> str | None:
        """Everything the container wrote (every start of it); None without one."""
        if self.container is None:
            return None
        try:
            return await asyncio.to_thread(_container_output, self.container)
        except Exception:
            return None

    async def _save_logs(self) -> None:
        """Append the container's output to ``services/<name>.log`` (once, at removal)."""
        text = await self._output()
        if text is None:
            return
        with contextlib.suppress(OSError), self.spec.log_file.open("a", encoding="utf-8") as fh:
            fh.write(f"--- container {self.container_name} ({self.image}) ---\n{text}")
            if text and not text.endswith("\n"):
                fh.write("\n")

    async def _remove(self, grace: float) -> None:
        container = self.container
        if container is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.to_thread(container.stop, timeout=max(1, round(grace)))
        await self._exit_code()
        await self._save_logs()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(container.remove, force=True, v=True)
        self.container = None

    def _failure(self, why: str, output: str | None = None) -> StackError:
        tail = log_tail_text(_read(self.spec.log_file) if output is None else output)
        return StackError(f"service {self.name} ({self.image}) {why}\n--- its log ---\n{tail}")


def _container_output(container: Any) -> str:
    data: bytes = container.logs(stdout=True, stderr=True)
    return data.decode("utf-8", errors="replace")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def adopt_container(
    service: Service,
    state: ServiceState,
    spec: ServiceSpec,
    prober: Prober,
    *,
    run_dir: Path,
    world_file: Path,
    seed: int | None,
    grace: float = DEFAULT_GRACE_S,
) -> ContainerLauncher:
    """The launcher of a container an earlier ``lab up --containers`` started
    (``lab down``, ``lab status``, a drill on a running stack)."""
    settings = ContainerSettings.for_run(run_dir, world_file, seed=seed)
    launcher = ContainerLauncher(service, spec, prober, settings, grace=grace)
    launcher.ports = dict(state.ports)
    with contextlib.suppress(Exception):  # gone already: nothing to stop
        launcher.container = settings.client.containers.get(launcher.container_name)
    return launcher
