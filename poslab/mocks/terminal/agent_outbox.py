"""The merchant side's durable outbox for requests to the agent (tickets,
replacement requests): written before the first attempt, kept until an agent
instance acknowledges it with a 2xx, so a ticket filed while both agents are
down is delivered when one returns.

Exactly once = at least once from here + the agent's dedupe on the
idempotency key each row carries (both instances honour it, and converge).
A request an agent refuses as invalid (4xx) is kept as ``rejected`` with the
answer — never retried, never silently dropped.

Keys never reach the file: an agent's answer is kept as the proof of
delivery with every ``tmk`` taken out (:func:`without_keys`). The key of a
replacement terminal is a pure function of its TID at the agent — the lab's
stand-in for the key-injection facility — so whoever needs it asks again
(``GET /terminals/{tid}/replacement``, behind the stack's token) rather than
reading it back from the merchant's disk; SQLite's WAL and free pages would
otherwise keep it long after the row changed.

One SQLite file may serve every terminal of a Locust process: :func:`open_outbox`
hands out one shared :class:`Outbox` per path, its operations under a lock
(gevent patches the lock; SQLite calls are microseconds). A row being sent
is leased so two flushers do not send it at once. Blocking stdlib only.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["KEY_FIELDS", "Outbox", "OutboxEntry", "open_outbox", "without_keys"]

#: Answer fields that hold key material: never written to the outbox.
KEY_FIELDS = frozenset({"tmk"})


def without_keys(value: Any) -> Any:
    """``value`` (a JSON answer) with every :data:`KEY_FIELDS` entry removed."""
    if isinstance(value, dict):
        return {k: without_keys(v) for k, v in value.items() if k not in KEY_FIELDS}
    if isinstance(value, list):
        return [without_keys(v) for v in value]
    return value


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    status INTEGER,
    reply TEXT,
    error TEXT,
    delivered_at REAL,
    delivered_via TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
"""


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxEntry:
    key: str  # the idempotency key
    kind: str  # "ticket", "replacement"
    method: str
    path: str
    body: dict[str, Any]
    created_at: float
    attempts: int
    state: str  # "pending", "delivered", "rejected"
    status: int | None
    reply: dict[str, Any] | None
    error: str | None
    delivered_via: str | None  # "primary" / "backup"


_COLUMNS = (
    "key, kind, method, path, body, created_at, attempts, state, status, reply, error, "
    "delivered_via"
)


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    values = dict(zip(_COLUMNS.split(", "), row, strict=True))
    values["body"] = json.loads(values["body"])
    values["reply"] = json.loads(values["reply"]) if values["reply"] else None
    return OutboxEntry(**values)


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with _OPEN_LOCK:
            if _OPEN.get(self.path) is self:
                del _OPEN[self.path]
        with self._lock:
            self._db.close()

    def add(self, key: str, kind: str, method: str, path: str, body: dict[str, Any]) -> None:
        """Store a request before it is first sent (a repeated key is ignored)."""
        t = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, method, path, body, created_at, "
                "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, kind, method, path, json.dumps(body, ensure_ascii=False), t, t),
            )

    def get(self, key: str) -> OutboxEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else _entry(row)

    def lease(self, key: str, lease_s: float) -> OutboxEntry | None:
        """Take one pending row for sending (None if delivered or leased)."""
        t = time.time()
        with self._lock:
            taken = self._db.execute(
                "UPDATE outbox SET next_attempt = ?, attempts = attempts + 1 "
                "WHERE key = ? AND state = 'pending' AND next_attempt <= ?",
                (t + lease_s, key, t),
            ).rowcount
            if not taken:
                return None
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE key = ?", (key,)
            ).fetchone()
        return _entry(row)

    def due(self, limit: int) -> list[str]:
        """Keys of pending rows whose next attempt has come, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM outbox WHERE state = 'pending' AND next_attempt <= ? "
                "ORDER BY created_at LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        return [r[0] for r in rows]

    def delivered(self, key: str, status: int, reply: dict[str, Any], via: str) -> None:
        """Mark ``key`` delivered, keeping the answer without its keys."""
        reply = without_keys(reply)
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'delivered', status = ?, reply = ?, error = NULL, "
                "delivered_at = ?, delivered_via = ? WHERE key = ?",
                (status, json.dumps(reply, ensure_ascii=False), time.time(), via, key),
            )

    def rejected(self, key: str, status: int, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'rejected', status = ?, error = ? WHERE key = ?",
                (status, error[:2000], key),
            )

    def retry_later(self, key: str, delay_s: float, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET next_attempt = ?, error = ? WHERE key = ? AND state = 'pending'",
                (time.time() + delay_s, error[:2000], key),
            )

    def count(self, state: str = "pending") -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM outbox WHERE state = ?", (state,)
            ).fetchone()
        return int(row[0])


_OPEN: dict[Path, Outbox] = {}
_OPEN_LOCK = threading.Lock()


def open_outbox(path: str | Path) -> Outbox:
    """The process-wide outbox for ``path`` (opened once, shared)."""
    resolved = Path(path).resolve()
    with _OPEN_LOCK:
        found = _OPEN.get(resolved)
        if found is None:
            found = _OPEN[resolved] = Outbox(resolved)
        return found
