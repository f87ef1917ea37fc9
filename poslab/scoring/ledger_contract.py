"""The ledger row contract: what scoring reads from ``scenarios/<name>/ledger/``.

``docs/ledger-contract.md`` is the prose of this module. The lab's own acquirer
and issuer export these rows; a team's system fills the same rows through a
ledger source (:mod:`poslab.ledger_sources`), which checks every row with
:func:`check_row` before writing it, so a row that would make scoring guess is
refused at the source with the column and the row named.

Versioned: a change that removes or renames a column, or changes a column's
meaning or type, bumps :data:`LEDGER_CONTRACT_VERSION` (and scoring's
:data:`SUPPORTED_VERSIONS`); adding an optional column does not. A ledger
written by a source carries ``contract.json`` (:data:`CONTRACT_FILE`) naming the
version; a ledger without one is the lab's own export, version 1.

Stdlib only: scoring is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

LEDGER_CONTRACT = "pos-lab/ledger"
LEDGER_CONTRACT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
#: written beside the exports by a ledger source: ``{"contract", "version", "source", ...}``
CONTRACT_FILE = "contract.json"

#: A column's value type (see :func:`check_value`).
ValueKind = Literal[
    "text",  # a non-empty string
    "digits",  # a string of exactly ``width`` decimal digits (STAN, batch)
    "enum",  # one of ``choices``
    "fen",  # integer fen, may be negative only where the column says so
    "count",  # integer >= 0
    "epoch",  # UNIX epoch seconds, float (UTC)
    "date",  # YYYY-MM-DD
    "pan",  # masked: first 6 + last 4 digits, '*' between
    "totals",  # {"debit_amount", "debit_count", "credit_amount", "credit_count"}: integers
    "fees",  # {card kind: integer fen}
    "ref",  # tid + stan + batch, 8 + 6 + 6 characters
]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ValueKind
    required: bool = False
    #: null allowed (a required column must be present, but may still be null if nullable)
    nullable: bool = True
    choices: tuple[str, ...] = ()
    width: int = 0
    signed: bool = False
    meaning: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """One export file: ``ledger/<name>.jsonl``."""

    name: str
    columns: tuple[Column, ...]
    meaning: str

    @property
    def file(self) -> str:
        return f"{self.name}.jsonl"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None


TRANSACTION_TYPES = ("sale", "void", "refund", "balance")
TRANSACTION_STATUSES = ("approved", "declined", "reversed", "voided")
CARD_KINDS = ("credit", "debit", "qr")
BATCH_STATUSES = ("open", "closed")
BATCH_CLOSERS = ("terminal", "host_cut", "replacement")
HOLD_STATUSES = ("held", "released", "reversed", "declined")
TOTALS_KEYS = ("debit_amount", "debit_count", "credit_amount", "credit_count")


def _key(name: str, kind: ValueKind, width: int = 0, meaning: str = "") -> Column:
    return Column(name, kind, required=True, nullable=False, width=width, meaning=meaning)


TRANSACTIONS = Table(
    "transactions",
    (
        _key("tid", "text", meaning="terminal ID (field 41)"),
        _key("stan", "digits", 6, "trace number of the request (field 11)"),
        _key("batch", "digits", 6, "batch number (field 60.2)"),
        Column(
            "type", "enum", True, False, TRANSACTION_TYPES, meaning="what the terminal asked for"
        ),
        Column(
            "status",
            "enum",
            True,
            False,
            TRANSACTION_STATUSES,
            meaning="approved and voided rows hold money (a voided sale is booked, then voided)",
        ),
        Column("amount", "fen", True, False, meaning="fen, always positive; the type signs it"),
        Column("mid", "text", meaning="merchant ID (field 42); payouts need it"),
        Column("pan", "pan", meaning="masked card number; double bookings under a new STAN"),
        Column("card_kind", "enum", choices=CARD_KINDS, meaning="fee rule; payouts need it"),
        Column("rrn", "text", meaning="retrieval reference number (field 37)"),
        Column("rc", "text", meaning="field 39 the host answered"),
        Column("booked_at", "epoch", meaning="when booked; double bookings under a new STAN"),
        Column("reversed_at", "epoch", meaning="when a reversal landed"),
        Column("orig_rrn", "text", meaning="the original's RRN (void, refund)"),
        Column("settle_date", "date", meaning="null until a payout carries the row"),
    ),
    "one row per financial request the host booked or declined",
)

BATCHES = Table(
    "batches",
    (
        _key("tid", "text"),
        _key("batch", "digits", 6),
        Column("status", "enum", True, False, BATCH_STATUSES),
        Column("mid", "text"),
        Column("closed_by", "enum", choices=BATCH_CLOSERS),
        Column("closed_at", "epoch"),
        Column("host_debit_amount", "fen", meaning="sales (approved or voided) of the batch"),
        Column("host_debit_count", "count"),
        Column("host_credit_amount", "fen", meaning="approved voids and refunds of the batch"),
        Column("host_credit_count", "count"),
        Column("terminal_totals", "totals", meaning="the 0500's field 48, domestic part"),
        Column("recon_code", "count", meaning="1 balanced, 2 not balanced"),
        Column("uploaded", "count", meaning="0320 detail records received"),
    ),
    "one row per terminal batch, open or closed",
)

PAYOUTS = Table(
    "payouts",
    (
        _key("mid", "text"),
        _key("settle_date", "date"),
        Column("gross", "fen", True, False, signed=True, meaning="sales − voids − refunds"),
        Column("fees", "fen", True, False, signed=True),
        Column("net", "fen", True, False, signed=True, meaning="gross − fees"),
        Column("count", "count"),
        Column("fee_detail", "fees", meaning="fees by card kind"),
        Column("adjustments", "count"),
        Column("paid_at", "epoch"),
    ),
    "one row per merchant and settle date (a second row is a double payout)",
)

ISSUER = Table(
    "issuer",
    (
        Column("auth_id", "text"),
        Column("pan", "pan"),
        Column("amount", "fen"),
        Column("status", "enum", True, False, HOLD_STATUSES),
        _key("acquirer_ref", "ref", meaning="tid + stan + batch of the acquirer's request"),
        Column("created_at", "epoch"),
        Column("updated_at", "epoch"),
    ),
    "the cardholder's side: one row per authorisation",
)

TABLES: Mapping[str, Table] = {t.name: t for t in (TRANSACTIONS, BATCHES, PAYOUTS, ISSUER)}


class TransactionRow(TypedDict, total=False):
    """A row of ``transactions.jsonl`` (the keys of :data:`TRANSACTIONS`)."""

    tid: str
    stan: str
    batch: str
    type: str
    status: str
    amount: int
    mid: str | None
    pan: str | None
    card_kind: str | None
    rrn: str | None
    rc: str | None
    booked_at: float | None
    reversed_at: float | None
    orig_rrn: str | None
    settle_date: str | None


class TerminalTotals(TypedDict):
    debit_amount: int
    debit_count: int
    credit_amount: int
    credit_count: int


class BatchRow(TypedDict, total=False):
    tid: str
    batch: str
    status: str
    mid: str | None
    closed_by: str | None
    closed_at: float | None
    host_debit_amount: int | None
    host_debit_count: int | None
    host_credit_amount: int | None
    host_credit_count: int | None
    terminal_totals: TerminalTotals | None
    recon_code: int | None
    uploaded: int | None


class PayoutRow(TypedDict, total=False):
    mid: str
    settle_date: str
    gross: int
    fees: int
    net: int
    count: int | None
    fee_detail: dict[str, int] | None
    adjustments: int | None
    paid_at: float | None


class IssuerRow(TypedDict, total=False):
    auth_id: str | None
    pan: str | None
    amount: int | None
    status: str
    acquirer_ref: str
    created_at: float | None
    updated_at: float | None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MASKED = re.compile(r"\d{6}\*+\d{4}")


def _is_int(value: object) -> bool:
    return type(value) is int


def check_value(column: Column, value: Any) -> str | None:
    """Why ``value`` does not fit ``column`` (None when it does)."""
    if value is None:
        return None if column.nullable else "is null"
    kind = column.kind
    if kind == "text":
        ok = isinstance(value, str) and value != ""
        want = "a non-empty string"
    elif kind == "digits":
        ok = isinstance(value, str) and len(value) == column.width and value.isdigit()
        want = f"a string of {column.width} digits"
    elif kind == "enum":
        ok = value in column.choices
        want = f"one of {', '.join(column.choices)}"
    elif kind == "fen":
        ok = _is_int(value) and (column.signed or value >= 0)
        want = "integer fen" if column.signed else "integer fen >= 0"
    elif kind == "count":
        ok = _is_int(value) and value >= 0
        want = "an integer >= 0"
    elif kind == "epoch":
        ok = isinstance(value, float)
        want = "epoch seconds (float)"
    elif kind == "date":
        ok = isinstance(value, str) and _DATE.fullmatch(value) is not None
        want = "a date YYYY-MM-DD"
    elif kind == "pan":
        ok = isinstance(value, str) and _MASKED.fullmatch(value) is not None
        want = "a masked PAN (first 6 + last 4)"
    elif kind == "totals":
        ok = (
            isinstance(value, dict)
            and all(_is_int(value.get(k)) for k in TOTALS_KEYS)
            and all(_is_int(v) for v in value.values())
        )
        want = f"an object of integers {', '.join(TOTALS_KEYS)}"
    elif kind == "fees":
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and _is_int(v) for k, v in value.items()
        )
        want = "an object {card kind: integer fen}"
    else:  # "ref"
        ok = isinstance(value, str) and len(value) == 20 and value.isalnum()
        want = "tid + stan + batch (20 characters)"
    return None if ok else f"must be {want}, got {value!r}"


def check_row(table: Table, row: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first ``(column, problem)`` of a row that breaks the contract, or None.

    Columns the contract does not name are allowed (and ignored by scoring).
    """
    for column in table.columns:
        if column.name not in row:
            if column.required:
                return column.name, "is missing"
            continue
        problem = check_value(column, row[column.name])
        if problem is not None:
            return column.name, problem
    return None


def supported(version: object) -> bool:
    return version in SUPPORTED_VERSIONS
