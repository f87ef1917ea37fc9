"""Batch settlement (0500) and batch upload (0320): reconciliation (对账).

0500: the terminal's totals (field 48) are compared with the host's own
journal for that terminal and batch — debits are sales (approved or later
voided), credits approved voids and refunds — and each half of 48 comes back
with its reconciliation code: 1 balanced, 2 not balanced (or 2 for a share of
0500s under the ``force_mismatch`` fault). Either way the batch is finished
for the terminal (it moves to the next batch number) and queued for the
settlement worker, which closes it — unless ``stall_settlement`` holds it.
A repeated 0500 (same F11, the reply was lost) gets the same answer.

0320 after a mismatch: detail records (60.3 = 201, up to 8 per message) are
stored, then the closing message (202, or 207) makes the host re-reconcile
from the detail: balanced (1) when every transaction that counts in the
host's totals was uploaded with its amount and nothing else was, otherwise
2. The result is the batch's ``recon_code``. A retransmitted 0320 (same F11)
is not stored twice.
"""

from __future__ import annotations

from collections import Counter

from poslab.iso8583 import (
    CardTotals,
    Field60,
    ReconciliationCode,
    SettlementTotals,
    parse_batch_details,
)

from .group_commit import Op
from .host import Fields, Host, Request
from .journal import APPROVED, OPEN, VOIDED, Batch, batch_totals
from .ledger import INSERT_UPLOAD, batch_op

__all__ = ["settle", "upload"]

_BALANCED, _NOT_BALANCED = ReconciliationCode.BALANCED, ReconciliationCode.NOT_BALANCED


def _same(host_totals: CardTotals, terminal: CardTotals) -> bool:
    return (
        host_totals.debit_amount,
        host_totals.debit_count,
        host_totals.credit_amount,
        host_totals.credit_count,
    ) == (
        terminal.debit_amount,
        terminal.debit_count,
        terminal.credit_amount,
        terminal.credit_count,
    )


def _batch(host: Host, request: Request, batch: str) -> tuple[Batch, list[Op]]:
    """The host's record of ``batch`` (created empty if it never saw it)."""
    record = host.journal.batch(request.tid, batch)
    if record is not None:
        return record, []
    record = Batch(request.tid, batch, request.terminal.mid, OPEN, request.received)
    host.journal.add_batch(record)
    return record, [batch_op(record)]


def _answer(totals: SettlementTotals, domestic: int, foreign: int) -> Fields:
    reply = SettlementTotals(
        totals.domestic.with_reconciliation(domestic), totals.foreign.with_reconciliation(foreign)
    )
    return {39: "00", 48: reply.format()}


async def settle(host: Host, request: Request) -> Fields:
    msg = request.msg
    batch = Field60.parse(msg.require(60)).batch
    totals = SettlementTotals.parse(msg.require(48))
    stan = msg.require(11)
    record, ops = _batch(host, request, batch)
    if record.settle_stan == stan and record.recon_code is not None:
        return {
            **_answer(totals, record.recon_code, _foreign_code(totals)),
            15: _mmdd(host, request),
        }
    host_totals = batch_totals(host.journal.batch_txns(request.tid, batch))
    balanced = _same(host_totals, totals.domestic) and not host.faults.mismatch_now()
    code = _BALANCED if balanced else _NOT_BALANCED
    record.terminal_totals = CardTotals(
        totals.domestic.debit_amount,
        totals.domestic.debit_count,
        totals.domestic.credit_amount,
        totals.domestic.credit_count,
    )
    record.recon_code = int(code)
    record.settle_stan = stan
    if record.settle_requested_at is None:
        record.settle_requested_at = request.received
    ops.append(batch_op(record))
    await host.commit(ops)
    return {**_answer(totals, code, _foreign_code(totals)), 15: _mmdd(host, request)}


def _foreign_code(totals: SettlementTotals) -> int:
    """The lab issues only domestic cards: foreign totals balance when empty."""
    return _BALANCED if _same(CardTotals(), totals.foreign) else _NOT_BALANCED


def _mmdd(host: Host, request: Request) -> str:
    return host.calendar.mmdd(request.received)


def _recount(host: Host, tid: str, batch: str, uploads: list[tuple[str, int]]) -> int:
    """Reconciliation from the uploaded detail (STAN, amount) against the journal."""
    expected: Counter[tuple[str, int]] = Counter()
    for txn in host.journal.batch_txns(tid, batch):
        counts = (txn.type == "sale" and txn.status in (APPROVED, VOIDED)) or (
            txn.type in ("void", "refund") and txn.status == APPROVED
        )
        if counts:
            expected[(txn.stan, txn.amount)] += 1
    return int(_BALANCED if Counter(uploads) == expected else _NOT_BALANCED)


async def upload(host: Host, request: Request) -> Fields:
    msg = request.msg
    field60 = Field60.parse(msg.require(60))
    batch = field60.batch
    stan = msg.require(11)
    record, ops = _batch(host, request, batch)
    key = (request.tid, batch)
    seen = host.upload_stans.setdefault(key, set())
    details_text = msg.text(48)
    if field60.net_mgmt == "201" or details_text:
        if details_text is None:
            return {39: "30"}
        details = parse_batch_details(details_text)
        if stan not in seen:
            seen.add(stan)
            stored = host.uploads.setdefault(key, [])
            for detail in details:
                stored.append((detail.stan, detail.amount))
                ops.append(
                    (
                        INSERT_UPLOAD,
                        (
                            request.tid,
                            batch,
                            detail.stan,
                            detail.card_org,
                            host.masked(detail.pan),
                            host.pan_hash(detail.pan),
                            detail.amount,
                            request.received,
                            stan,
                        ),
                    )
                )
            record.uploaded += len(details)
            ops.append(batch_op(record))
    if field60.net_mgmt in ("202", "207"):
        record.recon_code = _recount(host, request.tid, batch, host.uploads.get(key, []))
        ops.append(batch_op(record))
    elif field60.net_mgmt != "201":
        return {39: "12"}
    if ops:
        await host.commit(ops)
    return {39: "00"}
