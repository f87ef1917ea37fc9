"""Group commit: many connections' writes, one SQLite transaction, one fsync.

Handlers hand their statements to :meth:`GroupCommitter.submit` and await the
returned future; a single writer thread takes everything queued since its last
commit, runs it in one transaction, commits, and resolves every waiter with
one wake-up of the event loop. An approval is therefore on disk before its
reply is written, at the cost of one commit per burst rather than per sale.
While the thread commits, the event loop keeps decoding and authorising the
next requests (sqlite3 releases the GIL inside SQLite).

A statement that fails (a constraint, a full disk) must not sink the other
requests of its batch: the batch is rolled back and replayed one request at a
time, each inside a savepoint, so only the guilty request sees the error.
Jobs (:meth:`run`) are callables executed by the writer thread in commit
order: the settlement worker uses them to read and write in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["GroupCommitter", "Op", "WriteError"]

log = logging.getLogger("acquirer.ledger")

T = TypeVar("T")
Op = tuple[str, Sequence[Any]]
_Work = Sequence[Op] | Callable[[sqlite3.Connection], Any]
_Item = tuple[_Work, asyncio.Future[Any]]
_STOP = object()


class WriteError(RuntimeError):
    """A write the ledger could not make durable (the request must not be approved)."""


class GroupCommitter:
    def __init__(
        self,
        conn: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        max_items: int = 1024,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        self._conn = conn
        self._loop = loop
        self._max_items = max_items
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_commit = on_commit
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._closed = False
        self.pending = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, ops: Sequence[Op]) -> asyncio.Future[None]:
        """Queue ``ops`` for the next commit; the future resolves once durable."""
        future: asyncio.Future[None] = self._loop.create_future()
        if self._closed:
            future.set_exception(WriteError("ledger is closed"))
            return future
        self.pending += 1
        self._queue.put((ops, future))
        return future

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(conn)`` in the writer thread, committed with its batch."""
        future: asyncio.Future[T] = self._loop.create_future()
        if self._closed:
            raise WriteError("ledger is closed")
        self.pending += 1
        self._queue.put((job, future))
        return await future

    async def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # -- writer thread ------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Item] = [first]
            while len(batch) < self._max_items:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            started = time.perf_counter()
            results = self._commit(batch)
            if self._on_commit is not None:
                self._on_commit(len(batch), time.perf_counter() - started)
            try:
                self._loop.call_soon_threadsafe(self._resolve, batch, results)
            except RuntimeError:  # the loop is gone (process shutting down)
                return

    def _execute(self, work: _Work) -> Any:
        if callable(work):
            return work(self._conn)
        conn = self._conn
        for sql, params in work:
            conn.execute(sql, params)
        return None

    def _commit(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [(True, self._execute(work)) for work, _ in batch]
            conn.execute("COMMIT")
            return results
        except Exception as exc:  # one bad request (or the disk): find out which
            self._rollback()
            if len(batch) == 1:
                log.error("ledger write failed: %s", exc)
                return [(False, exc)]
        return self._commit_one_by_one(batch)

    def _commit_one_by_one(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        conn = self._conn
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for work, _ in batch:
                conn.execute("SAVEPOINT item")
                try:
                    results.append((True, self._execute(work)))
                    conn.execute("RELEASE item")
                except Exception as exc:
                    log.error("ledger write failed: %s", exc)
                    conn.execute("ROLLBACK TO item")
                    conn.execute("RELEASE item")
                    results.append((False, exc))
            conn.execute("COMMIT")
            return results
        except Exception as exc:  # the commit itself failed: nobody is durable
            log.error("ledger commit failed: %s", exc)
            self._rollback()
            return [(False, exc)] * len(batch)

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _resolve(self, batch: list[_Item], results: list[tuple[bool, Any]]) -> None:
        self.pending -= len(batch)
        for (_, future), (ok, value) in zip(batch, results, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(WriteError(str(value)))
