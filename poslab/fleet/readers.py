"""Reading what the fleet wrote: its journal and Locust's CSV.

Journal files are JSON Lines written by several processes, each possibly
killed mid-write: a line that does not parse (a torn last line) is skipped,
never an error (docs/run-directory.md).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from poslab.errors import RunDirError

__all__ = ["iter_journal", "journal_files", "read_locust_stats"]


def journal_files(fleet_dir: Path) -> list[Path]:
    """Every process's journal (``<host>-<pid>.jsonl``), not the control file."""
    return sorted(p for p in Path(fleet_dir).glob("*.jsonl") if p.name != "control.jsonl")


def iter_journal(fleet_dir: Path) -> Iterator[dict[str, Any]]:
    """Every transaction record of every process, file by file in write order."""
    for path in journal_files(fleet_dir):
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last line: its writer died mid-record
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(record, dict):
                    yield record


def read_locust_stats(csv_prefix: Path) -> list[dict[str, str]]:
    """The rows of Locust's ``<prefix>_stats.csv`` (one per request name, plus
    ``Aggregated``). Note: it can lag the run's last second (locust-notes)."""
    path = Path(f"{csv_prefix}_stats.csv")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        raise RunDirError(f"no Locust stats at {path} (did Locust start?)") from None
