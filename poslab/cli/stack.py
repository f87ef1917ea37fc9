"""``lab up`` / ``lab status`` / ``lab down``: the payment world in the background.

``lab up`` starts every service detached (they outlive the command), waits for
real readiness, writes the state file (``runs/.stack.json``; ``--state`` or
``LAB_STACK_STATE`` to use another) and prints the addresses. ``lab status``
probes every service and proxy and lists each proxy's toxics; it exits 1 when
something is unhealthy. ``lab down`` stops everything the state file names —
also after a ``lab`` process that crashed half-way through a start.

Exit codes: 0 fine, 1 (status) something unhealthy, 2 the stack could not be
started or no stack is up (status).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from poslab.errors import ConfigError, LabError, StackError
from poslab.proxy.client import ProxyInfo, ToxicInfo
from poslab.stack import (
    DEFAULT_READY_TIMEOUT_S,
    DEPLOY_DIR,
    ComposeProject,
    Mode,
    ServiceName,
    Stack,
    StackAddresses,
    StackHealth,
    Topology,
    container_topology,
    default_topology,
    load_topology,
    proxy_upstreams,
    read_state,
    with_external_proxy,
    write_toxiproxy_config,
)
from poslab.stack.process import ProcessIdentity, stop_group
from poslab.stack.state import StackLock, StackState, loads_dir, run_dir_in_use

DEFAULT_STATE = Path("runs") / ".stack.json"
DEFAULT_SEED = 42
DEFAULT_TERMINALS = 100

_state_option = click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    envvar="LAB_STACK_STATE",
    help="The stack's state file.",
)


@click.command()
@click.option(
    "--world",
    "world_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="World file to use (default: generate one from --seed/--terminals).",
)
@click.option("--seed", type=int, help=f"Seed of a generated world [default: {DEFAULT_SEED}].")
@click.option(
    "--terminals", type=click.IntRange(min=1), help=f"Terminals [default: {DEFAULT_TERMINALS}]."
)
@click.option(
    "--topology",
    "topology_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Topology overrides (YAML/JSON): external services, fixed ports, extra proxies.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where logs and databases go [default: runs/<UTC time>-stack].",
)
@_state_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_READY_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the whole stack to be ready.",
)
@click.option(
    "--program",
    "program_args",
    multiple=True,
    metavar="SERVICE=COMMAND",
    help="Run SERVICE with COMMAND (your own build; it must obey the service contract "
    "of poslab/stack/commands.py) instead of the lab's. Repeatable.",
)
@click.option(
    "--containers",
    is_flag=True,
    help="Run every service and the real Toxiproxy in containers of the lab's images on a "
    "Docker engine (scripts/build-images); through docker compose with --compose-file.",
)
@click.option(
    "--compose-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run --containers as this compose project (deploy/compose.yaml: needs a Compose v2 "
    "plugin).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the addresses as JSON.")
def up(
    world_path: Path | None,
    seed: int | None,
    terminals: int | None,
    topology_path: Path | None,
    run_dir: Path | None,
    state_file: Path,
    timeout: float,
    program_args: tuple[str, ...],
    containers: bool,
    compose_file: Path | None,
    as_json: bool,
) -> None:
    """Start the payment world in the background and print its addresses."""
    if world_path is not None and (seed is not None or terminals is not None):
        raise click.UsageError("give either --world or --seed/--terminals, not both")
    if containers and (topology_path or program_args):
        raise click.UsageError("--containers runs the compose file: no --topology or --program")
    compose = compose_file is not None  # else the lab's images on the engine's API
    if containers:
        compose_file = compose_file or DEPLOY_DIR / "compose.yaml"
        if not compose_file.is_file():
            # deploy/ builds the images from the lab's source tree, so it is not
            # package data: an installed lab (a wheel) has no deploy/ of its own
            raise ConfigError(
                f"no compose file at {compose_file}: container mode builds the images "
                "from a checkout of the lab; run it in one, or pass --compose-file"
            )
    programs = _programs(program_args)
    run_dir = run_dir or Path("runs") / time.strftime("%Y%m%dT%H%M%SZ-stack", time.gmtime())
    # One `lab up` per state file and run dir at a time, from the first check to
    # the last write of the state file (the kernel frees it on any exit).
    lock = StackLock(state_file, run_dir).acquire()
    click.get_current_context().call_on_close(lock.release)
    _refuse_a_busy_start(state_file, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    world_file, regions, world_seed = _world(run_dir, world_path, seed, terminals)
    if containers and compose and compose_file is not None:  # set, and checked, above
        stack = _container_stack(
            compose_file, world_file, regions, world_seed, run_dir, state_file, timeout
        )
    elif containers:
        from poslab.cli.containers import engine_stack

        stack = engine_stack(
            _topology(topology_path, regions), world_file, run_dir, state_file, world_seed, timeout
        )
    else:
        stack = Stack(
            _topology(topology_path, regions),
            world_file,
            run_dir,
            state_file=state_file,
            seed=world_seed,
            programs=programs,
            orphan_guard=False,  # the services must outlive `lab up`
            ready_timeout=timeout,
        )
    try:
        asyncio.run(_up_and_detach(stack))
    except asyncio.CancelledError:
        raise click.Abort() from None  # interrupted: exit 130, nothing left running
    addresses = stack.addresses
    if as_json:
        click.echo(addresses.model_dump_json(indent=2))
        return
    console = Console()
    console.print(
        f"stack up in {stack.ready_seconds or 0:.2f} s — run dir {run_dir}, state {state_file}"
    )
    console.print(_addresses_table(addresses))
    console.print("stop it with: lab down")


def _refuse_a_busy_start(state_file: Path, run_dir: Path) -> None:
    """A stack runs already with this state file or in this run dir: say which."""
    previous = read_state(state_file)
    if previous is not None and previous.anything_running():
        raise StackError(
            f"a stack is already up (state {state_file}, run dir {previous.run_dir}); "
            "stop it first: lab down"
        )
    user = run_dir_in_use(run_dir)
    if user is not None:
        raise StackError(
            f"run dir {run_dir} is in use by a running stack ({user}); "
            "give another --run-dir, or stop that stack with lab down"
        )


async def _up_and_detach(stack: Stack) -> None:
    # SIGTERM while starting: cancel, so the stack stops what it had started.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await stack.up()
    await stack.detach()


def _container_stack(
    compose_file: Path,
    world_file: Path,
    regions: tuple[str, ...],
    seed: int,
    run_dir: Path,
    state_file: Path,
    timeout: float,
) -> Stack:
    """The compose project as a stack: containers started by ``docker compose``."""
    topology = container_topology(regions)
    # Admin APIs bound beyond 127.0.0.1 want a bearer token; it goes to the
    # containers' environment and the 0600 state file, never to the screen.
    token = os.environ.get("LAB_ADMIN_TOKEN") or secrets.token_hex(16)
    config = write_toxiproxy_config(topology, run_dir / "toxiproxy.json")
    project = ComposeProject(
        file=compose_file.resolve(),
        env={
            "LAB_WORLD_FILE": str(world_file.resolve()),
            "LAB_TOXIPROXY_CONFIG": str(config.resolve()),
            "LAB_ADMIN_TOKEN": token,
            "LAB_SEED": str(seed),
        },
    )
    return Stack(
        topology,
        world_file,
        run_dir,
        state_file=state_file,
        seed=seed,
        orphan_guard=False,
        ready_timeout=timeout,
        proxy_upstreams=proxy_upstreams(),
        admin_token=token,
        compose=project,
    )


def _programs(args: tuple[str, ...]) -> dict[str, list[str]]:
    known = {s.value for s in ServiceName}
    programs: dict[str, list[str]] = {}
    for arg in args:
        name, sep, command = arg.partition("=")
        if not sep or name not in known or not command.strip():
            raise click.BadParameter(
                f"{arg!r}: expected SERVICE=COMMAND with SERVICE one of {', '.join(sorted(known))}",
                param_hint="--program",
            )
        programs[name] = shlex.split(command)
    return programs


def _world(
    run_dir: Path, given: Path | None, seed: int | None, terminals: int | None
) -> tuple[Path, tuple[str, ...], int]:
    """The run's world.json (copied or generated), its regions and seed."""
    from poslab.world import generate, load, save

    target = run_dir / "world.json"
    if given is not None:
        world = load(given)
        if given.resolve() != target.resolve():
            shutil.copyfile(given, target)
    else:
        world = generate(
            DEFAULT_SEED if seed is None else seed,
            DEFAULT_TERMINALS if terminals is None else terminals,
        )
        save(world, target)
    return target, tuple(world.regions), world.seed


