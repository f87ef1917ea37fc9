"""Write a ledger source's rows into a run directory, exactly as scoring reads them.

``scenarios/<name>/ledger/`` gets ``transactions.jsonl`` and whichever of
``batches.jsonl``, ``payouts.jsonl`` and ``issuer.jsonl`` the source maps, each
row checked against the contract, plus ``contract.json`` (the contract version
and where the rows came from). All or nothing: the files are written under
temporary names and renamed only once every table was read, so a bad row
leaves no half ledger that scoring would judge.

Two things the lab adds, both written into ``contract.json``'s ``derived``
and shown in the report's data notes:

- a batch row without host totals gets them from the transaction rows, by the
  contract's rule (debits: sales approved or voided; credits: approved voids
  and refunds) — the check then holds the terminal's 0500 totals against their
  books;
- a (tid, batch) with money rows but no batch row is listed ``open``: most
  hosts write a settlement row only when the terminal settles, and scoring
  wants every batch listed (an open batch is not reconciled).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.common import SHARED, atomic_write
from poslab.ledger_sources.config import FileLedgerSource, SqlLedgerSource
from poslab.ledger_sources.files import Placeholders, run_command
from poslab.ledger_sources.files import read_table as read_file_table
from poslab.ledger_sources.mapping import LedgerSourceError
from poslab.scoring.ledger_contract import (
    CONTRACT_FILE,
    LEDGER_CONTRACT,
    LEDGER_CONTRACT_VERSION,
    TABLES,
)

_HOST = ("host_debit_amount", "host_debit_count", "host_credit_amount", "host_credit_count")


@dataclass(frozen=True, slots=True)
class Window:
    """The scenario the ledger is read for: its name and its time window (epoch s)."""

    scenario: str
    since: float
    until: float


@dataclass(slots=True)
class LedgerExport:
    """What was written: rows per table, what the lab derived, the source's description."""

    source: str
    rows: dict[str, int] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)
    command: str | None = None

    def outcome(self) -> dict[str, str]:
        """Per export file, ``ok (N rows)`` — the shape of ``export_ledger``'s answer."""
        return {name: f"ok ({n} rows, {self.source})" for name, n in self.rows.items()}


class _Totals:
    """Batch totals from transaction rows (the contract's rule), as rows stream by."""

    def __init__(self) -> None:
        self.by_batch: dict[tuple[str, str], list[int]] = {}
        self.mid: dict[tuple[str, str], str | None] = {}

    def add(self, row: dict[str, Any]) -> None:
        typ, status = row["type"], row["status"]
        if typ == "balance":
            return
        key = (row["tid"], row["batch"])
        t = self.by_batch.setdefault(key, [0, 0, 0, 0])
        self.mid.setdefault(key, row.get("mid"))
        if typ == "sale" and status in ("approved", "voided"):
            t[0] += row["amount"]
            t[1] += 1
        elif typ in ("void", "refund") and status == "approved":
            t[2] += row["amount"]
            t[3] += 1


def _describe(source: SqlLedgerSource | FileLedgerSource) -> str:
    if isinstance(source, SqlLedgerSource):
        from poslab.ledger_sources.sql import describe_url

        return f"sql {describe_url(source.url)}"
    return f"file {source.path}" + (f" by {source.command[0]}" if source.command else "")


def _write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("wb") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n


def _with_batches(
    rows: Iterable[dict[str, Any]], totals: _Totals, export: LedgerExport
) -> Iterator[dict[str, Any]]:
    listed: set[tuple[str, str]] = set()
    filled = 0
    for row in rows:
        key = (row["tid"], row["batch"])
        listed.add(key)
        if all(row.get(h) is None for h in _HOST):
            t = totals.by_batch.get(key, [0, 0, 0, 0])
            row.update(zip(_HOST, t, strict=True))
            filled += 1
        yield row
    opened = 0
    for key in sorted(set(totals.by_batch) - listed):
        opened += 1
        yield {"tid": key[0], "batch": key[1], "status": "open", "mid": totals.mid.get(key)}
    if filled:
        export.derived.append(f"{filled} batch row(s) without host totals: summed from the rows")
    if opened:
        export.derived.append(f"{opened} batch(es) with rows but no batch row: listed as open")


def write_ledger_export(
    source: SqlLedgerSource | FileLedgerSource,
    ledger_dir: Path,
    window: Window,
    *,
    run_dir: Path | None = None,
) -> LedgerExport:
    """Fill ``ledger_dir`` from ``source`` (see the module docstring).

    Raises :class:`LedgerSourceError` (a :class:`~poslab.errors.ConfigError`:
    the CLI's exit 2) when the source cannot be read, and its subclass
    ``LedgerRowError`` naming the column and the first bad row.
    """
    ledger_dir.mkdir(parents=True, exist_ok=True)
    export = LedgerExport(_describe(source))
    where = Placeholders(
        ledger_dir, run_dir or ledger_dir.parent, window.scenario, window.since, window.until
    )
    parts: list[Path] = []
    totals = _Totals()

    def counted(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            totals.add(row)
            yield row

    def write(name: str, rows: Iterable[dict[str, Any]]) -> None:
        part = ledger_dir / f".{TABLES[name].file}.part"
        parts.append(part)
        if name == "transactions":
            rows = counted(rows)
        elif name == "batches":
            rows = _with_batches(rows, totals, export)
        export.rows[name] = _write_rows(part, rows)

    try:
        if isinstance(source, SqlLedgerSource):
            from poslab.ledger_sources.sql import read_table, snapshot, window_params

            params = window_params(window.scenario, window.since, window.until)
            with snapshot(source) as conn:
                for name, sql_part in source.tables().items():
                    write(name, read_table(conn, name, sql_part, params))
        else:
            if source.command is not None:
                export.command = run_command(source, where)
            for name, file_part in source.tables().items():
                write(name, read_file_table(name, file_part, where))
        if totals.by_batch and "batches" not in export.rows:
            export.derived.append("no batches table mapped: batch totals not available")
        for part in parts:
            os.replace(part, ledger_dir / part.name[1:].removesuffix(".part"))
    except OSError as exc:
        raise LedgerSourceError(f"ledger source: cannot write {ledger_dir}: {exc}") from None
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    _write_contract(ledger_dir, export)
    return export


def _write_contract(ledger_dir: Path, export: LedgerExport) -> None:
    doc = {
        "contract": LEDGER_CONTRACT,
        "version": LEDGER_CONTRACT_VERSION,
        "source": {"describe": export.source, "command": export.command},
        "rows": export.rows,
        "derived": export.derived,
        "written_at": time.time(),
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    atomic_write(ledger_dir / CONTRACT_FILE, text, mode=SHARED)
