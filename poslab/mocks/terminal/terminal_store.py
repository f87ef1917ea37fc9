"""What a terminal keeps in flash: pending reversals, counters, its batch log.

One SQLite file per (Locust) process holds every terminal that process runs,
keyed by TID. It survives a terminal crash (the fleet fault drops only the
in-memory state) and a killed process: every commit is handed to the
operating system before the call returns, which is all a process crash
needs. ``synchronous=OFF`` skips the fsyncs on purpose — a power cut of the
*machine* is outside what the lab simulates, and under gevent an fsync
stalls every terminal of the process, not just the one writing.

Reversals have two stores behind one protocol, because durability is the
policy switch: :class:`DurableReversals` (this file) for ``resilient``,
:class:`MemoryReversals` (lost with the process or a crash) for ``naive``.
Counters and the batch log are always durable — a real device keeps its STAN,
batch number and transaction log in flash whatever its reversal policy.

Card data at rest (PCI DSS 3.4/3.5: keep the PAN only where it is needed, and
unreadable there). A durable reversal or SAF advice must go again *unchanged*
after a crash — the 0400/0220 carries the original PAN — and the batch upload
(0320) carries each approved transaction's; masking would break both, so those
values are sealed instead: AES-256-GCM under a data key that is never written
(:meth:`TerminalStore.seal`). The fleet derives the key from the world's
terminal master keys (:func:`flash_key`): the world file is already the run's
one secret store (0600), so a restarted Locust process derives the same key
and resends what its predecessor left, while the flash file alone reveals no
PAN. Masked PANs (first 6, last 4) stay in clear for the journals.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from poslab.mocks.kit.sealed import Sealer, SealError, world_key
from poslab.world import World

__all__ = [
    "BatchEntry",
    "Counters",
    "DurableReversals",
    "MemoryReversals",
    "ReversalRecord",
    "ReversalStore",
    "SealError",
    "TerminalStore",
    "fields_from_json",
    "fields_to_json",
    "flash_key",
]

#: Stores opened without a key seal under this one: it lives as long as the
#: process, so a store reopened by this process reads its records and a file
#: left behind reads as noise (the fleet passes :func:`flash_key` instead).
_PROCESS_KEY = os.urandom(32)


def flash_key(world: World) -> bytes:
    """The data key of the terminals' flash for ``world`` (see
    :mod:`poslab.mocks.kit.sealed`: derived from what only the world file holds)."""
    return world_key(world, "terminal flash")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS reversals (
    tid TEXT NOT NULL, stan TEXT NOT NULL, batch TEXT NOT NULL,
    type TEXT NOT NULL, amount INTEGER NOT NULL, pan TEXT, fields TEXT NOT NULL,
    reason TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    retry_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tid, stan, batch));
CREATE TABLE IF NOT EXISTS counters (
    tid TEXT PRIMARY KEY, stan_ceiling INTEGER NOT NULL, batch TEXT NOT NULL,
    software TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batch_log (
    tid TEXT NOT NULL, batch TEXT NOT NULL, stan TEXT NOT NULL, type TEXT NOT NULL,
    amount INTEGER NOT NULL, pan TEXT NOT NULL, rrn TEXT, date TEXT NOT NULL,
    voided INTEGER NOT NULL DEFAULT 0, orig_stan TEXT,
    PRIMARY KEY (tid, batch, stan));
-- An approved transaction in the batch log has nothing to reverse: logging it
-- removes its reversal in the same statement (one write per approved sale
-- instead of two, and no moment where a crash finds it neither logged nor
-- reversible). See DurableReversals.settled_by_log.
CREATE TRIGGER IF NOT EXISTS logged_is_not_reversed AFTER INSERT ON batch_log BEGIN
    DELETE FROM reversals WHERE tid = NEW.tid AND stan = NEW.stan AND batch = NEW.batch;
END;
"""


def fields_to_json(fields: Mapping[int, str | bytes]) -> str:
    """ISO fields as JSON: ``[[number, text], …]``, binary values as ``{"hex": …}``."""
    return json.dumps(
        [[n, v if isinstance(v, str) else {"hex": v.hex()}] for n, v in fields.items()],
        separators=(",", ":"),
    )


def fields_from_json(text: str) -> dict[int, str | bytes]:
    return {
        int(n): v if isinstance(v, str) else bytes.fromhex(v["hex"]) for n, v in json.loads(text)
    }


