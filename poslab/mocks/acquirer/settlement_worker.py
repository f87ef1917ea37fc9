"""The settlement worker: closes batches, runs the day cut, pays merchants.

Every ``settlement_tick_s`` (unless the ``stall_settlement`` fault holds it):

1. batches the terminals settled (0500) are closed (``closed_by`` terminal);
2. for every day cut passed since the last tick, batches that stayed open for
   ``batch_max_days`` business days without a settlement are closed
   host-side (``closed_by`` host_cut): a terminal that never settles still
   has its batch closed, and its next request in it gets 77;
3. payouts: for every merchant and settlement date that is due — T+1
   (``payout_lag_days``) for standard merchants, D0 (``d0_lag_days``) for
   same-day ones — the rows not yet paid are paid: gross = sales − voids −
   refunds, fees from the world's fee schedule (``FeeSchedule.fee_fen``, exact
   integer fen, per row, by card kind and the merchant's fee class), net =
   gross − fees. Money moves from the journal, not from batch closure, so a
   terminal that never settles is paid all the same.

A row that changes after it was paid (a late reversal) is paid again as the
difference: an ``adjustment`` payout for the same merchant and date, so the
payouts of a date always add up to what its rows are worth. The payout run is
a job in the ledger's writer thread: it reads and writes in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .group_commit import Op
from .host import Host
from .journal import CLOSED, Batch, contribution
from .ledger import batch_op, meta_value

__all__ = ["PAYOUTS_DUE_BY", "SettlementWorker"]

log = logging.getLogger("acquirer.settlement")

_SET_META = "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"
_DUE_ROWS = (
    "SELECT id, mid, settle_date, type, amount, status, card_kind, paid_gross, paid_fee "
    "FROM transactions WHERE payout_dirty = 1 AND due_at <= ?"
)
#: Rows whose payout (or adjustment) falls due by a time and is not made yet.
PAYOUTS_DUE_BY = "SELECT COUNT(*) FROM transactions WHERE payout_dirty = 1 AND due_at <= ?"
_MARK_PAID = (
    "UPDATE transactions SET paid_gross = ?, paid_fee = ?, payout_dirty = 0, "
    "settled = MAX(settled, ?) WHERE id = ?"
)
_INSERT_PAYOUT = (
    "INSERT INTO payouts(mid, settle_date, kind, gross, fees, net, count, fee_credit, fee_debit, "
    "fee_qr, paid_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)"
)


@dataclass(slots=True)
class _Payout:
    gross: int = 0
    fees: int = 0
    count: int = 0
    fee_detail: dict[str, int] = field(default_factory=lambda: {"credit": 0, "debit": 0, "qr": 0})


class SettlementWorker:
    def __init__(self, host: Host, conn: sqlite3.Connection) -> None:
        self.host = host
        calendar = host.calendar
        initial = calendar.last_cut_before(time.time())
        self.last_cut_day = int(meta_value(conn, "last_cut_day", str(initial)))
        self.payouts_made = 0
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.host.config.settlement_tick_s)
            if self.host.faults.stall_settlement:
                continue
            try:
                await self.tick()
            except Exception:  # the worker must outlive a bad tick (e.g. a full disk)
                log.exception("settlement tick failed; retrying next tick")

    def backlog(self) -> int:
        return len(self.host.journal.settle_backlog())

    def cut_closes_by(self, by: float) -> int:
        """Open batches the day cuts passing from now until ``by`` will close host-side.

        With the payouts due by then (:data:`PAYOUTS_DUE_BY`), what a run
        waits for before it exports the ledger: the work that will be done
        by ``by`` is done when both are 0 and the backlog is empty.
        """
        calendar = self.host.calendar
        last = calendar.last_cut_before(by)
        if last <= self.last_cut_day:
            return 0
        oldest = last - (self.host.config.batch_max_days - 1)
        return sum(
            1
            for b in self.host.journal.open_batches()
            if b.settle_requested_at is None and calendar.day_of(b.opened_at) <= oldest
        )

    async def tick(self, now: float | None = None) -> None:
        host = self.host
        now = host.now() if now is None else now
        self.ticks += 1
        ops: list[Op] = []
        for batch in host.journal.settle_backlog():
            ops.append(self._close(batch, now, "terminal"))
        ops += self._cuts(now)
        if ops:
            await host.commit(ops)
        made = await host.committer.run(self._payout_job(now))
        self.payouts_made += made

    def close_for_replacement(self, tid: str, now: float) -> list[Op]:
        """Close ``tid``'s open batches host-side (the terminal was replaced)."""
        return [
            self._close(b, now, "replacement") for b in self.host.journal.terminal_open_batches(tid)
        ]

    @staticmethod
    def _close(batch: Batch, when: float, by: str) -> Op:
        batch.status = CLOSED
        batch.closed_at = when
        batch.closed_by = by
        return batch_op(batch)

    def _cuts(self, now: float) -> list[Op]:
        calendar = self.host.calendar
        current = calendar.last_cut_before(now)
        ops: list[Op] = []
        while self.last_cut_day < current:
            self.last_cut_day += 1
            day = self.last_cut_day
            oldest = day - (self.host.config.batch_max_days - 1)
            cut_at = calendar.cut_time(day)
            for batch in list(self.host.journal.open_batches()):
                if batch.settle_requested_at is None and calendar.day_of(batch.opened_at) <= oldest:
                    ops.append(self._close(batch, cut_at, "host_cut"))
            ops.append((_SET_META, ("last_cut_day", str(day))))
            log.info(
                "day cut %s passed; %d batch(es) closed host-side",
                calendar.date_of(day),
                len(ops) - 1,
            )
        return ops

    def _payout_job(self, now: float) -> Callable[[sqlite3.Connection], int]:
        host = self.host
        fees = host.world.fees

        def job(conn: sqlite3.Connection) -> int:
            groups: dict[tuple[str, str], _Payout] = {}
            paid: list[tuple[int, int, int, int]] = []
            for row in conn.execute(_DUE_ROWS, (now,)).fetchall():
                txn_id, mid, date, kind, amount, status, card_kind, paid_gross, paid_fee = row
                gross = contribution(kind, status, amount)
                card = card_kind or "debit"
                fee = fees.fee_fen(gross, card, host.fee_class(mid)) if gross else 0
                # A row is settled once a payout carries it (run-directory.md:
                # its settle_date is exported from then on).
                paid.append((gross, fee, 1 if gross or paid_gross else 0, txn_id))
                if gross == paid_gross and fee == paid_fee:
                    continue
                payout = groups.setdefault((mid, date), _Payout())
                payout.gross += gross - paid_gross
                payout.fees += fee - paid_fee
                payout.count += 1
                payout.fee_detail[card] = payout.fee_detail.get(card, 0) + fee - paid_fee
            if paid:
                conn.executemany(_MARK_PAID, paid)
            for (mid, date), payout in sorted(groups.items()):
                earlier = conn.execute(
                    "SELECT 1 FROM payouts WHERE mid = ? AND settle_date = ? LIMIT 1", (mid, date)
                ).fetchone()
                detail = payout.fee_detail
                values = (
                    mid,
                    date,
                    "adjustment" if earlier else "payout",
                    payout.gross,
                    payout.fees,
                    payout.gross - payout.fees,
                    payout.count,
                    detail["credit"],
                    detail["debit"],
                    detail["qr"],
                    now,
                )
                conn.execute(_INSERT_PAYOUT, values)
                if not earlier and host.config.defective("double-pay-batch"):
                    # the planted defect: a payout file resent with no idempotency key
                    conn.execute(_INSERT_PAYOUT, values)
            return len(groups)

        return job
