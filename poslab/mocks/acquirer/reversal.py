"""Reversal (0400/0410): undo a sale or a void the terminal could not finish.

The original is found by F41 + F42 + F11 + batch (60.2) — a reversal reuses
its original's trace number. Repeats are idempotent: every reversal of the
same original gets the same answer.

- original unknown → 25, and the host remembers it (a *tombstone*): if the
  original turns up later (it was delayed in the network) it is refused 94
  instead of booked. A reversal is sent upstream as well, because the host
  cannot prove the issuer never saw it (a crash between the issuer's
  approval and the booking): the issuer answers 25 when it did not;
- an approved sale → ``reversed``, and a reversal is queued for the issuer;
- a sale answered 98 (no issuer reply) → ``reversed`` (its upstream reversal
  was queued when the 98 was given);
- a declined sale → 00, nothing to undo;
- a voided sale → 00, the void already gave the money back;
- an approved void → ``reversed``; the sale is ``approved`` again and the
  issuer is told to hold the funds again (``rehold``);
- a refund or a balance inquiry → 12 (not reversible);
- an amount that differs from the original's → 13.

Reversals are accepted whatever the state of the batch (even one the host
closed at the cut): the cardholder must get the money back.
"""

from __future__ import annotations

from poslab.iso8583 import Field60, parse_amount

from .group_commit import Op
from .host import Fields, Host, Request
from .journal import APPROVED, DECLINED, REVERSED, VOIDED, Txn
from .ledger import INSERT_TOMBSTONE, status_op

__all__ = ["reverse"]


async def reverse(host: Host, request: Request) -> Fields:
    msg = request.msg
    terminal = request.terminal
    batch = Field60.parse(msg.require(60)).batch
    key = (terminal.tid, terminal.mid, batch, msg.require(11))
    amount_text = msg.text(4)
    amount = parse_amount(amount_text) if amount_text is not None else None
    reason = msg.text(39) or "06"
    await host.wait_in_flight(key)
    original = host.journal.by_key.get(key)
    now = host.now()
    if original is None:
        return await _unknown(host, key, amount or 0, reason, now)
    if original.type not in ("sale", "void"):
        return {39: "12"}
    if amount is not None and amount != original.amount:
        return {39: "13"}
    if original.status in (REVERSED, VOIDED) or original.reversed_at is not None:
        return {39: "00"}
    if original.status == DECLINED and original.rc != "98":
        original.reversed_at = now
        await host.commit([status_op(original)])
        return {39: "00"}
    if host.config.defective("ack-reversal-without-applying"):
        # the planted defect: a fast path acknowledges and nothing is undone or sent upstream
        return {39: "00"}
    return await _undo(host, original, reason, now)


async def _unknown(
    host: Host, key: tuple[str, str, str, str], amount: int, reason: str, now: float
) -> Fields:
    if key in host.journal.tombstones:
        return {39: "25"}
    host.journal.tombstones.add(key)
    advice, advice_store = host.advices.new("reverse", key, amount, reason, now)
    try:
        await host.commit([(INSERT_TOMBSTONE, (*key, now)), advice_store])
    except BaseException:
        host.journal.tombstones.discard(key)
        raise
    host.advices.activate(advice)
    return {39: "25"}


async def _undo(host: Host, original: Txn, reason: str, now: float) -> Fields:
    previous = (original.status, original.reversed_at)
    original.status = REVERSED
    original.reversed_at = now
    ops: list[Op] = [status_op(original)]
    sale: Txn | None = None
    advice = None
    if original.type == "void":
        sale = host.journal.by_id.get(original.orig_id or -1)
        if sale is not None and sale.status == VOIDED:
            sale.status = APPROVED
            sale.void_id = None
            ops.append(status_op(sale))
            advice, op = host.advices.new("rehold", sale.key, sale.amount, reason, now)
            ops.append(op)
    elif original.rc == "00":  # an approved sale: the issuer holds the funds
        advice, op = host.advices.new("reverse", original.key, original.amount, reason, now)
        ops.append(op)
    try:
        await host.commit(ops)
    except BaseException:
        original.status, original.reversed_at = previous
        if sale is not None:
            sale.status = VOIDED
            sale.void_id = original.id
        raise
    if advice is not None:
        host.advices.activate(advice)
    return {39: "00"}
