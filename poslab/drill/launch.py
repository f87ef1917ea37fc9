"""Starting and ending a drill from the command line's side.

:func:`prepare` validates everything and writes the drill's files before any
process starts (a bad scenario name or delay window never leaves a half
drill behind); :func:`spawn` starts the detached controller and waits until
it reports ``running`` — or says why it could not. :func:`end` asks the
controller to end and waits for its report, and falls back to
:func:`poslab.drill.teardown.end_without_controller` when the controller is gone.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from poslab.drill.client import DrillClient
from poslab.drill.errors import ControllerUnreachable, DrillError
from poslab.drill.plan import DrillPlan, PlanRequest, build_plan
from poslab.drill.session import (
    ENDED,
    FAILED,
    RUNNING,
    DrillFiles,
    DrillState,
    FacilitatorFile,
    current_drill,
    set_current,
)
from poslab.drill.teardown import run_end_without_controller
from poslab.errors import ConfigError
from poslab.scenario import RunDirectory
from poslab.stack import ProcessIdentity

_POLL_S = 0.2


@dataclass(frozen=True)
class DrillRequest:
    scenario: str | None
    seed: int
    terminals: int
    think_time_s: float
    policy: str
    delay_window_s: tuple[float, float]
    max_s: float
    drain_s: float
    world_seed: int
    port: int
    runs_dir: Path
    stack_state: Path
    host: str = "127.0.0.1"  # the dashboard's bind address: loopback unless asked
    tls_cert: Path | None = None
    tls_key: Path | None = None


def parse_window(text: str) -> tuple[float, float]:
    """``LO:HI`` seconds (``90`` alone means exactly 90)."""
    lo, sep, hi = text.partition(":")
    try:
        window = (float(lo), float(hi if sep else lo))
    except ValueError:
        raise ConfigError(
            f"--delay-window {text!r}: expected LOW:HIGH seconds, e.g. 60:300"
        ) from None
    if not 0 <= window[0] <= window[1]:
        raise ConfigError(f"--delay-window {text!r}: need 0 ≤ LOW ≤ HIGH")
    return window


def controller_alive(state: DrillState) -> bool:
    info = state.controller
    return info is not None and ProcessIdentity(info.pid, info.create_time).is_running()


def refuse_second_drill(runs_dir: Path) -> None:
    try:
        files = current_drill(runs_dir)
    except ConfigError:
        return
    state = files.read_state()
    if controller_alive(state):
        raise DrillError(f"a drill is already running ({files.run_dir}); end it: lab drill end")


def prepare(request: DrillRequest) -> tuple[DrillFiles, DrillPlan]:
    """Validate the request and write the drill's files; nothing is started yet."""
    from poslab.world import DEFAULT_REGIONS, generate, save

    refuse_second_drill(request.runs_dir)
    if request.tls_key is not None and request.tls_cert is None:
        raise ConfigError("--key needs --cert (the certificate it belongs to)")
    if request.tls_cert is not None:
        from poslab.drill.dashboard.server import tls_context

        tls_context(request.tls_cert, request.tls_key)  # a bad file: refused before anything starts
    plan = build_plan(
        PlanRequest(
            request.seed,
            request.scenario,
            request.delay_window_s,
            request.max_s,
            tuple(DEFAULT_REGIONS),
            request.terminals,
        )
    )
    run = RunDirectory.create(request.runs_dir, "drill")
    files = DrillFiles(run.path)
    world = generate(request.world_seed, request.terminals)
    save(world, files.world)
    files.write_facilitator(
        FacilitatorFile(
            seed=request.seed,
            scenario=request.scenario,
            delay_window_s=request.delay_window_s,
            max_s=request.max_s,
            drain_s=request.drain_s,
            terminals=request.terminals,
            think_time_s=request.think_time_s,
            policy=request.policy,
            regions=list(world.regions),
            port=request.port,
            host=request.host,
            tls_cert=None if request.tls_cert is None else str(request.tls_cert.resolve()),
            tls_key=None if request.tls_key is None else str(request.tls_key.resolve()),
            facilitator_token=secrets.token_urlsafe(24),
        )
    )
    files.write_state(
        DrillState(
            run_dir=str(files.run_dir),
            created_at=time.time(),
            token=secrets.token_urlsafe(24),
            stack_state=str(request.stack_state.resolve()),
            regions=list(world.regions),
            terminals=request.terminals,
            policy=request.policy,
        )
    )
    files.timeline.touch()
    return files, plan


def spawn(files: DrillFiles, runs_dir: Path, timeout_s: float) -> DrillState:
    """Start the controller detached; return its state once it runs."""
    with files.controller_log.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "poslab.drill.controller", str(files.run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # it outlives this command and the terminal
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = files.read_state()
        if state.status == RUNNING:
            set_current(runs_dir, files.run_dir)
            return state
        if state.status in (FAILED, ENDED) or proc.poll() is not None:
            proc.wait()
            raise DrillError(
                f"the drill did not start: {state.error or 'controller exited'}\n{log_tail(files)}"
            )
        time.sleep(_POLL_S)
    # Too slow: the controller's own end stops whatever it had started.
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    raise DrillError(f"the drill was not running after {timeout_s:g} s\n{log_tail(files)}")


def log_tail(files: DrillFiles, lines: int = 15) -> str:
    try:
        text = files.controller_log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def end(
    files: DrillFiles, *, keep: bool, timeout_s: float, name: str | None = None
) -> tuple[DrillState, list[str]]:
    """End the drill and wait for its report; returns the final state and fallback steps."""
    state = files.read_state()
    if state.status in (ENDED, FAILED) and not controller_alive(state):
        raise DrillError(f"the drill in {files.run_dir} has already ended ({state.status})")
    if controller_alive(state):
        try:
            DrillClient(files, state, name=name).post("/api/end", {"keep": keep})
        except ControllerUnreachable:
            pass  # it may be in its own end already: wait for it below
        except DrillError:
            pass  # "not running": already ending
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and controller_alive(files.read_state()):
            time.sleep(_POLL_S)
        state = files.read_state()
        if controller_alive(state):
            raise DrillError(
                f"the controller is still ending after {timeout_s:g} s; see {files.controller_log}"
            )
        if state.status in (ENDED, FAILED):
            return state, []
    steps = run_end_without_controller(files, keep=keep)
    return files.read_state(), steps
