"""A fleet across Locust's master and workers, over Locust's own messages.

Locust's master/worker mode is the distributed engine; this module only adds
what the fleet needs on top of it (docs/scale.md), so that no worker shares a
file with the master:

- ``poslab_hello`` (a worker → master, once its handlers are in place: a
  setup sent at Locust's connect could arrive before them) and
  ``poslab_setup`` (master → that worker): the fleet config, the
  world file's text, the fleet faults sent so far, the lab version and the
  world's digest. A worker whose own lab version, or whose expected world or
  seed (``lab fleet worker --world/--seed``), differs answers
  ``poslab_refused`` with the reason and exits 2; else it keeps the world and
  its terminals' flash in its own working directory.
- ``poslab_control`` (master → every worker): each fleet fault the lab appends
  to the run's control file, which only the master reads.
- ``poslab_journal`` (worker → master): the worker's journal lines, in batches
  (``journal_flush_s``, and when its users stop: before Locust's
  ``client_stopped``, so the master has them before it quits). The master
  writes them into the run directory's fleet journal — one writer, the same
  record format as a single-process fleet, so scoring reads it unchanged.

A worker that goes missing (Locust's heartbeat) is *lost*: the master names
its terminals and each one's last journal record in ``fleet/workers.json``.
What it journaled before is kept once; what it still buffered (at most one
flush interval) never arrived and is not invented.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_RUNNING, MasterRunner, WorkerRunner

from poslab.common import atomic_write
from poslab.fleet.config import FleetConfig
from poslab.loadtests.control import FleetCommand
from poslab.loadtests.fleet_runtime import FleetRuntime
from poslab.loadtests.journal import JournalWriter

__all__ = [
    "EXPECT_SEED_ENV",
    "EXPECT_WORLD_ENV",
    "JOINED_FILE",
    "WORKERS_FILE",
    "WORKER_VERSION_ENV",
    "MasterRelay",
    "WorkerSetup",
    "lab_version",
]

log = logging.getLogger("poslab.loadtests.distributed")

HELLO, SETUP, CONTROL, JOURNAL, REFUSED = (
    "poslab_hello",
    "poslab_setup",
    "poslab_control",
    "poslab_journal",
    "poslab_refused",
)
#: what the worker expects of the run it joins (``lab fleet worker``)
EXPECT_WORLD_ENV = "LAB_FLEET_EXPECT_WORLD_SHA256"
EXPECT_SEED_ENV = "LAB_FLEET_EXPECT_SEED"
#: the lab version a worker claims (default: the installed one); tests set it
#: to stand for a machine with another release
WORKER_VERSION_ENV = "LAB_FLEET_WORKER_VERSION"
#: the master's record of its workers, lost ones and refused ones
WORKERS_FILE = "workers.json"
#: in a worker's directory once its master answered (``lab fleet worker``
#: bounds the wait for it: a port that accepts but never answers is exit 2)
JOINED_FILE = "joined.json"
_LAST_RECORDS = 3  # journal lines kept per terminal for a lost worker's report


def lab_version() -> str:
    try:
        return metadata.version("pos-resilience-lab")
    except metadata.PackageNotFoundError:
        return "unknown"


class MasterRelay:
    """The master's side: sets workers up, forwards faults, journals their
    records, notices the lost ones."""

    def __init__(self, runtime: FleetRuntime, environment: Environment) -> None:
        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        self.runtime = runtime
        self.runner = runner
        config = runtime.config
        raw = Path(config.world).read_bytes()
        self.world_text = raw.decode("utf-8")
        self.world_sha256 = hashlib.sha256(raw).hexdigest()  # as `lab fleet worker --world`
        self.commands: list[dict[str, Any]] = []
        self.last: dict[str, list[str]] = {}  # tid -> its last journal lines
        self.workers: dict[str, dict[str, Any]] = {}
        self.lost: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.path = Path(config.journal_dir) / WORKERS_FILE
        runner.register_message(JOURNAL, self.on_journal)
        runner.register_message(REFUSED, self.on_refused)
        runner.register_message(HELLO, self.on_hello)
        # the last counts, once the workers' last batches are in
        environment.events.quitting.add_listener(self._on_quitting)  # type: ignore[no-untyped-call]
        self._saved_records = 0
        self._save()

    def setup(self) -> dict[str, Any]:
        config = self.runtime.config.to_dict()
        return {
            "config": config,
            "world": self.world_text,
            "world_sha256": self.world_sha256,
            "seed": self.runtime.config.seed,
            "lab_version": lab_version(),
            "commands": list(self.commands),
        }

    def on_hello(self, environment: Environment, msg: Any) -> None:
        client_id = str(msg.node_id)
        index = int(self.runner.get_worker_index(client_id))  # type: ignore[no-untyped-call]
        self.workers[client_id] = {"index": index, "state": "joined", "records": 0}
        self.runner.send_message(SETUP, self.setup(), client_id=client_id)
        self._save()

    def on_journal(self, environment: Environment, msg: Any) -> None:
        lines = [str(line) for line in msg.data.get("lines", [])]
        self.runtime.journal.write_lines(lines)
        worker = self.workers.get(msg.node_id)
        if worker is not None:
            worker["records"] += len(lines)
            worker["state"] = "running" if worker["state"] == "joined" else worker["state"]
        for line in lines:
            try:
                tid = json.loads(line)["tid"]
            except (ValueError, KeyError, TypeError):
                continue
            kept = self.last.setdefault(str(tid), [])
            kept.append(line)
            del kept[:-_LAST_RECORDS]

    def on_refused(self, environment: Environment, msg: Any) -> None:
        reason = str(msg.data.get("reason", "?"))
        log.error("worker %s refused to join: %s", msg.node_id, reason)
        self.refused.append({"client_id": msg.node_id, "reason": reason, "at": time.time()})
        worker = self.workers.get(msg.node_id)
        if worker is not None:
            worker["state"] = "refused"
        self._forget_worker(str(msg.node_id))
        self._save()

    def _forget_worker(self, client_id: str) -> None:
        """A refused worker is no worker of this run: Locust must not count it
        (its ``quit`` would end a master that has no other worker yet) nor
        give it users. What Locust's own ``quit`` handling does, minus that."""
        runner = self.runner
        client = runner.clients.get(client_id)
        if client is None:
            return
        del runner.clients[client_id]
        dispatcher = runner._users_dispatcher  # Locust has no public call for this
        if dispatcher is not None:
            dispatcher.remove_worker(client)
            if not dispatcher.dispatch_in_progress and runner.state == STATE_RUNNING:
                runner.start(runner.target_user_count, runner.spawn_rate)

    def forward(self) -> None:
        """Send new fleet faults from the control file to every worker."""
        for command in self.runtime.control.poll():
            data = {
                "seq": command.seq,
                "t": command.t,
                "action": command.action,
                "params": dict(command.params),
                "until": command.until,
            }
            log.info("fleet control → workers: %s %s", command.action, command.params)
            self.commands.append(data)  # a worker that joins later gets them in its setup
            self.runner.send_message(CONTROL, data)

    def check_workers(self) -> None:
        """A worker Locust marks missing is lost: name its terminals and their
        last journal records (once)."""
        missing = {c.id for c in self.runner.clients.all if c.state == STATE_MISSING}
        for client_id in sorted(missing):
            worker = self.workers.get(client_id)
            if worker is None or worker["state"] in ("lost", "refused"):
                continue
            worker["state"] = "lost"
            tids = self.runtime.slot_tids(worker["index"])
            log.error(
                "worker %s (index %d) lost: its %d terminals stop",
                client_id,
                worker["index"],
                len(tids),
            )
            self.lost.append(
                {
                    "client_id": client_id,
                    "index": worker["index"],
                    "at": time.time(),
                    "records": worker["records"],
                    "terminals": tids,
                    "last_records": {
                        tid: [json.loads(line) for line in self.last.get(tid, [])] for tid in tids
                    },
                }
            )
            self._save()

    def _on_quitting(self, **_: Any) -> None:
        self.check_workers()
        self._save()

    def save_if_changed(self) -> None:
        records = sum(w["records"] for w in self.workers.values())
        if records != self._saved_records:
            self._saved_records = records
            self._save()

    def _save(self) -> None:
        data = {
            "world_sha256": self.world_sha256,
            "lab_version": lab_version(),
            "slots": self.runtime.config.slots,
            "workers": [{"client_id": k, **v} for k, v in self.workers.items()],
            "lost": self.lost,
            "refused": self.refused,
        }
        try:
            atomic_write(self.path, json.dumps(data, indent=1) + "\n")
        except OSError:
            log.exception("cannot write %s", self.path)

    def loop(self, every_s: float) -> None:
        while True:
            gevent.sleep(every_s)
            try:
                self.forward()
                self.check_workers()
                self.save_if_changed()
            except Exception:  # a bad command must not stop the channel
                log.exception("fleet master: relay failed")


