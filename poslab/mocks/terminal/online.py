"""Online transactions: sign-on, what must go first, and the request loop.

The order every online transaction follows (pos-domain.md, "Reversal"):

1. sign on if the session is missing or the host asked for it;
2. deliver pending reversals, oldest first — a reversal that cannot be
   delivered (or waits for its next try) blocks the new transaction
   (:mod:`poslab.mocks.terminal.reversal_delivery`);
3. retransmit refunds held in store-and-forward (resilient; they do not
   block: :mod:`poslab.mocks.terminal.store_and_forward`);
4. take a STAN; write the reversal record of a reversible request, or the
   store-and-forward entry of a refund, *before* the request leaves;
5. send and wait for the trusted reply (:mod:`poslab.mocks.terminal.exchange`);
6. a valid definite reply deletes the reversal record; no reply, a bad MAC or
   an uncertain answer (98, 94) leaves it, with reason 98 / A0 / 06. A refund
   stays queued only when the host may have booked it (no reply, 98).

Resilient terminals then retry what the host told them to retry: a request
answered A0/99/77 once after signing on again, one answered 90/91/96 up to
``rc_retries`` times with backoff — always with a new STAN, so the host's
duplicate check can never mistake the retry for a repeat.
"""

from __future__ import annotations

from collections.abc import Callable

from poslab.iso8583 import IsoMessage, ResponseClass, is_success, lookup, sign_on_request

from .device import Device
from .errors import BadReply, LinkError, ReversalPending, SignOnFailed
from .exchange import Reply
from .records import Outcome, TxnRecord, TxnType, outcome_for_rc
from .replies import RC_REASON, host_asks, journaled, note_reply
from .reversal_delivery import flush_reversals, store_reversal
from .saf_queue import SafEntry
from .sign_on import Session, accept_sign_on
from .store_and_forward import forward_saf, keep_refund
from .terminal_store import ReversalRecord

__all__ = ["flush_reversals", "journaled", "prepare", "sign_on", "transact"]

# Answers after which the original may still have been booked: keep the reversal.
_KEEP_REVERSAL = frozenset({ResponseClass.UNCERTAIN, ResponseClass.DUPLICATE})
# ... and the queued refund (a fresh STAN cannot be a duplicate of anything booked).
_KEEP_REFUND = frozenset({ResponseClass.UNCERTAIN})


def _adopt(dev: Device, session: Session) -> None:
    if session.batch != dev.batch:
        # The host's batch wins: it closed ours (day cut, replacement) or we
        # lost count. Our log of the old batch is settled host-side now.
        dev.store.log_clear(dev.tid, dev.batch)
        dev.set_batch(session.batch)
    dev.session = session
    dev.needs_sign_on = False


def sign_on(dev: Device) -> None:
    """Sign on (0800/0810), with up to ``sign_on_tries`` attempts spaced by
    backoff (jittered when resilient). :class:`SignOnFailed` when none worked."""
    record = dev.new_record(TxnType.SIGN_ON)
    tries = dev.config.sign_on_tries if dev.config.retries else 1
    with journaled(dev, record):
        for attempt in range(1, tries + 1):
            if attempt > 1:
                dev.sleep(dev.backoff.delay(attempt - 1))
            record.stan, record.batch, record.attempts = dev.next_stan(), dev.batch, attempt
            msg = sign_on_request(dev.identity, record.stan, dev.batch, dev.config.key_mode)
            record.request_mti = msg.mti
            try:
                reply = dev.exchange(msg)
            except (LinkError, BadReply) as exc:
                record.reason, record.path = exc.reason, dev.exchanger.last_path.value
                continue
            note_reply(record, reply)
            try:
                session = accept_sign_on(
                    reply.msg, dev.profile.tmk, dev.config.key_mode, dev.layout
                )
            except SignOnFailed as exc:
                record.reason = exc.reason
                if lookup(reply.rc).cls is ResponseClass.CONFIG_ERROR:
                    break  # 97 terminal not registered: asking again cannot help
                continue
            _adopt(dev, session)
            record.outcome, record.reason = Outcome.APPROVED, None
            return
        record.outcome = Outcome.FAILED
        raise SignOnFailed(f"terminal {dev.tid} could not sign on ({record.reason})")


def prepare(dev: Device) -> None:
    """Steps 1 to 3: a session, no reversal left behind, queued refunds sent."""
    dev.check_alive()
    if dev.needs_sign_on or dev.session is None:
        sign_on(dev)
    try:
        flush_reversals(dev)
    except ReversalPending:
        if not (dev.needs_sign_on and dev.config.retries):
            raise
        sign_on(dev)  # the reversal's MAC failed on stale keys: once more, freshly keyed
        flush_reversals(dev)
    if not forward_saf(dev) and dev.needs_sign_on and dev.config.retries:
        sign_on(dev)  # the host refused the keys the refund was signed with
        forward_saf(dev)


