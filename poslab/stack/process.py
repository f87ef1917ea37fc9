"""Service processes: start one in its own process group, await its readiness,
signal it, stop it so that nothing survives.

Each service runs as the leader of a new session (so of a new process group):
a signal to the group reaches anything the service itself spawned, and the
``lab`` terminal's Ctrl-C does not reach the services behind the lab's back.

Two ways to own a service:

- :class:`ServiceProcess` — started by this process, which reaps it;
- a :class:`ProcessIdentity` read back from the state file — a service started
  by an earlier ``lab up``; :func:`stop_group` stops it without being its
  parent. The identity carries the process's start time so that a pid reused
  by an unrelated process after a reboot is never signalled.

With ``orphan_guard`` the child asks the kernel (``PR_SET_PDEATHSIG``, through
:mod:`poslab.common.orphan_guard`) to be killed when its parent dies, so even
a ``kill -9`` of the lab leaves no service behind. ``lab up`` switches it
off: there the services must outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

from poslab.common.orphan_guard import guarded_argv
from poslab.errors import StackError
from poslab.stack.probe import Prober
from poslab.stack.service import ServiceSpec, free_port, log_tail, read_ready_file

DEFAULT_GRACE_S = 5.0

log = logging.getLogger("poslab.stack.process")


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as it was started: pid (= its group and session id) and start time."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())

    def is_running(self) -> bool:
        """The very process we started is alive (not a zombie, not a reused pid)."""
        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.create_time) < 0.05
            return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False

    def pid_reused(self) -> bool:
        """The pid now belongs to a different process than the one we started."""
        try:
            return bool(abs(psutil.Process(self.pid).create_time() - self.create_time) >= 0.05)
        except psutil.Error:
            return False

    def members(self) -> list[psutil.Process]:
        """Live processes of the service's session (it and anything it spawned).

        While any of them lives the kernel keeps the session id reserved, so a
        member found here is ours even when the leader itself is gone.
        """
        if self.pid_reused():
            return []
        found = []
        for proc in psutil.process_iter():
            try:
                if os.getsid(proc.pid) == self.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (OSError, psutil.Error):
                continue
        return found

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the whole group; False when nothing of it is left."""
        if self.pid_reused():
            return False
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            raise StackError(f"not allowed to signal process group {self.pid}: {exc}") from exc
        return True


async def stop_group(
    identity: ProcessIdentity,
    grace: float = DEFAULT_GRACE_S,
    reap: subprocess.Popen[bytes] | None = None,
) -> bool:
    """TERM the group, KILL it after ``grace`` seconds, return when none of it lives.

    True when the leader had to be killed: it did not finish within ``grace``
    (logged here; the caller says so where the service's own output goes).
    """
    if not identity.signal_group(signal.SIGTERM):
        _poll(reap)
        return False
    deadline = time.monotonic() + grace
    overran = True
    while time.monotonic() < deadline:
        _poll(reap)
        if not identity.is_running():
            overran = False
            break
        await asyncio.sleep(0.02)
    if overran:
        overran = identity.is_running()
    if overran:
        log.warning(
            "process group %d did not exit within %.1f s of SIGTERM: killing it",
            identity.pid,
            grace,
        )
    # The leader is gone (or would not go); sweep its group either way so a
    # grandchild that ignored TERM cannot outlive it.
    for _ in range(100):
        _poll(reap)
        leftovers = identity.members()
        if not leftovers:
            return overran
        identity.signal_group(signal.SIGKILL)
        await asyncio.sleep(0.02)
    raise StackError(f"process group {identity.pid} survived SIGKILL: {leftovers}")


def _poll(popen: subprocess.Popen[bytes] | None) -> None:
    if popen is not None:
        popen.poll()  # reaps our own child so it does not linger as a zombie


