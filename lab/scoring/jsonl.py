"""Reading the run directory's JSON Lines files, fast and forgiving in one way only.

The contract (``docs/run-directory.md``): a torn last line — a process killed
mid-write — is ignored, never an error. Anything else that does not parse is
corruption: it is skipped too (one bad line must not void a million good ones)
but counted and located in :class:`ReadStats`, which the reports show, so a
line is never dropped silently.

Speed matters here (a run can hold a million fleet records): lines are parsed
in chunks as one JSON array, which costs about 20 % less than one ``json.loads``
per line, and a chunk falls back to line-by-line parsing only when it holds a
bad line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def iter_jsonl(
    path: Path, stats: ReadStats, *, with_offsets: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(byte offset of the line, record)`` for every JSON object in ``path``.

    Offsets are only computed when ``with_offsets`` is set (they cost a little);
    otherwise the offset is 0. Blank lines are skipped.
    """
    offset = 0
    line_no = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.readlines(_CHUNK_BYTES)
            if not chunk:
                return
            kept: list[bytes] = []
            offsets: list[int] = []
            numbers: list[int] = []
            for raw in chunk:
                line_no += 1
                here = offset
                offset += len(raw)
                text = raw.strip()
                if not text:
                    continue
                kept.append(text)
                numbers.append(line_no)
                offsets.append(here)
            # readlines() only returns a line without its newline at end of file.
            torn_candidate = not chunk[-1].endswith(b"\n")
            parsed: list[Any] | None = None
            try:
                whole = json.loads(b"[" + b",".join(kept) + b"]")
                if isinstance(whole, list) and len(whole) == len(kept):
                    parsed = whole
            except ValueError:
                parsed = None
            if parsed is None:
                parsed = [_parse_one(t) for t in kept]
            last = len(kept) - 1
            for i, obj in enumerate(parsed):
                if obj is _BAD:
                    if i == last and torn_candidate:
                        stats.torn_lines += 1
                    else:
                        stats.malformed_lines += 1
                        stats.note(f"{path.name}:{numbers[i]}")
                    continue
                if not isinstance(obj, dict):
                    stats.not_objects += 1
                    stats.note(f"{path.name}:{numbers[i]}")
                    continue
                stats.records += 1
                yield (offsets[i] if with_offsets else 0), obj


def read_line_at(path: Path, offset: int) -> dict[str, Any] | None:
    """The record on the line starting at ``offset`` (for examples), or None."""
    with path.open("rb") as fh:
        fh.seek(offset)
        obj = _parse_one(fh.readline())
    return obj if isinstance(obj, dict) else None


def read_all(path: Path, stats: ReadStats) -> list[dict[str, Any]]:
    """Every record of a small JSONL file (journal, batches, payouts)."""
    return [rec for _, rec in iter_jsonl(path, stats)]
