"""The host's transaction journal in memory: what it has booked, indexed the
ways the handlers look things up.

- by F41 + F42 + batch + F11: duplicates (a retransmission is answered from
  here, never booked twice) and reversals (which reuse the original's F11);
- by RRN (F37): voids and refunds name their original that way;
- by terminal and batch: settlement totals.

The ledger (SQLite) is the durable copy: the journal is rebuilt from it at
start, and changed only together with a ledger write. Requests still being
authorised are tracked as *in flight*, so a retransmission or a reversal that
overtakes its original waits for it instead of racing it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Iterator

from poslab.iso8583 import CardTotals

__all__ = ["Batch", "Journal", "Key", "Txn", "batch_totals", "contribution"]

# tid, mid, batch, stan
Key = tuple[str, str, str, str]

# Statuses, as docs/run-directory.md spells them.
APPROVED, DECLINED, REVERSED, VOIDED = "approved", "declined", "reversed", "voided"
OPEN, CLOSED = "open", "closed"


def contribution(kind: str, status: str, amount: int) -> int:
    """Signed fen a row moves to the merchant: sales +, voids and refunds −."""
    if kind == "sale":
        return amount if status in (APPROVED, VOIDED) else 0
    if kind in ("void", "refund"):
        return -amount if status == APPROVED else 0
    return 0


@dataclasses.dataclass(slots=True)
class Txn:
    """One booked transaction (a row of ``transactions``)."""

    id: int
    tid: str
    mid: str
    stan: str
    batch: str
    type: str  # sale / void / refund / balance
    amount: int
    pan: str  # masked
    pan_hash: bytes = dataclasses.field(repr=False)
    card_kind: str | None
    rrn: str
    auth_code: str
    rc: str
    status: str
    booked_at: float
    settle_date: str
    due_at: float = 0.0  # when its payout falls due (T+1, or D0 for same-day merchants)
    reversed_at: float | None = None
    orig_id: int | None = None
    orig_rrn: str | None = None
    balance: str = ""  # F54 of a balance inquiry, replayed to a retransmission
    refunded: int = 0  # refunds booked against a sale (not stored: rebuilt)
    void_id: int | None = None  # the approved void of a sale (rebuilt)

    @property
    def key(self) -> Key:
        return (self.tid, self.mid, self.batch, self.stan)

    def contribution(self) -> int:
        return contribution(self.type, self.status, self.amount)


@dataclasses.dataclass(slots=True)
class Batch:
    """One terminal batch as the host sees it."""

    tid: str
    batch: str
    mid: str
    status: str
    opened_at: float
    settle_requested_at: float | None = None  # 0500 received; the worker closes it
    closed_at: float | None = None
    closed_by: str | None = None
    terminal_totals: CardTotals | None = None
    recon_code: int | None = None
    uploaded: int = 0
    settle_stan: str | None = None  # F11 of the 0500 (a repeat is answered the same)

    @property
    def accepts_transactions(self) -> bool:
        return self.status == OPEN and self.settle_requested_at is None


def batch_totals(txns: Iterable[Txn]) -> CardTotals:
    """The host's field 48 for a batch: debits are sales (approved or later
    voided), credits are approved voids and refunds (run-directory.md)."""
    debit_amount = debit_count = credit_amount = credit_count = 0
    for txn in txns:
        if txn.type == "sale" and txn.status in (APPROVED, VOIDED):
            debit_amount += txn.amount
            debit_count += 1
        elif txn.type in ("void", "refund") and txn.status == APPROVED:
            credit_amount += txn.amount
            credit_count += 1
    return CardTotals(debit_amount, debit_count, credit_amount, credit_count)


class Journal:
    def __init__(self) -> None:
        self.by_key: dict[Key, Txn] = {}
        self.by_id: dict[int, Txn] = {}
        self.by_rrn: dict[str, Txn] = {}
        self.by_batch: dict[tuple[str, str], list[Txn]] = {}
        self.batches: dict[tuple[str, str], Batch] = {}
        self.latest_batch: dict[str, int] = {}  # tid -> highest batch number seen
        self.tombstones: set[Key] = set()  # reversed before the original arrived
        self.in_flight: dict[Key, asyncio.Future[None]] = {}
        self.next_id = 1

    # -- building ------------------------------------------------------------

    def add(self, txn: Txn) -> None:
        self.by_key[txn.key] = txn
        self.by_id[txn.id] = txn
        if txn.rrn:
            self.by_rrn[txn.rrn] = txn
        self.by_batch.setdefault((txn.tid, txn.batch), []).append(txn)
        self.next_id = max(self.next_id, txn.id + 1)

    def relink(self) -> None:
        """Rebuild what sales know of their voids and refunds (after loading)."""
        for txn in self.by_id.values():
            if txn.orig_id is None or txn.status != APPROVED:
                continue
            original = self.by_id.get(txn.orig_id)
            if original is None:
                continue
            if txn.type == "void":
                original.void_id = txn.id
            elif txn.type == "refund":
                original.refunded += txn.amount

    def add_batch(self, batch: Batch) -> None:
        self.batches[(batch.tid, batch.batch)] = batch
        number = int(batch.batch)
        if number > self.latest_batch.get(batch.tid, 0):
            self.latest_batch[batch.tid] = number

    def allocate_id(self) -> int:
        txn_id = self.next_id
        self.next_id += 1
        return txn_id

    # -- lookups -----------------------------------------------------------

    def batch(self, tid: str, batch: str) -> Batch | None:
        return self.batches.get((tid, batch))

    def batch_txns(self, tid: str, batch: str) -> list[Txn]:
        return self.by_batch.get((tid, batch), [])

    def host_batch(self, tid: str) -> str:
        """The batch number a terminal should use now (60.2 of the 0810)."""
        latest = self.latest_batch.get(tid)
        if latest is None:
            return "000001"
        current = self.batches.get((tid, f"{latest:06d}"))
        if current is not None and current.accepts_transactions:
            return current.batch
        return f"{latest % 999_999 + 1:06d}"

    def open_batches(self) -> Iterator[Batch]:
        return (b for b in self.batches.values() if b.status == OPEN)

    def settle_backlog(self) -> list[Batch]:
        """Batches a terminal settled that the worker has not closed yet."""
        return [b for b in self.batches.values() if b.status == OPEN and b.settle_requested_at]

    def terminal_open_batches(self, tid: str) -> list[Batch]:
        return [b for b in self.open_batches() if b.tid == tid]
