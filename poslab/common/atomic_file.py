"""Replace a file atomically: write a temporary file beside it, then rename.

A rename within one directory is atomic on POSIX and Windows, so a reader
(a launcher polling a ready file, a scorer reading a run directory, a Locust
process reading its control file) sees the old content or the new, never a
half-written file; a failed write leaves the old file and no temporary behind.

There is no fsync: these files guard against concurrent readers, not against
power loss (the ledgers that must survive a crash are SQLite's business).

The temporary file is made by :func:`tempfile.mkstemp`, so it starts private
(0600); ``mode`` sets what the finished file allows. :data:`PRIVATE` is the
default because some of these files carry secrets (the stack state holds the
admin token); files meant for others (a world file, reports) pass
:data:`SHARED`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["PRIVATE", "SHARED", "atomic_output", "atomic_write"]

PRIVATE = 0o600
SHARED = 0o644


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, mode: int = PRIVATE) -> Iterator[BinaryIO]:
    """A binary file to stream into; it replaces ``path`` when the block ends
    without an exception, and is removed when it raises. The directory must
    exist (an ``OSError`` otherwise, as :func:`open` gives)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8)."""
    with atomic_output(path, mode=mode) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
