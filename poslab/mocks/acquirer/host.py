"""The host's shared state and the helpers every handler uses.

:class:`Host` owns the registry, the key sessions, the journal, the group
committer, the issuer link, the advice queue and the faults; the message
handlers (``sign_on``, ``authorisation``, ``void_refund``, ``reversal``,
``settlement``) are functions of ``(host, request)``. Nothing here does socket
I/O: the connection protocol hands payloads to :func:`dispatch.handle`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import time
from collections.abc import Sequence
from pathlib import Path

from poslab.iso8583 import FieldValue, IsoMessage
from poslab.world import World
from poslab.world.pan import BINS, mask_pan

from .advices import AdviceQueue
from .business_day import BusinessCalendar
from .config import AcquirerConfig
from .faults import FaultState
from .group_commit import GroupCommitter, Op
from .issuer_link import IssuerLink
from .journal import Batch, Journal, Key, Txn
from .keystore import Keystore, Session
from .ledger import batch_op
from .metrics import Metrics
from .registry import Registry, TerminalRecord

__all__ = ["CardRef", "Fields", "Host", "Request"]

Fields = dict[int, FieldValue | None]
_KIND_BY_BIN = {b.prefix: b.kind for b in BINS}


@dataclasses.dataclass(frozen=True, slots=True)
class CardRef:
    pan: str  # masked
    pan_hash: bytes
    kind: str | None


@dataclasses.dataclass(slots=True)
class Request:
    """One decoded request that passed the terminal and MAC checks."""

    msg: IsoMessage
    payload: bytes
    terminal: TerminalRecord
    session: Session | None
    received: float  # wall clock, for booking times
    requirement: int = 0  # header processing-requirement nibble of the reply

    @property
    def tid(self) -> str:
        return self.terminal.tid


class Host:
    def __init__(
        self,
        config: AcquirerConfig,
        world: World,
        registry: Registry,
        keystore: Keystore,
        journal: Journal,
        committer: GroupCommitter,
        issuer: IssuerLink,
        advices: AdviceQueue,
        calendar: BusinessCalendar,
        pan_key: bytes,
        metrics: Metrics,
        db_path: Path,
    ) -> None:
        self.config = config
        self.world = world
        self.registry = registry
        self.keystore = keystore
        self.journal = journal
        self.committer = committer
        self.issuer = issuer
        self.advices = advices
        self.calendar = calendar
        self.faults = FaultState(config.seed)
        self.metrics = metrics
        self.db_path = db_path
        self.zpk = bytes.fromhex(config.zpk_hex)
        self._pan_key = pan_key
        self._sign_on_rrn = itertools.count(1)
        self._fee_class = {m.mid: m.fee_class for m in world.merchants}
        # 0320 detail (STAN, amount) by (tid, batch), and the F11s already stored
        self.uploads: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self.upload_stans: dict[tuple[str, str], set[str]] = {}

    # -- time and identifiers --------------------------------------------------

    @staticmethod
    def now() -> float:
        return time.time()

    def issuer_timeout_s(self) -> float:
        override = self.faults.issuer_timeout_s
        return override if override is not None else self.config.issuer_timeout_ms / 1000

    def min_software(self) -> str:
        return (
            self.faults.min_software or self.config.min_software or self.world.params.min_software
        )

    def sign_on_rrn(self) -> str:
        return f"S{next(self._sign_on_rrn) % 10**11:011d}"

    @staticmethod
    def rrn_for(txn_id: int) -> str:
        return f"{txn_id % 10**12:012d}"

    # -- cards ---------------------------------------------------------------

    def pan_hash(self, pan: str) -> bytes:
        """A keyed hash to match cards by (voids, uploads) without keeping PANs."""
        return hashlib.blake2b(pan.encode("ascii"), digest_size=16, key=self._pan_key).digest()

    @staticmethod
    def masked(pan: str) -> str:
        return mask_pan(pan)

    def card_kind(self, pan: str) -> str | None:
        card = self.world.card(pan)
        if card is not None:
            return card.kind
        return _KIND_BY_BIN.get(pan[:6])

    def fee_class(self, mid: str) -> str:
        return self._fee_class.get(mid, "standard")

    # -- batches ---------------------------------------------------------------

    def batch_refused(self, tid: str, batch: str) -> bool:
        """True when a financial request in ``batch`` must be answered 77: the
        host closed that batch (settled or cut) or already moved past it."""
        latest = self.journal.latest_batch.get(tid)
        if latest is None:
            return False
        if int(batch) < latest:
            return True
        existing = self.journal.batch(tid, batch)
        return existing is not None and not existing.accepts_transactions

    def open_batch_ops(self, tid: str, mid: str, batch: str, now: float) -> list[Op]:
        """The batch row to write with the first transaction booked in it."""
        if self.journal.batch(tid, batch) is not None:
            return []
        record = Batch(tid=tid, batch=batch, mid=mid, status="open", opened_at=now)
        self.journal.add_batch(record)
        return [batch_op(record)]

    # -- durability ------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> None:
        """Make ``ops`` durable (group commit); raises WriteError on failure."""
        await self.committer.submit(ops)

    async def wait_in_flight(self, key: tuple[str, str, str, str]) -> None:
        """Let a request still being authorised under ``key`` finish first."""
        pending = self.journal.in_flight.get(key)
        if pending is not None:
            await asyncio.shield(pending)

    def book(self, txn: Txn) -> None:
        self.journal.add(txn)

    def card_ref(self, pan: str) -> CardRef:
        """What the ledger keeps of a card: masked PAN, keyed hash, kind."""
        return CardRef(self.masked(pan), self.pan_hash(pan), self.card_kind(pan))

    def new_txn(
        self,
        key: Key,
        kind: str,
        amount: int,
        card: CardRef,
        *,
        rc: str,
        status: str,
        auth_code: str = "",
        balance: str = "",
        original: Txn | None = None,
    ) -> Txn:
        """A row to book now under ``key`` (tid, mid, batch, stan), with a fresh RRN."""
        tid, mid, batch, stan = key
        now = self.now()
        day = self.calendar.day_of(now)
        lag = (
            self.config.d0_lag_days if self.fee_class(mid) == "d0" else self.config.payout_lag_days
        )
        txn_id = self.journal.allocate_id()
        return Txn(
            id=txn_id,
            tid=tid,
            mid=mid,
            stan=stan,
            batch=batch,
            type=kind,
            amount=amount,
            pan=card.pan,
            pan_hash=card.pan_hash,
            card_kind=card.kind,
            rrn=self.rrn_for(txn_id),
            auth_code=auth_code,
            rc=rc,
            status=status,
            booked_at=now,
            settle_date=self.calendar.date_of(day),
            due_at=self.calendar.payout_due(day, lag),
            balance=balance,
            orig_id=None if original is None else original.id,
            orig_rrn=None if original is None else original.rrn,
        )
