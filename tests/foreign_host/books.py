"""This host's books: its own tables, its own names, on SQLite or PostgreSQL.

Nothing here follows the lab's ledger export: the journal says ``OK``/``DECL``/
``REVD``/``VOID``, keeps trace and batch numbers as integers, and holds the
cardholder's side as holds keyed by one concatenated reference. The lab reads
these books only through a ledger source (:data:`LEDGER_SOURCE`, the topology
section a team would write).

Durability: by default every request's changes are committed before the reply
leaves (:meth:`Books.unit`). The ``reply-before-durable`` defect keeps one
transaction open and commits it from a flusher thread every second, so the
reply goes out first and a killed host forgets what it acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

META = sa.MetaData()
JOURNAL = sa.Table(
    "acq_journal",
    META,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("terminal_no", sa.String(8), nullable=False),
    sa.Column("merchant_no", sa.String(15), nullable=False),
    sa.Column("trace_no", sa.Integer, nullable=False),
    sa.Column("batch_no", sa.Integer, nullable=False),
    sa.Column("txn_code", sa.String(4), nullable=False),
    sa.Column("state", sa.String(4), nullable=False),
    sa.Column("amt_minor", sa.BigInteger, nullable=False),
    sa.Column("card_mask", sa.String(19)),
    sa.Column("card_type", sa.String(1)),
    sa.Column("retrieval_ref", sa.String(12)),
    sa.Column("resp_code", sa.String(2), nullable=False),
    sa.Column("auth_code", sa.String(6)),
    sa.Column("orig_trace", sa.Integer),
    sa.Column("orig_batch", sa.Integer),
    sa.Column("orig_ref", sa.String(12)),
    sa.Column("booked_ts", sa.Float, nullable=False),
    sa.Column("reversed_ts", sa.Float),
    sa.Column("value_date", sa.String(10)),
)
sa.Index("acq_journal_key", JOURNAL.c.terminal_no, JOURNAL.c.trace_no, JOURNAL.c.batch_no)
SETTLEMENTS = sa.Table(
    "batch_settlements",
    META,
    sa.Column("terminal_no", sa.String(8), primary_key=True),
    sa.Column("batch_no", sa.Integer, primary_key=True),
    sa.Column("merchant_no", sa.String(15), nullable=False),
    sa.Column("phase", sa.String(6), nullable=False),
    sa.Column("opened_ts", sa.Float, nullable=False),
    sa.Column("closed_ts", sa.Float),
    sa.Column("f48", sa.String(80)),
    sa.Column("recon", sa.Integer),
    sa.Column("uploads", sa.Integer, nullable=False, default=0),
)
HOLDS = sa.Table(
    "cardholder_holds",
    META,
    sa.Column("hold_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("acq_ref", sa.String(20), nullable=False, index=True),
    sa.Column("card_mask", sa.String(19)),
    sa.Column("amt_minor", sa.BigInteger, nullable=False),
    sa.Column("hold_state", sa.String(8), nullable=False),
    sa.Column("created_ts", sa.Float, nullable=False),
    sa.Column("updated_ts", sa.Float, nullable=False),
)
PAYOUTS = sa.Table(
    "merchant_payouts",
    META,
    sa.Column("merchant_no", sa.String(15), primary_key=True),
    sa.Column("value_date", sa.String(10), primary_key=True),
    sa.Column("gross_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_minor", sa.BigInteger, nullable=False),
    sa.Column("fee_credit", sa.BigInteger, nullable=False),
    sa.Column("fee_debit", sa.BigInteger, nullable=False),
    sa.Column("fee_qr", sa.BigInteger, nullable=False),
    sa.Column("rows_paid", sa.Integer, nullable=False),
    sa.Column("paid_ts", sa.Float, nullable=False),
)

# The topology's ``ledger:`` section for these books (add ``url``).
_FEES = "'{\"credit\":' || fee_credit || ',\"debit\":' || fee_debit || ',\"qr\":' || fee_qr || '}'"
LEDGER_SOURCE: dict[str, Any] = {
    "kind": "sql",
    "query": "SELECT * FROM acq_journal ORDER BY seq",
    "columns": {
        "tid": "terminal_no",
        "mid": "merchant_no",
        "stan": "trace_no",
        "batch": "batch_no",
        "type": "txn_code",
        "status": "state",
        "amount": "amt_minor",
        "pan": "card_mask",
        "card_kind": "card_type",
        "rrn": "retrieval_ref",
        "rc": "resp_code",
        "booked_at": "booked_ts",
        "reversed_at": "reversed_ts",
        "orig_rrn": "orig_ref",
        "settle_date": "value_date",
    },
    "values": {
        "type": {"SALE": "sale", "VOID": "void", "RFND": "refund", "BAL": "balance"},
        "status": {"OK": "approved", "DECL": "declined", "REVD": "reversed", "VOID": "voided"},
        "card_kind": {"C": "credit", "D": "debit", "Q": "qr"},
    },
    "batches": {
        "query": "SELECT * FROM batch_settlements",
        "columns": {
            "tid": "terminal_no",
            "mid": "merchant_no",
            "batch": "batch_no",
            "status": "phase",
            "closed_at": "closed_ts",
            "terminal_totals": "f48",
            "recon_code": "recon",
            "uploaded": "uploads",
        },
    },
    "payouts": {
        "query": f"SELECT merchant_no, value_date, gross_minor, fee_minor, rows_paid, paid_ts, "
        f"gross_minor - fee_minor AS net_minor, {_FEES} AS fee_json FROM merchant_payouts",
        "columns": {
            "mid": "merchant_no",
            "settle_date": "value_date",
            "gross": "gross_minor",
            "fees": "fee_minor",
            "net": "net_minor",
            "count": "rows_paid",
            "fee_detail": "fee_json",
            "paid_at": "paid_ts",
        },
    },
    "issuer": {
        "query": "SELECT * FROM cardholder_holds",
        "columns": {
            "auth_id": "hold_id",
            "pan": "card_mask",
            "amount": "amt_minor",
            "status": "hold_state",
            "acquirer_ref": "acq_ref",
            "created_at": "created_ts",
            "updated_at": "updated_ts",
        },
    },
}

# Rows that hold money, and with which sign (docs/run-directory.md, payouts).
_PAYABLE = (
    "((txn_code = 'SALE' AND state IN ('OK', 'VOID')) "
    "OR (txn_code IN ('VOID', 'RFND') AND state = 'OK'))"
)


class Books:
    def __init__(self, url: str, *, durable: bool = True, flush_s: float = 1.0) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
        if self.engine.dialect.name == "sqlite":

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.close()

        META.create_all(self.engine)
        self.durable = durable
        self.lock = threading.RLock()
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        self._stop = threading.Event()
        if not durable:
            threading.Thread(target=self._flusher, args=(flush_s,), daemon=True).start()

    def _flusher(self, every: float) -> None:
        while not self._stop.wait(every):
            with self.lock:
                self.tx.commit()
                self.tx = self.conn.begin()

    @contextmanager
    def unit(self) -> Iterator[sa.Connection]:
        """One request's changes; committed before the caller replies (when durable)."""
        with self.lock:
            try:
                yield self.conn
            except BaseException:
                if self.durable:
                    self.tx.rollback()
                    self.tx = self.conn.begin()
                raise
            if self.durable:
                self.tx.commit()
                self.tx = self.conn.begin()

    def close(self) -> None:
        self._stop.set()
        with self.lock:
            self.tx.commit()
            self.conn.close()
        self.engine.dispose()

    # -- the day cut and payouts ------------------------------------------------

    def pay_out(self, day: date, fee_of: Any) -> int:
        """Pay every unpaid money row (one payout row per merchant); rows paid."""
        settle = day.isoformat()
        now = time.time()
        with self.unit() as c:
            rows = c.execute(
                sa.select(JOURNAL).where(JOURNAL.c.value_date.is_(None), sa.text(_PAYABLE))
            ).mappings()
            per_mid: dict[str, dict[str, int]] = {}
            seqs = []
            for r in rows:
                signed = r["amt_minor"] if r["txn_code"] == "SALE" else -r["amt_minor"]
                kind, fee = fee_of(r, signed)
                p = per_mid.setdefault(
                    r["merchant_no"],
                    {"gross": 0, "fee": 0, "credit": 0, "debit": 0, "qr": 0, "n": 0},
                )
                p["gross"] += signed
                p["fee"] += fee
                p[kind] += fee
                p["n"] += 1
                seqs.append(r["seq"])
            if seqs:
                c.execute(JOURNAL.update().where(JOURNAL.c.seq.in_(seqs)).values(value_date=settle))
            for mid, p in per_mid.items():
                c.execute(
                    PAYOUTS.insert().values(
                        merchant_no=mid,
                        value_date=settle,
                        gross_minor=p["gross"],
                        fee_minor=p["fee"],
                        fee_credit=p["credit"],
                        fee_debit=p["debit"],
                        fee_qr=p["qr"],
                        rows_paid=p["n"],
                        paid_ts=now,
                    )
                )
            return len(seqs)

    def adjust_payout(self, c: sa.Connection, row: Mapping[str, Any], fee_of: Any) -> None:
        """A paid row left the money (reversed late): its payout gives it back."""
        if row["value_date"] is None:
            return
        signed = row["amt_minor"] if row["txn_code"] == "SALE" else -row["amt_minor"]
        kind, fee = fee_of(row, signed)
        col = PAYOUTS.c[f"fee_{kind}"]
        c.execute(
            PAYOUTS.update()
            .where(
                PAYOUTS.c.merchant_no == row["merchant_no"],
                PAYOUTS.c.value_date == row["value_date"],
            )
            .values(
                gross_minor=PAYOUTS.c.gross_minor - signed,
                fee_minor=PAYOUTS.c.fee_minor - fee,
                **{col.name: col - fee},
                rows_paid=PAYOUTS.c.rows_paid - 1,
            )
        )


def business_day(start: date, index: int) -> date:
    return start + timedelta(days=index)
