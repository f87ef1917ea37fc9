"""The terminal as a device: memory, flash, a link to the host, and power.

:class:`Device` holds what every transaction needs — the session (working
keys, batch), the STAN counter, the host paths, the reversal store and the
store-and-forward queue — and
the lifecycle the fleet faults act on: :meth:`boot`, :meth:`crash`,
:meth:`reboot`. What the merchant does with it lives in
:mod:`poslab.mocks.terminal.terminal`; the online-transaction engine in
:mod:`poslab.mocks.terminal.online`.

Threads and greenlets: one owner (the Locust user's greenlet, or a test
thread) runs transactions; :meth:`crash` and the fleet controls may be called
from another. A crash aborts the link and wakes any backoff sleep, and the
owner raises :class:`TerminalCrashed` at its next check.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Required, TypedDict

from poslab.iso8583 import IsoMessage, TerminalIdentity, Tpdu, WorkingKeys

from .backoff import Backoff
from .config import ConnectionMode, TerminalConfig
from .errors import TerminalCrashed
from .exchange import Exchanger, Reply
from .host_paths import Address, HostPaths
from .link import Channel, SocketChannel
from .records import Outcome, TxnRecord, TxnType
from .saf_queue import SafQueue
from .shopper import TerminalProfile
from .sign_on import Session
from .terminal_store import (
    BatchEntry,
    Counters,
    DurableReversals,
    MemoryReversals,
    ReversalStore,
    TerminalStore,
)

__all__ = ["Device", "DeviceOptions", "RecordSink"]

RecordSink = Callable[[TxnRecord], None]
# STANs reserved in flash per write: a reboot resumes above the reservation,
# so no STAN is ever reused without a write per transaction.
STAN_BLOCK = 64
_MAX_STAN = 999_999
NO_STAN = "000000"
_FIRST_BATCH = "000001"
# the terminal's TPDU: destination NII 0003 (the acquirer), source 0000
_TPDU = Tpdu(destination="0003", source="0000")


class DeviceOptions(TypedDict, total=False):
    """The keyword arguments of :class:`Device` (and of its subclasses)."""

    primary: Required[Address]
    backup: Required[Address | None]
    store: Required[TerminalStore]
    reversals: ReversalStore | None
    on_record: RecordSink | None
    rng: random.Random | None
    channel: Channel | None


def _advance(stan: int, steps: int) -> int:
    return (stan - 1 + steps) % _MAX_STAN + 1


class Device:
    # slots, no instance dict: a fleet process holds thousands of these
    # (issue 16 item 6: the dict of ~40 attributes was ~1.5 KiB per terminal)
    __slots__ = (
        "_crashed",
        "_software_pushed",
        "_stan",
        "_stan_reserved",
        "_wake",
        "backoff",
        "batch",
        "batch_count",
        "booted",
        "channel",
        "config",
        "exchanger",
        "identity",
        "layout",
        "needs_sign_on",
        "on_record",
        "paths",
        "profile",
        "reversal_backoff",
        "reversals",
        "reversals_maybe_pending",
        "rng",
        "saf",
        "saf_maybe_pending",
        "session",
        "software",
        "store",
        "tms_requested",
    )

    def __init__(
        self,
        profile: TerminalProfile,
        config: TerminalConfig,
        *,
        primary: Address,
        backup: Address | None,
        store: TerminalStore,
        reversals: ReversalStore | None = None,
        on_record: RecordSink | None = None,
        rng: random.Random | None = None,
        channel: Channel | None = None,
    ) -> None:
        self.profile = profile
        self.config = config
        self.store = store
        self.rng = rng if rng is not None else random.Random()
        self.on_record = on_record
        if reversals is None:
            reversals = DurableReversals(store) if config.durable_reversals else MemoryReversals()
        self.reversals = reversals
        # naive terminals have no store-and-forward: a refund without an answer stays failed
        self.saf = SafQueue(store) if config.store_and_forward else None
        self.layout = config.key_layout()
        self.backoff = Backoff(
            config.backoff_base_s, config.backoff_cap_s, jitter=config.jitter, rng=self.rng
        )
        # half of each step fixed: the tries of one reversal span a known minimum
        self.reversal_backoff = Backoff(
            config.reversal_backoff_base_s,
            config.reversal_backoff_cap_s,
            jitter=config.jitter,
            rng=self.rng,
            floor=0.5,
        )
        self.paths = HostPaths(
            primary,
            backup,
            failover=config.failover,
            failover_after=config.failover_after,
            fail_back_after_s=config.fail_back_after_s,
        )
        self.channel: Channel = channel or SocketChannel(connect_timeout_s=config.connect_timeout_s)
        self.exchanger = Exchanger(
            self.channel,
            self.paths,
            response_timeout_s=config.response_timeout_s,
            connect_tries=config.connect_tries if config.retries else 1,
            algorithm=config.mac_algorithm,
            backoff=self.backoff,
            sleep=self.sleep,
        )
        self._wake = threading.Event()
        self._crashed = False
        self._reset_memory()

    # -- memory (lost on crash) ---------------------------------------------

    def _reset_memory(self) -> None:
        self.session: Session | None = None
        self.needs_sign_on = True
        self.tms_requested = False
        # False once a flush found nothing left: spares a store lookup per sale
        self.reversals_maybe_pending = True
        self.saf_maybe_pending = True
        self.batch_count = 0  # approved entries in the open batch's log
        self.software = self.profile.software_version
        self.batch = _FIRST_BATCH
        self._stan = 1
        self._stan_reserved = 0
        self.identity = self._identity()
        self.booted = False
        self._software_pushed = False

    @property
    def _tpdu(self) -> Tpdu:
        c = self.config
        if (c.tpdu_destination, c.tpdu_source) == (_TPDU.destination, _TPDU.source):
            return _TPDU
        return Tpdu(destination=c.tpdu_destination, source=c.tpdu_source)

    def _identity(self) -> TerminalIdentity:
        return TerminalIdentity(
            tid=self.profile.tid,
            mid=self.profile.mid,
            tpdu=self._tpdu,
            software_version=self.software,
            app_type=self.profile.app_type,
            spec_version=self.config.header_spec_version,
        )

    @property
    def tid(self) -> str:
        return self.profile.tid

    @property
    def keys(self) -> WorkingKeys | None:
        return None if self.session is None else self.session.keys

    # -- flash ----------------------------------------------------------------

    def load(self) -> None:
        """Read counters from flash (power-on); first boot starts at STAN 1, batch 1."""
        counters = self.store.counters(self.tid)
        pushed = self.software if self._software_pushed else None
        if counters is not None:
            self._stan = counters.stan_ceiling
            self.batch = counters.batch
            self.software = counters.software
        if pushed is not None:
            self.software = pushed
        self.identity = self._identity()
        self._stan_reserved = 0
        self.booted = True
        if pushed is not None:
            self.save_counters()

    def save_counters(self) -> None:
        ceiling = _advance(self._stan, self._stan_reserved)
        self.store.save_counters(self.tid, Counters(ceiling, self.batch, self.software))

    def next_stan(self) -> str:
        if self._stan_reserved == 0:
            self._stan_reserved = STAN_BLOCK
            self.save_counters()
        stan = self._stan
        self._stan = _advance(stan, 1)
        self._stan_reserved -= 1
        return f"{stan:06d}"

    def set_batch(self, batch: str) -> None:
        self.batch = batch
        self.save_counters()

    def log_approved(self, batch: str, entry: BatchEntry) -> None:
        """Add an approved transaction to the batch log (flash) and count it."""
        self.store.log_add(self.tid, batch, entry)
        self.batch_count += 1

    def set_software(self, version: str) -> None:
        """Run ``version`` from now on (a TMS update, or a fleet fault). Before
        the first boot it is kept until flash has been read."""
        self.software = version
        self.identity = self._identity()
        if self.booted:
            self.save_counters()
        else:
            self._software_pushed = True

    # -- power ----------------------------------------------------------------

    @property
    def crashed(self) -> bool:
        return self._crashed

    def crash(self) -> None:
        """The device dies now: memory gone, link cut, in-flight work abandoned.
        What is in flash (and, for a durable policy, the reversals) survives."""
        self._crashed = True
        self._wake.set()
        self.channel.abort()
        self.reversals.crash(self.tid)

    def revive(self) -> None:
        """Power back: a clean memory, ready for :meth:`boot`."""
        self.channel.close()
        self._reset_memory()
        self.paths.reset()
        self._wake.clear()
        self._crashed = False

    def check_alive(self) -> None:
        if self._crashed:
            raise TerminalCrashed(f"terminal {self.tid} crashed")

    def sleep(self, seconds: float) -> None:
        """A backoff pause that a crash cuts short."""
        if seconds > 0:
            self._wake.wait(seconds)
        self.check_alive()

    # -- the host -------------------------------------------------------------

    def mak_for(self, msg: IsoMessage) -> bytes | None:
        if msg.mti not in self.config.mac_mtis or self.session is None:
            return None
        return self.session.keys.mak

    def exchange(self, msg: IsoMessage) -> Reply:
        """Send ``msg`` (signed if its MTI is MACed) and return the trusted reply.
        Raises the link errors of :mod:`poslab.mocks.terminal.errors`, or
        :class:`TerminalCrashed` when the device died meanwhile."""
        try:
            reply = self.exchanger.request(msg, self.mak_for(msg))
        except Exception:
            self.check_alive()
            raise
        self.check_alive()
        return reply

    def end_transaction(self) -> None:
        if self.config.connection is ConnectionMode.SHORT:
            self.channel.close()

    # -- the journal ----------------------------------------------------------

    def new_record(self, txn: TxnType, *, amount: int = 0, pan: str | None = None) -> TxnRecord:
        record = TxnRecord(
            ts_start=time.time(),
            tid=self.tid,
            mid=self.profile.mid,
            region=self.profile.region,
            type=txn,
            # "000000" until a message takes a STAN: a record never names a
            # STAN that a later message will use
            stan=NO_STAN,
            batch=self.batch,
            policy=self.config.policy.value,
            amount=amount,
            path=self.paths.current.value,
        )
        record.set_pan(pan)
        return record

    def emit(self, record: TxnRecord) -> TxnRecord:
        record.finish(time.time())
        failed = record.outcome in (Outcome.FAILED, Outcome.UNRESOLVED)
        if failed and record.reason is None:
            record.reason = f"rc_{record.rc}" if record.rc else "unknown"
        if self.on_record is not None:
            self.on_record(record)
        return record
