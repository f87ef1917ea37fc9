"""The store-and-forward queue in flash: refunds waiting for the host's answer.

A persistent FIFO per terminal, in the same SQLite file (and with the same
durability) as the reversal store: it survives a crash of the device and a
killed Locust process. What goes in it and when it is sent is
:mod:`poslab.mocks.terminal.store_and_forward`.
"""

from __future__ import annotations

import dataclasses

from .terminal_store import TerminalStore

__all__ = ["SafEntry", "SafQueue"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS saf (
    tid TEXT NOT NULL, stan TEXT NOT NULL, batch TEXT NOT NULL, type TEXT NOT NULL,
    amount INTEGER NOT NULL, pan TEXT, fields TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    PRIMARY KEY (tid, stan, batch))
"""


@dataclasses.dataclass(slots=True)
class SafEntry:
    """A refund waiting for the host's answer. ``pan`` is masked; ``fields``
    (JSON, see :func:`fields_to_json`) carry the real one for the host."""

    tid: str
    stan: str
    batch: str
    type: str
    amount: int
    pan: str | None
    fields: str
    tries: int = 0  # retransmissions so far
    created_at: float = 0.0


class SafQueue:
    """The persistent FIFO, one per flash file, keyed by TID."""

    def __init__(self, store: TerminalStore) -> None:
        self._store = store
        store.execute(_SCHEMA)

    def put(self, entry: SafEntry) -> None:
        self._store.execute(
            "INSERT OR REPLACE INTO saf "
            "(tid, stan, batch, type, amount, pan, fields, tries, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            # the fields carry the real PAN: sealed at rest (see terminal_store)
            dataclasses.astuple(dataclasses.replace(entry, fields=self._store.seal(entry.fields))),
        )

    def pending(self, tid: str) -> list[SafEntry]:
        rows = self._store.execute(
            "SELECT tid, stan, batch, type, amount, pan, fields, tries, created_at "
            "FROM saf WHERE tid = ? ORDER BY created_at",
            (tid,),
        )
        return [
            SafEntry(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]),
                     None if r[5] is None else str(r[5]), self._store.unseal(str(r[6])),
                     int(r[7]), float(r[8]))
            for r in rows
        ]  # fmt: skip

    def count_try(self, tid: str, stan: str, batch: str) -> int:
        rows = self._store.execute(
            "UPDATE saf SET tries = tries + 1 WHERE tid = ? AND stan = ? AND batch = ? "
            "RETURNING tries",
            (tid, stan, batch),
        )
        return int(rows[0][0]) if rows else 0

    def delete(self, tid: str, stan: str, batch: str) -> None:
        self._store.execute(
            "DELETE FROM saf WHERE tid = ? AND stan = ? AND batch = ?", (tid, stan, batch)
        )
