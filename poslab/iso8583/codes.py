"""Response codes (field 39) as data: meaning and what a terminal does next.

The classes follow docs/pos-domain.md's table. Business declines (51 no funds,
55 wrong PIN, ...) are the system working; RETRY_LATER and UNCERTAIN are the
system failing; SIGN_ON means the terminal's session (keys, batch) is stale.
An unknown code from a host is still a definite "no": it is a DECLINE with the
meaning "unknown response code", never an approval and never a retry.
"""

from __future__ import annotations

import dataclasses
from enum import Enum, StrEnum

__all__ = [
    "RESPONSE_CODES",
    "Rc",
    "ResponseClass",
    "ResponseCode",
    "is_business_decline",
    "is_retry_later",
    "is_success",
    "lookup",
    "needs_sign_on",
    "reversal_is_settled",
]


class ResponseClass(Enum):
    SUCCESS = "success"
    DECLINE = "decline"  # business decline: no retry, not a system failure
    BAD_REQUEST = "bad_request"  # the request itself was wrong: no retry
    ORIGINAL_NOT_FOUND = "original_not_found"  # 25: a reversal of it counts as done
    SIGN_ON = "sign_on"  # keys or batch stale: sign on again
    RETRY_LATER = "retry_later"  # host/issuer temporarily unable
    DUPLICATE = "duplicate"  # possibly already done: resolve, never book twice
    UNCERTAIN = "uncertain"  # outcome unknown: reverse, retry
    CONFIG_ERROR = "config_error"  # terminal/merchant set-up is wrong


class Rc(StrEnum):
    """Names for the codes the lab's own code branches on."""

    APPROVED = "00"
    REFER_TO_ISSUER = "01"
    INVALID_MERCHANT = "03"
    DO_NOT_HONOUR = "05"
    ERROR = "06"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    INVALID_CARD = "14"
    SUSPECTED_MALFUNCTION = "22"
    ORIGINAL_NOT_FOUND = "25"
    FORMAT_ERROR = "30"
    INSUFFICIENT_FUNDS = "51"
    EXPIRED_CARD = "54"
    INCORRECT_PIN = "55"
    NOT_PERMITTED_TERMINAL = "58"
    BATCH_MISMATCH = "77"
    CUTOVER = "90"
    ISSUER_UNAVAILABLE = "91"
    DUPLICATE = "94"
    SYSTEM_MALFUNCTION = "96"
    TERMINAL_NOT_REGISTERED = "97"
    NO_ISSUER_REPLY = "98"
    PIN_FORMAT_ERROR = "99"
    MAC_FAILED = "A0"
    ALREADY_VOIDED = "C9"
    ALREADY_REVERSED = "CA"


@dataclasses.dataclass(frozen=True, slots=True)
class ResponseCode:
    code: str
    meaning: str
    cls: ResponseClass
    terminal_action: str


_S, _D, _B = ResponseClass.SUCCESS, ResponseClass.DECLINE, ResponseClass.BAD_REQUEST
_ACTIONS: dict[ResponseClass, str] = {
    _S: "success",
    _D: "decline, no retry",
    _B: "decline, no retry (request rejected)",
    ResponseClass.ORIGINAL_NOT_FOUND: "decline; a reversal counts as done",
    ResponseClass.SIGN_ON: "sign on again",
    ResponseClass.RETRY_LATER: "retry later",
    ResponseClass.DUPLICATE: "possibly already done: resolve, do not book again",
    ResponseClass.UNCERTAIN: "outcome uncertain: reverse, retry",
    ResponseClass.CONFIG_ERROR: "configuration error: stop and call support",
}

