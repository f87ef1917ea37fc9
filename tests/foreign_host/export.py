"""``python -m tests.foreign_host.export --db URL --out DIR [--format csv|jsonl]``:
the foreign host's own end-of-day export, one file per table under its own
column names (what a team's export job writes; the lab runs it after the
drain through a ``file`` ledger source, :func:`file_source`)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.foreign_host.books import LEDGER_SOURCE

TABLES = {
    "transactions": ("journal", LEDGER_SOURCE["query"]),
    "batches": ("settlements", LEDGER_SOURCE["batches"]["query"]),
    "payouts": ("payouts", LEDGER_SOURCE["payouts"]["query"]),
    "issuer": ("holds", LEDGER_SOURCE["issuer"]["query"]),
}


def export(db: str, out: Path, fmt: str) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(db)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for table, (stem, query) in TABLES.items():
                result = conn.execute(sa.text(query))
                names = list(result.keys())
                rows = [dict(zip(names, r, strict=True)) for r in result]
                path = out / f"{stem}.{fmt}"
                with path.open("w", newline="", encoding="utf-8") as fh:
                    if fmt == "csv":
                        writer = csv.DictWriter(fh, names)
                        writer.writeheader()
                        writer.writerows(rows)
                    else:
                        for row in rows:
                            fh.write(json.dumps(row) + "\n")
                counts[table] = len(rows)
    finally:
        engine.dispose()
    return counts


def file_source(command: list[str], out: str, fmt: str) -> dict[str, Any]:
    """The topology's ``ledger:`` section reading :func:`export`'s files."""
    source: dict[str, Any] = {
        "kind": "file",
        "command": command,
        "path": f"{out}/journal.{fmt}",
        "columns": LEDGER_SOURCE["columns"],
        "values": LEDGER_SOURCE["values"],
    }
    for table, (stem, _) in TABLES.items():
        if table != "transactions":
            part = LEDGER_SOURCE[table]
            source[table] = {"path": f"{out}/{stem}.{fmt}", "columns": part["columns"]}
            if "values" in part:
                source[table]["values"] = part["values"]
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.foreign_host.export")
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    args = parser.parse_args(argv)
    counts = export(args.db, args.out, args.format)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
