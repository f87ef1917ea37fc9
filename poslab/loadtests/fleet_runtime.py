"""One Locust process's share of the fleet: config, world, terminals, journal.

Built once per process (after Locust forked its workers) from the fleet
config. It hands out terminals so that every user of every process is a
distinct terminal — terminal ``i`` of the fleet belongs to process
``i mod N`` (the worker index), and a process hands its terminals out in
order, reusing those of users that stopped — and it owns what the terminals
of a process share: the SQLite "flash" (one file per process slot, so a
restarted fleet finds its pending reversals again), the journal writer and
the fault board.

No Locust or gevent import here: the locustfile wires this to Locust.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError
from poslab.fleet.config import FleetConfig
from poslab.fleet.load_marker import write_load_started
from poslab.mocks.terminal import (
    Outcome,
    Terminal,
    TerminalConfig,
    TerminalProfile,
    TerminalStore,
    TxnRecord,
    TxnType,
    flash_key,
    parse_address,
)
from poslab.mocks.terminal.agent_client import AgentClient
from poslab.world import World
from poslab.world import load as load_world

from .control import ControlReader
from .fleet_faults import FaultBoard
from .journal import JournalWriter
from .merchant_desk import MerchantDesk, Outboxes
from .shapes import Shape, make_shape

__all__ = ["FleetRuntime", "terminal_config"]

log = logging.getLogger(__name__)

# Business durations of the terminal, scaled with the run's time scale.
_SCALED = ("settle_interval_s", "sign_on_every_s", "tms_retry_s")


def terminal_config(config: FleetConfig) -> TerminalConfig:
    """The terminals' config: the fleet's policy and timeouts, its overrides,
    business intervals times the time scale."""
    values: dict[str, Any] = {
        "policy": config.policy,
        "response_timeout_s": config.response_timeout_s,
        "connect_timeout_s": config.connect_timeout_s,
    }
    values.update(config.terminal)
    built = TerminalConfig.from_dict(values)
    scaled = {
        name: getattr(built, name) * config.time_scale
        for name in _SCALED
        if getattr(built, name) is not None
    }
    return TerminalConfig.from_dict({**values, **scaled}) if scaled else built


def fleet_terminals(world: World, config: FleetConfig) -> list[str]:
    """The TIDs this run drives, in world order."""
    if config.tids is not None:
        unknown = [tid for tid in config.tids if world.terminal(tid) is None]
        if unknown:
            raise ConfigError(f"fleet config names terminals not in the world: {unknown[:5]}")
        return list(config.tids)
    tids = [t.tid for t in world.terminals]
    return tids if config.terminals is None else tids[: config.terminals]


class FleetRuntime:
    def __init__(self, config: FleetConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world if world is not None else load_world(Path(config.world))
        self.tids = fleet_terminals(self.world, config)
        missing = sorted(
            {self.world.terminal(t).region for t in self.tids}  # type: ignore[union-attr]
            - set(config.regions)
        )
        if missing:
            raise ConfigError(f"fleet config has no host path for region(s) {missing}")
        self.terminal_config = terminal_config(config)
        self.shape: Shape = make_shape(config.shape.name, len(self.tids), config.shape.params)
        self.board = FaultBoard(
            ((tid, self.world.terminal(tid).region) for tid in self.tids),  # type: ignore[union-attr]
            config.seed,
        )
        self.control = ControlReader(config.control_file)
        self.journal = JournalWriter(config.journal_dir, flush_every_s=config.journal_flush_s)
        self.started_at = time.monotonic()
        self._slot: int | None = None
        self._free: list[int] = []
        self._next = 0
        self._store: TerminalStore | None = None
        self._outboxes: Outboxes | None = None
        self._flusher: AgentClient | None = None

    # -- slots ------------------------------------------------------------------

    def bind(self, slot: int) -> None:
        """This process is slot ``slot`` of ``config.processes`` (its worker index)."""
        if not 0 <= slot < self.config.slots:
            raise ConfigError(f"worker index {slot} outside 0..{self.config.slots - 1}")
        self._slot = slot
        self._next = slot

    @property
    def store(self) -> TerminalStore:
        if self._store is None:
            slot = self._slot or 0
            name = f"terminals-{slot}-of-{self.config.slots}.sqlite"
            # card data in the flash is sealed under a key only the world gives
            self._store = TerminalStore(
                Path(self.config.state_dir) / name, data_key=flash_key(self.world)
            )
        return self._store

    def slot_tids(self, slot: int) -> list[str]:
        """The terminals worker ``slot`` runs (the partition ``claim`` follows)."""
        return self.tids[slot :: self.config.slots]

    def claim(self) -> str | None:
        """A terminal for a new user; None when this process has none left."""
        if self._free:
            return self.tids[self._free.pop()]
        index = self._next
        if index >= len(self.tids):
            return None
        self._next += self.config.slots
        return self.tids[index]

    def release(self, tid: str) -> None:
        self._free.append(self.tids.index(tid))
        self._free.sort(reverse=True)  # lowest first: the same terminals come back

    # -- terminals ----------------------------------------------------------------

    def profile(self, tid: str) -> TerminalProfile:
        world_terminal = self.world.terminal(tid)
        if world_terminal is None:
            raise ConfigError(f"terminal {tid} is not in the world")
        return TerminalProfile.from_world(self.world, world_terminal)

    def build(self, profile: TerminalProfile, on_record: Callable[[TxnRecord], None]) -> Terminal:
        """A terminal on this process's flash; its agent is set by its desk."""
        backup = self.config.backup
        return Terminal(
            profile,
            self.terminal_config,
            primary=parse_address(self.config.regions[profile.region]),
            backup=parse_address(backup) if backup else None,
            store=self.store,
            on_record=on_record,
            rng=random.Random(f"{self.config.seed}/{profile.tid}"),
            latest_software=self.world.params.latest_software,
        )

    def desk(
        self, profile: TerminalProfile, emit: Callable[[TxnRecord], None]
    ) -> MerchantDesk | None:
        """The merchant and agent clients of a till; None without agent URLs."""
        agents = dict(self.config.agents)
        if "primary" not in agents:
            return None
        return MerchantDesk(
            profile,
            agents=agents,
            outboxes=self.outboxes,
            failover=self.terminal_config.failover,
            timeout_s=self.config.connect_timeout_s,
            backup_first=self.board.backup_agent,
            emit=emit,
            policy=self.config.policy,
        )

    @property
    def outboxes(self) -> Outboxes:
        if self._outboxes is None:
            slot = self._slot or 0
            name = f"agent-outbox-{slot}-of-{self.config.slots}.sqlite"
            self._outboxes = Outboxes(Path(self.config.state_dir) / name, self.config.seed)
        return self._outboxes

    def flush_outbox(self, emit: Callable[[TxnRecord], None]) -> None:
        """Deliver queued tickets (any client of the process can) and journal
        each one that got through."""
        agents = self.config.agents
        if "primary" not in agents or self._outboxes is None or not self._outboxes.origin:
            return
        if self._flusher is None:
            self._flusher = self._outboxes.client(
                agents["primary"],
                agents.get("backup"),
                failover=self.terminal_config.failover,
                timeout_s=self.config.connect_timeout_s,
                rng=random.Random(f"{self.config.seed}/outbox"),
            )
        for receipt in self._flusher.flush_outbox():
            origin = self._outboxes.origin.pop(receipt.key, None)
            if origin is None:
                continue  # a replacement request, or a ticket already journaled
            tid, mid, region = origin
            record = TxnRecord(
                ts_start=time.time(),
                tid=tid,
                mid=mid,
                region=region,
                type=TxnType.TICKET,
                stan="000000",
                batch="000000",
                policy=self.config.policy,
                outcome=Outcome.APPROVED,
                attempts=receipt.attempts,
                path=receipt.path or "primary",
                request_mti="HTTP",
            )
            emit(record.finish(time.time()))

    # -- pacing --------------------------------------------------------------------

    def mark_started(self) -> None:
        self.started_at = time.monotonic()

    def mark_load_started(self, t: float) -> None:
        """The shape's clock started at ``t`` (epoch): the lab's marker file."""
        write_load_started(
            self.config.journal_dir, t, shape=self.config.shape.name, terminals=len(self.tids)
        )

    def intensity(self) -> float:
        tick = self.shape.at(time.monotonic() - self.started_at)
        return 1.0 if tick is None else tick.intensity

    def think_time(self, rng: random.Random) -> float:
        """One pause between a terminal's transactions: exponential (customers
        arrive independently) around the fleet's mean, stretched when the day
        is quiet or the fleet is throttled."""
        mean = self.config.think_time_s * self.config.time_scale
        if mean <= 0:
            return 0.0
        rate = max(self.intensity() * self.board.throttle(), 1e-3)
        return rng.expovariate(rate / mean)

    # -- the control channel ------------------------------------------------------

    def poll_control(self) -> None:
        for command in self.control.poll():
            log.info("fleet control: %s %s until %s", command.action, command.params, command.until)
            self.board.apply(command)
        self.board.expire(time.time())

    def close(self) -> None:
        self.journal.close()
        if self._store is not None:
            self._store.close()
            self._store = None