_TABLE: tuple[tuple[str, str, ResponseClass], ...] = (
    ("00", "approved", _S),
    ("10", "partial amount approved", _S),
    ("11", "approved (VIP)", _S),
    ("A2", "approved with defect (confirmation lost)", _S),
    ("A4", "approved with defect (original found)", _S),
    ("A5", "approved with defect", _S),
    ("A6", "approved with defect", _S),
    ("01", "refer to card issuer", _D),
    ("03", "invalid merchant", ResponseClass.CONFIG_ERROR),
    ("04", "pick up card", _D),
    ("05", "do not honour", _D),
    ("06", "error", _D),
    ("07", "pick up card, special condition", _D),
    ("09", "request in progress", ResponseClass.RETRY_LATER),
    ("12", "invalid transaction (original failed)", _B),
    ("13", "invalid amount (amount mismatch)", _B),
    ("14", "invalid card number", _D),
    ("15", "no such issuer", _D),
    ("22", "suspected malfunction / operation not allowed", _B),
    ("25", "original transaction not found", ResponseClass.ORIGINAL_NOT_FOUND),
    ("30", "format error", _B),
    ("33", "expired card, pick up", _D),
    ("34", "suspected fraud, pick up", _D),
    ("40", "function not supported", _B),
    ("41", "lost card, pick up", _D),
    ("43", "stolen card, pick up", _D),
    ("51", "insufficient funds", _D),
    ("54", "expired card", _D),
    ("55", "incorrect PIN", _D),
    ("57", "transaction not permitted to cardholder", _D),
    ("58", "transaction not permitted to terminal", _D),
    ("59", "suspected fraud", _D),
    ("61", "exceeds amount limit", _D),
    ("62", "restricted card", _D),
    ("64", "original amount incorrect", _B),
    ("65", "exceeds frequency limit", _D),
    ("68", "response received too late", ResponseClass.UNCERTAIN),
    ("75", "PIN tries exceeded", _D),
    ("77", "batch number differs from host: sign on again", ResponseClass.SIGN_ON),
    ("90", "day-end cut-over in progress", ResponseClass.RETRY_LATER),
    ("91", "issuer or switch unavailable", ResponseClass.RETRY_LATER),
    ("92", "financial institution unreachable", ResponseClass.RETRY_LATER),
    ("94", "duplicate transmission", ResponseClass.DUPLICATE),
    ("96", "system malfunction", ResponseClass.RETRY_LATER),
    ("97", "terminal not registered", ResponseClass.CONFIG_ERROR),
    ("98", "switch received no issuer reply", ResponseClass.UNCERTAIN),
    ("99", "PIN format error: sign on again", ResponseClass.SIGN_ON),
    ("A0", "MAC verification failed: sign on again", ResponseClass.SIGN_ON),
    ("A7", "security processing failure", ResponseClass.SIGN_ON),
    ("C9", "original already voided", _D),
    ("CA", "original already reversed", _D),
)

RESPONSE_CODES: dict[str, ResponseCode] = {
    code: ResponseCode(code, meaning, cls, _ACTIONS[cls]) for code, meaning, cls in _TABLE
}


def lookup(code: str) -> ResponseCode:
    """The entry for ``code``; an unknown code is a DECLINE (a definite "no")."""
    known = RESPONSE_CODES.get(code.upper())
    if known is not None:
        return known
    return ResponseCode(code, "unknown response code", _D, _ACTIONS[_D])


def is_success(code: str) -> bool:
    return lookup(code).cls is ResponseClass.SUCCESS


def needs_sign_on(code: str) -> bool:
    return lookup(code).cls is ResponseClass.SIGN_ON


def is_retry_later(code: str) -> bool:
    return lookup(code).cls is ResponseClass.RETRY_LATER


def is_business_decline(code: str) -> bool:
    """A "no" that is the system working (no funds, wrong PIN, bad request)."""
    return lookup(code).cls in (ResponseClass.DECLINE, ResponseClass.BAD_REQUEST)


def reversal_is_settled(code: str) -> bool:
    """For the reply to an 0400: the pending reversal record can be deleted.
    00 (reversed) and 25 (host never booked the original) both settle it;
    CA (already reversed) is the idempotent repeat of a reversal."""
    return code.upper() in ("25", "CA") or is_success(code)
