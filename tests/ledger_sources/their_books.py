"""A team's books in their own shape, filled from a lab ledger (for round trips).

Names, types and vocabularies deliberately unlike the lab's: integer trace and
batch numbers, amounts in yuan as NUMERIC(12,2), one-letter status codes,
naive UTC timestamps, the 0500's field 48 kept raw, holds keyed by one
concatenated reference. :data:`SOURCE` is the topology ``ledger:`` section that
maps them back.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

META = sa.MetaData()
JOURNAL = sa.Table(
    "pos_journal",
    META,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("term_id", sa.String(8), nullable=False),
    sa.Column("merchant_no", sa.String(15)),
    sa.Column("trace_no", sa.Integer, nullable=False),
    sa.Column("batch_no", sa.Integer, nullable=False),
    sa.Column("txn_kind", sa.String(4), nullable=False),
    sa.Column("state", sa.String(1), nullable=False),
    sa.Column("amt_yuan", sa.Numeric(12, 2), nullable=False),
    sa.Column("card_no", sa.String(19)),
    sa.Column("card_class", sa.String(1)),
    sa.Column("ref_no", sa.String(12)),
    sa.Column("resp_code", sa.String(2)),
    sa.Column("created", sa.DateTime),
    sa.Column("created_epoch", sa.Float),
    sa.Column("reversed", sa.DateTime),
    sa.Column("orig_ref", sa.String(12)),
    sa.Column("value_date", sa.Date),
)
SETTLEMENTS = sa.Table(
    "settlements",
    META,
    sa.Column("term_id", sa.String(8), nullable=False),
    sa.Column("merchant_no", sa.String(15)),
    sa.Column("batch_no", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(8), nullable=False),
    sa.Column("closed_ts", sa.DateTime),
    sa.Column("field48", sa.String(80)),
    sa.Column("recon", sa.Integer),
)
PAYOUTS = sa.Table(
    "merchant_payouts",
    META,
    sa.Column("merchant_no", sa.String(15), nullable=False),
    sa.Column("value_date", sa.Date, nullable=False),
    sa.Column("gross_yuan", sa.Numeric(14, 2), nullable=False),
    sa.Column("fee_yuan", sa.Numeric(14, 2), nullable=False),
    sa.Column("net_yuan", sa.Numeric(14, 2), nullable=False),
    sa.Column("rows_paid", sa.Integer),
    sa.Column("fee_json", sa.Text),
)
HOLDS = sa.Table(
    "card_holds",
    META,
    sa.Column("auth_code", sa.String(16)),
    sa.Column("card_no", sa.String(19)),
    sa.Column("amt_yuan", sa.Numeric(12, 2)),
    sa.Column("hold_state", sa.String(10), nullable=False),
    sa.Column("ref", sa.String(20), nullable=False),
)

KINDS = {"sale": "SALE", "void": "VOID", "refund": "RFND", "balance": "BAL"}
STATES = {"approved": "A", "declined": "D", "reversed": "R", "voided": "V"}
CARDS = {"credit": "C", "debit": "D", "qr": "Q"}


def _flip(m: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in m.items()}


SOURCE: dict[str, Any] = {
    "kind": "sql",
    "query": "SELECT * FROM pos_journal ORDER BY entry_id",
    "amount_unit": "yuan",
    "columns": {
        "tid": "term_id",
        "mid": "merchant_no",
        "stan": "trace_no",
        "batch": "batch_no",
        "type": "txn_kind",
        "status": "state",
        "amount": "amt_yuan",
        "pan": "card_no",
        "card_kind": "card_class",
        "rrn": "ref_no",
        "rc": "resp_code",
        "booked_at": "created",
        "reversed_at": "reversed",
        "orig_rrn": "orig_ref",
        "settle_date": "value_date",
    },
    "values": {"type": _flip(KINDS), "status": _flip(STATES), "card_kind": _flip(CARDS)},
    "batches": {
        "query": "SELECT * FROM settlements",
        "columns": {
            "tid": "term_id",
            "mid": "merchant_no",
            "batch": "batch_no",
            "status": "phase",
            "closed_at": "closed_ts",
            "terminal_totals": "field48",
            "recon_code": "recon",
        },
    },
    "payouts": {
        "query": "SELECT * FROM merchant_payouts",
        "amount_unit": "yuan",
        "columns": {
            "mid": "merchant_no",
            "settle_date": "value_date",
            "gross": "gross_yuan",
            "fees": "fee_yuan",
            "net": "net_yuan",
            "count": "rows_paid",
            "fee_detail": "fee_json",
        },
    },
    "issuer": {
        "query": "SELECT * FROM card_holds",
        "amount_unit": "yuan",
        "columns": {
            "auth_id": "auth_code",
            "pan": "card_no",
            "amount": "amt_yuan",
            "status": "hold_state",
            "acquirer_ref": "ref",
        },
    },
}


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(fen) / 100


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _field48(t: dict[str, int] | None) -> str | None:
    if t is None:
        return None
    return (
        f"{t['debit_amount']:012d}{t['debit_count']:03d}"
        f"{t['credit_amount']:012d}{t['credit_count']:03d}0"
    )


def load_books(url: str, ledger_dir: Path) -> dict[str, int]:
    """Create their schema at ``url`` and fill it from a lab ledger; rows per table."""
    engine = sa.create_engine(url)
    META.create_all(engine)
    tx = _read(ledger_dir / "transactions.jsonl")
    batches = _read(ledger_dir / "batches.jsonl")
    payouts = _read(ledger_dir / "payouts.jsonl")
    holds = _read(ledger_dir / "issuer.jsonl")
    with engine.begin() as conn:
        if tx:
            conn.execute(
                JOURNAL.insert(),
                [
                    {
                        "term_id": r["tid"],
                        "merchant_no": r.get("mid"),
                        "trace_no": int(r["stan"]),
                        "batch_no": int(r["batch"]),
                        "txn_kind": KINDS[r["type"]],
                        "state": STATES[r["status"]],
                        "amt_yuan": _yuan(r["amount"]),
                        "card_no": r.get("pan"),
                        "card_class": CARDS.get(r.get("card_kind") or ""),
                        "ref_no": r.get("rrn"),
                        "resp_code": r.get("rc"),
                        "created": _ts(r.get("booked_at")),
                        "created_epoch": r.get("booked_at"),
                        "reversed": _ts(r.get("reversed_at")),
                        "orig_ref": r.get("orig_rrn"),
                        "value_date": (
                            date.fromisoformat(r["settle_date"]) if r.get("settle_date") else None
                        ),
                    }
                    for r in tx
                ],
            )
        if batches:
            conn.execute(
                SETTLEMENTS.insert(),
                [
                    {
                        "term_id": b["tid"],
                        "merchant_no": b.get("mid"),
                        "batch_no": int(b["batch"]),
                        "phase": b["status"].upper(),
                        "closed_ts": _ts(b.get("closed_at")),
                        "field48": _field48(b.get("terminal_totals")),
                        "recon": b.get("recon_code"),
                    }
                    for b in batches
                ],
            )
        if payouts:
            conn.execute(
                PAYOUTS.insert(),
                [
                    {
                        "merchant_no": p["mid"],
                        "value_date": date.fromisoformat(p["settle_date"]),
                        "gross_yuan": _yuan(p["gross"]),
                        "fee_yuan": _yuan(p["fees"]),
                        "net_yuan": _yuan(p["net"]),
                        "rows_paid": p.get("count"),
                        "fee_json": json.dumps(
                            {k: str(_yuan(v)) for k, v in (p.get("fee_detail") or {}).items()}
                        ),
                    }
                    for p in payouts
                ],
            )
        if holds:
            conn.execute(
                HOLDS.insert(),
                [
                    {
                        "auth_code": h.get("auth_id"),
                        "card_no": h.get("pan"),
                        "amt_yuan": _yuan(h.get("amount")),
                        "hold_state": h["status"].upper(),
                        "ref": h["acquirer_ref"],
                    }
                    for h in holds
                ],
            )
    engine.dispose()
    return {"transactions": len(tx), "batches": len(batches), "payouts": len(payouts)} | {
        "issuer": len(holds)
    }
