"""Store-and-forward (SAF) of refunds: a 0220 without an answer is not lost.

Why: a refund (退货, 0220) is an advice in CUP and cannot be reversed. When
its reply is lost the host may have booked it — the customer is credited —
while the till shows it failed, and the merchant may refund again. A
resilient terminal therefore keeps every refund without a definite answer in
a persistent queue (the SQLite flash that holds its reversals) and
retransmits it unchanged — same STAN, batch and amount — before its next
online transaction, until the host answers. The host's duplicate check on
F41 + F42 + F11 + batch replays its original answer when it had booked the
refund, and books it now when it never saw it: either way the terminal ends
with the host's own answer. Settlement sends the queue first (pos-domain.md,
settlement step 1), because the batch totals must include those refunds.

Journal (docs/run-directory.md): the original refund record stays ``failed``
with ``saf: "pending"``; every retransmission is a ``refund`` record with the
same tid/stan/batch and ``retransmission: true``, and the one with a definite
answer (``saf`` null) resolves it.

Definite answers: every decodable reply except "retry later" (90, 91, 96),
"uncertain" (98) and a refused key (A0, 99: the host did not read it — sign
on and send again). 77 is definite: the host checks duplicates before
batches, so a 77 means the refund was never booked and its batch is closed.

Unlike a reversal, an undelivered refund does not block the till: nothing
about the next sale depends on it. Only settlement waits for the queue.
The naive policy has no queue: a lost refund stays failed.
"""

from __future__ import annotations

import time

from poslab.iso8583 import IsoMessage, Rc, ResponseClass, is_success, lookup

from .device import Device
from .exchange import Reply
from .records import Outcome, TxnRecord, TxnType, outcome_for_rc
from .replies import RC_REASON, journaled, send_stored
from .saf_queue import SafEntry, SafQueue
from .terminal_store import BatchEntry, fields_from_json, fields_to_json

__all__ = ["forward_saf", "is_definite", "keep_refund"]

# Never kept in flash: track data, PIN block and chip data (the PAN goes in
# F2 instead), and the MAC, computed at send time under the keys held then.
_NOT_KEPT = frozenset({35, 36, 52, 53, 55, 64})
# Answers after which the host may still book the refund: keep it queued.
_OPEN = frozenset({ResponseClass.RETRY_LATER, ResponseClass.UNCERTAIN})


def is_definite(rc: str) -> bool:
    """Whether an answer to a refund settles it (see the module docstring)."""
    cls = lookup(rc).cls
    if cls is ResponseClass.SIGN_ON:
        return rc.upper() == Rc.BATCH_MISMATCH
    return cls not in _OPEN


def keep_refund(dev: Device, request: IsoMessage, record: TxnRecord) -> SafEntry | None:
    """Queue ``request`` before it is sent (a crash after the send must not
    lose it); None when this terminal has no store-and-forward."""
    if dev.saf is None:
        return None
    fields = {n: v for n, v in request.fields.items() if n not in _NOT_KEPT}
    track2 = request.text(35)
    if 2 not in fields and track2:
        fields[2] = track2.partition("D")[0]
    entry = SafEntry(
        tid=dev.tid,
        stan=record.stan,
        batch=record.batch,
        type=record.type.value,
        amount=record.amount,
        pan=record.pan,
        fields=fields_to_json(dict(sorted(fields.items()))),
        created_at=time.time(),
    )
    dev.saf.put(entry)
    dev.saf_maybe_pending = True
    return entry


def _retransmission(dev: Device, entry: SafEntry) -> TxnRecord:
    record = dev.new_record(TxnType(entry.type), amount=entry.amount)
    record.pan = entry.pan  # already masked in the queue
    record.stan, record.batch = entry.stan, entry.batch
    record.retransmission = True
    record.saf = "pending"  # until the host answers (a crash mid-send leaves it queued)
    return record


def _resolved(dev: Device, saf: SafQueue, entry: SafEntry, record: TxnRecord, reply: Reply) -> None:
    """The host's definite answer: the queue lets go, an approval joins the batch."""
    saf.delete(dev.tid, entry.stan, entry.batch)
    record.saf = None
    record.outcome = outcome_for_rc(reply.rc)
    cls = lookup(reply.rc).cls
    record.reason = RC_REASON.get(cls) if record.outcome is Outcome.FAILED else None
    if not is_success(reply.rc) or entry.batch != dev.batch:
        return  # a refund of a batch closed host-side belongs to that batch's settlement
    pan = str(fields_from_json(entry.fields).get(2, ""))
    date = reply.msg.text(13) or (dev.session.host_date if dev.session else "0101")
    dev.log_approved(
        entry.batch, BatchEntry(entry.stan, entry.type, entry.amount, pan, record.rrn, date)
    )


def _forward(dev: Device, saf: SafQueue, entry: SafEntry) -> bool:
    """Retransmit one entry; True when the host answered it definitely."""
    record = _retransmission(dev, entry)
    fields = fields_from_json(entry.fields)
    msg = IsoMessage("0220", fields, dev.identity.tpdu, dev.identity.header())
    with journaled(dev, record):
        reply, delivered = send_stored(dev, record, msg)
        if delivered:
            record.attempts = saf.count_try(dev.tid, entry.stan, entry.batch)
        if reply is None:
            return False
        if lookup(reply.rc).cls is ResponseClass.SIGN_ON:
            dev.needs_sign_on = True
        if not is_definite(reply.rc):
            record.reason = RC_REASON.get(lookup(reply.rc).cls, f"rc_{reply.rc}")
            return False
        _resolved(dev, saf, entry, record, reply)
        return True


def forward_saf(dev: Device) -> bool:
    """Retransmit queued refunds, oldest first, stopping at the first one the
    host leaves open (the path is evidently not working). True when the
    queue is empty afterwards."""
    saf = dev.saf
    if saf is None or not dev.saf_maybe_pending:
        return True
    for entry in saf.pending(dev.tid):
        if not _forward(dev, saf, entry):
            return False
    dev.saf_maybe_pending = False
    return True