class ServiceProcess:
    """One service started by this process."""

    def __init__(self, spec: ServiceSpec, *, orphan_guard: bool = True) -> None:
        self.spec = spec
        self.orphan_guard = orphan_guard
        self.ports: dict[str, int] = {}
        self.identity: ProcessIdentity | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._wanted: dict[str, int] = {}

    @classmethod
    def adopt(
        cls, spec: ServiceSpec, identity: ProcessIdentity, ports: Mapping[str, int]
    ) -> ServiceProcess:
        """A service started by another lab process (read from the state file)."""
        proc = cls(spec, orphan_guard=False)
        proc.identity = identity
        proc.ports = dict(ports)
        return proc

    @property
    def returncode(self) -> int | None:
        """The exit code of a child of ours once it exited (None otherwise)."""
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return self.identity is not None and self.identity.is_running()

    def spawn(self, ports: Mapping[str, int] | None = None) -> None:
        """Start the service (``ports`` empty: free ports of the kernel's choice).

        Called on the event loop's thread on purpose: PR_SET_PDEATHSIG fires
        when the *thread* that forked dies, and the loop's thread lives as long
        as the stack does.
        """
        spec = self.spec
        wanted = dict(ports or {})
        if spec.ready_file is None:
            # No ready file to learn the ports from: choose them ourselves.
            wanted = {name: wanted.get(name) or free_port(spec.host) for name in spec.port_flags}
            self.ports = wanted
        else:
            # A stale ready file would announce the previous run's ports.
            spec.ready_file.unlink(missing_ok=True)
            self.ports = {}
        self._wanted = wanted
        argv = spec.command(wanted)
        argv[0] = shutil.which(argv[0]) or argv[0]
        if self.orphan_guard:
            argv = guarded_argv(argv)
        spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        with spec.log_file.open("ab") as log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            log.write(f"--- lab: {stamp} start {' '.join(spec.command(wanted))}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=spec.cwd,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{spec.name}: cannot start {argv[0]}: {exc}") from exc
        try:
            self.identity = ProcessIdentity.of(self._popen.pid)
        except psutil.Error:
            # Died within microseconds; readiness reports it with its log.
            self.identity = ProcessIdentity(self._popen.pid, time.time())

    async def wait_ready(self, prober: Prober, deadline: float) -> dict[str, int]:
        """Wait for the ready file and a healthy answer; the bound ports.

        Raises StackError naming the service, with its log tail, when it exits
        first or the monotonic ``deadline`` passes.
        """
        spec = self.spec
        delay = 0.01
        waiting_for = "its ready file" if spec.ready_file else "its health check"
        while True:
            code = self.returncode
            if code is not None:
                raise self._failure(f"exited with code {code} before it was ready")
            if spec.ready_file is not None and not self.ports:
                try:
                    info = read_ready_file(spec.ready_file)
                except StackError as exc:
                    raise self._failure(str(exc)) from exc
                if info is not None:
                    missing = set(spec.port_flags) - set(info.ports)
                    if missing:
                        raise self._failure(f"ready file lacks ports {sorted(missing)}")
                    moved = {
                        name: info.ports[name]
                        for name, port in self._wanted.items()
                        if port and info.ports[name] != port
                    }
                    if moved:
                        raise self._failure(f"listens on {moved}, not on {self._wanted}")
                    self.ports = {name: info.ports[name] for name in spec.port_flags}
                    waiting_for = "its health check"
            if self.ports:
                url = spec.health_url(self.ports)
                probe = await prober.http(url, timeout=max(0.2, min(2.0, deadline - _now())))
                if probe.ok:
                    return dict(self.ports)
                waiting_for = f"its health check ({probe.detail})"
            if _now() >= deadline:
                raise self._failure(f"not ready in time: still waiting for {waiting_for}")
            await asyncio.sleep(min(delay, max(0.0, deadline - _now())))
            delay = min(delay * 1.5, 0.1)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the service's whole process group."""
        if self.identity is None:
            raise StackError(f"{self.spec.name} was never started")
        self.identity.signal_group(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` for the service to exit; its exit code if we know it."""
        deadline = _now() + timeout
        while self.running and _now() < deadline:
            await asyncio.sleep(0.01)
        return self.returncode

    async def stop(self, grace: float = DEFAULT_GRACE_S) -> None:
        """Terminate the service and everything in its group; reap it."""
        if self.identity is None:
            return
        if await stop_group(self.identity, grace, reap=self._popen):
            # what could not finish in time: said where the service's own output is
            with contextlib.suppress(OSError), self.spec.log_file.open("ab") as out:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                out.write(
                    f"--- lab: {stamp} {self.spec.name} did not exit within {grace:g} s "
                    "of SIGTERM: killed (SIGKILL)\n".encode()
                )
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=1.0)

    def _failure(self, why: str) -> StackError:
        tail = log_tail(self.spec.log_file)
        # The service's own one-line refusal (a port in use, a corrupt database)
        # goes on the first line, where a pipeline's log shows it.
        said = next(
            (line.strip() for line in reversed(tail.splitlines()) if _REFUSAL.match(line)), ""
        )
        return StackError(
            f"service {self.spec.name} {why}{': ' + said if said else ''}; "
            f"last lines of {self.spec.log_file}:\n{tail}"
        )


#: How the services say why they will not run (``error: …``, ``poslab.mocks.agent: …``).
_REFUSAL = re.compile(r"^(error: |poslab\.[\w.]+: )")


def _now() -> float:
    return time.monotonic()
