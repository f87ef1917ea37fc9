"""The acquirer's ledger: one SQLite file in WAL mode, the system of record.

Tables: ``transactions`` (every booked row), ``batches``, ``payouts``,
``sessions`` (working keys under the TMK), ``terminals``/``retired`` (the
registry's run-time changes; a provisioned terminal's TMK sealed under
:func:`registry_sealer`, never in clear), ``tombstones`` (reversals that arrived before
their original), ``advices`` (the durable queue of reversals and void
advices still owed to the issuer), ``uploads`` (0320 detail) and ``meta``.

This module owns the schema, the statements that change it (as
:data:`~poslab.mocks.acquirer.group_commit.Op` tuples for the group committer) and
loading everything back at start. Only the writer thread writes; reads for
the admin API and exports use their own connections (WAL lets them read while
the host commits).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError
from poslab.iso8583 import CardTotals
from poslab.mocks.kit.sealed import Sealer, world_key
from poslab.world import World

from .group_commit import Op
from .journal import Batch, Journal, Txn
from .keystore import StoredSession
from .registry import TerminalRecord

__all__ = ["Advice", "LoadedState", "connect", "load_state", "registry_sealer"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terminals(
    tid TEXT PRIMARY KEY, mid TEXT NOT NULL, region TEXT NOT NULL, tmk TEXT NOT NULL,
    software_version TEXT NOT NULL, allowed TEXT NOT NULL, provisioned_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS retired(tid TEXT PRIMARY KEY, retired_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(
    tid TEXT PRIMARY KEY, mode TEXT NOT NULL, block BLOB NOT NULL,
    issued_at REAL NOT NULL, expires_at REAL NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transactions(
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, mid TEXT NOT NULL, stan TEXT NOT NULL,
    batch TEXT NOT NULL, type TEXT NOT NULL, amount INTEGER NOT NULL, pan TEXT NOT NULL,
    pan_hash BLOB NOT NULL, card_kind TEXT, rrn TEXT NOT NULL, auth_code TEXT NOT NULL,
    rc TEXT NOT NULL, status TEXT NOT NULL, booked_at REAL NOT NULL, reversed_at REAL,
    orig_id INTEGER, orig_rrn TEXT, settle_date TEXT NOT NULL, due_at REAL NOT NULL,
    balance TEXT NOT NULL,
    paid_gross INTEGER NOT NULL DEFAULT 0, paid_fee INTEGER NOT NULL DEFAULT 0,
    payout_dirty INTEGER NOT NULL DEFAULT 0, settled INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS transactions_key ON transactions(tid, mid, batch, stan);
CREATE INDEX IF NOT EXISTS transactions_unpaid ON transactions(due_at)
    WHERE payout_dirty = 1;
CREATE TABLE IF NOT EXISTS batches(
    tid TEXT NOT NULL, batch TEXT NOT NULL, mid TEXT NOT NULL, status TEXT NOT NULL,
    opened_at REAL NOT NULL, settle_requested_at REAL, closed_at REAL, closed_by TEXT,
    terminal_totals TEXT, recon_code INTEGER, uploaded INTEGER NOT NULL DEFAULT 0,
    settle_stan TEXT, PRIMARY KEY(tid, batch));
CREATE TABLE IF NOT EXISTS tombstones(
    tid TEXT NOT NULL, mid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY(tid, mid, batch, stan));
CREATE TABLE IF NOT EXISTS advices(
    id INTEGER PRIMARY KEY, action TEXT NOT NULL, tid TEXT NOT NULL, mid TEXT NOT NULL,
    stan TEXT NOT NULL, batch TEXT NOT NULL, amount INTEGER NOT NULL, reason TEXT NOT NULL,
    created_at REAL NOT NULL, done_at REAL, result TEXT);
CREATE INDEX IF NOT EXISTS advices_pending ON advices(id) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS uploads(
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, card_org TEXT NOT NULL,
    pan TEXT NOT NULL, pan_hash BLOB NOT NULL, amount INTEGER NOT NULL,
    uploaded_at REAL NOT NULL, msg_stan TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS uploads_batch ON uploads(tid, batch);
CREATE TABLE IF NOT EXISTS payouts(
    id INTEGER PRIMARY KEY, mid TEXT NOT NULL, settle_date TEXT NOT NULL,
    kind TEXT NOT NULL, gross INTEGER NOT NULL, fees INTEGER NOT NULL, net INTEGER NOT NULL,
    count INTEGER NOT NULL, fee_credit INTEGER NOT NULL, fee_debit INTEGER NOT NULL,
    fee_qr INTEGER NOT NULL, paid_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS payouts_date ON payouts(mid, settle_date);
"""

