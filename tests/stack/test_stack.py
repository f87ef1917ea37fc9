"""Stack: the whole payment world wired through proxies, with fake services."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from poslab.errors import StackError
from poslab.stack import Stack, default_topology, read_state
from tests.support.processes import alive

pytestmark = pytest.mark.anyio

Programs = dict[str, list[str]]


def _stack(world_file: Path, run_dir: Path, programs: Programs, **options: Any) -> Stack:
    """The default topology with every service played by a fake."""
    return Stack(default_topology(), world_file, run_dir, programs=programs, **options)


def _pids(stack: Stack) -> list[int]:
    return [s.process.pid for s in stack.state().services.values() if s.process]


def _echo(address: str, payload: bytes = b"0800ping") -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


async def test_start_wires_every_proxy_and_stops_clean(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    run_dir = tmp_path / "run"
    stack = await _stack(world_file, run_dir, fake_programs).up()
    try:
        addresses = stack.addresses
        assert set(addresses.regions) == {"north", "south", "east"}
        assert set(addresses.proxies) == {
            "region-north",
            "region-south",
            "region-east",
            "acquirer-backup",
            "issuer",
            "agent",
            "agent-backup",
        }
        # Terminals reach the acquirer through their region's proxy and the backup path.
        acquirer = addresses.services["acquirer"]
        for paths in addresses.regions.values():
            assert paths.primary != acquirer and paths.backup is not None
            assert _echo(paths.primary) == b"0800ping"
            assert _echo(paths.backup) == b"0800ping"
        # The acquirer was told the issuer *proxy*, whose upstream is the issuer.
        proxies = await stack.proxy_api.proxies()
        assert proxies["issuer"].upstream == addresses.services["issuer"]
        acq_log = (run_dir / "services" / "acquirer.log").read_text()
        assert f"--issuer {addresses.proxies['issuer']}" in acq_log
        assert addresses.agents["primary"] == f"http://{addresses.proxies['agent']}"
        assert set(addresses.admin) == {"issuer", "acquirer", "agent-primary", "agent-backup"}
        # Logs, databases and ready files live in the run directory.
        for name in ("proxy", "issuer", "acquirer", "agent-primary", "agent-backup"):
            assert (run_dir / "services" / f"{name}.log").stat().st_size > 0
        assert "--db" in acq_log and str(run_dir / "services" / "acquirer.sqlite") in acq_log
        health = await stack.health()
        assert health.ok, health.unhealthy()
        assert stack.ready_seconds is not None and stack.ready_seconds < 10
        pids = _pids(stack)
        assert len(pids) == 5
        assert (run_dir / "stack.json").exists()
    finally:
        await stack.stop()
    assert not [p for p in pids if alive(p)], "a service survived stop()"
    assert not (run_dir / "stack.json").exists()


async def test_failing_service_raises_with_log_tail_and_leaves_nothing(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    fake_programs["acquirer"].append("--fail-start")
    run_dir = tmp_path / "run"
    before = {p.pid for p in psutil.process_iter()}
    with pytest.raises(StackError) as err:
        await _stack(world_file, run_dir, fake_programs).up()
    message = str(err.value)
    assert "service acquirer exited with code 3" in message
    assert "disk on fire" in message and "acquirer.log" in message
    survivors = [p for p in psutil.process_iter() if p.pid not in before and _is_fake(p)]
    assert not survivors, survivors


def _is_fake(proc: psutil.Process) -> bool:
    try:
        return any("fake_" in part for part in proc.cmdline()) and alive(proc.pid)
    except psutil.Error:
        return False


async def test_kill_and_restart_keep_ports_and_database(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    stack = await _stack(world_file, tmp_path / "run", fake_programs).up()
    try:
        before = stack.state().services["acquirer"]
        assert before.process is not None
        await stack.kill("acquirer")
        assert not alive(before.process.pid)
        health = await stack.health()
        assert not health.services["acquirer"].ok
        assert "region-north" in " ".join(health.unhealthy()), "a dead host breaks its paths"
        await stack.restart("acquirer")
        after = stack.state().services["acquirer"]
        assert after.process is not None and after.process.pid != before.process.pid
        assert after.ports == before.ports
        assert after.process.argv == before.process.argv, "same --db file, same options"
        assert _echo(stack.addresses.regions["north"].primary) == b"0800ping"
        assert (await stack.health()).ok
        # The state file follows the restart.
        state = read_state(stack.state_file)
        assert state is not None and state.services["acquirer"].process == after.process
    finally:
        await stack.stop()


async def test_restart_of_embedded_proxy_restores_proxies_in_place(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    async with _stack(world_file, tmp_path / "run", fake_programs) as stack:
        listen = dict(stack.addresses.proxies)
        await stack.restart("proxy")
        assert {n: p.listen for n, p in (await stack.proxy_api.proxies()).items()} == listen
        assert (await stack.health()).ok
        pids = _pids(stack)
    assert not [p for p in pids if alive(p)], "leaving the block stops the stack"


async def test_a_second_stack_on_the_same_state_file_is_refused(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    state_file = tmp_path / ".stack.json"
    first = await _stack(world_file, tmp_path / "one", fake_programs, state_file=state_file).up()
    try:
        with pytest.raises(StackError, match="already up"):
            await _stack(world_file, tmp_path / "two", fake_programs, state_file=state_file).up()
        assert not (tmp_path / "two" / "services").exists()
    finally:
        await first.stop()


async def test_attach_from_state_file_stops_a_stack_it_did_not_start(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    state_file = tmp_path / ".stack.json"
    stack = _stack(
        world_file, tmp_path / "run", fake_programs, state_file=state_file, orphan_guard=False
    )
    await stack.up()
    state = await stack.detach()
    pids = [s.process.pid for s in state.services.values() if s.process]
    assert all(alive(p) for p in pids), "detach leaves the services running"
    on_disk = json.loads(state_file.read_text())
    assert on_disk["detached"] is True and on_disk["ready_seconds"] > 0
    attached = Stack.attach_file(state_file)
    assert (await attached.health()).ok
    await attached.stop()
    assert not [p for p in pids if alive(p)]
    assert not state_file.exists()


def test_attach_without_state_file_says_no_stack(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="no stack is up"):
        Stack.attach_file(tmp_path / "missing.json")


async def test_killing_an_unknown_service_is_refused(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    stack = _stack(world_file, tmp_path / "run", fake_programs)
    with pytest.raises(StackError, match="unknown service 'ledger'"):
        await stack.kill("ledger", signal.SIGTERM)
    with pytest.raises(StackError, match="unknown service 'ledger'"):
        await stack.restart("ledger")


async def test_with_the_real_embedded_proxy(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    """`python -m poslab.proxy` as the stack's proxy: wiring, toxics, the down fault."""
    del fake_programs["proxy"]
    async with _stack(world_file, tmp_path / "run", fake_programs, seed=7) as stack:
        assert "--seed 7" in (tmp_path / "run" / "services" / "proxy.log").read_text()
        north = stack.addresses.regions["north"].primary
        started = time.perf_counter()
        assert _echo(north) == b"0800ping"
        direct = time.perf_counter() - started
        await stack.proxy_api.add_toxic("region-north", "latency", attributes={"latency": 200})
        started = time.perf_counter()
        assert _echo(north) == b"0800ping"
        delayed = time.perf_counter() - started
        assert delayed >= 0.19 and delayed > direct, (direct, delayed)
        await stack.proxy_api.disable("agent")
        health = await stack.health()
        assert health.unhealthy() == ["proxy:agent"], "only the downed path is unhealthy"
        pids = _pids(stack)
    assert not [p for p in pids if alive(p)]


