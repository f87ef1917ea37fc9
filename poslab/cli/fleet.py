"""``lab fleet worker``: join a distributed fleet from another machine.

    lab run --workers 4 …                         # on the master's machine
    lab fleet worker --master 10.0.0.5:5557       # on each further machine

The worker needs no file of the run: its master sends the fleet config, the
world and the faults so far when it connects (docs/scale.md). It keeps the
world copy and its terminals' flash in the directory it starts in. Before
Locust starts, the master must answer a TCP connect within
``--connect-timeout`` (retried every second): else exit 2. A master whose
world, seed (``--world``/``--seed``, when given) or lab version differ from
the worker's refuses nothing itself — the worker refuses, says why and exits 2.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from poslab.cli.exit_codes import ExitCode
from poslab.common.orphan_guard import PARENT_ENV, guarded_argv
from poslab.fleet.runner import worker_argv

# Not imported from poslab.loadtests (that package imports Locust): the names
# poslab/loadtests/distributed.py reads.
_EXPECT_WORLD_ENV = "LAB_FLEET_EXPECT_WORLD_SHA256"
_EXPECT_SEED_ENV = "LAB_FLEET_EXPECT_SEED"
_JOINED_FILE = "joined.json"
# Locust's own connect retries for 5 min; past a reachable port, the master
# must set the worker up within this much more.
_SETUP_GRACE_S = 30.0


def _master(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"HOST:PORT, got {value!r}")
    return host, int(port)


def _reachable(host: str, port: int, within_s: float) -> bool:
    """A TCP connect to the master, once a second until ``within_s`` is spent."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(2.0, within_s)):
                return True
        except OSError:
            if time.monotonic() + 1.0 > deadline:
                return False
            time.sleep(1.0)


@click.group()
def fleet() -> None:
    """A distributed fleet: Locust workers on other machines."""


@fleet.command("worker")
@click.option("--master", "master", required=True, help="the run's Locust master, HOST:PORT")
@click.option(
    "--world",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="refuse a run whose world is not this file",
)
@click.option("--world-sha256", help="refuse a run whose world file has another SHA-256")
@click.option("--seed", type=int, help="refuse a run with another seed")
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0.5, max=600),
    default=30.0,
    show_default=True,
    help="seconds to keep trying to reach the master before exit 2",
)
@click.option("--loglevel", default="WARNING", show_default=True)
def worker(
    master: str,
    world: Path | None,
    world_sha256: str | None,
    seed: int | None,
    connect_timeout: float,
    loglevel: str,
) -> None:
    """Join the run whose master is at HOST:PORT, from this directory."""
    host, port = _master(master)
    if not _reachable(host, port, connect_timeout):
        click.echo(
            f"lab fleet worker: cannot reach the master at {host}:{port} "
            f"within {connect_timeout:g} s",
            err=True,
        )
        raise SystemExit(ExitCode.COULD_NOT_RUN)
    env = dict(os.environ)
    env.pop("LAB_FLEET_CONFIG", None)  # the master's setup is the config
    if world is not None:
        env[_EXPECT_WORLD_ENV] = hashlib.sha256(world.read_bytes()).hexdigest()
    elif world_sha256:
        env[_EXPECT_WORLD_ENV] = world_sha256.lower()
    if seed is not None:
        env[_EXPECT_SEED_ENV] = str(seed)
    env[PARENT_ENV] = str(os.getpid())  # the worker dies with this command
    joined = Path.cwd() / _JOINED_FILE
    joined.unlink(missing_ok=True)  # an earlier run's
    argv = worker_argv(sys.executable, host, port, loglevel=loglevel)
    argv[0] = shutil.which(argv[0]) or argv[0]
    process = subprocess.Popen(guarded_argv(argv), env=env, stdin=subprocess.DEVNULL)

    def _forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)  # Locust stops its users; they drain first

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    deadline = time.monotonic() + connect_timeout + _SETUP_GRACE_S
    while not joined.exists() and process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            click.echo(
                f"lab fleet worker: the master at {host}:{port} accepted but did not set "
                f"this worker up within {connect_timeout + _SETUP_GRACE_S:g} s",
                err=True,
            )
            raise SystemExit(ExitCode.COULD_NOT_RUN)
        time.sleep(0.2)
    code = process.wait()
    if code == ExitCode.COULD_NOT_RUN:
        click.echo("lab fleet worker: refused by the run (the reason is above)", err=True)
    raise SystemExit(code)