def _mismatch(data: dict[str, Any]) -> str | None:
    """Why this worker must not join the run ``data`` describes, or None."""
    mine = os.environ.get(WORKER_VERSION_ENV) or lab_version()
    if data.get("lab_version") != mine:
        return f"lab version: the master runs {data.get('lab_version')}, this worker {mine}"
    world = os.environ.get(EXPECT_WORLD_ENV)
    if world and world != data.get("world_sha256"):
        return (
            f"world: the master's has sha256 {str(data.get('world_sha256'))[:12]}…, "
            f"this worker expects {world[:12]}…"
        )
    seed = os.environ.get(EXPECT_SEED_ENV)
    if seed and seed != str(data.get("seed")):
        return f"seed: the master runs seed {data.get('seed')}, this worker expects {seed}"
    return None


class WorkerSetup:
    """The worker's side: becomes its share of the fleet once the master says
    what the fleet is; applies the faults the master forwards."""

    def __init__(self, environment: Environment, install: Callable[[FleetRuntime], None]) -> None:
        runner = environment.runner
        assert isinstance(runner, WorkerRunner)
        self.runner = runner
        self.environment = environment
        self.install = install
        self.runtime: FleetRuntime | None = None
        self.pending: list[dict[str, Any]] = []
        runner.register_message(SETUP, self.on_setup)
        runner.register_message(CONTROL, self.on_control)
        # Locust acked this worker already (its index is known): ask for the fleet.
        runner.send_message(HELLO, {"version": lab_version()})

    def on_setup(self, environment: Environment, msg: Any) -> None:
        if self.runtime is not None:
            return
        data = dict(msg.data)
        reason = _mismatch(data)
        joined = {"index": self.runner.worker_index, "refused": reason, "at": time.time()}
        atomic_write(Path.cwd() / JOINED_FILE, json.dumps(joined) + "\n")
        if reason is not None:
            log.error("this worker is refused (%s)", reason)
            self.runner.send_message(REFUSED, {"reason": reason})
            environment.process_exit_code = 2
            gevent.spawn_later(0.5, self.runner.quit)  # not from the runner's own greenlet
            return
        here = Path.cwd()
        world = here / "world.json"
        # the world holds the terminals' keys: as private here as on the master
        fd = os.open(world, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(str(data["world"]))
        fields = dict(data["config"])
        # Nothing of the master's run directory: the flash lives here.
        fields.update(
            world=str(world),
            journal_dir=str(here / "journal"),
            control_file=str(here / "control.jsonl"),  # never written: faults come by message
            state_dir=str(here / "state"),
        )
        config = FleetConfig.from_dict(fields)
        runtime = FleetRuntime(config)
        runtime.journal = JournalWriter(
            here / "journal", flush_every_s=config.journal_flush_s, sink=self._send_lines
        )
        for command in [*data.get("commands", []), *self.pending]:
            runtime.board.apply(FleetCommand.parse(command))
        self.pending.clear()
        self.runtime = runtime
        self.install(runtime)
        log.info("joined the fleet as worker %s", self.runner.worker_index)

    def _send_lines(self, lines: list[str]) -> None:
        self.runner.send_message(JOURNAL, {"lines": lines})

    def on_control(self, environment: Environment, msg: Any) -> None:
        if self.runtime is None:
            self.pending.append(dict(msg.data))
            return
        command = FleetCommand.parse(dict(msg.data))
        log.info("fleet control: %s %s until %s", command.action, command.params, command.until)
        self.runtime.board.apply(command)
