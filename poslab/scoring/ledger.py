"""The acquirer's ledger export, indexed for reconciliation against the fleet.

A run can hold a million ledger rows, so the index keeps one small integer per
row key (``tid/stan/batch``) instead of the row: the row's type, status, two
flags set while the fleet journal is matched against it, and the row's byte
offset in the file — enough to read the full row back for the few that end up
as examples. Batch totals and payouts are summed while the file streams by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from poslab.scoring.fees import Fees
from poslab.scoring.jsonl import ReadStats, iter_batches
from poslab.scoring.ledger_contract import TRANSACTION_STATUSES, TRANSACTION_TYPES

# row status / type codes packed in the index (3 bits each)
ST_OTHER, ST_APPROVED, ST_VOIDED, ST_REVERSED, ST_DECLINED = 0, 1, 2, 3, 4
STATUS_CODES = {"approved": ST_APPROVED, "voided": ST_VOIDED, "reversed": ST_REVERSED}
STATUS_CODES["declined"] = ST_DECLINED
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()} | {ST_OTHER: "other"}
TY_OTHER, TY_SALE, TY_VOID, TY_REFUND = 0, 1, 2, 3
TYPE_CODES = {"sale": TY_SALE, "void": TY_VOID, "refund": TY_REFUND}
MONEY_STATUSES = (ST_APPROVED, ST_VOIDED)
# The index packs the contract's vocabulary (poslab/scoring/ledger_contract.py):
# a status or money type added there must get a code here (a test holds them equal).
CONTRACT_VOCABULARY = (TRANSACTION_STATUSES, TRANSACTION_TYPES)

# index value layout: offset << 8 | claimed << 6 | type << 3 | status
CLAIMED = 1 << 6


def row_key(tid: object, stan: object, batch: object) -> str:
    return f"{tid}/{stan}/{batch}"


def status_of(value: int) -> int:
    return value & 7


def type_of(value: int) -> int:
    return (value >> 3) & 7


def offset_of(value: int) -> int:
    return value >> 8


@dataclass(slots=True)
class PayoutDue:
    """What one merchant's payout for one settle date must be, from the ledger rows."""

    gross: int = 0
    fees: int = 0
    count: int = 0
    fee_detail: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class LedgerIndex:
    path: Path
    rows: dict[str, int] = field(default_factory=dict)
    # keys booked with money (approved/voided) more than once: byte offsets of each row
    double_booked: dict[str, list[int]] = field(default_factory=dict)
    # (tid, batch) -> [debit amount, debit count, credit amount, credit count]
    batch_totals: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # (mid, settle_date) -> what the payout must be; None when fees are unknown
    payouts_due: dict[tuple[str, str], PayoutDue] | None = None
    unsettled_rows: int = 0
    unknown_card_kinds: int = 0
    bad_amounts: int = 0
    stats: ReadStats = field(default_factory=ReadStats)


def load_ledger(path: Path, fees: Fees | None) -> LedgerIndex:
    """Stream ``ledger/transactions.jsonl`` into an index (see module docstring).

    Rows follow the ledger contract (``docs/ledger-contract.md``); a row outside
    it is read as forgivingly as the lab's own export (an unknown type moves no
    money, a non-integer amount is counted in ``bad_amounts``).
    """
    index = LedgerIndex(path, payouts_due={} if fees is not None else None)
    rows, double_booked, totals, due = (
        index.rows,
        index.double_booked,
        index.batch_totals,
        index.payouts_due,
    )
    for offsets, records in iter_batches(path, index.stats):
        for offset, r in zip(offsets, records, strict=True):
            ty = TYPE_CODES.get(r.get("type"), TY_OTHER)  # type: ignore[arg-type]
            if ty == TY_OTHER:
                continue  # balance inquiries move no money
            st = STATUS_CODES.get(r.get("status"), ST_OTHER)  # type: ignore[arg-type]
            key = f"{r.get('tid')}/{r.get('stan')}/{r.get('batch')}"
            value = offset << 8 | ty << 3 | st
            previous = rows.get(key)
            if previous is None:
                rows[key] = value
            elif st in MONEY_STATUSES and status_of(previous) in MONEY_STATUSES:
                double_booked.setdefault(key, [offset_of(previous)]).append(offset)
            elif st in MONEY_STATUSES:
                rows[key] = value  # the index points at the row that holds money
            if st not in MONEY_STATUSES or (ty != TY_SALE and st != ST_APPROVED):
                continue
            amount = r.get("amount")
            if type(amount) is not int:
                index.bad_amounts += 1
                continue
            # CUP batch totals: debits are sales (voided ones too), credits voids + refunds
            where = (str(r.get("tid")), str(r.get("batch")))
            t = totals.get(where)
            if t is None:
                t = totals[where] = [0, 0, 0, 0]
            if ty == TY_SALE:
                signed = amount
                t[0] += amount
                t[1] += 1
            else:
                signed = -amount
                t[2] += amount
                t[3] += 1
            settle_date = r.get("settle_date")
            if not settle_date:
                index.unsettled_rows += 1
                continue
            if due is None or fees is None:
                continue
            mid, kind = str(r.get("mid")), str(r.get("card_kind"))
            fee = fees.fee(signed, kind, mid)
            if fee is None:
                index.unknown_card_kinds += 1
                continue
            d = due.get((mid, str(settle_date)))
            if d is None:
                d = due[(mid, str(settle_date))] = PayoutDue()
            d.gross += signed
            d.fees += fee
            d.count += 1
            d.fee_detail[kind] = d.fee_detail.get(kind, 0) + fee
    return index
