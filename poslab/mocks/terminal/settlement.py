"""Batch settlement (批结算) from the terminal's side.

1. deliver pending reversals and queued refunds (store-and-forward) first:
   they change the totals the host holds, so a queue that is not empty
   afterwards fails the settlement (tried again later);
2. 0500 with the batch totals in field 48: debits are sales (voided ones
   included), credits are voids and refunds — the same definition the host
   uses for its ``host_*`` totals (docs/run-directory.md);
3. the host answers in the 0510's field 48 whether it agrees: 1 balanced
   (对账平), 2 not balanced (对账不平);
4. when not balanced, upload every record of the batch in 0320s of up to 8,
   then the closing 0320 with 60.3 = 202; the host re-reconciles from them;
5. the batch number steps on and the log of the old batch is cleared.

A settlement that fails anywhere leaves the batch open; the terminal tries
again later, and the host still pays the online sales out meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

from poslab.iso8583 import (
    MAX_BATCH_DETAILS,
    BatchDetail,
    CardTotals,
    FieldError,
    IsoMessage,
    ReconciliationCode,
    ResponseClass,
    SettlementTotals,
    batch_upload_request,
    is_success,
    lookup,
    settlement_request,
)

from .device import Device
from .errors import BadReply, LinkError, ReversalPending, SignOnFailed
from .exchange import Reply
from .online import journaled, prepare
from .records import Outcome, TxnRecord, TxnType
from .terminal_store import BatchEntry

__all__ = ["MAX_BATCH_ENTRIES", "batch_totals", "next_batch", "settle"]

# Field 48 counts are n3: a batch cannot report more than 999 records.
MAX_BATCH_ENTRIES = 999
# Card organisation code of the upload records: domestic UnionPay.
_CARD_ORG = "00"


def batch_totals(entries: Sequence[BatchEntry]) -> SettlementTotals:
    debits = [e.amount for e in entries if e.type == "sale"]
    credits = [e.amount for e in entries if e.type in ("void", "refund")]
    return SettlementTotals(
        domestic=CardTotals(
            debit_amount=sum(debits),
            debit_count=len(debits),
            credit_amount=sum(credits),
            credit_count=len(credits),
        )
    )


def next_batch(batch: str) -> str:
    return f"{int(batch) % 999_999 + 1:06d}"


def _ask(dev: Device, record: TxnRecord, msg: IsoMessage) -> Reply | None:
    """One settlement message; None (record failed) unless answered with success."""
    record.attempts += 1
    record.request_mti = msg.mti
    try:
        reply = dev.exchange(msg)
    except (LinkError, BadReply) as exc:
        record.reason, record.path = exc.reason, dev.exchanger.last_path.value
        return None
    record.path, record.rc = reply.path.value, reply.rc
    record.response_bytes += reply.size
    if not is_success(reply.rc):
        cls = lookup(reply.rc).cls
        if cls is ResponseClass.SIGN_ON:
            dev.needs_sign_on = True  # 77: our batch is not the host's
        record.reason = f"rc_{reply.rc}"
        return None
    return reply


def _reconciled(reply: Reply) -> bool:
    text = reply.msg.text(48)
    if text is None:
        return False
    try:
        return SettlementTotals.parse(text).domestic.reconciliation == ReconciliationCode.BALANCED
    except FieldError:
        return False


def _upload(dev: Device, record: TxnRecord, entries: Sequence[BatchEntry]) -> bool:
    details = [BatchDetail(_CARD_ORG, e.stan, e.pan, e.amount) for e in entries]
    for start in range(0, len(details), MAX_BATCH_DETAILS):
        chunk = details[start : start + MAX_BATCH_DETAILS]
        msg = batch_upload_request(dev.identity, dev.next_stan(), dev.batch, chunk)
        if _ask(dev, record, msg) is None:
            return False
    closing = batch_upload_request(dev.identity, dev.next_stan(), dev.batch, (), final=True)
    return _ask(dev, record, closing) is not None


def settle(dev: Device) -> TxnRecord:
    """Settle the open batch; the record is emitted and returned."""
    record = dev.new_record(TxnType.SETTLEMENT)
    record.stan = dev.next_stan()  # its own STAN even if it never gets sent
    with journaled(dev, record):
        try:
            prepare(dev)
        except (SignOnFailed, ReversalPending) as exc:
            record.reason = exc.reason
            return record
        if dev.saf is not None and dev.saf_maybe_pending:
            record.reason = "saf_pending"  # forward_saf left a refund unanswered
            return record
        entries = dev.store.log_entries(dev.tid, dev.batch)
        record.batch = dev.batch
        msg = settlement_request(dev.identity, record.stan, dev.batch, batch_totals(entries))
        reply = _ask(dev, record, msg)
        if reply is None:
            return record
        if not _reconciled(reply) and not _upload(dev, record, entries):
            record.reason = f"upload_{record.reason}"
            return record
        dev.store.log_clear(dev.tid, record.batch)
        dev.set_batch(next_batch(record.batch))
        record.outcome, record.reason = Outcome.APPROVED, None
    return record
