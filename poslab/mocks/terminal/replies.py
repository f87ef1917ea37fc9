"""What every online step does with a host reply, and the record around it.

Shared by the transaction loop (:mod:`poslab.mocks.terminal.online`), reversal
delivery (:mod:`poslab.mocks.terminal.reversal_delivery`) and store-and-forward
(:mod:`poslab.mocks.terminal.store_and_forward`): the journal record is emitted
however a step ends, a reply's RRN/code/path land in it the same way, and the
header's processing-requirement nibble is obeyed after the step.
"""

from __future__ import annotations

from types import TracebackType

from poslab.iso8583 import IsoMessage, ProcessingRequirement, ResponseClass

from .device import Device
from .errors import BadReply, LinkError, TerminalCrashed, TerminalError
from .exchange import Reply
from .records import Outcome, TxnRecord

__all__ = ["RC_REASON", "host_asks", "journaled", "note_reply", "send_stored"]

# The journal's ``reason`` for a final code that is a system answer, not a decline.
RC_REASON = {
    ResponseClass.RETRY_LATER: "rc_retry",
    ResponseClass.SIGN_ON: "rc_sign_on",
    ResponseClass.UNCERTAIN: "rc_uncertain",
    ResponseClass.DUPLICATE: "rc_duplicate",
    ResponseClass.CONFIG_ERROR: "rc_config",
}


class journaled:
    """Emit ``record`` however the block ends; a crash or a stop (Locust
    killing the user) is recorded as such before it propagates. A class, not
    a generator context manager: it wraps every transaction, and the
    generator machinery cost a few µs of each."""

    __slots__ = ("dev", "record")

    def __init__(self, dev: Device, record: TxnRecord) -> None:
        self.dev = dev
        self.record = record

    def __enter__(self) -> TxnRecord:
        return self.record

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        record = self.record
        try:
            if kind is None:
                pass
            elif issubclass(kind, TerminalCrashed):
                record.outcome, record.reason = Outcome.FAILED, "crash"
            elif issubclass(kind, TerminalError):
                pass  # the caller's own failure: it set outcome and reason
            elif issubclass(kind, Exception):
                record.outcome, record.reason = Outcome.FAILED, f"internal: {kind.__name__}"
            else:
                record.outcome, record.reason = Outcome.FAILED, "stopped"
        finally:
            self.dev.emit(record)


def note_reply(record: TxnRecord, reply: Reply) -> None:
    record.path = reply.path.value
    record.rc = reply.rc
    record.rrn = reply.msg.text(37)
    record.response_bytes += reply.size


def host_asks(dev: Device, reply: Reply) -> None:
    """The processing-requirement nibble: act after this transaction."""
    nibble = reply.msg.header.processing_requirement
    if nibble == ProcessingRequirement.SIGN_ON:
        dev.needs_sign_on = True
    elif nibble == ProcessingRequirement.TMS_DOWNLOAD:
        dev.tms_requested = True


def send_stored(dev: Device, record: TxnRecord, msg: IsoMessage) -> tuple[Reply | None, bool]:
    """Send a message the terminal kept in flash (a reversal, a queued refund).
    Returns the reply — None when none usable came back, the record then
    holding why — and whether the message may have reached the host (a
    connection that never opened means it cannot have)."""
    record.request_mti = msg.mti
    try:
        reply = dev.exchange(msg)
    except (LinkError, BadReply) as exc:
        record.reason, record.path = exc.reason, dev.exchanger.last_path.value
        if isinstance(exc, BadReply) and exc.bad_mac:
            dev.needs_sign_on = True
        return None, not isinstance(exc, LinkError) or exc.sent
    note_reply(record, reply)
    host_asks(dev, reply)
    return reply, True
