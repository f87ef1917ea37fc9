"""Typed views of the structured CUP fields: 4 (amount), 48, 60, 61.

Each type has ``parse(text)`` (raises :class:`FieldError`, a ``DecodeError``:
the host answers 30) and ``format()`` (raises :class:`EncodeError` for values
that do not fit). Money is always an ``int`` in fen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import IntEnum

from .errors import EncodeError, FieldError

__all__ = [
    "MAX_BATCH_DETAILS",
    "BatchDetail",
    "CardTotals",
    "Field60",
    "OriginalRef",
    "ReconciliationCode",
    "SettlementTotals",
    "format_amount",
    "format_batch_details",
    "parse_amount",
    "parse_batch_details",
]

MAX_BATCH_DETAILS = 8
_DETAIL_LEN = 2 + 6 + 20 + 12
_TOTALS_LEN = 12 + 3 + 12 + 3 + 1


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _fixed(value: str, length: int, what: str) -> str:
    if len(value) != length or not _digits(value):
        raise EncodeError(f"{what} must be {length} digits, got {value!r}")
    return value


def _trailing(extra: str, what: str) -> str:
    if extra and not _digits(extra):
        raise EncodeError(f"{what} trailing digits must be digits, got {extra!r}")
    return extra


def _number(value: int, digits: int, what: str) -> str:
    if not 0 <= value < 10**digits:
        raise EncodeError(f"{what} must fit n{digits}, got {value}")
    return f"{value:0{digits}d}"


def _need_digits(text: str, minimum: int, what: str) -> None:
    if len(text) < minimum or not _digits(text):
        raise FieldError(f"{what} needs at least {minimum} digits, got {text!r}")


def format_amount(fen: int) -> str:
    """Field 4 (n12) for an amount in fen."""
    return _number(fen, 12, "amount")


def parse_amount(text: str) -> int:
    if len(text) != 12 or not _digits(text):
        raise FieldError(f"amount must be 12 digits, got {text!r}")
    return int(text)


@dataclasses.dataclass(frozen=True, slots=True)
class Field60:
    """60.1 message type code n2 + 60.2 batch n6 + 60.3 network management n3.

    Digits after 60.3 (60.4 terminal capability, 60.5 ...) are kept in
    ``extra`` so a parsed field formats back unchanged."""

    msg_type: str
    batch: str
    net_mgmt: str = "000"
    extra: str = ""

    @classmethod
    def parse(cls, text: str) -> Field60:
        _need_digits(text, 11, "field 60")
        return cls(text[0:2], text[2:8], text[8:11], text[11:])

    def format(self) -> str:
        return (
            _fixed(self.msg_type, 2, "60.1")
            + _fixed(self.batch, 6, "60.2 batch")
            + _fixed(self.net_mgmt, 3, "60.3")
            + _trailing(self.extra, "60")
        )


@dataclasses.dataclass(frozen=True, slots=True)
class OriginalRef:
    """Field 61: original batch n6 + original trace n6 + original date n4 (MMDD).

    Voids often send only batch + trace (``date`` is then ""); trailing digits
    beyond the date are kept in ``extra``."""

    batch: str
    trace: str
    date: str = ""
    extra: str = ""

    @classmethod
    def parse(cls, text: str) -> OriginalRef:
        _need_digits(text, 12, "field 61")
        if 12 < len(text) < 16:
            raise FieldError(f"field 61 original date is truncated: {text!r}")
        return cls(text[0:6], text[6:12], text[12:16], text[16:])

    def format(self) -> str:
        if self.extra and not self.date:
            raise EncodeError("61 cannot carry extra digits without the original date")
        date = _fixed(self.date, 4, "61 original date") if self.date else ""
        return (
            _fixed(self.batch, 6, "61 original batch")
            + _fixed(self.trace, 6, "61 original trace")
            + date
            + _trailing(self.extra, "61")
        )


class ReconciliationCode(IntEnum):
    """The last digit of each half of field 48, set by the host in the 0510."""

    NOT_CHECKED = 0
    BALANCED = 1  # 对账平
    NOT_BALANCED = 2  # 对账不平
    ERROR = 3


@dataclasses.dataclass(frozen=True, slots=True)
class CardTotals:
    """One half of field 48. Debits are sales; credits are refunds and voids."""

    debit_amount: int = 0
    debit_count: int = 0
    credit_amount: int = 0
    credit_count: int = 0
    reconciliation: int = ReconciliationCode.NOT_CHECKED

    def format(self) -> str:
        return (
            _number(self.debit_amount, 12, "debit amount")
            + _number(self.debit_count, 3, "debit count")
            + _number(self.credit_amount, 12, "credit amount")
            + _number(self.credit_count, 3, "credit count")
            + _number(self.reconciliation, 1, "reconciliation code")
        )

    @classmethod
    def parse(cls, text: str) -> CardTotals:
        _need_digits(text, _TOTALS_LEN, "settlement totals")
        return cls(
            debit_amount=int(text[0:12]),
            debit_count=int(text[12:15]),
            credit_amount=int(text[15:27]),
            credit_count=int(text[27:30]),
            reconciliation=int(text[30]),
        )

    def with_reconciliation(self, code: int) -> CardTotals:
        return dataclasses.replace(self, reconciliation=code)


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementTotals:
    """Field 48 of the 0500/0510: domestic card totals, then foreign."""

    domestic: CardTotals = CardTotals()
    foreign: CardTotals = CardTotals()

    def format(self) -> str:
        return self.domestic.format() + self.foreign.format()

    @classmethod
    def parse(cls, text: str) -> SettlementTotals:
        # Some terminals send only the domestic half; trailing digits are ignored.
        if len(text) == _TOTALS_LEN:
            return cls(domestic=CardTotals.parse(text))
        _need_digits(text, 2 * _TOTALS_LEN, "settlement totals (domestic + foreign)")
        return cls(
            domestic=CardTotals.parse(text[:_TOTALS_LEN]),
            foreign=CardTotals.parse(text[_TOTALS_LEN : 2 * _TOTALS_LEN]),
        )

    @property
    def balanced(self) -> bool:
        """True when the host marked both halves balanced (or left foreign unchecked)."""
        return self.domestic.reconciliation == ReconciliationCode.BALANCED and (
            self.foreign.reconciliation
            in (ReconciliationCode.BALANCED, ReconciliationCode.NOT_CHECKED)
        )


@dataclasses.dataclass(frozen=True, slots=True)
class BatchDetail:
    """One batch-upload record of an 0320: card organisation n2 + STAN n6 +
    PAN n20 (left-padded with 0; a PAN never starts with 0) + amount n12."""

    card_org: str
    stan: str
    pan: str
    amount: int

    def format(self) -> str:
        if not 12 <= len(self.pan) <= 20 or not _digits(self.pan) or self.pan[0] == "0":
            raise EncodeError("batch detail PAN must be 12-20 digits, not starting with 0")
        return (
            _fixed(self.card_org, 2, "card organisation")
            + _fixed(self.stan, 6, "STAN")
            + self.pan.rjust(20, "0")
            + _number(self.amount, 12, "amount")
        )

    @classmethod
    def parse(cls, text: str) -> BatchDetail:
        _need_digits(text, _DETAIL_LEN, "batch detail")
        pan = text[8:28].lstrip("0")
        if len(pan) < 12:
            raise FieldError(f"batch detail PAN too short: {len(pan)} digits")
        return cls(card_org=text[0:2], stan=text[2:8], pan=pan, amount=int(text[28:40]))


def format_batch_details(details: Sequence[BatchDetail]) -> str:
    """Field 48 of an 0320: record count n2, then up to 8 records."""
    if not 1 <= len(details) <= MAX_BATCH_DETAILS:
        raise EncodeError(f"an 0320 carries 1 to {MAX_BATCH_DETAILS} records, not {len(details)}")
    return f"{len(details):02d}" + "".join(detail.format() for detail in details)


def parse_batch_details(text: str) -> list[BatchDetail]:
    _need_digits(text, 2, "batch upload")
    count = int(text[:2])
    if not 1 <= count <= MAX_BATCH_DETAILS or len(text) != 2 + count * _DETAIL_LEN:
        raise FieldError(f"batch upload announces {count} records in {len(text) - 2} digits")
    return [
        BatchDetail.parse(text[start : start + _DETAIL_LEN])
        for start in range(2, len(text), _DETAIL_LEN)
    ]
