"""ServiceProcess: start, readiness, logs, failures, stop without orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from poslab.errors import StackError
from poslab.stack.probe import Prober
from poslab.stack.process import ProcessIdentity, ServiceProcess
from poslab.stack.service import ServiceSpec
from tests.support.processes import alive

MakeSpec = Callable[..., ServiceSpec]

pytestmark = pytest.mark.anyio


async def test_start_ready_log_and_stop(fake_spec: MakeSpec) -> None:
    spec = fake_spec("issuer")
    proc = ServiceProcess(spec)
    prober = Prober()
    try:
        proc.spawn()
        ports = await proc.wait_ready(prober, time.monotonic() + 10)
        assert set(ports) == {"main", "admin"} and all(p > 0 for p in ports.values())
        assert (await prober.http(spec.health_url(ports))).ok
        assert proc.identity is not None
        pid = proc.identity.pid
        assert os.getpgid(pid) == pid, "a service leads its own process group"
        await proc.stop()
        assert not alive(pid)
        assert proc.returncode == 0, "TERM is a clean shutdown"
        log = spec.log_file.read_text()
        assert "--- lab:" in log and "listening" in log and "terminated cleanly" in log
    finally:
        await proc.stop()
        await prober.close()


async def test_service_that_will_not_start_names_itself_with_log_tail(
    fake_spec: MakeSpec,
) -> None:
    proc = ServiceProcess(fake_spec("acquirer", "--fail-start"))
    prober = Prober()
    try:
        proc.spawn()
        with pytest.raises(StackError) as err:
            await proc.wait_ready(prober, time.monotonic() + 10)
        message = str(err.value)
        assert "acquirer" in message and "exited with code 3" in message
        assert "disk on fire" in message, "the log tail is in the error"
    finally:
        await proc.stop()
        await prober.close()


async def test_unhealthy_service_times_out_with_reason(fake_spec: MakeSpec) -> None:
    proc = ServiceProcess(fake_spec("agent-primary", "--health-fails"))
    prober = Prober()
    started = time.monotonic()
    try:
        proc.spawn()
        with pytest.raises(StackError, match=r"agent-primary not ready in time.*503"):
            await proc.wait_ready(prober, time.monotonic() + 1.5)
        assert time.monotonic() - started < 5
    finally:
        await proc.stop()
        await prober.close()


async def test_stop_kills_group_even_when_term_is_ignored(fake_spec: MakeSpec) -> None:
    spec = fake_spec("stubborn", "--ignore-term", "--spawn-child")
    proc = ServiceProcess(spec)
    prober = Prober()
    try:
        proc.spawn()
        await proc.wait_ready(prober, time.monotonic() + 10)
        assert spec.ready_file is not None
        child = int(Path(str(spec.ready_file) + ".child").read_text())
        assert proc.identity is not None
        leader = proc.identity.pid
        assert alive(child) and os.getpgid(child) == leader
        started = time.monotonic()
        await proc.stop(grace=0.5)
        elapsed = time.monotonic() - started
        assert not alive(leader) and not alive(child)
        assert proc.identity.members() == []
        assert 0.4 < elapsed < 3.0, f"KILL after the grace period, took {elapsed:.2f} s"
        assert proc.returncode == -signal.SIGKILL
    finally:
        await proc.stop()
        await prober.close()


async def test_restart_after_sigkill_keeps_ports(fake_spec: MakeSpec) -> None:
    proc = ServiceProcess(fake_spec("acquirer"))
    prober = Prober()
    try:
        proc.spawn()
        first = await proc.wait_ready(prober, time.monotonic() + 10)
        assert proc.identity is not None
        old = proc.identity.pid
        proc.signal(signal.SIGKILL)
        assert await proc.wait_exit(5) == -signal.SIGKILL
        proc.spawn(first)
        second = await proc.wait_ready(prober, time.monotonic() + 10)
        assert second == first
        assert proc.identity.pid != old
    finally:
        await proc.stop()
        await prober.close()


def test_identity_refuses_a_reused_pid() -> None:
    me = ProcessIdentity.of(os.getpid())
    impostor = ProcessIdentity(pid=me.pid, create_time=me.create_time - 1000)
    assert me.is_running() and not impostor.is_running()
    assert impostor.pid_reused()
    assert impostor.signal_group(0) is False, "never signal someone else's process"


def test_orphan_guard_kills_services_when_the_lab_is_killed(
    fake_spec: MakeSpec, tmp_path: Path
) -> None:
    """SIGKILL of the process that owns the stack takes its services with it."""
    spec = fake_spec("issuer")
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from poslab.stack.probe import Prober
        from poslab.stack.process import ServiceProcess
        from poslab.stack.service import ServiceSpec

        spec = ServiceSpec(name="issuer", argv={spec.argv!r},
            port_flags={{"main": "--port", "admin": "--admin-port"}},
            log_file=Path({str(spec.log_file)!r}), ready_file=Path({str(spec.ready_file)!r}),
            health_port="admin")

        async def main():
            proc = ServiceProcess(spec, orphan_guard=True)
            proc.spawn()
            await proc.wait_ready(Prober(), time.monotonic() + 10)
            print(proc.identity.pid, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )
    try:
        assert owner.stdout is not None
        service_pid = int(owner.stdout.readline())
        assert alive(service_pid)
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 5
        while alive(service_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(service_pid), "the service outlived its killed owner"
    finally:
        owner.kill()
        owner.wait()
