"""Void (0200, F3 200000) and refund (0220): money back on an earlier sale.

Both name their original by F37 (its RRN) and F61 (original batch + trace
[+ date]); the host looks it up by RRN first, then by this terminal's batch
and trace. Neither goes to the issuer synchronously: the acquirer decides.

Void checks, in order: original unknown → 25; not a sale → 12; already voided
→ C9; already reversed → CA; declined → 12; not in this terminal's open batch
→ 12 (voids exist only inside the open batch); amount differs → 13; another
card → 12. An approved void marks the sale ``voided`` and queues a *release*
advice so the issuer frees the cardholder's hold.

Refund checks: original unknown (or another merchant's) → 25; not a sale or
declined → 12; voided → C9; reversed → CA; more than what is left to refund →
13; another card → 12. Refunds may come any later day, from any terminal of
the merchant. A refund is an advice in CUP (0220) and moves money through
clearing, not through the issuer's holds, so no upstream message is sent.

Like sales, a retransmission under the same F41 + F42 + batch + F11 gets the
original answer replayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from poslab.iso8583 import Field60, IsoMessage, OriginalRef, parse_amount

from .authorisation import card_data, replay, reply_fields
from .group_commit import Op, WriteError
from .host import CardRef, Fields, Host, Request
from .journal import APPROVED, DECLINED, REVERSED, VOIDED, Key, Txn
from .ledger import status_op, txn_op

__all__ = ["refund", "void"]


def _original(host: Host, msg: IsoMessage, tid: str, mid: str) -> Txn | None:
    ref = OriginalRef.parse(msg.require(61))
    rrn = msg.text(37)
    original = host.journal.by_rrn.get(rrn) if rrn else None
    if original is None:
        original = host.journal.by_key.get((tid, mid, ref.batch, ref.trace))
    if original is None or original.mid != mid:
        return None
    if (original.batch, original.stan) != (ref.batch, ref.trace):
        return None  # F37 and F61 name different transactions
    return original


async def _book(host: Host, key: Key, txn: Txn, ops: list[Op], undo: Callable[[], None]) -> Fields:
    """Commit ``ops`` (the state change is already applied in memory; ``undo``
    reverts it if the ledger refuses), then answer from ``txn``."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    host.journal.in_flight[key] = done
    try:
        try:
            await host.commit(ops)
        except WriteError:
            undo()
            raise
        host.book(txn)
        return reply_fields(host, txn)
    finally:
        del host.journal.in_flight[key]
        done.set_result(None)


async def _prologue(
    host: Host, request: Request, kind: str
) -> tuple[Fields | None, Key, int, str, Txn | None]:
    """Checks shared by void and refund: duplicates, batch, original."""
    msg = request.msg
    terminal = request.terminal
    batch = Field60.parse(msg.require(60)).batch
    key = (terminal.tid, terminal.mid, batch, msg.require(11))
    amount = parse_amount(msg.require(4))
    pan, _ = card_data(msg)
    await host.wait_in_flight(key)
    existing = host.journal.by_key.get(key)
    if existing is not None:
        return replay(host, existing, kind, amount, pan), key, amount, pan, None
    if key in host.journal.tombstones:
        return {39: "94"}, key, amount, pan, None
    if host.batch_refused(terminal.tid, batch):
        return {39: "77"}, key, amount, pan, None
    original = _original(host, msg, terminal.tid, terminal.mid)
    if original is None:
        return {39: "25"}, key, amount, pan, None
    return None, key, amount, pan, original


def _new_txn(host: Host, key: Key, kind: str, amount: int, original: Txn) -> Txn:
    card = CardRef(original.pan, original.pan_hash, original.card_kind)
    return host.new_txn(
        key,
        kind,
        amount,
        card,
        rc="00",
        status=APPROVED,
        auth_code=original.auth_code,
        original=original,
    )


async def void(host: Host, request: Request) -> Fields:
    answer, key, amount, pan, original = await _prologue(host, request, "void")
    if answer is not None or original is None:
        return answer or {39: "25"}
    if original.type != "sale":
        return {39: "12"}
    if original.status == VOIDED:
        return {39: "C9"}
    if original.status == REVERSED:
        return {39: "CA"}
    if original.status == DECLINED:
        return {39: "12"}
    sale_batch = host.journal.batch(original.tid, original.batch)
    if (
        original.batch != key[2]
        or original.tid != key[0]
        or sale_batch is None
        or not sale_batch.accepts_transactions
    ):
        return {39: "12"}
    if amount != original.amount:
        return {39: "13"}
    if host.pan_hash(pan) != original.pan_hash:
        return {39: "12"}
    txn = _new_txn(host, key, "void", amount, original)
    original.status = VOIDED
    original.void_id = txn.id
    advice, advice_store = host.advices.new(
        "release", original.key, original.amount, "00", txn.booked_at
    )

    def undo() -> None:
        original.status = APPROVED
        original.void_id = None

    ops = [txn_op(txn), status_op(original), advice_store]
    fields = await _book(host, key, txn, ops, undo)
    host.advices.activate(advice)
    return fields


async def refund(host: Host, request: Request) -> Fields:
    answer, key, amount, pan, original = await _prologue(host, request, "refund")
    if answer is not None or original is None:
        return answer or {39: "25"}
    if original.type != "sale" or original.status == DECLINED:
        return {39: "12"}
    if original.status == VOIDED:
        return {39: "C9"}
    if original.status == REVERSED:
        return {39: "CA"}
    if not 0 < amount <= original.amount - original.refunded:
        return {39: "13"}
    if host.pan_hash(pan) != original.pan_hash:
        return {39: "12"}
    txn = _new_txn(host, key, "refund", amount, original)
    original.refunded += amount

    def undo() -> None:
        original.refunded -= amount

    tid, mid, batch, _ = key
    ops = [*host.open_batch_ops(tid, mid, batch, txn.booked_at), txn_op(txn)]
    return await _book(host, key, txn, ops, undo)