def _topology(path: Path | None, regions: tuple[str, ...]) -> Topology:
    topology = load_topology(path, regions) if path else default_topology(regions)
    toxiproxy_url = os.environ.get("TOXIPROXY_URL")
    if toxiproxy_url and topology.service(ServiceName.PROXY).mode is Mode.EMBEDDED:
        topology = with_external_proxy(topology, toxiproxy_url)
    return topology


@click.command()
@_state_option
@click.option("--json", "as_json", is_flag=True, help="Print health and proxies as JSON.")
def status(state_file: Path, as_json: bool) -> int:
    """Show every service's health and every proxy with its toxics."""
    health, proxies, proxy_error = asyncio.run(_status(state_file))
    if as_json:
        click.echo(json.dumps(_status_json(health, proxies, proxy_error), indent=2))
    else:
        console = Console()
        console.print(_health_table(health))
        if proxy_error:
            console.print(f"[red]proxy API: {proxy_error}[/red]")
        console.print(_proxies_table(health, proxies))
        if not health.ok:
            console.print(f"[red]unhealthy: {', '.join(health.unhealthy())}[/red]")
    return 0 if health.ok and not proxy_error else 1


async def _status(state_file: Path) -> tuple[StackHealth, dict[str, ProxyInfo], str | None]:
    stack = Stack.attach_file(state_file)
    try:
        health = await stack.health()
        try:
            proxies = await stack.proxy_api.proxies()
            error = None
        except LabError as exc:
            proxies, error = {}, str(exc)
        return health, proxies, error
    finally:
        await stack.close()


