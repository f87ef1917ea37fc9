"""The POS terminal a merchant uses: sales, voids, refunds, balance
inquiries, settlement and software updates, on top of :class:`Device`.

    term = Terminal(profile, config, primary=addr, backup=addr2, store=store,
                    on_record=journal.write)
    term.boot()              # flash → memory, sign on, deliver pending reversals
    term.run_next()          # what the next customer does (plus due housekeeping)
    term.sale(12_300)        # or one transaction of your choosing

Every method returns the transaction's :class:`TxnRecord` (also handed to
``on_record``) and never raises for a host or network failure — that is a
``failed`` record. Only :class:`TerminalCrashed` escapes, when a fleet fault
killed the device mid-transaction; call :meth:`reboot` to bring it back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Unpack

from poslab.iso8583 import (
    IsoMessage,
    OriginalRef,
    balance_request,
    encrypt_pin_block,
    refund_request,
    sale_request,
    void_request,
)

from .config import TerminalConfig
from .device import Device, DeviceOptions
from .errors import ReversalPending, SignOnFailed
from .exchange import Reply
from .online import flush_reversals, journaled, prepare, sign_on, transact
from .records import Outcome, TxnRecord, TxnType
from .reversal_delivery import next_reversal_due
from .settlement import MAX_BATCH_ENTRIES, settle
from .shopper import CardPresented, Shopper, TerminalProfile
from .store_and_forward import forward_saf
from .terminal_store import BatchEntry
from .tms import NoAgent, TmsClient, target_version

__all__ = ["DRAIN_BUDGET_S", "RecentSale", "Terminal"]

#: How long a terminal being switched off may keep delivering what is pending
#: (a reversal waiting for its next try, a queued refund). Locust waits for a
#: stopping user for ``--stop-timeout`` (17 s with the lab's default timeouts).
DRAIN_BUDGET_S = 12.0
#: Passes of the drain: each sends what is due (a reversal has 3 tries).
_DRAIN_PASSES = 8
#: Approved sales a till remembers for a later refund.
_RECENT_SALES = 16


@dataclasses.dataclass(frozen=True, slots=True)
class RecentSale:
    """An approved sale the merchant may refund later (also after settlement)."""

    stan: str
    batch: str
    amount: int
    pan: str
    rrn: str
    date: str


class Terminal(Device):
    __slots__ = (
        "_batch_opened_at",
        "_next_tms_at",
        "_settle_at_count",
        "_signed_on_at",
        "agent",
        "latest_software",
        "recent_sales",
        "shopper",
    )

    def __init__(
        self,
        profile: TerminalProfile,
        config: TerminalConfig,
        *,
        agent: TmsClient | None = None,
        latest_software: str | None = None,
        **options: Unpack[DeviceOptions],
    ) -> None:
        super().__init__(profile, config, **options)
        self.shopper = Shopper(profile, config.mix, config.pin_share, self.rng)
        self.agent: TmsClient = agent if agent is not None else NoAgent()
        self.latest_software = latest_software

    def _reset_memory(self) -> None:
        super()._reset_memory()
        # a list, trimmed by hand: a deque(maxlen=16) costs ~1.5 KiB per held
        # terminal before its first sale (its first 64-slot block)
        self.recent_sales: list[RecentSale] = []
        self._settle_at_count = self.config.settle_every
        self._batch_opened_at = time.monotonic()
        self._signed_on_at = 0.0
        self._next_tms_at = 0.0

    # -- lifecycle -------------------------------------------------------------

    def boot(self, delay_s: float = 0.0) -> None:
        """Power on: read flash, sign on, deliver what was left pending
        (reversals, then queued refunds). A host that does not answer is not
        an error here — the next transaction signs on again. ``delay_s``: how
        long the device takes to come up."""
        self.sleep(delay_s)
        self.load()
        self.batch_count = len(self.store.log_entries(self.tid, self.batch))
        self._settle_at_count = max(self.config.settle_every, self.batch_count + 1)
        try:
            sign_on(self)
            self._signed_on_at = time.monotonic()
            flush_reversals(self)
            forward_saf(self)
        except (SignOnFailed, ReversalPending):
            pass
        finally:
            self.end_transaction()

    def reboot(self, delay_s: float = 0.0) -> None:
        self.revive()
        self.boot(delay_s)

    def drain(self, budget_s: float = DRAIN_BUDGET_S) -> None:
        """Before the device is switched off at the end of a run: sign on if
        needed, deliver pending reversals and queued refunds — waiting for a
        reversal's next try when it is due within ``budget_s`` (errors are
        recorded, never raised)."""
        if self.crashed or not self.booted:
            return
        deadline = time.monotonic() + budget_s
        try:
            for _ in range(_DRAIN_PASSES):
                with contextlib.suppress(SignOnFailed, ReversalPending):
                    prepare(self)
                self.end_transaction()
                wait = self._pending_wait()
                if wait is None or time.monotonic() + wait > deadline:
                    return
                self.sleep(wait)
        finally:
            self.end_transaction()

    def _pending_wait(self) -> float | None:
        """Seconds until something pending can be sent again; None if nothing is."""
        due = next_reversal_due(self)
        if due is not None:
            return due
        if self.saf is not None and self.saf.pending(self.tid):
            return self.config.backoff_base_s
        return None

    def force_sign_on(self) -> None:
        self.needs_sign_on = True

    def use_backup_path(self, pinned: bool) -> None:
        self.paths.pin_backup(pinned)

    # -- what the merchant does ----------------------------------------------

    def run_next(self) -> TxnRecord:
        """Housekeeping that is due, then the next customer's transaction."""
        self.check_alive()
        every = self.config.sign_on_every_s
        if every is not None and time.monotonic() - self._signed_on_at >= every:
            self.needs_sign_on = True
        if self._settle_due():
            self.settle()
        if self.tms_requested and time.monotonic() >= self._next_tms_at:
            self.update_software()
        kind = self.shopper.next_kind()
        if (
            kind not in self.profile.allowed
            and self.rng.random() >= self.config.operator_error_share
        ):
            kind = "sale"  # the operator knows this till cannot do it
        if kind == "void":
            entry = self._voidable()
            if entry is not None:
                return self.void(entry)
            kind = "sale"
        if kind == "refund" and self.recent_sales:
            return self.refund(self.rng.choice(self.recent_sales))
        if kind == "balance":
            return self.balance()
        return self.sale()

    def sale(self, amount: int | None = None, card: CardPresented | None = None) -> TxnRecord:
        if self.batch_count >= MAX_BATCH_ENTRIES:
            self.settle()
        amount = self.shopper.amount() if amount is None else amount
        card = self.shopper.card() if card is None else card
        record = self.new_record(TxnType.SALE, amount=amount, pan=card.pan)
        if self.batch_count >= MAX_BATCH_ENTRIES:
            with journaled(self, record):
                record.reason = "batch_full"  # 批次已满: settle before selling on
            return record

        def build(stan: str, batch: str) -> IsoMessage:
            return sale_request(
                self.identity, stan, batch, amount, card.read, self._pin_block(card)
            )

        def approved(reply: Reply) -> None:
            entry = self._log(record, reply, "sale", card.pan)
            if record.rrn:
                self.recent_sales.append(
                    RecentSale(record.stan, record.batch, amount, card.pan, record.rrn, entry.date)
                )
                if len(self.recent_sales) > _RECENT_SALES:
                    del self.recent_sales[0]

        self._online(record, build, reversible=True, on_approval=approved)
        return record

    def void(self, entry: BatchEntry) -> TxnRecord:
        """Void (撤销) a sale of the open batch: same card, full amount."""
        card = self.shopper.card_for(entry.pan)
        record = self.new_record(TxnType.VOID, amount=entry.amount, pan=entry.pan)
        record.orig_stan, record.orig_batch = entry.stan, self.batch
        original = OriginalRef(batch=self.batch, trace=entry.stan)

        def build(stan: str, batch: str) -> IsoMessage:
            return void_request(
                self.identity, stan, batch, entry.amount, card.read, entry.rrn or "", original
            )

        def approved(reply: Reply) -> None:
            self._log(record, reply, "void", entry.pan, orig_stan=entry.stan)

        reply = self._online(record, build, reversible=True, on_approval=approved)
        if reply is not None and record.outcome is Outcome.APPROVED:
            self.recent_sales = [
                s for s in self.recent_sales if (s.stan, s.batch) != (entry.stan, self.batch)
            ]
        return record

    def refund(self, sale: RecentSale, amount: int | None = None) -> TxnRecord:
        """Refund (退货) part or all of an earlier sale, possibly of a closed batch."""
        if amount is None:
            amount = max(1, int(sale.amount * self.rng.uniform(0.3, 1.0)))
        card = self.shopper.card_for(sale.pan)
        record = self.new_record(TxnType.REFUND, amount=amount, pan=sale.pan)
        original = OriginalRef(batch=sale.batch, trace=sale.stan, date=sale.date)

        def build(stan: str, batch: str) -> IsoMessage:
            return refund_request(self.identity, stan, batch, amount, card.read, sale.rrn, original)

        reply = self._online(record, build, reversible=False, forwardable=True)
        approved = reply is not None and record.outcome is Outcome.APPROVED
        if reply is not None and approved:
            self._log(record, reply, "refund", sale.pan)
        if (approved or record.saf == "pending") and sale in self.recent_sales:
            # one refund per sale at this till; a queued one is on its way
            self.recent_sales.remove(sale)
        return record

    def balance(self, card: CardPresented | None = None) -> TxnRecord:
        card = self.shopper.card() if card is None else card
        record = self.new_record(TxnType.BALANCE, pan=card.pan)

        def build(stan: str, batch: str) -> IsoMessage:
            return balance_request(self.identity, stan, batch, card.read, self._pin_block(card))

        self._online(record, build, reversible=False)
        return record

    def settle(self) -> TxnRecord:
        try:
            record = settle(self)
        finally:
            self.end_transaction()
        if record.outcome is Outcome.APPROVED:
            self.batch_count = 0
            self._settle_at_count = self.config.settle_every
        else:
            # Try again after a few more sales, not before every one of them.
            self._settle_at_count = self.batch_count + max(1, self.config.settle_every // 10)
        self._batch_opened_at = time.monotonic()
        return record

    def update_software(self) -> TxnRecord:
        """Ask the agent's TMS for the current version and download it."""
        record = self.new_record(TxnType.TMS)
        with journaled(self, record):
            record.attempts = 1
            try:
                version = target_version(
                    self.agent.poll_tms(self.tid), self.latest_software or self.software
                )
                if version <= self.software:
                    record.reason = "tms_no_newer_version"
                else:
                    self.agent.download_software(self.tid, version)
            except Exception as exc:  # the agent client's boundary: any failure = not now
                record.reason = f"agent: {type(exc).__name__}"
            record.path = str(getattr(self.agent, "last_path", record.path))
            if record.reason is None:
                # the never-apply-update defect: downloaded, the old image keeps running
                if not self.config.defective("never-apply-update"):
                    self.set_software(version)
                self.tms_requested = False
                record.outcome = Outcome.APPROVED
            else:
                self._next_tms_at = time.monotonic() + self.config.tms_retry_s
        return record

    # -- helpers ---------------------------------------------------------------

    def _online(
        self,
        record: TxnRecord,
        build: Callable[[str, str], IsoMessage],
        *,
        reversible: bool,
        forwardable: bool = False,
        on_approval: Callable[[Reply], None] | None = None,
    ) -> Reply | None:
        try:
            return transact(
                self,
                record,
                build,
                reversible=reversible,
                forwardable=forwardable,
                on_approval=on_approval,
            )
        finally:
            self.end_transaction()

    def _pin_block(self, card: CardPresented) -> bytes | None:
        keys = self.keys
        if card.pin is None or keys is None:
            return None
        return encrypt_pin_block(card.pin, card.pan, keys.pik)

    def _log(
        self, record: TxnRecord, reply: Reply, kind: str, pan: str, orig_stan: str | None = None
    ) -> BatchEntry:
        session_date = self.session.host_date if self.session is not None else "0101"
        entry = BatchEntry(
            stan=record.stan,
            type=kind,
            amount=record.amount,
            pan=pan,
            rrn=record.rrn,
            date=reply.msg.text(13) or session_date,
            orig_stan=orig_stan,
        )
        self.log_approved(record.batch, entry)
        return entry

    def _voidable(self) -> BatchEntry | None:
        sales = [
            e
            for e in self.store.log_entries(self.tid, self.batch)
            if e.type == "sale" and not e.voided and e.rrn
        ]
        return self.rng.choice(sales) if sales else None

    def _settle_due(self) -> bool:
        if self.batch_count == 0:
            return False
        if self.batch_count >= self._settle_at_count:
            return True
        interval = self.config.settle_interval_s
        return interval is not None and time.monotonic() - self._batch_opened_at >= interval
