"""Online transactions: sign-on, pending reversals, and the request loop.

The order every online transaction follows (pos-domain.md, "Reversal"):

1. sign on if the session is missing or the host asked for it;
2. deliver pending reversals, oldest first — a reversal that cannot be
   delivered blocks the new transaction (it keeps its remaining tries);
3. take a STAN; for a reversible request, write the reversal record to the
   store *before* the request leaves;
4. send and wait for the trusted reply (:mod:`mocks.terminal.exchange`);
5. a valid definite reply deletes the reversal record; no reply, a bad MAC or
   an uncertain answer (98, 94) leaves it, with reason 98 / A0 / 06.

Resilient terminals then retry what the host told them to retry: a request
answered A0/99/77 once after signing on again, one answered 90/91/96 up to
``rc_retries`` times with backoff — always with a new STAN, so the host's
duplicate check can never mistake the retry for a repeat.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from lab.iso8583 import (
    IsoMessage,
    ProcessingRequirement,
    ResponseClass,
    lookup,
    reversal_is_settled,
    reversal_request,
    sign_on_request,
)

from .device import Device
from .errors import (
    BadReply,
    LinkError,
    ReversalPending,
    SignOnFailed,
    TerminalCrashed,
    TerminalError,
)
from .exchange import Reply
from .records import Outcome, TxnRecord, TxnType, outcome_for_rc
from .sign_on import Session, accept_sign_on
from .terminal_store import ReversalRecord, fields_from_json, fields_to_json

__all__ = ["flush_reversals", "journaled", "prepare", "sign_on", "transact"]

# Answers after which the original may still have been booked: keep the reversal.
_KEEP_REVERSAL = frozenset({ResponseClass.UNCERTAIN, ResponseClass.DUPLICATE})
_RC_REASON = {
    ResponseClass.RETRY_LATER: "rc_retry",
    ResponseClass.SIGN_ON: "rc_sign_on",
    ResponseClass.UNCERTAIN: "rc_uncertain",
    ResponseClass.DUPLICATE: "rc_duplicate",
    ResponseClass.CONFIG_ERROR: "rc_config",
}


@contextlib.contextmanager
def journaled(dev: Device, record: TxnRecord) -> Iterator[TxnRecord]:
    """Emit ``record`` however the block ends; a crash or a stop (Locust
    killing the user) is recorded as such before it propagates."""
    try:
        yield record
    except TerminalCrashed:
        record.outcome, record.reason = Outcome.FAILED, "crash"
        raise
    except TerminalError:
        raise
    except Exception as exc:
        record.outcome, record.reason = Outcome.FAILED, f"internal: {type(exc).__name__}"
        raise
    except BaseException:
        record.outcome, record.reason = Outcome.FAILED, "stopped"
        raise
    finally:
        dev.emit(record)


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
            _note_reply(record, reply)
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


def _note_reply(record: TxnRecord, reply: Reply) -> None:
    record.path = reply.path.value
    record.rc = reply.rc
    record.rrn = reply.msg.text(37)
    record.response_bytes += reply.size


def _host_asks(dev: Device, reply: Reply) -> None:
    """The processing-requirement nibble: act after this transaction."""
    nibble = reply.msg.header.processing_requirement
    if nibble == ProcessingRequirement.SIGN_ON:
        dev.needs_sign_on = True
    elif nibble == ProcessingRequirement.TMS_DOWNLOAD:
        dev.tms_requested = True


def _send_reversal(dev: Device, pending: ReversalRecord) -> None:
    tries = dev.reversals.count_try(dev.tid, pending.stan, pending.batch)
    record = dev.new_record(TxnType.REVERSAL, amount=pending.amount)
    record.pan = pending.pan  # already masked in the store
    record.stan, record.batch = pending.stan, pending.batch
    record.orig_stan, record.orig_batch = pending.stan, pending.batch
    record.attempts = tries
    fields = fields_from_json(pending.fields)
    fields[39] = pending.reason
    msg = IsoMessage("0400", fields, dev.identity.tpdu, dev.identity.header())
    record.request_mti = msg.mti
    with journaled(dev, record):
        try:
            reply = dev.exchange(msg)
        except (LinkError, BadReply) as exc:
            record.reason, record.path = exc.reason, dev.exchanger.last_path.value
            if isinstance(exc, BadReply) and exc.bad_mac:
                dev.needs_sign_on = True
        else:
            _note_reply(record, reply)
            _host_asks(dev, reply)
            if reversal_is_settled(reply.rc):
                dev.reversals.delete(dev.tid, pending.stan, pending.batch)
                record.outcome = Outcome.APPROVED
                return
            if lookup(reply.rc).cls is ResponseClass.SIGN_ON:
                dev.needs_sign_on = True
            record.reason = _RC_REASON.get(lookup(reply.rc).cls, f"rc_{reply.rc}")
        if tries >= dev.config.reversal_tries:
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
        _send_reversal(dev, pending)
    dev.reversals_maybe_pending = False


def prepare(dev: Device) -> None:
    """Steps 1 and 2: a session, and no reversal left behind."""
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


def _store_reversal(dev: Device, request: IsoMessage, record: TxnRecord) -> ReversalRecord:
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


def transact(
    dev: Device,
    record: TxnRecord,
    build: Callable[[str, str], IsoMessage],
    *,
    reversible: bool,
) -> Reply | None:
    """Run one online transaction; ``build(stan, batch)`` makes its request.
    Returns the final reply (None when there was none); the record is emitted."""
    rc_retries = sign_on_retries = 0
    pending: ReversalRecord | None = None
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
                    pending = _store_reversal(dev, request, record)
                record.attempts += 1
                try:
                    reply = dev.exchange(request)
                except (LinkError, BadReply) as exc:
                    pending = _after_no_reply(dev, record, pending, exc)
                    return None
                _note_reply(record, reply)
                _host_asks(dev, reply)
                cls = lookup(reply.rc).cls
                if pending is not None and cls not in _KEEP_REVERSAL:
                    dev.reversals.delete(dev.tid, pending.stan, pending.batch)
                    pending = None
                record.outcome = outcome_for_rc(reply.rc)
                record.reason = _RC_REASON.get(cls) if record.outcome is Outcome.FAILED else None
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