@click.command()
@_state_option
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds a service gets to exit after TERM before it is killed.",
)
def down(state_file: Path, grace: float) -> None:
    """Stop every service of the stack; nothing survives."""
    from poslab.scenario import OrphanedRun  # the runner's imports, only for down

    state = read_state(state_file)
    # The loads first (a `lab load` or a run's Locust whose lab was killed), so
    # none of them is left sending into a stack that goes away.
    loads = asyncio.run(_stop_loads(state_file, state, grace))
    for line in loads:
        click.echo(line)
    if state is None:
        click.echo(f"no stack is up (no {state_file})")
        return
    running = [name for name, i in state.identities().items() if i.is_running()]
    stack = Stack.attach(state, state_file)
    stack.grace = grace
    if any(s.mode == "container" for s in state.services.values()):  # lab up --containers
        from poslab.cli.containers import running_containers

        running += running_containers(Path(state.run_dir))
    # The stop phase of every run's end: a stack whose owner exited is an orphaned run.
    asyncio.run(OrphanedRun.of_stack(stack).stop())
    click.echo(f"stack down: stopped {', '.join(running) if running else 'nothing (already gone)'}")


async def _stop_loads(state_file: Path, state: StackState | None, grace: float) -> list[str]:
    """Stop every Locust recorded against this stack that still runs: the
    registry beside the state file (``lab load``) and the run's own fleet."""
    from poslab.fleet import PID_RECORD, read_load_records

    records = read_load_records(loads_dir(state_file))
    if state is not None:
        records += read_load_records(Path(state.run_dir) / "fleet" / PID_RECORD)
    done = []
    for record in records:
        if record.is_running():
            await stop_group(ProcessIdentity(record.pid, record.create_time), grace)
            done.append(f"stopped the load of {record.run_dir} (Locust pid {record.pid})")
        if record.path.parent == loads_dir(state_file):
            record.path.unlink(missing_ok=True)
    return done


def _addresses_table(addresses: StackAddresses) -> Table:
    table = Table(title="payment world", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("address")
    table.add_column("backup / detail")
    table.add_row("proxy API", addresses.proxy_api, "")
    for region, paths in addresses.regions.items():
        table.add_row(f"terminals {region}", paths.primary, paths.backup or "")
    for key, url in addresses.agents.items():
        table.add_row(f"agent {key}", url, "through proxy")
    for service, url in addresses.admin.items():
        table.add_row(f"admin {service}", url, "direct")
    return table


def _health_table(health: StackHealth) -> Table:
    table = Table(title="services", header_style="bold")
    for column in ("service", "mode", "pid", "health", "ms"):
        table.add_column(column)
    for h in health.services.values():
        table.add_row(
            h.name,
            h.mode,
            "" if h.pid is None else str(h.pid),
            "[green]ok[/green]" if h.ok else f"[red]DOWN[/red] {h.probe.detail}",
            f"{h.probe.latency_ms:.1f}",
        )
    return table


def _proxies_table(health: StackHealth, proxies: dict[str, ProxyInfo]) -> Table:
    table = Table(title="proxies", header_style="bold")
    for column in ("proxy", "listen", "state", "toxics"):
        table.add_column(column)
    for name, h in health.proxies.items():
        info = proxies.get(name)
        if info is not None and not info.enabled:
            state = "[red]disabled[/red]"
        elif h.ok:
            state = "[green]ok[/green]"
        else:
            state = f"[red]DOWN[/red] {h.probe.detail}"
        toxics = "?" if info is None else "\n".join(_toxic(t) for t in info.toxics) or "-"
        table.add_row(name, h.listen, state, toxics)
    return table


def _toxic(toxic: ToxicInfo) -> str:
    attrs = " ".join(f"{k}={v}" for k, v in toxic.attributes.items())
    share = "" if toxic.toxicity >= 1 else f" toxicity={toxic.toxicity:g}"
    # Toxiproxy names a toxic <type>_<stream> unless told otherwise: say it only then.
    name = "" if toxic.name == f"{toxic.type}_{toxic.stream}" else f" ({toxic.name})"
    return f"{toxic.type} {toxic.stream} {attrs}{share}{name}".replace("  ", " ")


def _status_json(
    health: StackHealth, proxies: dict[str, ProxyInfo], proxy_error: str | None
) -> dict[str, object]:
    return {
        "ok": health.ok and not proxy_error,
        "services": {
            n: {"mode": h.mode, "pid": h.pid, "ok": h.ok, "detail": h.probe.detail}
            for n, h in health.services.items()
        },
        "proxies": {
            n: {
                "listen": h.listen,
                "upstream": h.upstream,
                "ok": h.ok,
                "detail": h.probe.detail,
                "enabled": proxies[n].enabled if n in proxies else None,
                "toxics": [asdict(t) for t in proxies[n].toxics] if n in proxies else [],
            }
            for n, h in health.proxies.items()
        },
        "proxy_api_error": proxy_error,
    }
