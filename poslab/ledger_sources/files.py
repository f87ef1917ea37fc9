"""The ``file`` ledger source: their export command, then CSV or JSON Lines files.

The command is an argv (no shell), run once after the drain with a timeout;
a non-zero exit status or a timeout is a :class:`LedgerSourceError` naming
it, and its output is kept in the run directory either way
(``ledger/source-command.log``), because a failed export is the first thing
to read when the money checks cannot run.

``{ledger_dir}``, ``{run_dir}`` and ``{scenario}`` in the argv and the paths
are replaced before use, and so are ``{since}``/``{until}`` (epoch seconds of
the scenario's window); the command also sees them as ``LAB_LEDGER_DIR``,
``LAB_RUN_DIR``, ``LAB_SCENARIO``, ``LAB_SINCE`` and ``LAB_UNTIL``.

CSV: a header row names the columns, every value is a string (coerced by the
column's kind). JSON Lines: one object per line; a torn last line (their
exporter killed mid-write) is refused here, unlike the lab's own journals — a
ledger cut short would read as money that vanished.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poslab.ledger_sources.config import FileLedgerSource, FileTable
from poslab.ledger_sources.mapping import LedgerSourceError, TableMapper, describe_row
from poslab.scoring.ledger_contract import TABLES

COMMAND_LOG = "source-command.log"
_TAIL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Placeholders:
    ledger_dir: Path
    run_dir: Path
    scenario: str
    since: float
    until: float

    def values(self) -> dict[str, str]:
        return {
            "ledger_dir": str(self.ledger_dir),
            "run_dir": str(self.run_dir),
            "scenario": self.scenario,
            "since": repr(self.since),
            "until": repr(self.until),
        }

    def fill(self, text: str) -> str:
        out = text
        for key, value in self.values().items():
            out = out.replace("{" + key + "}", value)
        return out

    def env(self) -> dict[str, str]:
        return {f"LAB_{k.upper()}": v for k, v in self.values().items()}


def run_command(source: FileLedgerSource, where: Placeholders) -> str:
    """Run the export command; returns a one-line outcome, raises on failure."""
    assert source.command is not None
    argv = [where.fill(a) for a in source.command]
    cwd = Path(where.fill(source.cwd)) if source.cwd else where.run_dir
    env = {**os.environ, **where.env(), **{k: where.fill(v) for k, v in source.env.items()}}
    log = where.ledger_dir / COMMAND_LOG
    where.ledger_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=source.timeout_s,
            check=False,
        )
        out, err, status = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        out, err, status = exc.stdout or b"", exc.stderr or b"", None
    except OSError as exc:
        _write_log(log, argv, None, b"", str(exc).encode(), 0.0)
        raise LedgerSourceError(
            f"ledger source command {argv[0]!r} could not start: {exc}"
        ) from None
    seconds = time.monotonic() - started
    _write_log(log, argv, status, out, err, seconds)
    if status is None:
        raise LedgerSourceError(
            f"ledger source command {argv[0]!r} timed out after {source.timeout_s:g} s "
            f"(output in {log})"
        )
    if status != 0:
        tail = (err or out).decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise LedgerSourceError(
            f"ledger source command {argv[0]!r} exited {status}: {tail[0][:200]} (output in {log})"
        )
    return f"command exited 0 in {seconds:.1f} s"


def _write_log(
    log: Path, argv: list[str], status: int | None, out: bytes, err: bytes, seconds: float
) -> None:
    ended = "timed out" if status is None else f"exit status {status}"
    with log.open("ab") as fh:
        fh.write(f"$ {' '.join(argv)}\n# {ended} after {seconds:.2f} s\n".encode())
        fh.write(b"--- stdout\n" + out + b"\n--- stderr\n" + err + b"\n")


def file_format(part: FileTable, path: Path) -> str:
    if part.format is not None:
        return part.format
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise LedgerSourceError(f"ledger source {path}: say format: csv or jsonl (suffix {suffix!r})")


def _csv_rows(path: Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    fh = path.open(newline="", encoding="utf-8-sig")
    reader = csv.DictReader(fh)
    names = list(reader.fieldnames or [])

    def rows() -> Iterator[dict[str, Any]]:
        with fh:
            for row in reader:
                if None in row:  # more values than the header names
                    raise LedgerSourceError(
                        f"ledger source {path} line {reader.line_num}: more values than columns: "
                        f"{describe_row(row[None])}"  # type: ignore[index]
                    )
                yield row

    return names, rows()


def _jsonl_rows(path: Path) -> Iterator[Mapping[str, Any]]:
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                torn = " (torn: no newline at its end)" if not line.endswith(b"\n") else ""
                raise LedgerSourceError(
                    f"ledger source {path} line {line_no}: not JSON{torn}: "
                    f"{describe_row(line[:200])}"
                ) from None
            if not isinstance(obj, dict):
                raise LedgerSourceError(f"ledger source {path} line {line_no}: not an object")
            yield obj


def read_table(name: str, part: FileTable, where: Placeholders) -> Iterator[dict[str, Any]]:
    """Contract rows of table ``name`` from its file (raises LedgerRowError on a bad row)."""
    path = Path(where.fill(part.path))
    if not path.is_absolute():
        path = where.run_dir / path
    if not path.is_file():
        raise LedgerSourceError(f"ledger source: no {name} file at {path}")
    mapper = TableMapper(TABLES[name], part.columns, part.values, part.amount_unit)
    if file_format(part, path) == "csv":
        names, rows = _csv_rows(path)
        empty = True
        for row_no, row in enumerate(rows, start=1):
            if empty:
                mapper.plan(names, row, row_no)
                empty = False
            yield mapper.map_row(row, row_no, fixed_names=True)
        if empty:
            mapper.plan(names, "(the file has no rows)", 0)
    else:
        for row_no, obj in enumerate(_jsonl_rows(path), start=1):
            yield mapper.map_row(obj, row_no, fixed_names=False)
