"""The sql ledger source against SQLite and a real PostgreSQL server.

Round trip: a synthetic run's ledger is loaded into a team's books of another
shape (tests/ledger_sources/their_books.py), the run's own ledger files are
removed, and the source writes them back from the books: every integrity check
must then run and find exactly what it finds on the lab's own export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

sa = pytest.importorskip("sqlalchemy")

from poslab.ledger_sources import (  # noqa: E402
    LedgerRowError,
    LedgerSourceError,
    Window,
    parse_ledger_source,
    write_ledger_export,
)
from poslab.scoring import score_run  # noqa: E402
from poslab.testing import SyntheticScenario, write_run  # noqa: E402
from tests.ledger_sources.their_books import SOURCE, load_books  # noqa: E402

WIDE = Window("synthetic", 0.0, 4e9)


def _checks(run_dir: Path) -> dict[str, tuple[str, int]]:
    result = score_run(run_dir)
    return {c.kind: (c.status, c.count) for c in result.scenarios[0].checks}


INJECTIONS = [None, "double_bookings", "unbalanced_batches", "lost_approvals", "wrong_payouts"]


@pytest.mark.parametrize("inject", INJECTIONS)
def test_round_trip_through_their_books(database: str, tmp_path: Path, inject: str | None) -> None:
    sc = SyntheticScenario(transactions=400, terminals=6, inject={inject: 2} if inject else {})
    run_dir = write_run(tmp_path / "runs", [sc])
    ledger_dir = run_dir / "scenarios" / "synthetic" / "ledger"
    expected = _checks(run_dir)
    counts = load_books(database, ledger_dir)
    shutil.rmtree(ledger_dir)

    source = parse_ledger_source({**SOURCE, "url": database})
    export = write_ledger_export(source, ledger_dir, WIDE, run_dir=run_dir)

    assert export.rows["transactions"] == counts["transactions"]
    assert export.rows["payouts"] == counts["payouts"]
    got = _checks(run_dir)
    assert all(status != "not_available" for status, _ in got.values()), got
    assert got == expected
    contract = json.loads((ledger_dir / "contract.json").read_text())
    assert contract["contract"] == "pos-lab/ledger" and contract["version"] == 1
    assert "password" not in contract["source"]["describe"]
    assert any("host totals" in d for d in contract["derived"])
    notes = score_run(run_dir).scenarios[0].data_notes
    assert any("ledger read from the team's system (sql" in n for n in notes)


def _journal_table(url: str, rows: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE journal (term_id VARCHAR(8), trace_no INTEGER, batch_no INTEGER, "
                "kind VARCHAR(8), state VARCHAR(10), amt VARCHAR(20), card_no VARCHAR(19), "
                "booked DOUBLE PRECISION)"
                if url.startswith("postgresql")
                else "CREATE TABLE journal (term_id TEXT, trace_no INTEGER, batch_no INTEGER, "
                "kind TEXT, state TEXT, amt TEXT, card_no TEXT, booked REAL)"
            )
        )
        for r in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO journal VALUES "
                    "(:term_id, :trace_no, :batch_no, :kind, :state, :amt, :card_no, :booked)"
                ),
                r,
            )
    engine.dispose()


ROW = {
    "term_id": "10000001",
    "trace_no": 12,
    "batch_no": 1,
    "kind": "SALE",
    "state": "Approved",
    "amt": "1500",
    "card_no": "6222021234567890123",
    "booked": 1_790_000_010.5,
}
MAPPED = {"tid": "term_id", "stan": "trace_no", "batch": "batch_no", "type": "kind"}
MAPPED |= {"status": "state", "amount": "amt", "pan": "card_no", "booked_at": "booked"}


def _source(url: str, **extra: Any) -> Any:
    raw = {"kind": "sql", "url": url, "query": "SELECT * FROM journal", "columns": MAPPED}
    return parse_ledger_source(raw | extra)


def test_coerces_and_masks(database: str, tmp_path: Path) -> None:
    _journal_table(database, [ROW])
    write_ledger_export(_source(database), tmp_path, WIDE)
    (row,) = [json.loads(x) for x in (tmp_path / "transactions.jsonl").read_text().splitlines()]
    assert row["stan"] == "000012" and row["batch"] == "000001"
    assert row["type"] == "sale" and row["status"] == "approved"
    assert row["amount"] == 1500 and row["pan"] == "622202*********0123"
    assert row["booked_at"] == pytest.approx(1_790_000_010.5)
    assert not (tmp_path / "batches.jsonl").exists()


def test_window_parameters_select_the_scenario(database: str, tmp_path: Path) -> None:
    _journal_table(database, [ROW, ROW | {"trace_no": 13, "booked": 1_790_009_999.0}])
    query = "SELECT * FROM journal WHERE booked >= :since AND booked < :until"
    window = Window("s", 1_790_000_000.0, 1_790_000_100.0)
    export = write_ledger_export(_source(database, query=query), tmp_path, window)
    assert export.rows == {"transactions": 1}


@pytest.mark.parametrize(
    ("bad", "column", "row_no"),
    [
        ({"amt": "15.5"}, "'amt' (the lab's amount)", 2),
        ({"trace_no": 1234567}, "'trace_no' (the lab's stan)", 2),
        ({"state": "MAYBE"}, "'state' (the lab's status)", 2),
        ({"booked": None, "amt": None}, "'amt' (the lab's amount)", 2),
    ],
)
def test_wrong_type_names_column_and_first_bad_row(
    database: str, tmp_path: Path, bad: dict[str, Any], column: str, row_no: int
) -> None:
    _journal_table(database, [ROW, ROW | {"trace_no": 13} | bad, ROW | {"trace_no": 14} | bad])
    with pytest.raises(LedgerRowError) as err:
        write_ledger_export(_source(database), tmp_path, WIDE)
    message = str(err.value)
    assert f"row {row_no} (the first bad row): column {column}" in message, message
    assert err.value.exit_code == 2
    assert "6222021234567890123" not in message  # a full PAN never reaches a message
    assert not list(tmp_path.glob("*.jsonl")), "no half ledger is left behind"


def test_missing_mapped_column_is_named(database: str, tmp_path: Path) -> None:
    _journal_table(database, [ROW])
    src = _source(database, columns=MAPPED | {"rrn": "retrieval_ref"})
    missing = r"column 'retrieval_ref' \(the lab's rrn\) is missing"
    with pytest.raises(LedgerRowError, match=missing):
        write_ledger_export(src, tmp_path, WIDE)


def test_missing_column_found_even_without_rows(database: str, tmp_path: Path) -> None:
    _journal_table(database, [])
    src = _source(database, columns=MAPPED | {"rrn": "retrieval_ref"})
    with pytest.raises(LedgerRowError, match="retrieval_ref"):
        write_ledger_export(src, tmp_path, WIDE)


def test_required_column_unmapped(database: str, tmp_path: Path) -> None:
    _journal_table(database, [ROW])
    columns = {k: v for k, v in MAPPED.items() if k != "status"}
    with pytest.raises(LedgerRowError, match="'status' is required by the ledger contract"):
        write_ledger_export(_source(database, columns=columns), tmp_path, WIDE)


def test_bad_query_and_unreachable_server(database: str, tmp_path: Path) -> None:
    with pytest.raises(LedgerSourceError, match="ledger source"):
        write_ledger_export(_source(database, query="SELECT * FROM nowhere"), tmp_path, WIDE)
    url = "postgresql+psycopg://lab:secret@127.0.0.1:1/none"
    with pytest.raises(LedgerSourceError) as err:
        write_ledger_export(_source(url, timeout_s=2), tmp_path, WIDE)
    assert "secret" not in str(err.value) and "127.0.0.1:1" in str(err.value)