def _after_no_reply(
    dev: Device, record: TxnRecord, pending: ReversalRecord | None, exc: LinkError | BadReply
) -> ReversalRecord | None:
    record.outcome, record.reason = Outcome.FAILED, exc.reason
    record.path = dev.exchanger.last_path.value
    bad_mac = isinstance(exc, BadReply) and exc.bad_mac
    if bad_mac:
        dev.needs_sign_on = True
    if pending is None:
        return None
    if isinstance(exc, LinkError) and not exc.sent:
        dev.reversals.delete(dev.tid, pending.stan, pending.batch)
        return None
    reason = "A0" if bad_mac else ("98" if isinstance(exc, LinkError) else "06")
    if reason != pending.reason:
        dev.reversals.set_reason(dev.tid, pending.stan, pending.batch, reason)
    return pending


def _unanswered_refund(
    dev: Device, held: SafEntry | None, exc: LinkError | BadReply
) -> SafEntry | None:
    if held is None or dev.saf is None:
        return None
    if isinstance(exc, LinkError) and not exc.sent:
        dev.saf.delete(dev.tid, held.stan, held.batch)  # never left: the host cannot have it
        return None
    return held


def transact(
    dev: Device,
    record: TxnRecord,
    build: Callable[[str, str], IsoMessage],
    *,
    reversible: bool,
    forwardable: bool = False,
    on_approval: Callable[[Reply], None] | None = None,
) -> Reply | None:
    """Run one online transaction; ``build(stan, batch)`` makes its request.
    ``forwardable``: a refund, queued for store-and-forward while unanswered.
    ``on_approval(reply)``: writes an approval to the batch log, before the
    record is emitted; where the store's log write also removes the reversal
    (``settled_by_log``) that one write replaces the delete.
    Returns the final reply (None when there was none); the record is emitted."""
    rc_retries = sign_on_retries = 0
    pending: ReversalRecord | None = None
    held: SafEntry | None = None
    # The first attempt's STAN is taken before anything can fail, so even a
    # sale that never left the till is journaled under a STAN of its own.
    record.stan = dev.next_stan()
    first = True
    with journaled(dev, record):
        try:
            while True:
                prepare(dev)
                if not first:
                    record.stan = dev.next_stan()  # a retry is a new request
                first = False
                record.batch = dev.batch
                request = build(record.stan, record.batch)
                record.request_mti = request.mti
                if reversible:
                    pending = store_reversal(dev, request, record)
                elif forwardable:
                    held = keep_refund(dev, request, record)
                record.attempts += 1
                try:
                    reply = dev.exchange(request)
                except (LinkError, BadReply) as exc:
                    pending = _after_no_reply(dev, record, pending, exc)
                    held = _unanswered_refund(dev, held, exc)
                    return None
                note_reply(record, reply)
                host_asks(dev, reply)
                cls = lookup(reply.rc).cls
                if on_approval is not None and is_success(reply.rc):
                    on_approval(reply)
                    if pending is not None and dev.reversals.settled_by_log:
                        pending = None  # logged, so no longer reversible: gone with the write
                        dev.reversals_maybe_pending = False
                if pending is not None and cls not in _KEEP_REVERSAL:
                    dev.reversals.delete(dev.tid, pending.stan, pending.batch)
                    pending = None
                    # prepare() flushed every older reversal before this one was
                    # stored, so none is left: the next sale skips the store lookup
                    dev.reversals_maybe_pending = False
                if held is not None and dev.saf is not None and cls not in _KEEP_REFUND:
                    dev.saf.delete(dev.tid, held.stan, held.batch)
                    held = None
                record.outcome = outcome_for_rc(reply.rc)
                record.reason = RC_REASON.get(cls) if record.outcome is Outcome.FAILED else None
                if cls is ResponseClass.SIGN_ON:
                    dev.needs_sign_on = True
                if dev.config.retries:
                    if cls is ResponseClass.SIGN_ON and sign_on_retries < 1:
                        sign_on_retries += 1
                        continue
                    if cls is ResponseClass.RETRY_LATER and rc_retries < dev.config.rc_retries:
                        rc_retries += 1
                        dev.sleep(dev.backoff.delay(rc_retries))
                        continue
                return reply
        except (SignOnFailed, ReversalPending) as exc:
            record.outcome, record.reason = Outcome.FAILED, exc.reason
            return None
        finally:
            # A naive terminal that crashed lost its reversal with its memory.
            kept = pending is not None and (dev.reversals.durable or not dev.crashed)
            record.reversal = "pending" if kept else None
            record.saf = "pending" if held is not None else None
