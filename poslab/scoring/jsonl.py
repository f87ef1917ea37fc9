"""Reading the run directory's JSON Lines files, fast and forgiving in one way only.

The contract (``docs/run-directory.md``): a torn last line — a process killed
mid-write — is ignored, never an error. Anything else that does not parse is
corruption: it is skipped too (one bad line must not void a million good ones)
but counted and located in :class:`ReadStats`, which the reports show, so a
line is never dropped silently.

Speed matters here (a run can hold a million fleet records): lines are parsed
in chunks of about 2 MB as one JSON array, which costs about 20 % less than one
``json.loads`` per line, and handed on in batches (:func:`iter_batches`) so the
hot loops pay no generator switch per record. A chunk falls back to
line-by-line parsing only when it holds a blank, bad or torn line.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, chain, starmap
from pathlib import Path
from typing import Any

from poslab.errors import RunDirError

_CHUNK_BYTES = 2 << 20
_MAX_LOCATIONS = 20


@dataclass(slots=True)
class ReadStats:
    """What reading one or more JSONL files found besides good records."""

    records: int = 0
    torn_lines: int = 0
    malformed_lines: int = 0
    not_objects: int = 0
    locations: list[str] = field(default_factory=list)

    def note(self, where: str) -> None:
        if len(self.locations) < _MAX_LOCATIONS:
            self.locations.append(where)

    def merge(self, other: ReadStats) -> None:
        self.records += other.records
        self.torn_lines += other.torn_lines
        self.malformed_lines += other.malformed_lines
        self.not_objects += other.not_objects
        for where in other.locations:
            self.note(where)

    def notes(self, what: str) -> list[str]:
        """Human-readable data-quality notes (empty when the files were clean)."""
        out: list[str] = []
        if self.torn_lines:
            out.append(f"{what}: {self.torn_lines} torn last line(s) ignored")
        if self.malformed_lines:
            out.append(f"{what}: {self.malformed_lines} malformed line(s) skipped")
        if self.not_objects:
            out.append(f"{what}: {self.not_objects} line(s) that are not JSON objects skipped")
        if self.locations and (self.malformed_lines or self.not_objects):
            out.append(f"{what}: first bad lines at {', '.join(self.locations[:5])}")
        return out


def _parse_one(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return _BAD


_BAD = object()


Batch = tuple[list[int], list[dict[str, Any]]]


def _slow_chunk(
    path: Path, chunk: list[bytes], offset: int, first_line: int, stats: ReadStats
) -> Batch:
    """Line by line, for a chunk that holds a blank, bad or torn line."""
    offsets: list[int] = []
    records: list[dict[str, Any]] = []
    last = len(chunk) - 1
    for i, raw in enumerate(chunk):
        here, offset = offset, offset + len(raw)
        text = raw.strip()
        if not text:
            continue
        obj = _parse_one(text)
        if obj is _BAD:
            # readlines() only returns a line without its newline at end of file
            if i == last and not raw.endswith(b"\n"):
                stats.torn_lines += 1
            else:
                stats.malformed_lines += 1
                stats.note(f"{path.name}:{first_line + i}")
        elif not isinstance(obj, dict):
            stats.not_objects += 1
            stats.note(f"{path.name}:{first_line + i}")
        else:
            offsets.append(here)
            records.append(obj)
    return offsets, records


def iter_batches(path: Path, stats: ReadStats) -> Iterator[Batch]:
    """Yield ``(line byte offsets, records)`` for every ~2 MB of ``path``.

    The common chunk — every line a JSON object — is parsed in one call; a
    chunk with anything else falls back to line-by-line parsing.
    """
    offset, line_no = 0, 1
    with path.open("rb") as fh:
        while True:
            chunk = fh.readlines(_CHUNK_BYTES)
            if not chunk:
                return
            parsed: Any = None
            with contextlib.suppress(ValueError):
                parsed = json.loads(b"[" + b",".join(chunk) + b"]")
            if (
                isinstance(parsed, list)
                and len(parsed) == len(chunk)
                and all(type(o) is dict for o in parsed)
            ):
                offsets = list(accumulate(map(len, chunk), initial=offset))
                offset = offsets.pop()
                stats.records += len(parsed)
                yield offsets, parsed
            else:
                batch = _slow_chunk(path, chunk, offset, line_no, stats)
                offset += sum(map(len, chunk))
                stats.records += len(batch[1])
                yield batch
            line_no += len(chunk)


def iter_jsonl(path: Path, stats: ReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(byte offset of the line, record)`` for every JSON object in ``path``.

    Flattened in C (chain of zips): no Python frame runs per record.
    """
    batches: Iterator[Iterator[tuple[int, dict[str, Any]]]] = starmap(
        zip, iter_batches(path, stats)
    )
    return chain.from_iterable(batches)


def read_line_at(path: Path, offset: int) -> dict[str, Any] | None:
    """The record on the line starting at ``offset`` (for examples), or None."""
    with path.open("rb") as fh:
        fh.seek(offset)
        obj = _parse_one(fh.readline())
    return obj if isinstance(obj, dict) else None


def read_all(path: Path, stats: ReadStats) -> list[dict[str, Any]]:
    """Every record of a small JSONL file (journal, batches, payouts)."""
    return [rec for _, rec in iter_jsonl(path, stats)]


def read_json_object(path: Path, missing: str, label: str) -> dict[str, Any]:
    """A whole JSON file that must hold an object (run.json, result.json).

    Raises RunDirError with ``missing`` when there is no file, or naming
    ``label`` when it is unreadable or not an object.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(missing) from None
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{label}: unreadable: {exc}") from exc
    if not isinstance(doc, dict):
        raise RunDirError(f"{label}: must be a JSON object")
    return doc
