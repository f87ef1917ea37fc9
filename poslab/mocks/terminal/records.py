"""What a terminal reports about each transaction: the fleet journal record.

One :class:`TxnRecord` per transaction, in exactly the fields of
docs/run-directory.md ("fleet/*.jsonl"); scoring reads nothing else. PANs are
masked here, once, so no caller can write a clear PAN by mistake.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

from poslab.iso8583 import is_business_decline, is_success, lookup, mask_pan
from poslab.iso8583.codes import ResponseClass

__all__ = ["Outcome", "TxnRecord", "TxnType", "outcome_for_rc"]


class TxnType(StrEnum):
    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    BALANCE = "balance"
    REVERSAL = "reversal"
    SIGN_ON = "sign_on"
    SETTLEMENT = "settlement"
    TMS = "tms"
    TICKET = "ticket"  # a merchant's ticket to the agent (path = the agent that answered)


class Outcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"  # a business "no": the system working
    FAILED = "failed"  # no usable answer, or a system error code after retries
    REVERSED = "reversed"
    UNRESOLVED = "unresolved"  # a reversal the terminal gave up on (冲正不成功)


# Codes that are a definite answer but not the customer's or merchant's doing.
_SYSTEM_CLASSES = frozenset(
    {
        ResponseClass.RETRY_LATER,
        ResponseClass.UNCERTAIN,
        ResponseClass.SIGN_ON,
        ResponseClass.DUPLICATE,
        ResponseClass.CONFIG_ERROR,
    }
)


def outcome_for_rc(rc: str) -> Outcome:
    """approved / declined / failed for a final response code (not for reversals)."""
    if is_success(rc):
        return Outcome.APPROVED
    if lookup(rc).cls in _SYSTEM_CLASSES:
        return Outcome.FAILED
    if is_business_decline(rc) or lookup(rc).cls is ResponseClass.ORIGINAL_NOT_FOUND:
        return Outcome.DECLINED
    return Outcome.FAILED


@dataclasses.dataclass(slots=True)
class TxnRecord:
    """Fields of docs/run-directory.md. Build it at the start of a transaction
    and fill it in as the transaction goes; :meth:`finish` stamps the end."""

    ts_start: float
    tid: str
    mid: str
    region: str
    type: TxnType
    stan: str
    batch: str
    policy: str
    amount: int = 0
    pan: str | None = None  # always masked: see :meth:`set_pan`
    rc: str | None = None
    outcome: Outcome = Outcome.FAILED
    attempts: int = 0
    path: str = "primary"
    rrn: str | None = None
    reason: str | None = None
    reversal: str | None = None
    orig_stan: str | None = None
    orig_batch: str | None = None
    saf: str | None = None  # refunds: "pending" while held in store-and-forward
    retransmission: bool = False  # a store-and-forward resend of an earlier refund
    ts_end: float = 0.0
    # not journaled: what Locust reports
    request_mti: str = ""
    response_bytes: int = 0

    def set_pan(self, pan: str | None) -> None:
        self.pan = None if pan is None else mask_pan(pan)

    def finish(self, ts_end: float) -> TxnRecord:
        self.ts_end = max(ts_end, self.ts_start)
        return self

    @property
    def latency_ms(self) -> float:
        return round((self.ts_end - self.ts_start) * 1000.0, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts_start": self.ts_start,
            "ts_end": self.ts_end,
            "tid": self.tid,
            "mid": self.mid,
            "region": self.region,
            "type": self.type.value,
            "stan": self.stan,
            "batch": self.batch,
            "amount": self.amount,
            "pan": self.pan,
            "rc": self.rc,
            "outcome": self.outcome.value,
            "attempts": self.attempts,
            "path": self.path,
            "rrn": self.rrn,
            "reason": self.reason,
            "reversal": self.reversal,
            "orig_stan": self.orig_stan,
            "orig_batch": self.orig_batch,
            "saf": self.saf,
            "retransmission": self.retransmission,
            "latency_ms": self.latency_ms,
            "policy": self.policy,
        }
