"""The stack's state file: what runs, where, and how to stop or restart it.

``lab up`` returns while the services keep running, so everything a later
``lab status`` / ``lab down`` / scenario runner needs is written here
(``runs/.stack.json`` by default): each service's process identity (pid and
start time, so a reused pid is never signalled), its command and files (so it
can be restarted on the same ports and database), the proxies and the
addresses terminals use. The file is rewritten atomically after every change —
while the stack is still starting too, so even a lab that crashed half-way
leaves enough behind for ``lab down`` to clean up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poslab.common import atomic_write
from poslab.errors import StackError
from poslab.stack.compose import ComposeProject
from poslab.stack.process import ProcessIdentity
from poslab.stack.service import ServiceSpec

STATE_FORMAT = 1


class ProcessState(BaseModel):
    """An embedded service's process and the spec it was started from."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    create_time: float
    argv: list[str]
    port_flags: dict[str, str]
    log_file: str
    ready_file: str | None
    health_port: str
    health_path: str
    host: str
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, spec: ServiceSpec, identity: ProcessIdentity) -> ProcessState:
        return cls(
            pid=identity.pid,
            create_time=identity.create_time,
            argv=list(spec.argv),
            port_flags=dict(spec.port_flags),
            log_file=str(spec.log_file),
            ready_file=None if spec.ready_file is None else str(spec.ready_file),
            health_port=spec.health_port,
            health_path=spec.health_path,
            host=spec.host,
            cwd=None if spec.cwd is None else str(spec.cwd),
            env=dict(spec.env),
        )

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(pid=self.pid, create_time=self.create_time)

    def spec(self, name: str) -> ServiceSpec:
        return ServiceSpec(
            name=name,
            argv=tuple(self.argv),
            port_flags=self.port_flags,
            log_file=Path(self.log_file),
            ready_file=None if self.ready_file is None else Path(self.ready_file),
            health_port=self.health_port,
            health_path=self.health_path,
            host=self.host,
            cwd=None if self.cwd is None else Path(self.cwd),
            env=self.env,
        )


class ServiceState(BaseModel):
    """One service as the stack knows it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    mode: str  # "embedded" | "external"
    address: str | None = None  # host:port of its main socket (None until known)
    admin_url: str | None = None  # base URL of its HTTP admin API
    health_url: str | None = None  # GET → 200 when healthy; None: TCP connect to address
    ports: dict[str, int] = Field(default_factory=dict)
    process: ProcessState | None = None  # embedded only


class ProxyState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    listen: str
    upstream: str
    upstream_service: str
    role: str
    region: str | None = None


class RegionPaths(BaseModel):
    """Where a region's terminals send ISO 8583: their own proxy, and the backup path."""

    model_config = ConfigDict(extra="forbid")

    primary: str
    backup: str | None = None


class StackAddresses(BaseModel):
    """Every address a client of the stack needs (terminals, runner, drills)."""

    model_config = ConfigDict(extra="forbid")

    proxy_api: str  # http://host:port of the Toxiproxy API
    services: dict[str, str]  # service -> host:port of its main socket (direct)
    admin: dict[str, str]  # service -> http base URL of its admin API
    proxies: dict[str, str]  # proxy -> host:port it listens on
    regions: dict[str, RegionPaths]  # region -> terminal host paths (through proxies)
    agents: dict[str, str]  # "primary"/"backup" -> http base URL through the agent proxies


class ComposeState(BaseModel):
    """The compose project of a stack in container mode."""

    model_config = ConfigDict(extra="forbid")

    file: str
    project: str
    env: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, project: ComposeProject) -> ComposeState:
        return cls(file=str(project.file), project=project.project, env=dict(project.env))

    def to_project(self) -> ComposeProject:
        return ComposeProject(file=Path(self.file), project=self.project, env=self.env)


class StackState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = STATE_FORMAT
    run_dir: str
    world_file: str
    started_at: float
    ready_seconds: float | None = None  # None while starting
    owner_pid: int
    detached: bool
    seed: int | None = None
    topology: dict[str, object]
    services: dict[str, ServiceState] = Field(default_factory=dict)
    proxies: dict[str, ProxyState] = Field(default_factory=dict)
    addresses: StackAddresses | None = None
    proxy_upstreams: dict[str, str] = Field(default_factory=dict)
    # Bearer token of admin APIs bound beyond 127.0.0.1 (containers). The file
    # is created 0600 for that reason; never print it.
    admin_token: str | None = None
    compose: ComposeState | None = None

    def identities(self) -> dict[str, ProcessIdentity]:
        return {
            name: svc.process.identity
            for name, svc in self.services.items()
            if svc.process is not None
        }

    def anything_running(self) -> bool:
        return any(identity.is_running() for identity in self.identities().values())


