"""Settlement-side checks: batch totals, payouts and the cardholder's holds.

These read the small acquirer exports (batches, payouts) whole, and the issuer
export as a stream: only its ``held`` authorisations matter, and those are
picked out with a byte-level match before any JSON parsing, because an issuer
export holds one row per sale and parsing a million of them would double the
cost of scoring.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.scoring.jsonl import ReadStats, read_all
from poslab.scoring.ledger import ST_APPROVED, LedgerIndex, PayoutDue, status_of
from poslab.scoring.reconciliation import ledger_example
from poslab.scoring.result import Check, Example, mask_pan

_HOST_FIELDS = ("host_debit_amount", "host_debit_count", "host_credit_amount", "host_credit_count")
_TERMINAL_FIELDS = ("debit_amount", "debit_count", "credit_amount", "credit_count")


@dataclass(slots=True)
class SettlementState:
    """What the ``all_batches_settled`` expectation needs."""

    batches_available: bool = False
    open_batches: list[str] = field(default_factory=list)
    payouts_available: bool = False
    unpaid_merchant_days: int = 0
    unsettled_rows: int = 0


def _ints(obj: dict[str, Any], names: tuple[str, ...]) -> list[int] | None:
    values = [obj.get(n) for n in names]
    if all(type(v) is int for v in values):
        return values  # type: ignore[return-value]
    return None


def _fmt(t: list[int]) -> str:
    return f"debit {t[0]}/{t[1]}, credit {t[2]}/{t[3]}"


def check_batches(
    path: Path, ledger: LedgerIndex, check: Check, state: SettlementState, notes: list[str]
) -> None:
    """Closed batches: the host's totals against its own ledger rows and against the
    totals the terminal sent in its 0500; ledger rows in batches the host never lists."""
    stats = ReadStats()
    rows = read_all(path, stats)
    notes.extend(stats.notes("ledger/batches.jsonl"))
    state.batches_available = True
    listed: set[tuple[str, str]] = set()
    missing_totals = 0
    for b in rows:
        tid, batch = str(b.get("tid")), str(b.get("batch"))
        listed.add((tid, batch))
        t = b.get("closed_at")
        when = float(t) if isinstance(t, int | float) else None
        if b.get("status") != "closed":
            state.open_batches.append(f"{tid}/{batch}")
            continue  # totals are struck when a batch closes
        host = _ints(b, _HOST_FIELDS)
        if host is None:
            missing_totals += 1
            continue
        mine = ledger.batch_totals.get((tid, batch), [0, 0, 0, 0])
        if host != mine:
            check.add(
                Example(
                    f"host totals {_fmt(host)} ≠ ledger rows {_fmt(mine)}",
                    tid,
                    None,
                    None,
                    batch,
                    t=when,
                )
            )
            continue
        terminal = b.get("terminal_totals")
        if isinstance(terminal, dict):
            theirs = _ints(terminal, _TERMINAL_FIELDS)
            if theirs is None:
                notes.append(f"batch {tid}/{batch}: terminal_totals not in the documented shape")
            elif theirs != host:
                check.add(
                    Example(
                        f"terminal totals {_fmt(theirs)} ≠ host {_fmt(host)}",
                        tid,
                        None,
                        None,
                        batch,
                        t=when,
                    )
                )
    if missing_totals:
        notes.append(f"{missing_totals} closed batch(es) without host totals were not reconciled")
    for (tid, batch), totals in ledger.batch_totals.items():
        if (tid, batch) not in listed:
            check.add(
                Example(
                    f"ledger rows ({_fmt(totals)}) in a batch the host does not list",
                    tid,
                    batch=batch,
                )
            )


def check_payouts(
    path: Path, ledger: LedgerIndex, check: Check, state: SettlementState, notes: list[str]
) -> None:
    """Every payout against sales − refunds − voids and the fees recomputed per row."""
    due = ledger.payouts_due or {}
    stats = ReadStats()
    rows = read_all(path, stats)
    notes.extend(stats.notes("ledger/payouts.jsonl"))
    state.payouts_available = True
    paid: set[tuple[str, str]] = set()
    for p in rows:
        mid, date = str(p.get("mid")), str(p.get("settle_date"))
        where = f"merchant {mid} settle date {date}"
        if (mid, date) in paid:
            check.add(Example(f"{where}: paid out twice", mid=mid))
            continue
        paid.add((mid, date))
        expected = due.get((mid, date), PayoutDue())
        figures = _ints(p, ("gross", "fees", "net"))
        if figures is None:
            check.add(Example(f"{where}: gross/fees/net are not integer fen", mid=mid))
            continue
        gross, fees, net = figures
        problems = []
        if gross != expected.gross:
            problems.append(f"gross {gross} ≠ ledger {expected.gross}")
        if fees != expected.fees:
            problems.append(f"fees {fees} ≠ recomputed {expected.fees}")
        if net != expected.gross - expected.fees:
            problems.append(f"net {net} ≠ sales − fees {expected.gross - expected.fees}")
        detail = p.get("fee_detail")
        if isinstance(detail, dict):
            for kind, value in sorted(detail.items()):
                if value != expected.fee_detail.get(kind, 0):
                    problems.append(
                        f"{kind} fees {value} ≠ recomputed {expected.fee_detail.get(kind, 0)}"
                    )
        if problems:
            check.add(Example(f"{where}: {'; '.join(problems)}", mid=mid, amount=net))
    state.unpaid_merchant_days = sum(1 for k, d in due.items() if k not in paid and d.count)
    state.unsettled_rows = ledger.unsettled_rows
    if ledger.unknown_card_kinds:
        notes.append(f"{ledger.unknown_card_kinds} ledger row(s) with an unknown card_kind: no fee")


_HELD = re.compile(rb'"status"\s*:\s*"held"')
_REF = re.compile(rb'"acquirer_ref"\s*:\s*"([^"]*)"')


def ref_key(ref: object) -> str | None:
    """``acquirer_ref`` (tid + stan + batch, 8 + 6 + 6 characters) as a ledger key."""
    if isinstance(ref, dict):
        return f"{ref.get('tid')}/{ref.get('stan')}/{ref.get('batch')}"
    if not isinstance(ref, str):
        return None
    if len(ref) == 20 and ref.isalnum():  # the documented form, by far the commonest
        return f"{ref[:8]}/{ref[8:14]}/{ref[14:]}"
    for sep in ("/", "|", ":", "-", " "):
        parts = ref.split(sep)
        if len(parts) == 3:
            return "/".join(parts)
    if len(ref) == 20:
        return f"{ref[:8]}/{ref[8:14]}/{ref[14:]}"
    return None


def _issuer_example(line: bytes, detail: str) -> Example:
    try:
        row = json.loads(line)
    except ValueError:
        return Example(detail)
    if not isinstance(row, dict):
        return Example(detail)
    key = ref_key(row.get("acquirer_ref")) or "//"
    example = ledger_example(None, key, detail)
    example.pan = mask_pan(row.get("pan"))
    amount, t = row.get("amount"), row.get("updated_at") or row.get("created_at")
    example.amount = amount if type(amount) is int else None
    example.t = float(t) if isinstance(t, int | float) else None
    return example


def _line_at(block: bytes, needle: bytes) -> bytes:
    at = block.find(needle)
    start = block.rfind(b"\n", 0, at) + 1
    end = block.find(b"\n", at)
    return block[start : end if end >= 0 else len(block)]


def _judge(check: Check, rows: dict[str, int], key: str | None, line: bytes) -> None:
    if key is None:
        detail = "hold with an unreadable acquirer_ref"
    elif (value := rows.get(key)) is None:
        detail = "cardholder held; acquirer has no such sale"
    elif status_of(value) != ST_APPROVED:
        detail = "cardholder held; acquirer sale not approved"
    else:
        return
    if len(check.examples) < check.example_limit:
        check.add(_issuer_example(line, detail))
    else:
        check.tally()


def _line_by_line(block: bytes, rows: dict[str, int], check: Check) -> None:
    for line in block.splitlines():
        if b"held" not in line or not _HELD.search(line):
            continue
        m = _REF.search(line)
        key = ref_key(m.group(1).decode("utf-8", "replace")) if m else None
        if key is None:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn or corrupt line carries no hold we can read
            key = ref_key(row.get("acquirer_ref")) if isinstance(row, dict) else None
        _judge(check, rows, key, line)


# A held line with a documented acquirer_ref (20 characters), either key order.
_HELD_REF = re.compile(
    rb'^(?=[^\n]*"status"\s*:\s*"held")[^\n]*"acquirer_ref"\s*:\s*"([0-9A-Za-z]{20})"', re.M
)
_SPLIT_REF = re.compile(r"^(.{8})(.{6})(.{6})$", re.M)


def check_issuer(path: Path, ledger: LedgerIndex, check: Check) -> None:
    """A cardholder hold (``held``) must stand for a sale the acquirer holds as approved.

    Blocks of the file are matched whole by one regular expression; a block
    where it does not account for every ``"held"`` (another ref format, odd
    spacing) is read line by line instead.
    """
    rows = ledger.rows
    with path.open("rb") as fh:
        while block := b"".join(fh.readlines(4 << 20)):
            refs = _HELD_REF.findall(block)
            if len(refs) != block.count(b'"held"'):
                _line_by_line(block, rows, check)
                continue
            if not refs:
                continue
            joined = b"\n".join(refs).decode("ascii")
            keys = _SPLIT_REF.sub(r"\1/\2/\3", joined).split("\n")
            for ref, key in zip(refs, keys, strict=True):
                if rows.get(key, 0) & 7 != ST_APPROVED:
                    _judge(check, rows, key, _line_at(block, b'"' + ref + b'"'))