async def test_acquirer_settings_are_its_config_file_across_a_restart(
    tmp_path: Path, world_file: Path, fake_programs: Programs
) -> None:
    settings = {"day_seconds": 6.0, "batch_max_days": 2}
    stack = await _stack(world_file, tmp_path / "run", fake_programs, acquirer_config=settings).up()
    try:
        config = tmp_path / "run" / "services" / "acquirer.config.json"
        assert json.loads(config.read_text()) == settings
        before = stack.state().services["acquirer"].process
        assert before is not None
        assert before.argv[before.argv.index("--config") + 1] == str(config)
        for name in ("issuer", "agent-primary", "agent-backup", "proxy"):
            process = stack.state().services[name].process
            assert process is not None and "--config" not in process.argv
        await stack.restart("acquirer")  # the same settings after a restart
        after = stack.state().services["acquirer"].process
        assert after is not None and after.argv == before.argv
    finally:
        await stack.stop()


def test_no_settings_no_config_option_and_an_external_acquirer_takes_none(
    tmp_path: Path, world_file: Path
) -> None:
    from poslab.errors import ConfigError
    from poslab.stack import Endpoint, topology_from_mapping
    from poslab.stack.commands import acquirer_spec

    spec = acquirer_spec(tmp_path, world_file, "127.0.0.1", Endpoint(host="127.0.0.1", port=9))
    assert "--config" not in spec.argv
    external = topology_from_mapping(
        {"services": {"acquirer": {"mode": "external", "address": "10.0.0.5:5000"}}}
    )
    with pytest.raises(ConfigError, match="cannot be given settings"):
        Stack(external, world_file, tmp_path, acquirer_config={"day_seconds": 6.0})
