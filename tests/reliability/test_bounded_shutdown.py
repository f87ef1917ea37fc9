"""Every service stops within 5 s of SIGTERM in every fault state (issue 18, item 2).

Each test starts the real service processes on 127.0.0.1, puts one service in
one fault state — with requests in flight where the fault holds them — sends it
SIGTERM and times its exit against the launchers' 5 s grace (after which they
KILL). What a service could not finish in that time it logs.

Also the acquirer's issuer links in-process: closing them while they reconnect
must end (3.11's ``asyncio.wait_for`` can swallow the cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from poslab.mocks.acquirer.issuer_link import IssuerLink
from poslab.world import World
from tests.reliability.harness import (
    GRACE_S,
    RequestsInFlight,
    SalesInFlight,
    post,
    sigterm_to_exit_s,
)
from tests.support.payment_stack import ServiceProcess, saved_world

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    return saved_world(tmp_path_factory.mktemp("world"), 31, 24)


class Hosts:
    """Issuer, acquirer and (when asked) an agent or the fault proxy, for one test."""

    def __init__(self, workdir: Path, world_file: Path) -> None:
        self.workdir, self.world_file = workdir, world_file
        self.started: list[ServiceProcess] = []

    def start(self, name: str, argv: list[str]) -> ServiceProcess:
        service = ServiceProcess(name, argv, self.workdir)
        self.started.append(service)
        return service

    def issuer(self) -> ServiceProcess:
        return self.start(
            "issuer",
            [
                *("poslab.mocks.issuer", "--world", str(self.world_file), "--port", "0"),
                *("--admin-port", "0", "--db", str(self.workdir / "issuer.sqlite")),
            ],
        )

    def acquirer(self, issuer: ServiceProcess) -> ServiceProcess:
        host, port = issuer.address()
        return self.start(
            "acquirer",
            [
                *("poslab.mocks.acquirer", "--world", str(self.world_file), "--port", "0"),
                *("--admin-port", "0", "--db", str(self.workdir / "acquirer.sqlite")),
                *("--issuer", f"{host}:{port}"),
            ],
        )

    def agent(self, acquirer: ServiceProcess) -> ServiceProcess:
        return self.start(
            "agent-primary",
            [
                *("poslab.mocks.agent", "--world", str(self.world_file), "--port", "0"),
                *("--db", str(self.workdir / "agent.sqlite"), "--name", "primary"),
                *("--acquirer-admin", acquirer.url()),
            ],
        )

    def proxy(self) -> ServiceProcess:
        return self.start("proxy", ["poslab.proxy", "--host", "127.0.0.1", "--port", "0"])

    def close(self) -> None:
        for service in reversed(self.started):
            with contextlib.suppress(Exception):
                service.stop()


@pytest.fixture
def hosts(world: tuple[World, Path], tmp_path: Path) -> Iterator[Hosts]:
    made = Hosts(tmp_path, world[1])
    yield made
    made.close()


def assert_stops_in_time(service: ServiceProcess, what: str) -> float:
    seconds = sigterm_to_exit_s(service.process)
    print(f"\n{what}: exit {seconds:.2f} s after SIGTERM, code {service.process.returncode}")
    log = service.log_path.read_text(encoding="utf-8", errors="replace")
    assert seconds < GRACE_S, f"{what}: {seconds:.1f} s after SIGTERM; log:\n{log[-3000:]}"
    assert "Traceback" not in log, log[-3000:]
    return seconds


# -- issuer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        (None, {}),
        ("slow", {"delay_ms": 60_000}),
        ("unavailable", {}),
        ("decline", {"share": 1.0}),
    ],
)
def test_issuer_stops_within_the_grace(
    hosts: Hosts, world: tuple[World, Path], fault: str | None, params: dict[str, object]
) -> None:
    issuer = hosts.issuer()
    acquirer = hosts.acquirer(issuer)
    if fault is not None:
        post(f"{issuer.url()}/admin/faults/{fault}", params)
    with SalesInFlight(world[0], acquirer.address(), hosts.workdir, count=4) as sales:
        asyncio.run(asyncio.sleep(1.5))  # signed on, sales at the issuer
        assert_stops_in_time(issuer, f"issuer under {fault or 'no fault'}")
    assert sales.sent > 0


# -- acquirer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "no fault",
        "slow issuer",
        "slow issuer, 600 s issuer deadline",
        "stall_settlement",
        "day_end_cut",
        "force_mismatch",
    ],
)
def test_acquirer_stops_within_the_grace(
    hosts: Hosts, world: tuple[World, Path], case: str
) -> None:
    issuer = hosts.issuer()
    acquirer = hosts.acquirer(issuer)
    if "slow issuer" in case:
        post(f"{issuer.url()}/admin/faults/slow", {"delay_ms": 60_000})
    if "600 s" in case:
        post(f"{acquirer.url()}/admin/faults/issuer_timeout", {"ms": 600_000})
    if case in ("stall_settlement", "day_end_cut", "force_mismatch"):
        post(f"{acquirer.url()}/admin/faults/{case}")
    with SalesInFlight(world[0], acquirer.address(), hosts.workdir, count=4):
        asyncio.run(asyncio.sleep(1.5))
        assert_stops_in_time(acquirer, f"acquirer, {case}")


@pytest.mark.parametrize("round_", range(3))
def test_acquirer_stops_while_its_issuer_links_reconnect(
    hosts: Hosts, world: tuple[World, Path], round_: int
) -> None:
    """The issuer stopped under it: every link dials again and again (the hang of
    issue 18 was here, after "stopping: finishing in-flight requests")."""
    issuer = hosts.issuer()
    acquirer = hosts.acquirer(issuer)
    with SalesInFlight(world[0], acquirer.address(), hosts.workdir, count=4, first=4):
        asyncio.run(asyncio.sleep(1.0))
        issuer.process.kill()
        issuer.process.wait()
        asyncio.run(asyncio.sleep(0.5 + 0.3 * round_))
        assert_stops_in_time(acquirer, f"acquirer, issuer gone, round {round_}")


# -- agent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "params"),
    [
        (None, {}),
        ("slow", {"delay_ms": 600_000}),
        ("errors", {"share": 1.0}),
        ("subsystem_down", {"subsystem": "tms"}),
    ],
)
def test_agent_stops_within_the_grace(
    hosts: Hosts, fault: str | None, params: dict[str, object]
) -> None:
    issuer = hosts.issuer()
    acquirer = hosts.acquirer(issuer)
    agent = hosts.agent(acquirer)
    base = agent.url("main")
    if fault is not None:
        post(f"{base}/admin/faults/{fault}", params)
    with RequestsInFlight(f"{base}/tms/software", count=8, timeout_s=30.0) as requests:
        asyncio.run(asyncio.sleep(1.0))
        assert_stops_in_time(agent, f"agent under {fault or 'no fault'}")
    assert requests.sent > 0


# -- the fault proxy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toxic", "attributes"),
    [(None, {}), ("latency", {"latency": 60_000}), ("timeout", {"timeout": 0})],
)
def test_proxy_stops_within_the_grace(
    hosts: Hosts, world: tuple[World, Path], toxic: str | None, attributes: dict[str, int]
) -> None:
    issuer = hosts.issuer()
    acquirer = hosts.acquirer(issuer)
    proxy = hosts.proxy()
    api = proxy.url("api")
    host, port = acquirer.address()
    listen = _create_proxy(api, f"{host}:{port}")
    if toxic is not None:
        post(
            f"{api}/proxies/region/toxics",
            {"type": toxic, "stream": "downstream", "attributes": attributes},
        )
    with SalesInFlight(world[0], listen, hosts.workdir, count=4, first=8):
        asyncio.run(asyncio.sleep(1.5))
        assert_stops_in_time(proxy, f"proxy with {toxic or 'no toxic'}")


def _create_proxy(api: str, upstream: str) -> tuple[str, int]:
    import httpx

    reply = httpx.post(
        f"{api}/proxies",
        json={"name": "region", "listen": "127.0.0.1:0", "upstream": upstream},
        timeout=10.0,
    )
    reply.raise_for_status()
    host, _, port = reply.json()["listen"].rpartition(":")
    return host, int(port)


# -- the issuer links' close, in-process ---------------------------------------------------


@pytest.mark.anyio
async def test_issuer_links_close_while_reconnecting() -> None:
    """An issuer that accepts and hangs up at once: the links dial, fail their
    echo and dial again without pause. Closing them at random moments of that
    churn ends within its timeout every time (200 rounds)."""

    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rng = random.Random(18)
    slowest = 0.0
    try:
        for _ in range(200):
            link = IssuerLink(
                "127.0.0.1",
                port,
                pool_size=4,
                connect_timeout_s=0.2,
                reconnect_max_s=0.001,
                institution_id="12345678",
            )
            link.start()
            await asyncio.sleep(rng.uniform(0.0, 0.01))
            loop = asyncio.get_running_loop()
            began = loop.time()
            await asyncio.wait_for(link.close(timeout=1.0), 3.0)
            slowest = max(slowest, loop.time() - began)
            assert all(task.done() for task in link._tasks)
    finally:
        server.close()
        await server.wait_closed()
    assert slowest < 1.5


@pytest.mark.parametrize("round_", range(4))
def test_an_acquirer_that_cannot_bind_exits_at_once(
    hosts: Hosts, world: tuple[World, Path], round_: int
) -> None:
    """Its issuer links are up when the bind fails: asyncio.run's last cancel
    must end them (before: 1 of 4 such starts hung until killed)."""
    import socket
    import subprocess
    import sys
    import time

    from tests.support.payment_stack import REPO

    issuer = hosts.issuer()
    host, port = issuer.address()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        began = time.monotonic()
        done = subprocess.run(
            [
                *(sys.executable, "-m", "poslab.mocks.acquirer", "--world", str(hosts.world_file)),
                *("--db", str(hosts.workdir / f"acquirer-{round_}.sqlite")),
                *("--issuer", f"{host}:{port}", "--port", str(taken.getsockname()[1])),
            ],
            cwd=REPO, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    seconds = time.monotonic() - began
    print(f"\nacquirer, port in use, round {round_}: exit {done.returncode} in {seconds:.2f} s")
    assert done.returncode == 2, done.stderr
    assert "address already in use" in done.stderr
    assert seconds < GRACE_S


# -- the launcher's KILL, when a stop overruns ------------------------------------------


@pytest.mark.anyio
async def test_the_launchers_kill_after_the_grace_is_written_to_the_service_log(
    tmp_path: Path,
) -> None:
    """A program that ignores SIGTERM: killed after the grace, and its log says so."""
    import signal
    import sys

    from poslab.stack.process import ServiceProcess
    from poslab.stack.service import ServiceSpec
    from tests.support.processes import alive

    stubborn = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    spec = ServiceSpec(
        name="stubborn",
        argv=(sys.executable, "-c", stubborn),
        port_flags={"main": "--port"},  # passed on, unused
        log_file=tmp_path / "stubborn.log",
        ready_file=None,
        health_port="main",
        health_path="/health",
        host="127.0.0.1",
    )
    proc = ServiceProcess(spec)
    proc.spawn()
    await asyncio.sleep(0.5)  # its TERM handler is in place
    assert proc.identity is not None
    pid = proc.identity.pid
    began = asyncio.get_running_loop().time()
    await proc.stop(grace=1.0)
    took = asyncio.get_running_loop().time() - began
    assert not alive(pid) and 1.0 <= took < 3.0
    assert proc.returncode == -signal.SIGKILL
    assert "did not exit within 1 s of SIGTERM: killed (SIGKILL)" in spec.log_file.read_text()
