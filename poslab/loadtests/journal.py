"""The fleet journal writer: one JSON line per transaction, per process.

Each Locust process (the local runner, or every worker of ``--processes``)
writes its own ``fleet/<host>-<pid>.jsonl``; the pid is taken at the first
write, after Locust has forked. Records are buffered and written in batches —
at least every ``flush_every_s`` (the locustfile also flushes on a timer, for
quiet moments) and at exit — so the journal costs one ``write`` per batch,
not per sale.

A record's PAN is masked by the terminal; the writer masks again anything
that looks like a clear PAN, because a journal is read by people and tools
that must never see one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from poslab.iso8583 import mask_pan

__all__ = ["JournalWriter"]


class JournalWriter:
    def __init__(
        self,
        directory: Path | str,
        *,
        flush_every_s: float = 1.0,
        max_buffered: int = 5_000,
        host: str | None = None,
        sink: Callable[[list[str]], None] | None = None,
    ) -> None:
        # ``sink``: a Locust worker of a distributed fleet hands each batch of
        # lines to the master (a message) instead of writing a file of its own.
        self.sink = sink
        self.directory = Path(directory)
        self.flush_every_s = flush_every_s
        self.max_buffered = max_buffered
        self.host = host or socket.gethostname()
        self._lines: list[str] = []
        self._last_flush = time.monotonic()
        self._fh: IO[str] | None = None
        self._pid = 0
        self.written = 0

    @property
    def path(self) -> Path:
        return self.directory / f"{self.host}-{self._pid or os.getpid()}.jsonl"

    def write(self, record: Mapping[str, Any]) -> None:
        pan = record.get("pan")
        if isinstance(pan, str) and "*" not in pan:
            record = {**record, "pan": mask_pan(pan)}
        self._lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
        if (
            len(self._lines) >= self.max_buffered
            or time.monotonic() - self._last_flush >= self.flush_every_s
        ):
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        if self.sink is not None:
            self.sink(lines)
            self.written += len(lines)
            return
        fh = self._open()
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        self.written += len(lines)

    def write_lines(self, lines: list[str]) -> None:
        """Lines already encoded (and masked) by another process's writer: the
        master of a distributed fleet journals its workers' batches."""
        self._lines.extend(lines)
        if len(self._lines) >= self.max_buffered:
            self.flush()

    def _open(self) -> IO[str]:
        if self._fh is not None and self._pid != os.getpid():
            # forked with an open file: the child must not share the parent's
            self._fh = None
        if self._fh is None:
            self._pid = os.getpid()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
