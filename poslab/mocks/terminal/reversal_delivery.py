"""Reversals (冲正): stored before a reversible request leaves, delivered
before anything else goes online.

The rules (pos-domain.md, "Reversal"): the record is written to the store
*before* the sale or void is sent; a valid definite reply deletes it
(:mod:`poslab.mocks.terminal.online`). Before every later online transaction the
terminal sends its pending reversals, oldest first, and one that cannot be
delivered blocks the new transaction ("冲正中": :class:`ReversalPending`).
After the last try without a definite answer the record is dropped and the
merchant is told to call support ("冲正不成功 请与客服联系") — the journal's
``unresolved``.

What a *try* is, and when the next one may go, is the policy's:

- ``naive``: every attempt counts, counted before it is made, and the next
  one goes with the very next transaction — three customers in a second use
  up the budget inside one short outage;
- ``resilient``: a try counts only when the 0400 left the terminal — a
  connection that could not be opened means the host never saw it — and a
  "sign on again" answer (A0, 99: the host refused to read it) is not a try
  either: the terminal signs on and sends it again at once. Counted tries are
  spaced by exponential backoff with half of each step jittered
  (``reversal_backoff_base_s``), so the budget spans a host restart instead
  of a second of it. Until the next try is due the reversal still blocks the
  till, without sending anything.
"""

from __future__ import annotations

import time

from poslab.iso8583 import (
    IsoMessage,
    ResponseClass,
    lookup,
    reversal_is_settled,
    reversal_request,
)

from .device import Device
from .errors import ReversalPending
from .records import Outcome, TxnRecord, TxnType
from .replies import RC_REASON, journaled, send_stored
from .terminal_store import ReversalRecord, fields_from_json, fields_to_json

__all__ = ["flush_reversals", "next_reversal_due", "send_reversal", "store_reversal"]


def store_reversal(dev: Device, request: IsoMessage, record: TxnRecord) -> ReversalRecord:
    """Write the reversal of ``request`` to the store, before it is sent."""
    pending = ReversalRecord(
        tid=dev.tid,
        stan=record.stan,
        batch=record.batch,
        type=record.type.value,
        amount=record.amount,
        pan=record.pan,
        # JSON, not an encoded 0400: this runs before every sale, encoding
        # costs ten times as much, and the reversal is rarely sent
        fields=fields_to_json(reversal_request(request, "98").fields),
        reason="98",
        created_at=time.time(),
    )
    dev.reversals.put(pending)
    dev.reversals_maybe_pending = True
    return pending


def _record(dev: Device, pending: ReversalRecord) -> TxnRecord:
    record = dev.new_record(TxnType.REVERSAL, amount=pending.amount)
    record.pan = pending.pan  # already masked in the store
    record.stan, record.batch = pending.stan, pending.batch
    record.orig_stan, record.orig_batch = pending.stan, pending.batch
    record.attempts = pending.tries
    return record


def send_reversal(dev: Device, pending: ReversalRecord) -> None:
    """One try of ``pending``; returns when it is settled or given up,
    raises :class:`ReversalPending` while it still blocks the till."""
    spaced = dev.config.spaced_reversals
    if spaced and pending.retry_at > time.time():
        wait = pending.retry_at - time.time()
        raise ReversalPending(f"reversal of STAN {pending.stan} waits {wait:.1f} s to try again")
    record = _record(dev, pending)
    tries = pending.tries
    if not spaced:
        tries = record.attempts = dev.reversals.count_try(dev.tid, pending.stan, pending.batch)
    fields = fields_from_json(pending.fields)
    fields[39] = pending.reason
    msg = IsoMessage("0400", fields, dev.identity.tpdu, dev.identity.header())
    with journaled(dev, record):
        # a try counts when the 0400 may have reached the host ...
        reply, counts = send_stored(dev, record, msg)
        if reply is not None:
            if reversal_is_settled(reply.rc):
                dev.reversals.delete(dev.tid, pending.stan, pending.batch)
                record.outcome = Outcome.APPROVED
                return
            cls = lookup(reply.rc).cls
            if cls is ResponseClass.SIGN_ON:
                dev.needs_sign_on = True
            record.reason = RC_REASON.get(cls, f"rc_{reply.rc}")
            # ... and the host did not refuse to read it (A0, 99: sign on, send again)
            counts = cls is not ResponseClass.SIGN_ON
        counted = not spaced
        if spaced and counts:
            retry_at = time.time() + dev.reversal_backoff.delay(pending.tries + 1)
            tries = dev.reversals.count_try(dev.tid, pending.stan, pending.batch, retry_at)
            record.attempts, counted = tries, True
        if counted and tries >= dev.config.reversal_tries:
            # 冲正不成功, 请与客服联系: the terminal gives up; the lab counts it.
            dev.reversals.delete(dev.tid, pending.stan, pending.batch)
            record.outcome = Outcome.UNRESOLVED
            return
        record.outcome = Outcome.FAILED
        raise ReversalPending(
            f"reversal of STAN {pending.stan} undelivered ({record.reason}, try {tries})"
        )


def flush_reversals(dev: Device) -> None:
    """Deliver every pending reversal, oldest first."""
    if not dev.reversals_maybe_pending:
        return
    for pending in dev.reversals.pending(dev.tid):
        send_reversal(dev, pending)
    dev.reversals_maybe_pending = False


def next_reversal_due(dev: Device) -> float | None:
    """Seconds until the first pending reversal may be tried (0 if now), or
    None when none is pending."""
    pending = dev.reversals.pending(dev.tid)
    if not pending:
        return None
    return max(0.0, min(p.retry_at for p in pending) - time.time())
