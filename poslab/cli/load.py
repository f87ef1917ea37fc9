"""``lab load``: drive the terminal fleet against a running stack.

    lab up                      # the stack, in the background
    lab load --shape lunch-peak # the lunch rush of its terminals, Locust's UI on 127.0.0.1:8089

Reads the stack's state file (``runs/.stack.json``, written by ``lab up``)
for the world, the seed and every address the terminals need — each region's
host path, the backup path, the agents — writes the fleet config into a new
run directory (``runs/<UTC>-load-<shape>/``) and runs Locust on it. Headless
when ``--headless`` is given or the environment variable ``CI`` is set; the
run ends with the shape (plus ``--timeout`` as the outer bound) and prints a
summary from the fleet journal.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from poslab.cli.stack import _state_option as state_option
from poslab.errors import StackError
from poslab.fleet import POLICIES, SHAPES, Fleet, FleetConfig, LocustOptions, ShapeSpec
from poslab.stack import StackState, read_state
from poslab.stack.state import loads_dir


def _fleet_config(fleet: Fleet, state: StackState, **settings: Any) -> FleetConfig:
    addresses = state.addresses
    if addresses is None or state.ready_seconds is None:
        raise StackError("the stack in the state file is not ready yet (lab status)")
    regions = {name: paths.primary for name, paths in addresses.regions.items()}
    backups = {paths.backup for paths in addresses.regions.values() if paths.backup}
    if not regions:
        raise StackError("the stack has no region host paths: nothing for terminals to dial")
    return fleet.config_for(
        world=state.world_file,
        regions=regions,
        backup=min(backups) if backups else None,
        agents=dict(addresses.agents),
        seed=state.seed or 0,
        **settings,
    )


def _summary(fleet: Fleet, seconds: float) -> Table:
    records = list(fleet.journal())
    table = Table(title=f"fleet journal: {len(records)} records in {seconds:.0f} s")
    for column in ("type", "outcome", "count", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column[0] in "cp" else "left")
    groups: dict[tuple[str, str], list[float]] = {}
    for record in records:
        groups.setdefault((record["type"], record["outcome"]), []).append(record["latency_ms"])
    for (kind, outcome), latencies in sorted(groups.items()):
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        table.add_row(
            kind, outcome, str(len(latencies)), f"{statistics.median(latencies):.1f}", f"{p99:.1f}"
        )
    reasons = Counter(r["reason"] for r in records if r["outcome"] in ("failed", "unresolved"))
    if reasons:
        table.caption = "failures: " + ", ".join(f"{r} ×{n}" for r, n in reasons.most_common(6))
    return table


@click.command()
@click.option("--shape", type=click.Choice(SHAPES), default="lunch-peak", show_default=True)
@state_option
@click.option("--duration", type=click.FloatRange(min=1), help="Seconds the shape lasts.")
@click.option("--terminals", type=click.IntRange(min=1), help="Terminals of the world to drive.")
@click.option(
    "--think-time",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Mean seconds between a terminal's transactions at the day's peak.",
)
@click.option("--policy", type=click.Choice(POLICIES), default="resilient", show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--time-scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True)
@click.option(
    "--headless/--web",
    default=None,
    help="Without Locust's web UI [default: headless when CI is set, else the web UI].",
)
@click.option("--web-port", type=click.IntRange(1, 65535), default=8089, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the fleet journal and Locust's files go [default: runs/<UTC>-load-<shape>].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    help="Outer bound in seconds [default: the shape's duration + 120].",
)
def load(
    shape: str,
    state_file: Path,
    duration: float | None,
    terminals: int | None,
    think_time: float,
    policy: str,
    processes: int,
    time_scale: float,
    headless: bool | None,
    web_port: int,
    run_dir: Path | None,
    timeout: float | None,
) -> int:
    """Peak-hour load from the terminal fleet against a running stack."""
    state = read_state(state_file)
    if state is None:
        raise StackError(f"no stack is up ({state_file} not found): run `lab up` first")
    if headless is None:
        headless = bool(os.environ.get("CI"))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run_dir = run_dir or Path("runs") / f"{stamp}-load-{shape}"
    fleet = Fleet(
        run_dir,
        options=LocustOptions(headless=headless, web_port=web_port),
        registry=loads_dir(state_file),  # lab down stops it, whatever becomes of this command
    )
    params = {"duration_s": duration} if duration is not None else {}
    config = _fleet_config(
        fleet,
        state,
        shape=ShapeSpec(shape, params),
        terminals=terminals,
        think_time_s=think_time,
        policy=policy,
        processes=processes,
        time_scale=time_scale,
    )
    from poslab.loadtests.shapes import make_shape  # the shape's defaults, for the outer bound

    shape_duration = make_shape(shape, 1, params).duration_s
    console = Console(stderr=True)
    console.print(f"fleet: {shape} for {shape_duration:.0f} s, run directory {run_dir}")
    if not headless:
        console.print(f"Locust web UI: http://127.0.0.1:{web_port}")
    started = time.monotonic()
    fleet.start(config, timeout_s=timeout or shape_duration + 120.0)
    try:
        code = fleet.wait()
    except KeyboardInterrupt:
        console.print("interrupted: stopping the fleet")
        fleet.stop()
        raise
    finally:
        if fleet.running:
            fleet.stop()
    Console().print(_summary(fleet, time.monotonic() - started))
    if code:
        raise StackError(f"Locust exited with {code}: see {fleet.log_file}")
    return 0
