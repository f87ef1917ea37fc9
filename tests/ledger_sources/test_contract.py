"""The ledger contract: its vocabulary matches scoring's index; rows are checked."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from poslab.ledger_sources.coerce import Unfit, coerce, money, terminal_totals
from poslab.scoring import ledger
from poslab.scoring.ledger_contract import TABLES, TRANSACTIONS, check_row


def test_scoring_index_knows_every_contract_word() -> None:
    assert set(ledger.STATUS_CODES) == set(ledger.CONTRACT_VOCABULARY[0])
    assert set(ledger.TYPE_CODES) | {"balance"} == set(ledger.CONTRACT_VOCABULARY[1])


def test_docs_name_every_column(repo_root: Any) -> None:
    doc = (repo_root / "docs" / "ledger-contract.md").read_text()
    for table in TABLES.values():
        for column in table.columns:
            assert f"`{column.name}`" in doc, f"{table.name}.{column.name} undocumented"


GOOD: dict[str, object] = {"tid": "10000001", "stan": "000001", "batch": "000001", "type": "sale"}
GOOD |= {"status": "approved", "amount": 100}


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"stan": "1"}, "stan"),
        ({"amount": 1.5}, "amount"),
        ({"amount": True}, "amount"),
        ({"status": "ok"}, "status"),
        ({"pan": "6222021234567890"}, "pan"),
        ({"booked_at": 17}, "booked_at"),
        ({"settle_date": "24/11/2026"}, "settle_date"),
    ],
)
def test_check_row_names_the_column(change: dict[str, Any], column: str) -> None:
    assert check_row(TRANSACTIONS, GOOD) is None
    broken = check_row(TRANSACTIONS, GOOD | change)
    assert broken is not None and broken[0] == column


def test_missing_required_column() -> None:
    assert check_row(TRANSACTIONS, {k: v for k, v in GOOD.items() if k != "batch"}) == (
        "batch",
        "is missing",
    )


def test_money_is_exact() -> None:
    assert money("12.34", "yuan") == 1234
    assert money(12.34, "yuan") == 1234
    assert money(Decimal("0.10"), "yuan") == 10
    assert money(Decimal("250"), "fen") == 250
    for bad, unit in (("1.005", "yuan"), ("1.5", "fen"), (True, "fen"), ("abc", "yuan")):
        with pytest.raises(Unfit):
            money(bad, unit)


def test_field_48_as_terminal_totals() -> None:
    f48 = "000000012345003000000000500001" + "1"
    assert terminal_totals(f48, "fen") == {
        "debit_amount": 12345,
        "debit_count": 3,
        "credit_amount": 500,
        "credit_count": 1,
    }


def test_digits_are_padded_not_truncated() -> None:
    stan = TRANSACTIONS.column("stan")
    assert stan is not None
    assert coerce(stan, 42, "fen") == "000042"
    assert coerce(stan, "42 ", "fen") == "000042"
    with pytest.raises(Unfit):
        coerce(stan, 1234567, "fen")


def test_the_synthetic_producer_writes_contract_rows(tmp_path: Any) -> None:
    """Scoring's stand-in for the lab's exports (poslab.testing) keeps
    the contract, every row of every table."""
    import json

    from poslab.testing import SyntheticScenario, write_run

    run_dir = write_run(tmp_path, [SyntheticScenario(transactions=300, terminals=5)])
    ledger_dir = run_dir / "scenarios" / "synthetic" / "ledger"
    for table in TABLES.values():
        lines = (ledger_dir / table.file).read_text().splitlines()
        assert lines, table.name
        for n, line in enumerate(lines, start=1):
            assert check_row(table, json.loads(line)) is None, (table.name, n, line)