@dataclasses.dataclass(slots=True)
class ReversalRecord:
    """A reversal waiting to be sent. ``fields`` are the 0400's fields as
    JSON (:func:`fields_to_json`): no track data, PIN block or MAC — it is
    signed at send time, under whatever MAC key the terminal holds then.
    ``pan`` is masked; the fields carry the real one for the host, sealed
    in the durable store.
    ``tries`` counts tries that left the terminal (resilient) or every attempt
    (naive); ``retry_at`` (epoch) is when a spaced reversal may go again."""

    tid: str
    stan: str
    batch: str
    type: str
    amount: int
    pan: str | None
    fields: str
    reason: str
    tries: int = 0
    created_at: float = 0.0
    retry_at: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class BatchEntry:
    """One approved financial transaction of the open batch."""

    stan: str
    type: str  # sale / void / refund
    amount: int
    pan: str
    rrn: str | None
    date: str  # MMDD from the host's reply (F13), for field 61 of a refund
    voided: bool = False
    orig_stan: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Counters:
    stan_ceiling: int  # STANs below this may have been used: start here after a crash
    batch: str
    software: str


class ReversalStore(Protocol):
    durable: bool
    #: True when logging an approved transaction in the batch log removes its
    #: reversal (the durable store's trigger): the caller then need not delete it.
    settled_by_log: bool

    def put(self, record: ReversalRecord) -> None: ...
    def pending(self, tid: str) -> list[ReversalRecord]: ...
    def set_reason(self, tid: str, stan: str, batch: str, reason: str) -> None: ...
    def count_try(self, tid: str, stan: str, batch: str, retry_at: float = 0.0) -> int:
        """One more try; the reversal may go again from ``retry_at`` (epoch).
        Returns the tries so far (0 when the record is gone)."""

    def delete(self, tid: str, stan: str, batch: str) -> None: ...
    def crash(self, tid: str) -> None:
        """The device lost power: forget whatever was not durable."""


