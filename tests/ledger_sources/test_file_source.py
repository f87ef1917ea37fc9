"""The file ledger source: their export command, CSV and JSON Lines, and its failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from poslab.errors import ConfigError, RunDirError
from poslab.ledger_sources import (
    LedgerRowError,
    LedgerSourceError,
    Window,
    parse_ledger_source,
    write_ledger_export,
)
from poslab.scoring.ledger_side import contract_note

WINDOW = Window("s1", 1_790_000_000.0, 1_790_000_100.0)
CSV = (
    "TERM,TRACE,BATCH,KIND,STATE,AMOUNT,CARD\n"
    "10000001,7,1,sale,approved,12.50,6222021234567890123\n"
    "10000001,8,1,refund,approved,2.00,6222021234567890123\n"
)
COLUMNS = {"tid": "TERM", "stan": "TRACE", "batch": "BATCH", "type": "KIND"}
COLUMNS |= {"status": "STATE", "amount": "AMOUNT", "pan": "CARD"}

# Their exporter: writes the CSV it was given into the path it was told, says so.
EXPORTER = (
    "import os, sys; open(sys.argv[1], 'w').write(os.environ['THEIR_CSV']); "
    "print('exported', os.environ['LAB_SCENARIO'], os.environ['LAB_SINCE'])"
)


def _source(**extra: Any) -> Any:
    raw = {
        "kind": "file",
        "command": [sys.executable, "-c", EXPORTER, "{ledger_dir}/theirs.csv"],
        "env": {"THEIR_CSV": CSV},
        "path": "{ledger_dir}/theirs.csv",
        "amount_unit": "yuan",
        "columns": COLUMNS,
    }
    return parse_ledger_source(raw | extra)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_command_then_csv(tmp_path: Path) -> None:
    export = write_ledger_export(_source(), tmp_path, WINDOW, run_dir=tmp_path)
    rows = _rows(tmp_path / "transactions.jsonl")
    assert [(r["stan"], r["amount"], r["pan"]) for r in rows] == [
        ("000007", 1250, "622202*********0123"),
        ("000008", 200, "622202*********0123"),
    ]
    assert export.command is not None and export.command.startswith("command exited 0")
    log = (tmp_path / "source-command.log").read_text()
    assert "exported s1 1790000000.0" in log and "exit status 0" in log
    assert contract_note(tmp_path) == (
        f"ledger read from the team's system (file {{ledger_dir}}/theirs.csv by {sys.executable})"
    )


def test_jsonl_without_command(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    row: dict[str, object] = {
        "TERM": "10000001",
        "TRACE": "000009",
        "BATCH": "000001",
        "KIND": "sale",
    }
    row |= {"STATE": "approved", "AMOUNT": 3, "CARD": None}
    books.write_text(json.dumps(row) + "\n")
    src = _source(command=None, path=str(books), amount_unit="fen")
    assert write_ledger_export(src, tmp_path / "ledger", WINDOW).rows == {"transactions": 1}
    assert _rows(tmp_path / "ledger" / "transactions.jsonl")[0]["pan"] is None


def test_failing_command_keeps_output(tmp_path: Path) -> None:
    src = _source(command=[sys.executable, "-c", "import sys; print('db down'); sys.exit(3)"])
    with pytest.raises(LedgerSourceError, match="exited 3: db down"):
        write_ledger_export(src, tmp_path, WINDOW, run_dir=tmp_path)
    assert "db down" in (tmp_path / "source-command.log").read_text()
    assert not (tmp_path / "transactions.jsonl").exists()


def test_command_timeout(tmp_path: Path) -> None:
    src = _source(command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    with pytest.raises(LedgerSourceError, match=r"timed out after 0.5 s"):
        write_ledger_export(src, tmp_path, WINDOW, run_dir=tmp_path)
    assert "timed out" in (tmp_path / "source-command.log").read_text()


def test_bad_csv_value_names_column_and_row(tmp_path: Path) -> None:
    bad = CSV + "10000001,9,1,sale,approved,1.005,6222021234567890123\n"
    with pytest.raises(LedgerRowError) as err:
        write_ledger_export(_source(env={"THEIR_CSV": bad}), tmp_path, WINDOW, run_dir=tmp_path)
    message = str(err.value)
    assert "transactions row 3 (the first bad row): column 'AMOUNT' (the lab's amount)" in message
    assert "not an exact amount in yuan" in message
    assert "6222021234567890123" not in message


def test_jsonl_row_lacking_a_mapped_column(tmp_path: Path) -> None:
    books = tmp_path / "books.jsonl"
    good = {"TERM": "10000001", "TRACE": 1, "BATCH": 1, "KIND": "sale", "STATE": "approved"}
    good |= {"AMOUNT": 3, "CARD": None}
    lacking = {k: v for k, v in good.items() if k != "STATE"}
    books.write_text(json.dumps(good) + "\n" + json.dumps(lacking) + "\n")
    src = _source(command=None, path=str(books), amount_unit="fen")
    missing = r"row 2 .* column 'STATE' \(the lab's status\) is missing"
    with pytest.raises(LedgerRowError, match=missing):
        write_ledger_export(src, tmp_path / "ledger", WINDOW)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"kind": "file", "path": "x.csv", "columns": {"amout": "AMT"}}, "amout"),
        ({"kind": "sql", "query": "SELECT 1"}, "ledger.url"),
        ({"kind": "ftp", "path": "x"}, "ledger"),
        ({"kind": "file", "path": "x.csv", "command": []}, "ledger.command"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        parse_ledger_source(raw)


def test_unknown_contract_version_refused(tmp_path: Path) -> None:
    (tmp_path / "contract.json").write_text('{"contract": "pos-lab/ledger", "version": 9}')
    with pytest.raises(RunDirError, match="version 9 not supported"):
        contract_note(tmp_path)