def write_state(path: Path, state: StackState) -> None:
    """Replace the state file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # PRIVATE (the default): the state may hold the admin token
    atomic_write(path, state.model_dump_json(indent=2) + "\n")


def read_state(path: Path) -> StackState | None:
    """The state file's content; None when no stack was brought up with it."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise StackError(
            f"{path}: not a stack state file (not UTF-8 text: byte {exc.start} is "
            f"0x{exc.object[exc.start]:02x}); if no stack runs, remove it"
        ) from None
    except OSError as exc:
        raise StackError(f"cannot read stack state {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and data.get("format") != STATE_FORMAT:
            raise StackError(
                f"{path}: stack state format {data.get('format')!r}, this lab reads "
                f"{STATE_FORMAT}; stop that stack with the lab that started it"
            )
        return StackState.model_validate(data)
    except json.JSONDecodeError as exc:
        raise StackError(f"{path}: not a valid stack state file: {exc}") from exc
    except ValidationError as exc:  # one line: the first problem and how many there are
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise StackError(
            f"{path}: not a valid stack state file: {where}: {first['msg']}{more}"
        ) from None


# -- one `lab up` at a time per state file and per run directory ----------------


def loads_dir(state_file: Path) -> Path:
    """Where loads driven against this stack record their Locust (``lab load``),
    so ``lab down`` stops them too: ``<state file>.loads/``."""
    return state_file.with_name(state_file.name + ".loads")


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
    return text


class StackLock:
    """Exclusive locks (``fcntl.flock``) on ``<state file>.lock`` and on
    ``<run dir>/.stack.lock`` while one ``lab up`` starts its stack.

    A lock, not a check-then-write: between reading the state file ("nothing
    runs") and writing it, a second ``lab up`` could start a second stack that
    no ``lab down`` would ever find. The kernel drops the lock when the holder
    exits, however it exits, so a killed ``lab up`` never leaves a stale one.
    The holder's pid and run directory are written into the lock file so that
    the one refused can say which stack is starting.
    """

    def __init__(self, state_file: Path, run_dir: Path) -> None:
        self.state_file = state_file
        self.run_dir = run_dir
        self.paths = (
            state_file.with_name(state_file.name + ".lock"),
            run_dir / ".stack.lock",
        )
        self._fds: list[int] = []

    def acquire(self) -> StackLock:
        """Take both locks at once or raise :class:`StackError` naming the holder."""
        who = f"pid {os.getpid()}, run dir {self.run_dir}, since {time.strftime('%H:%M:%S')}\n"
        try:
            for path, what in zip(self.paths, ("state file", "run dir"), strict=True):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                    target = self.state_file if what == "state file" else self.run_dir
                    holder = _holder(path) or "another lab process"
                    raise StackError(
                        f"a stack is already starting with the {what} {target} "
                        f"(lab up {holder}); wait for it (lab status) or stop it (lab down)"
                    ) from None
                self._fds.append(fd)
                os.ftruncate(fd, 0)
                os.pwrite(fd, who.encode(), 0)
        except OSError as exc:
            self.release()
            raise StackError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def __enter__(self) -> StackLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def run_dir_in_use(run_dir: Path) -> str | None:
    """Which service of a running stack uses ``run_dir`` (its ready file names a
    live process started on that file), or None.

    Two stacks in one run directory would share ready files, logs and ledgers:
    the second start fails far from its cause ("proxy … does not reach its
    upstream"), so it is refused up front with the name of what runs there.
    """
    services = run_dir / "services"
    for ready in sorted(services.glob("*.ready.json")):
        try:
            pid = int(json.loads(ready.read_text(encoding="utf-8"))["pid"])
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = proc.cmdline()
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            continue
        if str(ready) in cmdline or str(ready.resolve()) in cmdline:
            return f"{ready.name.removesuffix('.ready.json')} (pid {pid})"
    return None
