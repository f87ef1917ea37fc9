"""Locust as a subprocess: start it on a fleet config, steer it, stop it.

Locust monkey-patches the process it is imported in (gevent), so the lab
never imports it: :class:`Fleet` runs ``python -m locust -f
poslab/loadtests/locustfile.py`` in its own process group with the config path in
``LAB_FLEET_CONFIG``, and talks to it only through files — the control file
(fleet faults) and what Locust writes (the fleet journal, its CSV/HTML).

With ``FleetConfig.workers`` Locust runs as a master (bound to 127.0.0.1
unless ``LAB_FLEET_MASTER`` says otherwise) and the lab starts the local
workers, each in an empty directory of its own under ``fleet/workers/``; the
master relays the control file and writes the journal over Locust's messages
(``poslab/loadtests/distributed.py``, docs/scale.md), and lists its workers,
lost and refused ones in ``fleet/workers.json``.

Every start carries an outer timeout: a Locust that overstays it (a shape
that never ends, a hung worker) has its whole process group killed, because
a scenario runner that waits forever is worse than a run marked failed.

Locust never outlives the lab process that started it, ``kill -9`` included
(:mod:`poslab.common.orphan_guard`): the kernel kills it when its parent dies
(``PR_SET_PDEATHSIG``, when started from the main thread), and a watchdog in
every Locust process (``poslab/loadtests/locustfile.py``, parent pid in
``LAB_PARENT_PID``) kills the whole Locust group — master and ``--processes``
workers — once its parent is gone. Its identity (pid and start time) is
written to ``fleet/locust.pid.json`` and, with ``registry``, into that folder
too (``lab load`` uses the one beside the stack's state file), so ``lab down``
finds and stops a load whatever became of the command that started it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from poslab.common import atomic_write
from poslab.common.orphan_guard import PARENT_ENV, guarded_argv
from poslab.errors import StackError

from .config import CONFIG_ENV, FleetConfig
from .control import ControlWriter
from .load_marker import LOAD_STARTED_FILE, read_load_started
from .readers import iter_journal, read_locust_stats

__all__ = [
    "DEFAULT_LOCUSTFILE",
    "PID_RECORD",
    "Fleet",
    "FleetError",
    "LoadRecord",
    "LocustOptions",
    "free_port",
    "read_load_records",
    "worker_argv",
]

DEFAULT_LOCUSTFILE = Path(__file__).resolve().parents[1] / "loadtests" / "locustfile.py"
_POLL_S = 0.05
MASTER_ENV = "LAB_FLEET_MASTER"
LOCAL_WORKERS_ENV = "LAB_FLEET_LOCAL_WORKERS"


#: FleetConfig fields that name files or folders.
_PATH_FIELDS = ("world", "journal_dir", "control_file", "state_dir")

#: The running Locust's identity, in the fleet directory (``fleet/locust.pid.json``).
PID_RECORD = "locust.pid.json"


@dataclasses.dataclass(frozen=True)
class LoadRecord:
    """A Locust the lab started: pid (its process group and session), start time,
    the lab process that started it and the run directory it writes to."""

    pid: int
    create_time: float
    parent_pid: int
    run_dir: str
    path: Path  # the record itself

    def is_running(self) -> bool:
        """That very Locust lives (not a zombie, not a pid reused by another process)."""
        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.create_time) < 0.05
            return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False


def read_load_records(directory: Path) -> list[LoadRecord]:
    """The load records in ``directory`` (a registry, or a fleet directory's
    ``locust.pid.json``); unreadable or foreign files are skipped."""
    paths = [directory] if directory.is_file() else sorted(directory.glob("*.json"))
    records = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records.append(
                LoadRecord(
                    pid=int(data["pid"]),
                    create_time=float(data["create_time"]),
                    parent_pid=int(data["parent_pid"]),
                    run_dir=str(data["run_dir"]),
                    path=path,
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours, or half of one: nothing to stop by it
    return records


class FleetError(StackError):
    """Locust would not start, or had to be killed."""


@dataclasses.dataclass(frozen=True)
class LocustOptions:
    headless: bool = True
    web_host: str = "127.0.0.1"  # the web UI binds loopback unless told otherwise
    web_port: int = 8089
    autoquit_s: int = 10  # web mode: quit this long after the shape ends
    loglevel: str = "WARNING"
    locustfile: Path = DEFAULT_LOCUSTFILE
    extra_args: tuple[str, ...] = ()
    # A distributed fleet (FleetConfig.workers): the master's port (None: a free
    # one) and how many of its workers the lab starts here (None: all of them;
    # fewer when the others join from other machines with `lab fleet worker`).
    master_port: int | None = None
    master_bind_host: str = "127.0.0.1"
    local_workers: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **fields: Any) -> LocustOptions:
        """Options with the distributed fleet's settings from the environment
        (``lab run --workers N`` has no more options than N): ``LAB_FLEET_MASTER``
        (HOST:PORT the master binds, for workers on other machines) and
        ``LAB_FLEET_LOCAL_WORKERS`` (how many of the N the lab starts here)."""
        env = os.environ if env is None else env
        master = env.get(MASTER_ENV)
        if master:
            host, sep, port = master.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise FleetError(f"{MASTER_ENV} must be HOST:PORT, got {master!r}")
            fields.setdefault("master_bind_host", host)
            fields.setdefault("master_port", int(port))
        local = env.get(LOCAL_WORKERS_ENV)
        if local:
            if not local.isdigit():
                raise FleetError(f"{LOCAL_WORKERS_ENV} must be a count, got {local!r}")
            fields.setdefault("local_workers", int(local))
        return cls(**fields)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worker_argv(
    python: str,
    master: str,
    port: int,
    *,
    locustfile: Path = DEFAULT_LOCUSTFILE,
    loglevel: str = "WARNING",
) -> list[str]:
    """A Locust worker of a distributed fleet: it needs no config and no file of
    the run, only its master (which sends it the fleet at connect)."""
    return [
        python, "-m", "locust", "-f", str(locustfile), "--worker",
        "--master-host", master, "--master-port", str(port), "--loglevel", loglevel,
    ]  # fmt: skip


class Fleet:
    """One Locust run writing into ``run_dir`` (``fleet/`` and ``locust/``)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        options: LocustOptions | None = None,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        registry: Path | None = None,
    ) -> None:
        # Absolute: Locust runs in the directory that holds poslab/ (site-packages
        # once the lab is installed), not in the lab's working directory.
        self.run_dir = Path(run_dir).absolute()
        self.fleet_dir = self.run_dir / "fleet"
        self.locust_dir = self.run_dir / "locust"
        self.options = options or LocustOptions.from_env()
        self.python = python
        self.env = dict(env) if env is not None else None
        self.registry = registry  # also record the running Locust here (lab down reads it)
        self.config: FleetConfig | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._deadline = 0.0
        self._control: ControlWriter | None = None
        self.master_port: int | None = None
        self.workers: list[subprocess.Popen[bytes]] = []  # local workers (distributed)

    # -- configuration ---------------------------------------------------------

    def config_for(self, **fields: Any) -> FleetConfig:
        """A :class:`FleetConfig` whose journal, control file and terminal
        state live in this run directory; ``fields`` supply the rest."""
        fields.setdefault("journal_dir", str(self.fleet_dir))
        fields.setdefault("control_file", str(self.fleet_dir / "control.jsonl"))
        fields.setdefault("state_dir", str(self.fleet_dir / "state"))
        for name in _PATH_FIELDS:  # read by Locust from its own working directory
            if fields.get(name) is not None:
                fields[name] = str(Path(fields[name]).absolute())
        return FleetConfig(**fields)

    @property
    def csv_prefix(self) -> Path:
        return self.locust_dir / "locust"

    @property
    def log_file(self) -> Path:
        return self.locust_dir / "locust.log"

    def command(self, config_path: Path, config: FleetConfig) -> list[str]:
        o = self.options
        argv = [self.python, "-m", "locust", "-f", str(o.locustfile)]
        if o.headless:
            argv.append("--headless")
        else:
            argv += ["--web-host", o.web_host, "--web-port", str(o.web_port), "--autostart"]
            argv += ["--autoquit", str(o.autoquit_s)]
        argv += ["--csv", str(self.csv_prefix), "--html", str(self.locust_dir / "report.html")]
        # Users finish the transaction in hand when the run stops: a sale cut
        # off mid-flight would be a lab-made failure.
        stop_timeout = config.response_timeout_s * 2 + config.connect_timeout_s + 5
        argv += ["--stop-timeout", f"{stop_timeout:g}", "--exit-code-on-error", "0"]
        argv += ["--loglevel", o.loglevel]
        if config.processes > 1:
            argv += ["--processes", str(config.processes)]
        if config.workers:
            argv += ["--master", "--master-bind-host", o.master_bind_host]
            argv += ["--master-bind-port", str(self.master_port)]
            argv += ["--expect-workers", str(config.workers)]
        return [*argv, *o.extra_args]

    # -- lifecycle -------------------------------------------------------------

    def start(self, config: FleetConfig, *, timeout_s: float) -> None:
        """Write the config and start Locust; it must be done within ``timeout_s``."""
        if self.process is not None and self.process.poll() is None:
            raise FleetError("this fleet is already running")
        self.fleet_dir.mkdir(parents=True, exist_ok=True)
        self.locust_dir.mkdir(parents=True, exist_ok=True)
        Path(config.journal_dir).mkdir(parents=True, exist_ok=True)
        # a marker of an earlier load in this directory must not start this one's clock
        (Path(config.journal_dir) / LOAD_STARTED_FILE).unlink(missing_ok=True)
        config_path = config.write(self.fleet_dir / "config.json")
        env = dict(os.environ if self.env is None else self.env)
        env[CONFIG_ENV] = str(config_path)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # Locust's watchdog kills its whole group once its parent is not us any more.
        env[PARENT_ENV] = str(os.getpid())
        self.config = config
        self._control = ControlWriter(Path(config.control_file))
        if config.workers:
            self.master_port = self.options.master_port or free_port(self.options.master_bind_host)
        argv = self.command(config_path, config)
        argv[0] = shutil.which(argv[0]) or argv[0]
        if threading.current_thread() is threading.main_thread():
            # The kernel's death signal follows the forking *thread*: only the
            # main thread lives as long as the lab (elsewhere the watchdog alone).
            argv = guarded_argv(argv)
        with self.log_file.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.options.locustfile.parents[2],  # the directory that holds poslab/
                    start_new_session=True,  # its own group: killable as a whole
                )
            except OSError as exc:
                raise FleetError(f"cannot start Locust: {exc}") from exc
        self._deadline = time.monotonic() + timeout_s
        self._record(self.process.pid)
        if config.workers:
            local = self.options.local_workers
            self._start_workers(config.workers if local is None else local, env)

    def _start_workers(self, count: int, env: Mapping[str, str]) -> None:
        """Local workers, each in an empty directory of its own (its flash and
        world copy live there; nothing of the run directory is read)."""
        env = {k: v for k, v in env.items() if k != CONFIG_ENV}
        root = str(self.options.locustfile.parents[2])  # poslab/, if not installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        assert self.master_port is not None
        for index in range(count):
            cwd = self.fleet_dir / "workers" / f"local-{index}"
            cwd.mkdir(parents=True, exist_ok=True)
            argv = worker_argv(
                self.python,
                "127.0.0.1",
                self.master_port,
                locustfile=self.options.locustfile,
                loglevel=self.options.loglevel,
            )
            argv[0] = shutil.which(argv[0]) or argv[0]
            if threading.current_thread() is threading.main_thread():
                argv = guarded_argv(argv)
            with (self.locust_dir / f"worker-{index}.log").open("ab") as log:
                try:
                    self.workers.append(
                        subprocess.Popen(
                            argv,
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            env=env,
                            cwd=cwd,
                            start_new_session=True,  # killable as a group, like the master
                        )
                    )
                except OSError as exc:
                    self._kill_group(signal.SIGKILL)
                    raise FleetError(f"cannot start a Locust worker: {exc}") from exc

    def workers_report(self) -> dict[str, Any] | None:
        """The master's record of its workers (``fleet/workers.json``): joined,
        lost (their terminals and last journal records) and refused."""
        try:
            data = json.loads((self.fleet_dir / "workers.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _record(self, pid: int) -> None:
        """Write where ``lab down`` looks: fleet/locust.pid.json and the registry."""
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            return  # already gone: nothing anyone must stop
        record = {
            "pid": pid,
            "create_time": create_time,
            "parent_pid": os.getpid(),
            "run_dir": str(self.run_dir),
        }
        text = json.dumps(record) + "\n"
        targets = [self.fleet_dir / PID_RECORD]
        if self.registry is not None:
            targets.append(self.registry / f"{pid}.json")
        try:
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, text)
        except OSError as exc:
            # A load no one could find later must not run: stop it, say why.
            self._kill_group(signal.SIGKILL)
            self._require().wait()
            raise FleetError(f"cannot record the load's process in {target}: {exc}") from exc

    def _forget(self) -> None:
        """The load is over: its registry entry goes (the fleet's own record stays)."""
        if self.registry is not None and self.process is not None:
            (self.registry / f"{self.process.pid}.json").unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def control(
        self, action: str, params: Mapping[str, Any] | None = None, until: float | None = None
    ) -> int:
        """Send a fleet fault to every Locust process; returns its ``seq``."""
        if self._control is None:
            raise FleetError("the fleet has not been started")
        return self._control.send(action, params, until)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Locust's exit code once it ends; None if it still runs after
        ``timeout_s``. Past the start timeout it is killed (:class:`FleetError`)."""
        process = self._require()
        limit = (
            self._deadline
            if timeout_s is None
            else min(self._deadline, time.monotonic() + timeout_s)
        )
        while time.monotonic() < limit:
            code = process.poll()
            if code is not None:
                self._forget()
                return code
            time.sleep(_POLL_S)
        code = process.poll()
        if code is not None:
            self._forget()
            return code
        if time.monotonic() < self._deadline:
            return None
        self._kill_group(signal.SIGKILL)
        process.wait()
        self._forget()
        raise FleetError(f"Locust overstayed its timeout and was killed; see {self.log_file}")

    def stop(self, grace_s: float = 15.0) -> int:
        """Ask Locust to stop (SIGTERM: users finish, CSV and HTML are written),
        then kill the whole group if it is still there after ``grace_s``."""
        process = self._require()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                process.wait()
        # workers of --processes may outlive a master that was killed; local
        # workers of a distributed fleet had the master's quit: a moment to go
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=min(grace_s, 5.0))
        self._kill_group(signal.SIGKILL)
        self._forget()
        return process.returncode

    def _kill_group(self, sig: signal.Signals) -> None:
        process = self._require()
        for pid in [process.pid, *(w.pid for w in self.workers)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        for worker in self.workers:
            if sig == signal.SIGKILL:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=5.0)

    def _require(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise FleetError("the fleet has not been started")
        return self.process

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.stop()

    # -- what it wrote ----------------------------------------------------------

    def journal(self) -> Iterator[dict[str, Any]]:
        return iter_journal(self.fleet_dir)

    def load_started(self) -> float | None:
        """The load shape's zero (epoch) once Locust has started it, else None."""
        if self.config is None:
            return None
        return read_load_started(self.config.journal_dir)

    def stats(self) -> list[dict[str, str]]:
        return read_locust_stats(self.csv_prefix)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