_TXN_COLUMNS = (
    "id, tid, mid, stan, batch, type, amount, pan, pan_hash, card_kind, rrn, auth_code, rc, "
    "status, booked_at, reversed_at, orig_id, orig_rrn, settle_date, due_at, balance"
)
INSERT_TXN = (
    f"INSERT INTO transactions({_TXN_COLUMNS}, payout_dirty) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
UPDATE_TXN_STATUS = (
    "UPDATE transactions SET status = ?, reversed_at = ?, payout_dirty = 1 WHERE id = ?"
)
UPSERT_BATCH = (
    "INSERT OR REPLACE INTO batches(tid, batch, mid, status, opened_at, settle_requested_at, "
    "closed_at, closed_by, terminal_totals, recon_code, uploaded, settle_stan) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"
)
UPSERT_SESSION = (
    "INSERT OR REPLACE INTO sessions(tid, mode, block, issued_at, expires_at, revoked) "
    "VALUES(?,?,?,?,?,?)"
)
REVOKE_SESSION = "UPDATE sessions SET revoked = 1 WHERE tid = ?"
DELETE_SESSION = "DELETE FROM sessions WHERE tid = ?"
INSERT_TOMBSTONE = (
    "INSERT OR IGNORE INTO tombstones(tid, mid, batch, stan, created_at) VALUES(?,?,?,?,?)"
)
INSERT_ADVICE = (
    "INSERT INTO advices(id, action, tid, mid, stan, batch, amount, reason, created_at) "
    "VALUES(?,?,?,?,?,?,?,?,?)"
)
FINISH_ADVICE = "UPDATE advices SET done_at = ?, result = ? WHERE id = ?"
INSERT_UPLOAD = (
    "INSERT INTO uploads(tid, batch, stan, card_org, pan, pan_hash, amount, uploaded_at, "
    "msg_stan) VALUES(?,?,?,?,?,?,?,?,?)"
)
INSERT_TERMINAL = (
    "INSERT OR REPLACE INTO terminals(tid, mid, region, tmk, software_version, allowed, "
    "provisioned_at) VALUES(?,?,?,?,?,?,?)"
)
INSERT_RETIRED = "INSERT OR IGNORE INTO retired(tid, retired_at) VALUES(?,?)"


@dataclasses.dataclass(frozen=True, slots=True)
class Advice:
    """Something the issuer must still be told: ``reverse`` an authorisation,
    ``release`` it (void) or ``rehold`` it (the void was reversed)."""

    id: int
    action: str
    tid: str
    mid: str
    stan: str
    batch: str
    amount: int
    reason: str


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the ledger at ``path``. ``synchronous=NORMAL``
    syncs around checkpoints; per-commit fsyncs are the group committer's."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open the ledger {path}: {exc}") from None
    return conn


def reader(path: Path) -> sqlite3.Connection:
    """A connection for reads (admin API, export); rows as ``sqlite3.Row``."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn


def meta_value(conn: sqlite3.Connection, key: str, default: str) -> str:
    """``meta[key]``, set to ``default`` first when absent (first start of a ledger)."""
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)", (key, default))
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0])


def pan_secret(conn: sqlite3.Connection) -> bytes:
    """The ledger's own key for PAN hashes (voids and uploads match cards by it)."""
    return bytes.fromhex(meta_value(conn, "pan_hash_key", secrets.token_hex(16)))


# -- row conversions ------------------------------------------------------


def txn_op(txn: Txn) -> Op:
    return (
        INSERT_TXN,
        (
            txn.id,
            txn.tid,
            txn.mid,
            txn.stan,
            txn.batch,
            txn.type,
            txn.amount,
            txn.pan,
            txn.pan_hash,
            txn.card_kind,
            txn.rrn,
            txn.auth_code,
            txn.rc,
            txn.status,
            txn.booked_at,
            txn.reversed_at,
            txn.orig_id,
            txn.orig_rrn,
            txn.settle_date,
            txn.due_at,
            txn.balance,
            1 if txn.contribution() else 0,
        ),
    )


def status_op(txn: Txn) -> Op:
    return (UPDATE_TXN_STATUS, (txn.status, txn.reversed_at, txn.id))


def totals_json(totals: CardTotals | None) -> str | None:
    if totals is None:
        return None
    return json.dumps(
        {
            "debit_amount": totals.debit_amount,
            "debit_count": totals.debit_count,
            "credit_amount": totals.credit_amount,
            "credit_count": totals.credit_count,
        },
        sort_keys=True,
    )


def batch_op(batch: Batch) -> Op:
    return (
        UPSERT_BATCH,
        (
            batch.tid,
            batch.batch,
            batch.mid,
            batch.status,
            batch.opened_at,
            batch.settle_requested_at,
            batch.closed_at,
            batch.closed_by,
            totals_json(batch.terminal_totals),
            batch.recon_code,
            batch.uploaded,
            batch.settle_stan,
        ),
    )


def advice_op(advice: Advice, now: float) -> Op:
    return (
        INSERT_ADVICE,
        (
            advice.id,
            advice.action,
            advice.tid,
            advice.mid,
            advice.stan,
            advice.batch,
            advice.amount,
            advice.reason,
            now,
        ),
    )


def _totals(text: str | None) -> CardTotals | None:
    if not text:
        return None
    data: dict[str, Any] = json.loads(text)
    return CardTotals(
        data["debit_amount"], data["debit_count"], data["credit_amount"], data["credit_count"]
    )


# -- loading at start -------------------------------------------------------


@dataclasses.dataclass(slots=True)
class LoadedState:
    journal: Journal
    sessions: list[StoredSession]
    provisioned: list[TerminalRecord]
    retired: dict[str, float]
    advices: list[Advice]
    next_advice_id: int
    uploads: dict[tuple[str, str], list[tuple[str, int]]]
    upload_stans: dict[tuple[str, str], set[str]]


def registry_sealer(world: World) -> Sealer:
    """What keeps provisioned TMKs at rest: sealed under a key derived from the
    world (:mod:`poslab.mocks.kit.sealed`), the host's stand-in for an HSM's
    local master key, so the ledger file alone reveals no terminal key."""
    return Sealer(world_key(world, "acquirer registry"))


def load_state(conn: sqlite3.Connection, sealer: Sealer | None = None) -> LoadedState:
    """Everything the ledger holds; ``sealer`` opens the provisioned TMKs
    (without one, only TMKs an older lab wrote in clear can be read)."""
    opened = sealer or Sealer(bytes(32))
    journal = Journal()
    names = [name.strip() for name in _TXN_COLUMNS.split(",")]
    for row in conn.execute(f"SELECT {_TXN_COLUMNS} FROM transactions ORDER BY id"):
        journal.add(Txn(**dict(zip(names, row, strict=True))))
    journal.relink()
    for row in conn.execute(
        "SELECT tid, batch, mid, status, opened_at, settle_requested_at, closed_at, closed_by, "
        "terminal_totals, recon_code, uploaded, settle_stan FROM batches"
    ):
        journal.add_batch(
            Batch(
                tid=row[0],
                batch=row[1],
                mid=row[2],
                status=row[3],
                opened_at=row[4],
                settle_requested_at=row[5],
                closed_at=row[6],
                closed_by=row[7],
                terminal_totals=_totals(row[8]),
                recon_code=row[9],
                uploaded=row[10],
                settle_stan=row[11],
            )
        )
    for row in conn.execute("SELECT tid, mid, batch, stan FROM tombstones"):
        journal.tombstones.add((row[0], row[1], row[2], row[3]))
    sessions = [
        StoredSession(row[0], row[1], bytes(row[2]), row[3], row[4], bool(row[5]))
        for row in conn.execute(
            "SELECT tid, mode, block, issued_at, expires_at, revoked FROM sessions"
        )
    ]
    provisioned = [
        TerminalRecord(
            tid=row[0],
            mid=row[1],
            region=row[2],
            tmk=bytes.fromhex(opened.unseal(row[3]).decode()),
            software_version=row[4],
            allowed=frozenset(json.loads(row[5])),
            provisioned=True,
        )
        for row in conn.execute(
            "SELECT tid, mid, region, tmk, software_version, allowed FROM terminals"
        )
    ]
    retired = {row[0]: row[1] for row in conn.execute("SELECT tid, retired_at FROM retired")}
    advices = [
        Advice(*row)
        for row in conn.execute(
            "SELECT id, action, tid, mid, stan, batch, amount, reason FROM advices "
            "WHERE done_at IS NULL ORDER BY id"
        )
    ]
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM advices").fetchone()
    uploads: dict[tuple[str, str], list[tuple[str, int]]] = {}
    upload_stans: dict[tuple[str, str], set[str]] = {}
    for tid, batch, stan, amount, msg_stan in conn.execute(
        "SELECT tid, batch, stan, amount, msg_stan FROM uploads ORDER BY rowid"
    ):
        uploads.setdefault((tid, batch), []).append((stan, amount))
        upload_stans.setdefault((tid, batch), set()).add(msg_stan)
    return LoadedState(
        journal, sessions, provisioned, retired, advices, int(row[0]) + 1, uploads, upload_stans
    )