class TerminalStore:
    """The SQLite file. Calls are short and never yield to gevent, so one
    connection serves every greenlet; the lock covers real threads (tests)."""

    def __init__(self, path: Path | str, data_key: bytes | None = None) -> None:
        self.path = Path(path)
        self._sealer = Sealer(data_key if data_key is not None else _PROCESS_KEY)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def seal(self, text: str) -> str:
        """``text`` (card data) encrypted under the data key, as text."""
        return self._sealer.seal(text.encode())

    def unseal(self, text: str) -> str:
        """What :meth:`seal` sealed (a value in clear is returned as it is)."""
        try:
            return self._sealer.unseal(text).decode()
        except SealError as exc:
            raise SealError(f"{self.path}: {exc}") from None

    def execute(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """Run one statement (autocommit) and return its rows."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- counters ---------------------------------------------------------

    def counters(self, tid: str) -> Counters | None:
        rows = self.execute(
            "SELECT stan_ceiling, batch, software FROM counters WHERE tid = ?", (tid,)
        )
        if not rows:
            return None
        ceiling, batch, software = rows[0]
        return Counters(int(ceiling), str(batch), str(software))

    def save_counters(self, tid: str, counters: Counters) -> None:
        self.execute(
            "INSERT INTO counters (tid, stan_ceiling, batch, software) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(tid) DO UPDATE SET stan_ceiling = excluded.stan_ceiling, "
            "batch = excluded.batch, software = excluded.software",
            (tid, counters.stan_ceiling, counters.batch, counters.software),
        )

    # -- batch log --------------------------------------------------------

    def log_add(self, tid: str, batch: str, entry: BatchEntry) -> None:
        """Add an approved transaction; a void also marks its sale voided,
        in the same transaction."""
        row = (
            tid,
            batch,
            entry.stan,
            entry.type,
            entry.amount,
            self.seal(entry.pan),
            entry.rrn,
            entry.date,
            int(entry.voided),
            entry.orig_stan,
        )
        insert = (
            "INSERT OR REPLACE INTO batch_log "
            "(tid, batch, stan, type, amount, pan, rrn, date, voided, orig_stan) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        if entry.orig_stan is None or entry.type != "void":
            self.execute(insert, row)  # one autocommit statement: the common case
            return
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(insert, row)
            self._db.execute(
                "UPDATE batch_log SET voided = 1 WHERE tid = ? AND batch = ? AND stan = ?",
                (tid, batch, entry.orig_stan),
            )

    def log_entries(self, tid: str, batch: str) -> list[BatchEntry]:
        rows = self.execute(
            "SELECT stan, type, amount, pan, rrn, date, voided, orig_stan FROM batch_log "
            "WHERE tid = ? AND batch = ? ORDER BY stan",
            (tid, batch),
        )
        return [
            BatchEntry(
                stan=str(r[0]),
                type=str(r[1]),
                amount=int(r[2]),
                pan=self.unseal(str(r[3])),
                rrn=None if r[4] is None else str(r[4]),
                date=str(r[5]),
                voided=bool(r[6]),
                orig_stan=None if r[7] is None else str(r[7]),
            )
            for r in rows
        ]

    def log_clear(self, tid: str, batch: str) -> None:
        self.execute("DELETE FROM batch_log WHERE tid = ? AND batch = ?", (tid, batch))


class DurableReversals:
    """Reversals in the SQLite file: written before the request is sent."""

    durable = True
    settled_by_log = True

    def __init__(self, store: TerminalStore) -> None:
        self._store = store

    def put(self, record: ReversalRecord) -> None:
        self._store.execute(
            "INSERT OR REPLACE INTO reversals "
            "(tid, stan, batch, type, amount, pan, fields, reason, tries, created_at, retry_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.tid,
                record.stan,
                record.batch,
                record.type,
                record.amount,
                record.pan,
                self._store.seal(record.fields),
                record.reason,
                record.tries,
                record.created_at,
                record.retry_at,
            ),
        )

    def pending(self, tid: str) -> list[ReversalRecord]:
        rows = self._store.execute(
            "SELECT tid, stan, batch, type, amount, pan, fields, reason, tries, created_at, "
            "retry_at FROM reversals WHERE tid = ? ORDER BY created_at",
            (tid,),
        )
        return [
            ReversalRecord(
                tid=str(r[0]),
                stan=str(r[1]),
                batch=str(r[2]),
                type=str(r[3]),
                amount=int(r[4]),
                pan=None if r[5] is None else str(r[5]),
                fields=self._store.unseal(str(r[6])),
                reason=str(r[7]),
                tries=int(r[8]),
                created_at=float(r[9]),
                retry_at=float(r[10]),
            )
            for r in rows
        ]

    def set_reason(self, tid: str, stan: str, batch: str, reason: str) -> None:
        self._store.execute(
            "UPDATE reversals SET reason = ? WHERE tid = ? AND stan = ? AND batch = ?",
            (reason, tid, stan, batch),
        )

    def count_try(self, tid: str, stan: str, batch: str, retry_at: float = 0.0) -> int:
        rows = self._store.execute(
            "UPDATE reversals SET tries = tries + 1, retry_at = ? "
            "WHERE tid = ? AND stan = ? AND batch = ? RETURNING tries",
            (retry_at, tid, stan, batch),
        )
        return int(rows[0][0]) if rows else 0

    def delete(self, tid: str, stan: str, batch: str) -> None:
        self._store.execute(
            "DELETE FROM reversals WHERE tid = ? AND stan = ? AND batch = ?", (tid, stan, batch)
        )

    def crash(self, tid: str) -> None:
        """Nothing to lose: every record is already on disk."""


class MemoryReversals:
    """The naive policy: reversals live in RAM and die with the device."""

    durable = False
    settled_by_log = False

    def __init__(self) -> None:
        self._by_tid: dict[str, dict[tuple[str, str], ReversalRecord]] = {}

    def put(self, record: ReversalRecord) -> None:
        self._by_tid.setdefault(record.tid, {})[(record.stan, record.batch)] = record

    def pending(self, tid: str) -> list[ReversalRecord]:
        records = self._by_tid.get(tid, {}).values()
        return sorted((dataclasses.replace(r) for r in records), key=lambda r: r.created_at)

    def set_reason(self, tid: str, stan: str, batch: str, reason: str) -> None:
        record = self._by_tid.get(tid, {}).get((stan, batch))
        if record is not None:
            record.reason = reason

    def count_try(self, tid: str, stan: str, batch: str, retry_at: float = 0.0) -> int:
        record = self._by_tid.get(tid, {}).get((stan, batch))
        if record is None:
            return 0
        record.tries += 1
        record.retry_at = retry_at
        return record.tries

    def delete(self, tid: str, stan: str, batch: str) -> None:
        self._by_tid.get(tid, {}).pop((stan, batch), None)

    def crash(self, tid: str) -> None:
        self._by_tid.pop(tid, None)
