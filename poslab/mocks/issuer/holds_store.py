"""The issuer's own SQLite file: authorisations (holds) and tombstones.

Writes made while handling requests are collected and committed together at
the end of the event-loop iteration, before any of those requests' replies is
written (:meth:`HoldsStore.write` returns a future that resolves after the
commit). WAL with ``synchronous=NORMAL``: a committed hold survives the
process being killed, which is the failure the lab injects; the acquirer's
ledger, not this file, is the lab's system of record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError

from .accounts import Auth

__all__ = ["HoldsStore", "export_rows"]

log = logging.getLogger("issuer.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS auths(
    auth_id INTEGER PRIMARY KEY, ref TEXT NOT NULL UNIQUE, pan TEXT NOT NULL,
    pan_index INTEGER NOT NULL, amount INTEGER NOT NULL, status TEXT NOT NULL, rc TEXT NOT NULL,
    auth_code TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tombstones(ref TEXT PRIMARY KEY);
"""
_UPSERT = (
    "INSERT OR REPLACE INTO auths(auth_id, ref, pan, pan_index, amount, status, rc, auth_code, "
    "created_at, updated_at) VALUES(?,?,?,?,?,?,?,?,?,?)"
)
_TOMBSTONE = "INSERT OR IGNORE INTO tombstones(ref) VALUES(?)"
_COLUMNS = "auth_id, ref, pan, pan_index, amount, status, rc, auth_code, created_at, updated_at"


class HoldsStore:
    def __init__(self, path: Path) -> None:
        try:
            self._conn = sqlite3.connect(path, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the issuer database {path}: {exc}") from None
        self.path = path
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False

    def load(self) -> tuple[list[Auth], set[str]]:
        auths = [Auth(*row) for row in self._conn.execute(f"SELECT {_COLUMNS} FROM auths")]
        tombstones = {row[0] for row in self._conn.execute("SELECT ref FROM tombstones")}
        return auths, tombstones

    def write(self, auth: Auth | None, tombstone: str | None) -> asyncio.Future[None]:
        """Queue the change; the future resolves once it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if auth is not None:
            self._ops.append(
                (
                    _UPSERT,
                    (
                        auth.auth_id,
                        auth.ref,
                        auth.pan,
                        auth.pan_index,
                        auth.amount,
                        auth.status,
                        auth.rc,
                        auth.auth_code,
                        auth.created_at,
                        auth.updated_at,
                    ),
                )
            )
        if tombstone is not None:
            self._ops.append((_TOMBSTONE, (tombstone,)))
        self._waiters.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        ops, waiters = self._ops, self._waiters
        self._ops, self._waiters = [], []
        error: Exception | None = None
        try:
            self._conn.execute("BEGIN")
            for sql, params in ops:
                self._conn.execute(sql, params)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("issuer database write failed: %s", exc)
            error = exc
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        for future in waiters:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def close(self) -> None:
        if self._ops:
            self._flush()
        self._conn.close()


def export_rows(path: Path) -> Iterator[dict[str, Any]]:
    """``issuer.jsonl`` rows (docs/run-directory.md) from the database at ``path``."""
    if not path.exists():
        raise ConfigError(f"no issuer database at {path}")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for auth_id, ref, pan, amount, status, rc, created, updated in conn.execute(
            "SELECT auth_id, ref, pan, amount, status, rc, created_at, updated_at FROM auths "
            "ORDER BY auth_id"
        ):
            yield {
                "auth_id": str(auth_id),
                "pan": pan,
                "amount": amount,
                "status": status,
                "rc": rc,
                "acquirer_ref": ref,
                "created_at": created,
                "updated_at": updated,
            }
        conn.execute("COMMIT")
    finally:
        conn.close()
