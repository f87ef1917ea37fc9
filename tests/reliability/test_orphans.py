"""No process the lab starts outlives it, ``kill -9`` included (issue 18, item 1).

Each test runs the real ``lab`` as a subprocess, waits until its terminals sell
(the fleet journal grows), kills the lab outright and then asserts, within a
bounded time, that no Locust or service process of that run is left (by the
run directory on their command lines) and that no traffic continues (the
journal no longer grows). ``lab down`` stops whatever a dead run left.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import (
    gone_within,
    journal_bytes,
    kill_all_mentioning,
    processes_mentioning,
    wait_until,
)
from tests.support.processes import lab, lab_env, start_lab

pytestmark = pytest.mark.timeout(240)

#: Seconds a killed lab's processes may take to go (the watchdog polls at 0.2 s).
GONE_S = 5.0

SCENARIO = """\
name: orphan-check
load: {terminals: 20, duration: 90s}
drain: 2s
steady_state: null
faults:
  - id: north-latency
    kind: network
    target: region-north
    toxic: {type: latency, stream: downstream, attributes: {latency: 200}}
    at: 60s
    for: 10s
slo: {success_ratio: 0.5, p99_ms: 5000}
recovery: {target: 5s, good_seconds: 2}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    kill_all_mentioning(str(tmp_path))  # whatever a failed test left behind


def _selling(fleet_dir: Path, timeout_s: float = 90.0) -> None:
    wait_until(lambda: journal_bytes(fleet_dir) > 0, timeout_s, f"records in {fleet_dir}")


def _no_more_traffic(fleet_dir: Path) -> None:
    before = journal_bytes(fleet_dir)
    time.sleep(2.0)
    assert journal_bytes(fleet_dir) == before, "the fleet journal grew after the lab died"


def _up(workdir: Path) -> tuple[Path, Path]:
    state, stack_dir = workdir / "runs" / ".stack.json", workdir / "runs" / "stack"
    done = lab(
        "up", "--terminals", "20", "--state", state, "--run-dir", stack_dir,
        env=lab_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return state, stack_dir


def _load(workdir: Path, state: Path, name: str) -> tuple[Path, subprocess.Popen[bytes]]:
    load_dir = workdir / "runs" / name
    proc = start_lab(
        [
            *("load", "--state", str(state), "--shape", "steady", "--duration", "120"),
            *("--terminals", "20", "--headless", "--processes", "2"),
            *("--think-time", "2", "--run-dir", str(load_dir)),
        ],
        workdir / f"{name}.log",
    )
    return load_dir, proc


def test_kill_9_of_lab_load_leaves_no_locust(workdir: Path) -> None:
    state, stack_dir = _up(workdir)
    load_dir, proc = _load(workdir, state, "load")
    _selling(load_dir / "fleet")
    assert len(processes_mentioning(str(load_dir))) >= 3  # lab load, master, 2 workers
    proc.send_signal(signal.SIGKILL)
    seconds, left = gone_within(str(load_dir), GONE_S)
    print(f"\nlab load kill -9: its Locust (master + 2 workers) gone in {seconds:.2f} s")
    assert not left, f"still running {GONE_S} s after kill -9: {left}"
    _no_more_traffic(load_dir / "fleet")
    done = lab("down", "--state", state, env=lab_env(), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not processes_mentioning(str(stack_dir))


def test_lab_down_stops_a_load_it_did_not_start(workdir: Path) -> None:
    """A load still running against the stack (its lab is alive here, as a
    survivor would be) is found through its record and stopped first."""
    state, stack_dir = _up(workdir)
    load_dir, _ = _load(workdir, state, "load")
    _selling(load_dir / "fleet")
    done = lab("down", "--state", state, env=lab_env(), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopped the load of" in done.stdout
    _, left = gone_within(str(load_dir / "locust"), GONE_S)
    assert not left, left
    assert not processes_mentioning(str(stack_dir))
    assert not list((state.parent / ".stack.json.loads").glob("*.json"))


def test_kill_9_of_lab_run_leaves_nothing(workdir: Path) -> None:
    scenario = workdir / "orphan-check.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    runs = workdir / "runs"
    proc = start_lab(
        ["run", str(scenario), "--runs-dir", str(runs), "--seed", "5"], workdir / "run.log"
    )
    fleet_dir = wait_until(
        lambda: next(iter(runs.glob("*/scenarios/orphan-check/fleet")), None),
        60,
        "the run's fleet directory",
    )
    _selling(fleet_dir)
    run_dir = fleet_dir.parents[2]
    assert processes_mentioning(str(run_dir / "scenarios" / "orphan-check" / "locust"))
    proc.send_signal(signal.SIGKILL)
    seconds, left = gone_within(str(run_dir), GONE_S)
    print(f"\nlab run kill -9: Locust and the services gone in {seconds:.2f} s")
    assert not left, f"still running {GONE_S} s after kill -9: {left}"
    _no_more_traffic(fleet_dir)


def test_kill_9_of_a_drill_controller_leaves_no_load(workdir: Path) -> None:
    """The drill's stack may be kept (``lab drill end --keep``), so it outlives a
    dead controller by design; its load does not. ``lab down`` stops the rest."""
    runs = workdir / "runs"
    state = runs / ".stack.json"
    done = lab(
        "drill", "start", "--scenario", "issuer-slow", "--seed", "1", "--terminals", "12",
        "--delay-window", "100:100", "--max-minutes", "3", "--runs-dir", runs,
        "--state", state, "--timeout", "120",
        cwd=workdir, env=lab_env(), timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    drill_dir = next(p for p in runs.glob("*-drill") if p.is_dir())
    fleet_dir = drill_dir / "scenarios" / "drill" / "fleet"
    if not fleet_dir.is_dir():
        fleet_dir = next(drill_dir.glob("**/fleet"))
    _selling(fleet_dir)
    controllers = [
        p for p in processes_mentioning(str(drill_dir)) if "poslab.drill.controller" in p.cmdline()
    ]
    assert len(controllers) == 1
    controllers[0].kill()
    seconds, left = gone_within(str(fleet_dir.parent / "locust"), GONE_S)
    print(f"\ndrill controller kill -9: its Locust gone in {seconds:.2f} s")
    assert not left, f"still running {GONE_S} s after kill -9: {left}"
    _no_more_traffic(fleet_dir)
    done = lab("down", "--state", state, env=lab_env(), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    _, left = gone_within(str(drill_dir), GONE_S)
    assert not left, left
