"""The ledger as the run directory's JSON Lines (docs/run-directory.md).

``transactions.jsonl``, ``batches.jsonl`` and ``payouts.jsonl``, with exactly
the fields scoring reads. A row's ``settle_date`` is null until a payout
carries it; the business date it will settle on is fixed at booking (after
the day cut) and kept in the ledger.

The ledger's ``payouts`` table is append-only: a first payout per merchant and
date, then an *adjustment* when a row already paid changes (a late reversal).
The export shows one row per merchant and date — the sum, with
``adjustments`` (how many followed the first payout), ``paid_at`` (the latest)
and ``count`` (the ledger rows it currently pays) — because scoring reads a
second row for the same merchant and date as a double payout. The same code serves the admin API's
``GET /admin/export/<name>`` (streamed from a live host) and
``python -m poslab.mocks.acquirer export --db FILE --out DIR`` (a dead one: SQLite
recovers the WAL on open). Each export reads inside one transaction, so it is
a consistent snapshot even while the host keeps booking.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from poslab.common import atomic_output
from poslab.errors import ConfigError

__all__ = ["EXPORTS", "export_all", "export_rows"]

_TRANSACTIONS = (
    "SELECT tid, mid, stan, batch, type, amount, pan, card_kind, rrn, rc, status, booked_at, "
    "reversed_at, orig_rrn, CASE WHEN settled THEN settle_date END FROM transactions ORDER BY id"
)
_COUNTS = "(t.type = 'sale' AND t.status IN ('approved', 'voided'))"
_CREDITS = "(t.type IN ('void', 'refund') AND t.status = 'approved')"
_BATCHES = f"""
SELECT b.tid, b.mid, b.batch, b.status, b.closed_by, b.closed_at,
       COALESCE(SUM(CASE WHEN {_COUNTS} THEN t.amount END), 0),
       COUNT(CASE WHEN {_COUNTS} THEN 1 END),
       COALESCE(SUM(CASE WHEN {_CREDITS} THEN t.amount END), 0),
       COUNT(CASE WHEN {_CREDITS} THEN 1 END),
       b.terminal_totals, b.recon_code, b.uploaded
FROM batches b LEFT JOIN transactions t ON t.tid = b.tid AND t.mid = b.mid AND t.batch = b.batch
GROUP BY b.tid, b.batch ORDER BY b.opened_at, b.tid, b.batch
"""
# One row per merchant and settle date (the scorer reads a second row for the
# same day as a double payout): the first payout plus any later adjustment.
_PAYOUTS = (
    "SELECT mid, settle_date, SUM(gross), SUM(fees), SUM(net), SUM(fee_credit), SUM(fee_debit), "
    "SUM(fee_qr), COUNT(*) - 1, MAX(paid_at) FROM payouts GROUP BY mid, settle_date "
    "ORDER BY MIN(id)"
)
_PAID_ROWS = (
    "SELECT mid, settle_date, COUNT(*) FROM transactions WHERE settled = 1 AND paid_gross != 0 "
    "GROUP BY mid, settle_date"
)
_TXN_NAMES = (
    "tid",
    "mid",
    "stan",
    "batch",
    "type",
    "amount",
    "pan",
    "card_kind",
    "rrn",
    "rc",
    "status",
    "booked_at",
    "reversed_at",
    "orig_rrn",
    "settle_date",
)


def _transactions(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for row in conn.execute(_TRANSACTIONS):
        yield dict(zip(_TXN_NAMES, tuple(row), strict=True))


def _batches(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    for row in conn.execute(_BATCHES):
        (
            tid,
            mid,
            batch,
            status,
            closed_by,
            closed_at,
            debit_amount,
            debit_count,
            credit_amount,
            credit_count,
            terminal_totals,
            recon_code,
            uploaded,
        ) = tuple(row)
        yield {
            "tid": tid,
            "mid": mid,
            "batch": batch,
            "status": status,
            "closed_by": closed_by,
            "closed_at": closed_at,
            "host_debit_amount": debit_amount,
            "host_debit_count": debit_count,
            "host_credit_amount": credit_amount,
            "host_credit_count": credit_count,
            "terminal_totals": json.loads(terminal_totals) if terminal_totals else None,
            "recon_code": recon_code,
            "uploaded": uploaded,
        }


def _payouts(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    paid_rows = {(mid, date): n for mid, date, n in conn.execute(_PAID_ROWS)}
    for row in conn.execute(_PAYOUTS):
        mid, date, gross, fees, net, credit, debit, qr, adjustments, paid_at = tuple(row)
        yield {
            "mid": mid,
            "settle_date": date,
            "gross": gross,
            "fees": fees,
            "net": net,
            "count": paid_rows.get((mid, date), 0),
            "fee_detail": {"credit": credit, "debit": debit, "qr": qr},
            "adjustments": adjustments,
            "paid_at": paid_at,
        }


EXPORTS = {"transactions": _transactions, "batches": _batches, "payouts": _payouts}


def export_rows(conn: sqlite3.Connection, name: str) -> Iterator[dict[str, Any]]:
    """The rows of export ``name`` (KeyError for an unknown name)."""
    return EXPORTS[name](conn)


def line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def export_all(db: Path, out: Path) -> dict[str, int]:
    """Write every export of the ledger ``db`` into ``out``; rows per file."""
    if not db.exists():
        raise ConfigError(f"no ledger at {db}")
    try:
        conn = sqlite3.connect(db, isolation_level=None)
        out.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        conn.execute("BEGIN")
        for name in EXPORTS:
            target = out / f"{name}.jsonl"
            n = 0
            with atomic_output(target) as fh:
                for row in export_rows(conn, name):
                    fh.write(line(row))
                    n += 1
            counts[name] = n
        conn.execute("COMMIT")
        conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot export the ledger {db}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot write the export to {out}: {exc.strerror or exc}") from None
    return counts
