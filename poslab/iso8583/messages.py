"""The CUP POS transaction set as data, a classifier, and request builders.

``TRANSACTIONS`` is docs/pos-domain.md's message table. ``classify`` tells a
host which transaction an incoming message is. The ``*_request`` builders give
a terminal a ready request from its identity and the transaction's data; they
return unsigned messages: pass them to ``mac.sign`` (which adds field 64) for
the transactions an acquirer MACs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import Enum

from .errors import EncodeError, FieldError
from .fields import (
    BatchDetail,
    Field60,
    OriginalRef,
    SettlementTotals,
    format_amount,
    format_batch_details,
)
from .framing import Header, Tpdu
from .keys import KeyMode
from .message import FieldValue, IsoMessage, mask_pan

__all__ = [
    "CURRENCY_CNY",
    "DEFAULT_TPDU",
    "TRANSACTIONS",
    "Card",
    "TerminalIdentity",
    "TransactionInfo",
    "TransactionType",
    "balance_request",
    "batch_upload_request",
    "classify",
    "echo_request",
    "refund_request",
    "reversal_request",
    "sale_request",
    "settlement_request",
    "sign_off_request",
    "sign_on_request",
    "void_request",
]

CURRENCY_CNY = "156"
# 53: PIN format 2 (ANSI X9.8 with PAN), 6 = double-length PIN key.
_SECURITY_CONTROL_PIN = "2600000000000000"
# Fields a stored reversal must not carry: track data and PIN may not be kept
# after authorisation, and the MAC is recomputed.
_NOT_IN_REVERSAL = frozenset({26, 35, 36, 52, 53, 55, 64})
# The usual terminal TPDU: destination NII 0003 (the acquirer), source 0000.
DEFAULT_TPDU = Tpdu(destination="0003", source="0000")


class TransactionType(Enum):
    SIGN_ON = "sign_on"
    SIGN_OFF = "sign_off"
    ECHO = "echo"
    BALANCE = "balance"
    SALE = "sale"
    VOID = "void"
    REFUND = "refund"
    REVERSAL = "reversal"
    SETTLEMENT = "settlement"
    BATCH_UPLOAD = "batch_upload"

    @property
    def info(self) -> TransactionInfo:
        return TRANSACTIONS[self]


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionInfo:
    """One row of the table. ``None`` = not fixed by the type (a reversal
    takes the original's F3 and 60.1; sign-on's 60.3 is the key mode)."""

    request_mti: str
    response_mti: str
    processing_code: str | None
    msg_type: str | None
    net_mgmt: str | None
    reversible: bool


TRANSACTIONS: dict[TransactionType, TransactionInfo] = {
    TransactionType.SIGN_ON: TransactionInfo("0800", "0810", None, "00", "003", False),
    TransactionType.SIGN_OFF: TransactionInfo("0820", "0830", None, "00", "002", False),
    TransactionType.ECHO: TransactionInfo("0820", "0830", None, "00", "301", False),
    TransactionType.BALANCE: TransactionInfo("0200", "0210", "310000", "01", "000", False),
    TransactionType.SALE: TransactionInfo("0200", "0210", "000000", "22", "000", True),
    TransactionType.VOID: TransactionInfo("0200", "0210", "200000", "23", "000", True),
    TransactionType.REFUND: TransactionInfo("0220", "0230", "200000", "25", "000", False),
    TransactionType.REVERSAL: TransactionInfo("0400", "0410", None, None, None, False),
    TransactionType.SETTLEMENT: TransactionInfo("0500", "0510", None, "00", "201", False),
    TransactionType.BATCH_UPLOAD: TransactionInfo("0320", "0330", None, "00", "201", False),
}

_BY_PROCESSING_CODE_0200 = {
    "310000": TransactionType.BALANCE,
    "000000": TransactionType.SALE,
    "200000": TransactionType.VOID,
}


def classify(msg: IsoMessage) -> TransactionType:
    """The transaction a request (or its reply) is. Raises :class:`FieldError`
    for anything outside the table (a host answers 12 or 30)."""
    mti = msg.mti
    if len(mti) != 4 or not mti.isdigit():
        raise FieldError(f"MTI {mti!r} is not 4 digits")
    # Replies and repeats (0210, 0401, 0421) classify as their request.
    request_mti = f"{mti[:2]}{int(mti[2]) & ~1}0"
    if request_mti == "0200":
        kind = _BY_PROCESSING_CODE_0200.get(msg.text(3) or "")
        if kind is None:
            raise FieldError(f"0200 with unsupported processing code {msg.text(3)!r}")
        return kind
    if request_mti == "0820":
        net_mgmt = Field60.parse(msg.require(60)).net_mgmt
        if net_mgmt == "002":
            return TransactionType.SIGN_OFF
        if net_mgmt == "301":
            return TransactionType.ECHO
        raise FieldError(f"0820 with unsupported network management code {net_mgmt!r}")
    for kind in (
        TransactionType.SIGN_ON,
        TransactionType.REFUND,
        TransactionType.REVERSAL,
        TransactionType.SETTLEMENT,
        TransactionType.BATCH_UPLOAD,
    ):
        if TRANSACTIONS[kind].request_mti == request_mti:
            return kind
    raise FieldError(f"MTI {mti} is not a CUP POS transaction")


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalIdentity:
    """What every request carries about the terminal that sends it."""

    tid: str
    mid: str
    tpdu: Tpdu = DEFAULT_TPDU
    software_version: str = "000000"
    app_type: str = "60"
    spec_version: str = "31"
    terminal_status: int = 0
    operator: str = "001"

    def __post_init__(self) -> None:
        if len(self.tid) != 8 or not self.tid.isascii():
            raise EncodeError(f"terminal id must be 8 ASCII characters, got {self.tid!r}")
        if len(self.mid) != 15 or not self.mid.isascii():
            raise EncodeError(f"merchant id must be 15 ASCII characters, got {self.mid!r}")

    def header(self) -> Header:
        return Header(
            app_type=self.app_type,
            spec_version=self.spec_version,
            terminal_status=self.terminal_status,
            software_version=self.software_version,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Card:
    """Card data as read. ``track2`` uses ``D`` as separator; ``entry_mode``
    is the two-digit F22 prefix (02 swipe, 05 chip, 07 contactless, 01 key-in)."""

    pan: str
    expiry: str | None = None
    track2: str | None = None
    sequence: str | None = None
    icc_data: bytes | None = None
    entry_mode: str | None = None

    def __repr__(self) -> str:
        return f"Card(pan={mask_pan(self.pan)!r}, entry_mode={self.pos_entry_prefix!r})"

    @property
    def pos_entry_prefix(self) -> str:
        if self.entry_mode is not None:
            return self.entry_mode
        if self.icc_data is not None:
            return "05"
        return "02" if self.track2 else "01"


def _message(
    terminal: TerminalIdentity, mti: str, stan: str, fields: dict[int, FieldValue]
) -> IsoMessage:
    base: dict[int, FieldValue] = {11: stan, 41: terminal.tid, 42: terminal.mid}
    base.update(fields)
    return IsoMessage(mti, base, terminal.tpdu, terminal.header())


def _field60(kind: TransactionType, batch: str, net_mgmt: str | None = None) -> str:
    info = TRANSACTIONS[kind]
    assert info.msg_type is not None and info.net_mgmt is not None
    return Field60(info.msg_type, batch, net_mgmt or info.net_mgmt).format()


def _card_fields(card: Card, pin_block: bytes | None) -> dict[int, FieldValue]:
    fields: dict[int, FieldValue] = {2: card.pan}
    if card.expiry is not None:
        fields[14] = card.expiry
    fields[22] = card.pos_entry_prefix + ("1" if pin_block is not None else "2")
    if card.sequence is not None:
        fields[23] = card.sequence
    fields[25] = "00"
    if card.track2 is not None:
        fields[35] = card.track2
    if pin_block is not None:
        fields[26] = "12"
        fields[52] = pin_block
        fields[53] = _SECURITY_CONTROL_PIN
    if card.icc_data is not None:
        fields[55] = card.icc_data
    return fields


def _financial(
    kind: TransactionType,
    terminal: TerminalIdentity,
    stan: str,
    batch: str,
    card: Card,
    pin_block: bytes | None,
    extra: dict[int, FieldValue],
) -> IsoMessage:
    info = TRANSACTIONS[kind]
    assert info.processing_code is not None
    fields: dict[int, FieldValue] = {3: info.processing_code, 49: CURRENCY_CNY}
    fields.update(_card_fields(card, pin_block))
    fields.update(extra)
    fields[60] = _field60(kind, batch)
    return _message(terminal, info.request_mti, stan, fields)


def _referencing(amount: int, original_rrn: str, original: OriginalRef) -> dict[int, FieldValue]:
    # Voids and refunds name their sale twice: by the host's RRN and by 61.
    return {4: format_amount(amount), 37: original_rrn, 61: original.format()}


def sign_on_request(
    terminal: TerminalIdentity, stan: str, batch: str, key_mode: KeyMode = "003"
) -> IsoMessage:
    """0800: 11, 41, 42, 60 (00 + batch + key mode), 63 operator."""
    return _message(
        terminal,
        "0800",
        stan,
        {60: _field60(TransactionType.SIGN_ON, batch, key_mode), 63: terminal.operator},
    )


def sign_off_request(terminal: TerminalIdentity, stan: str, batch: str) -> IsoMessage:
    return _message(terminal, "0820", stan, {60: _field60(TransactionType.SIGN_OFF, batch)})


def echo_request(terminal: TerminalIdentity, stan: str, batch: str) -> IsoMessage:
    return _message(terminal, "0820", stan, {60: _field60(TransactionType.ECHO, batch)})


def balance_request(
    terminal: TerminalIdentity, stan: str, batch: str, card: Card, pin_block: bytes | None = None
) -> IsoMessage:
    return _financial(TransactionType.BALANCE, terminal, stan, batch, card, pin_block, {})


def sale_request(
    terminal: TerminalIdentity,
    stan: str,
    batch: str,
    amount: int,
    card: Card,
    pin_block: bytes | None = None,
) -> IsoMessage:
    """0200 sale of ``amount`` fen."""
    return _financial(
        TransactionType.SALE, terminal, stan, batch, card, pin_block, {4: format_amount(amount)}
    )


def void_request(
    terminal: TerminalIdentity,
    stan: str,
    batch: str,
    amount: int,
    card: Card,
    original_rrn: str,
    original: OriginalRef,
    auth_code: str | None = None,
    pin_block: bytes | None = None,
) -> IsoMessage:
    """0200 void: a new STAN; the sale is referenced by 37 (its RRN) and 61."""
    extra = _referencing(amount, original_rrn, original)
    if auth_code is not None:
        extra[38] = auth_code
    return _financial(TransactionType.VOID, terminal, stan, batch, card, pin_block, extra)


def refund_request(
    terminal: TerminalIdentity,
    stan: str,
    batch: str,
    amount: int,
    card: Card,
    original_rrn: str,
    original: OriginalRef,
    pin_block: bytes | None = None,
) -> IsoMessage:
    """0220 refund (退货) of ``amount`` fen against an earlier sale (61 with date)."""
    extra = _referencing(amount, original_rrn, original)
    return _financial(TransactionType.REFUND, terminal, stan, batch, card, pin_block, extra)


def reversal_request(original: IsoMessage, reason_code: str) -> IsoMessage:
    """0400 for ``original`` (its F11, F3, 60 and amount), with the reason in
    39: 98 no reply, A0 bad reply MAC, 06 other, 96 approved but not finished.
    Track data, PIN and chip data are not carried (the PAN stays in F2)."""
    if len(reason_code) != 2:
        raise EncodeError(f"reversal reason must be a 2-character code, got {reason_code!r}")
    fields = {n: v for n, v in original.fields.items() if n not in _NOT_IN_REVERSAL}
    track2 = original.text(35)
    if 2 not in fields and track2:
        fields[2] = track2.partition("D")[0]
    fields[39] = reason_code
    return IsoMessage("0400", dict(sorted(fields.items())), original.tpdu, original.header)


def settlement_request(
    terminal: TerminalIdentity, stan: str, batch: str, totals: SettlementTotals
) -> IsoMessage:
    """0500: 48 totals, 49 currency, 60.3 = 201, 63 operator."""
    return _message(
        terminal,
        "0500",
        stan,
        {
            48: totals.format(),
            49: CURRENCY_CNY,
            60: _field60(TransactionType.SETTLEMENT, batch),
            63: terminal.operator,
        },
    )


def batch_upload_request(
    terminal: TerminalIdentity,
    stan: str,
    batch: str,
    details: Sequence[BatchDetail],
    final: bool = False,
    after_mismatch: bool = True,
) -> IsoMessage:
    """0320: up to 8 detail records (60.3 = 201), or with ``final`` the closing
    message (202 after a mismatch, 207 otherwise), which may carry none."""
    net_mgmt = ("202" if after_mismatch else "207") if final else "201"
    fields: dict[int, FieldValue] = {60: _field60(TransactionType.BATCH_UPLOAD, batch, net_mgmt)}
    if details or not final:
        fields[48] = format_batch_details(details)
    return _message(terminal, "0320", stan, fields)
