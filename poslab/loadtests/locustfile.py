"""The terminal fleet as Locust users: one user is one POS terminal.

Run by ``poslab.fleet`` (``lab load``, the scenario runner) with the fleet
config's path in ``LAB_FLEET_CONFIG``; by hand::

    LAB_FLEET_CONFIG=runs/…/fleet/config.json locust -f poslab/loadtests/locustfile.py --headless

- :class:`TerminalUser` signs its terminal on, then plays the till: the next
  customer after an exponential think time (paced by the shape's time-of-day
  intensity and any throttle), settlement and TMS when due; a fleet fault can
  crash it, keep it down and reboot it.
- :class:`FleetShape` is the configured shape (``poslab/loadtests/shapes.py``); when
  it ends the run stops and Locust quits.
- Every transaction fires Locust's ``request`` event (name = type; failures,
  timeouts and unresolved reversals as ``exception``; declines are successes)
  and lands in the fleet journal.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
import sys
import time
from typing import Any

import gevent
import gevent.event
from gevent import monkey
from locust import LoadTestShape, User, constant, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import (
    STATE_CLEANUP,
    STATE_STOPPED,
    STATE_STOPPING,
    MasterRunner,
    WorkerRunner,
)

from poslab.common.orphan_guard import PARENT_ENV, die_with_parent, watch_parent
from poslab.fleet.config import CONFIG_ENV, FleetConfig
from poslab.loadtests.distributed import MasterRelay, WorkerSetup
from poslab.loadtests.fleet_faults import retire
from poslab.loadtests.fleet_runtime import FleetRuntime
from poslab.loadtests.merchant_desk import replacement_profile
from poslab.mocks.terminal import Outcome, Terminal, TerminalCrashed, TerminalProfile, TxnRecord

log = logging.getLogger("poslab.loadtests.fleet")

_CONTROL_POLL_S = 0.25
_OK = frozenset({Outcome.APPROVED, Outcome.DECLINED})
_OUTBOX_EVERY = 5  # journal flushes between two outbox deliveries


def _load_config() -> FleetConfig:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise SystemExit(
            f"{CONFIG_ENV} is not set: run the fleet with `lab load`, "
            "or point it at a fleet/config.json"
        )
    return FleetConfig.read(path)


# A worker of a distributed fleet (``--worker`` without a config: `lab run
# --workers`, `lab fleet worker`) learns the fleet from its master's setup
# message (poslab/loadtests/distributed.py) before any of its users starts.
_REMOTE_WORKER = "--worker" in sys.argv and not os.environ.get(CONFIG_ENV)
_READY = gevent.event.Event()
CONFIG: FleetConfig
RUNTIME: FleetRuntime


def _install(runtime: FleetRuntime) -> None:
    global CONFIG, RUNTIME
    CONFIG, RUNTIME = runtime.config, runtime
    _READY.set()


if not _REMOTE_WORKER:
    # Loaded before Locust forks its workers (--processes), shared copy-on-write.
    _install(FleetRuntime(_load_config()))


class FleetFailure(Exception):
    """How a failed transaction shows in Locust's stats: grouped by outcome
    and reason, never by STAN or terminal (that is the journal's job)."""


def report(environment: Environment, record: TxnRecord) -> None:
    """Journal a record and show it to Locust (declines are successes)."""
    RUNTIME.journal.write(record.to_dict())
    failed = record.outcome not in _OK
    environment.events.request.fire(  # type: ignore[no-untyped-call]
        request_type=record.request_mti or record.type.value,
        name=record.type.value,
        response_time=record.latency_ms,
        response_length=record.response_bytes,
        exception=FleetFailure(f"{record.outcome.value}: {record.reason}") if failed else None,
        context={"tid": record.tid, "rc": record.rc, "outcome": record.outcome.value},
    )


class TerminalUser(User):
    abstract = False
    # The pause between customers happens inside the task (see stop()).
    wait_time = constant(0)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._wake = gevent.event.Event()
        self._leaving = False

    def stop(self, force: bool = False) -> bool:
        """Stop gracefully even between customers, through Locust's public
        ``User.stop`` only. The pause between customers is inside the task
        (``wait_time`` is 0), so Locust sees the user running and, asked
        gracefully, lets it finish its task. Waking it first ends the pause at
        once, and makes a task that begins after this point return before it
        sends anything: even a user Locust kills at once (caught in the
        zero-second wait between two tasks) is killed at a switch point
        before any transaction, never in one half-sent."""
        if force:
            return bool(super().stop(force=True))
        if self._leaving:
            return False  # asked twice (a SIGTERM's quit racing the shape's): already leaving
        self._wake.set()
        killed = bool(super().stop(force=False))
        self._leaving = not killed
        return killed

    def on_start(self) -> None:
        runner = self.environment.runner
        if not _READY.is_set():  # a worker the master's setup refused, on its way out
            raise StopUser()
        if RUNTIME._slot is None:  # the worker index is known once the worker joined
            RUNTIME.bind(max(int(getattr(runner, "worker_index", 0)), 0))
        tid = RUNTIME.claim()
        if tid is None:
            log.warning("more users than terminals in this process: user stops")
            raise StopUser()
        self.slot_tid = tid
        self.rng = random.Random(f"{CONFIG.seed}/think/{tid}")
        self._power_on(RUNTIME.profile(tid))

    def _power_on(self, profile: TerminalProfile) -> None:
        self.terminal: Terminal = RUNTIME.build(profile, self._on_record)
        self.desk = RUNTIME.desk(profile, self._on_record)
        if self.desk is not None:
            self.desk.refresh(self.terminal)
        if RUNTIME.board.down_until(profile.tid) is None:
            with contextlib.suppress(TerminalCrashed):
                self.terminal.boot(delay_s=self.rng.uniform(0.0, 1.0))
        RUNTIME.board.register(self.terminal)

    @task
    def till(self) -> None:
        if self._wake.wait(RUNTIME.think_time(self.rng)):
            return  # asked to stop while between customers
        terminal = self.terminal
        if RUNTIME.board.replaced(terminal.tid):
            self._replace()
            return
        if terminal.crashed or not terminal.booted or RUNTIME.board.down_until(terminal.tid):
            self._stay_down()
            return
        if self.desk is not None:
            self.desk.refresh(terminal)
        # a crash mid-transaction: the next round keeps it down until its window ends
        with contextlib.suppress(TerminalCrashed):
            terminal.run_next()

    def _stay_down(self) -> None:
        terminal = self.terminal
        if not terminal.crashed and terminal.booted:
            terminal.crash()
        while (until := RUNTIME.board.down_until(terminal.tid)) is not None:
            if RUNTIME.board.replaced(terminal.tid):
                return
            remaining = until - time.time()
            if self._wake.wait(min(1.0, remaining) if math.isfinite(remaining) else 1.0):
                return  # the run ends while the device is down
        # all at once after a regional power cut: the sign-on storm is real
        with contextlib.suppress(TerminalCrashed):
            terminal.reboot()

    def _replace(self) -> None:
        """Broken for good: the merchant asks the agent for a new device and
        keeps asking until it is provisioned; then the new TID takes over.
        The old device first delivers what it still holds (``retire``)."""
        old = self.terminal
        retire(old)
        if self.desk is None:
            self._wake.wait(1.0)  # no agent: the shop stays without a terminal
            return
        replacement = self.desk.replace(old)
        if replacement is None:
            self._wake.wait(max(1.0, RUNTIME.think_time(self.rng)))
            return
        RUNTIME.board.unregister(old.tid)
        old.channel.close()
        self._power_on(replacement_profile(old.profile, replacement))

    def on_stop(self) -> None:
        terminal = getattr(self, "terminal", None)
        if terminal is None:
            return
        RUNTIME.board.unregister(terminal.tid)
        try:
            terminal.drain()
        finally:
            terminal.channel.close()
            RUNTIME.release(self.slot_tid)

    def _on_record(self, record: TxnRecord) -> None:
        report(self.environment, record)
        if self.desk is not None:
            self.desk.observe(self.terminal, record)


class FleetShape(LoadTestShape):
    abstract = False

    def reset_time(self) -> None:
        """The shape's clock starts: tell the lab (``fleet/load-started.json``),
        so a scenario's clock can start at the same instant."""
        super().reset_time()  # type: ignore[no-untyped-call]
        started = time.time() - (time.perf_counter() - self.start_time)
        try:
            RUNTIME.mark_load_started(started)
        except OSError:
            log.exception("cannot write the load-started marker")

    def tick(self) -> tuple[int, float] | None:
        found = RUNTIME.shape.at(self.get_run_time())  # type: ignore[no-untyped-call]
        return None if found is None else (found.users, found.spawn_rate)


def _control_loop() -> None:
    _READY.wait()
    while True:
        try:
            RUNTIME.poll_control()
        except Exception:  # a bad command must not stop the channel
            log.exception("fleet control: could not apply a command")
        gevent.sleep(_CONTROL_POLL_S)


def _flush_loop(environment: Environment) -> None:
    _READY.wait()
    ticks = 0
    while True:
        gevent.sleep(CONFIG.journal_flush_s)
        RUNTIME.journal.flush()
        ticks += 1
        if ticks % _OUTBOX_EVERY == 0:
            try:
                RUNTIME.flush_outbox(lambda record: report(environment, record))
            except Exception:
                log.exception("agent outbox: flush failed")


def _master_flush_loop() -> None:
    """The master writes its workers' batches within a flush interval."""
    while True:
        gevent.sleep(CONFIG.journal_flush_s)
        RUNTIME.journal.flush()


def _expire_loop() -> None:
    """A remote worker's faults come by message; their windows still end here."""
    _READY.wait()
    while True:
        RUNTIME.board.expire(time.time())
        gevent.sleep(_CONTROL_POLL_S)


def _stop_then_quit(runner: MasterRunner) -> None:
    runner.stop()
    runner.quit()


def _stop_gracefully(environment: Environment) -> None:
    """SIGTERM (the lab ending a run): stop the users so that each terminal
    drains what it holds — a reversal, a queued refund — into the journal.

    Headless Locust with a load shape waits for the shape *before* it installs
    its own SIGTERM handler, so until the shape ends a SIGTERM would kill the
    process outright: no on_stop, no last journal flush. Once the runner is
    stopping (or Locust's handler has taken over) this does nothing."""
    runner = environment.runner
    if runner is None or runner.state in (STATE_CLEANUP, STATE_STOPPING, STATE_STOPPED):
        return
    log.warning("SIGTERM: stopping the terminals; they drain what is pending first")
    if isinstance(runner, MasterRunner) and CONFIG.workers:
        # Locust's quit gives workers 0.5 s: stop them first (it waits for their
        # users, whose last journal lines arrive before they report stopped).
        gevent.spawn(_stop_then_quit, runner)
        return
    gevent.spawn(runner.quit)


# The process that imports the locustfile: Locust's main process, which forks
# any --processes workers afterwards (they inherit this value).
_MAIN_PID = os.getpid()


def _die_with_the_lab() -> None:
    """No Locust process outlives the lab that started it, ``kill -9`` included.

    The main process follows the lab's pid (``LAB_PARENT_PID``), a worker its
    main process (the fork cleared the kernel's death signal; it asks again):
    a real thread (not a greenlet a busy hub could starve) kills the whole
    Locust group once the parent is gone. Run by hand, Locust has no lab to follow.
    """
    lab = os.environ.get(PARENT_ENV)
    if not lab:
        return
    if os.getpid() == _MAIN_PID:
        parent = int(lab)
    else:
        parent = _MAIN_PID
        die_with_parent(parent)
    watch_parent(
        parent,
        start_thread=monkey.get_original("_thread", "start_new_thread"),
        sleep=monkey.get_original("time", "sleep"),
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    _die_with_the_lab()
    gevent.signal_handler(signal.SIGTERM, _stop_gracefully, environment)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        if CONFIG.workers:  # the fleet's faults out and journal back, by message
            relay = MasterRelay(RUNTIME, environment)
            gevent.spawn(relay.loop, _CONTROL_POLL_S)
            gevent.spawn(_master_flush_loop)
        return  # the master runs no users: no terminals
    if isinstance(runner, WorkerRunner) and _REMOTE_WORKER:
        WorkerSetup(environment, _install)
        gevent.spawn(_expire_loop)
        gevent.spawn(_flush_loop, environment)
        return
    gevent.spawn(_control_loop)
    gevent.spawn(_flush_loop, environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    if _READY.is_set():  # a refused worker never becomes part of the fleet
        RUNTIME.mark_started()  # the shape's clock, in every process


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not _READY.is_set():
        return
    RUNTIME.journal.flush()
    runner = environment.runner
    options = environment.parsed_options
    shape_over = RUNTIME.shape.at(time.monotonic() - RUNTIME.started_at) is None
    # Headless Locust quits by itself when the shape ends; used as a library
    # (or in the web UI without --autoquit) it would wait forever.
    waits_forever = options is None or (
        not options.headless and getattr(options, "autoquit", -1) < 0
    )
    if shape_over and runner is not None and waits_forever:
        gevent.spawn_later(1.0, runner.quit)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    # On SIGTERM Locust fires ``quitting`` *before* it stops the users, whose
    # on_stop still drains reversals and queued refunds into the journal and
    # the flash file: flush here, close only at ``quit`` (after the users).
    if _READY.is_set():
        RUNTIME.journal.flush()


@events.quit.add_listener
def _on_quit(exit_code: int, **_: Any) -> None:
    if _READY.is_set():
        RUNTIME.close()
