"""The agent's durable state: one SQLite file per instance.

Every business object (ticket, onboarding application, terminal order,
replacement, notification, TMS override) is a :class:`Record` in one table,
keyed by ``(entity, id)``. Ids are derived from the client's idempotency key
(or a natural key such as the replaced TID), so the primary and the backup
name the same request the same way without talking to each other.

Each local write appends to ``changes``; a peer pulls that log
(:mod:`poslab.mocks.agent.peer_sync`) and merges what it gets with :meth:`merge`, a
join: the record further along its state machine wins, then the one with more
transitions, then the primary's claim, then the later one, then the primary's.
The join is commutative and idempotent, so pulling the same change twice, or in
any order, converges.

Durability: WAL with ``synchronous=NORMAL`` — a commit survives the process
being killed (SIGKILL), which is the failure the lab injects; an operating
system crash may lose the last commits, as documented in docs/agent.md.
Every method is synchronous and quick (local SQLite), called from the event
loop thread only, which is what makes read-check-write sequences atomic.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Record", "RecordStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    rank INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    origin TEXT NOT NULL,
    claimed_by TEXT,
    fingerprint TEXT NOT NULL,
    mid TEXT,
    tid TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (entity, id)
);
CREATE INDEX IF NOT EXISTS records_by_mid ON records (entity, mid);
CREATE INDEX IF NOT EXISTS records_by_state ON records (entity, state);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_cursor (
    peer TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""

# Ties between two equally advanced copies go to the primary's: any fixed
# order would converge, this one keeps the home instance's view.
_ORIGIN_PRIORITY = {"primary": 2, "backup": 1}


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    entity: str
    id: str
    state: str
    rank: int  # position of ``state`` in its state machine: merges never go back
    version: int  # transitions applied so far
    created_at: float
    updated_at: float
    origin: str  # the instance that accepted the request first
    claimed_by: str | None  # the instance that processes it (None: nobody yet)
    fingerprint: str  # of the request that created it (idempotency check)
    mid: str | None
    tid: str | None
    data: dict[str, Any]

    def precedence(self) -> tuple[int, int, int, float, int]:
        # A claim by the primary beats a concurrent one by the backup (only a
        # split brain makes two), whatever the clocks say.
        return (
            self.rank,
            self.version,
            _ORIGIN_PRIORITY.get(self.claimed_by or "", 0),
            self.updated_at,
            _ORIGIN_PRIORITY.get(self.origin, 0),
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Record:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})


_COLUMNS = (
    "entity, id, state, rank, version, created_at, updated_at, origin, claimed_by, "
    "fingerprint, mid, tid, data"
)


def _row_to_record(row: tuple[Any, ...]) -> Record:
    names = _COLUMNS.split(", ")
    values = dict(zip(names, row, strict=True))
    values["data"] = json.loads(values["data"])
    return Record(**values)


def _record_to_row(r: Record) -> tuple[Any, ...]:
    return (
        r.entity,
        r.id,
        r.state,
        r.rank,
        r.version,
        r.created_at,
        r.updated_at,
        r.origin,
        r.claimed_by,
        r.fingerprint,
        r.mid,
        r.tid,
        json.dumps(r.data, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
    )


class RecordStore:
    """One instance's database. Not thread-safe: the event loop owns it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- records --------------------------------------------------------

    def get(self, entity: str, record_id: str) -> Record | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        return None if row is None else _row_to_record(row)

    def select(
        self,
        entity: str,
        *,
        mid: str | None = None,
        states: tuple[str, ...] = (),
        limit: int = 1000,
    ) -> list[Record]:
        sql = f"SELECT {_COLUMNS} FROM records WHERE entity = ?"
        args: list[Any] = [entity]
        if mid is not None:
            sql += " AND mid = ?"
            args.append(mid)
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        sql += " ORDER BY created_at, id LIMIT ?"
        args.append(limit)
        return [_row_to_record(row) for row in self._db.execute(sql, args)]

    def count_by_state(self) -> dict[tuple[str, str], int]:
        rows = self._db.execute("SELECT entity, state, COUNT(*) FROM records GROUP BY 1, 2")
        return {(e, s): n for e, s, n in rows}

    def insert(self, record: Record) -> tuple[Record, bool]:
        """Store a new record; if the id exists, return the stored one and False."""
        with self._tx() as db:
            existing = db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE entity = ? AND id = ?",
                (record.entity, record.id),
            ).fetchone()
            if existing is not None:
                return _row_to_record(existing), False
            self._write(db, record)
        return record, True

    def replace(self, record: Record) -> Record:
        """Write a transition made locally (the caller bumped ``version``)."""
        with self._tx() as db:
            self._write(db, record)
        return record

    def merge(self, remote: Record) -> bool:
        """Join a peer's copy into ours; True when ours changed."""
        with self._tx() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE entity = ? AND id = ?",
                (remote.entity, remote.id),
            ).fetchone()
            if row is not None:
                local = _row_to_record(row)
                if remote.precedence() <= local.precedence() or remote == local:
                    return False
            self._write(db, remote)
        return True

    @staticmethod
    def _write(db: sqlite3.Connection, record: Record) -> None:
        db.execute(
            f"INSERT OR REPLACE INTO records ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            _record_to_row(record),
        )
        db.execute("INSERT INTO changes (entity, id) VALUES (?, ?)", (record.entity, record.id))

    # -- the change log peers pull ----------------------------------------

    def changes_since(self, seq: int, limit: int) -> tuple[int, list[Record]]:
        """Records changed after ``seq`` (current copies, each once) and the
        last sequence number covered."""
        rows = self._db.execute(
            "SELECT seq, entity, id FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        if not rows:
            return seq, []
        seen: dict[tuple[str, str], None] = {}
        for _, entity, record_id in rows:
            seen[(entity, record_id)] = None
        records = [r for key in seen if (r := self.get(*key)) is not None]
        return rows[-1][0], records

    def last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM changes").fetchone()
        return int(row[0] or 0)

    def peer_cursor(self, peer: str) -> int:
        row = self._db.execute("SELECT seq FROM sync_cursor WHERE peer = ?", (peer,)).fetchone()
        return 0 if row is None else int(row[0])

    def set_peer_cursor(self, peer: str, seq: int) -> None:
        self._db.execute(
            "INSERT INTO sync_cursor (peer, seq) VALUES (?, ?) "
            "ON CONFLICT (peer) DO UPDATE SET seq = excluded.seq",
            (peer, seq),
        )

    # -- documents (content-addressed uploads) ----------------------------

    def put_document(self, sha256: str, content_type: str, body: bytes) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO documents (sha256, content_type, size, body) VALUES (?,?,?,?)",
            (sha256, content_type, len(body), body),
        )

    def document(self, sha256: str) -> tuple[str, bytes] | None:
        row = self._db.execute(
            "SELECT content_type, body FROM documents WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def has_document(self, sha256: str) -> bool:
        found = self._db.execute("SELECT 1 FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return found is not None

    # -- counters (identifier allocation within this instance's range) -----

    def next_counter(self, name: str, start: int) -> int:
        """``start`` the first time, then one more each call (durably)."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            value = start if row is None else int(row[0]) + 1
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
        return value


def now() -> float:
    return time.time()
