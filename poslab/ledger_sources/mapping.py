"""Their rows → contract rows: column names, value vocabularies, types, checked.

One :class:`TableMapper` per table. It is built from the first row's column
names (a SQL result and a CSV header name them once for all rows; a JSON Lines
file is checked row by row), and refuses, with :class:`LedgerRowError`:

- a mapped column their rows lack ("column 'amt' (the lab's amount) is missing");
- a required lab column neither mapped nor present under its own name;
- a value that does not coerce to its column's type, or breaks the contract
  (:func:`poslab.scoring.ledger_contract.check_row`).

The error names the table, the lab's column and theirs, and the first bad row
(its number and its values, PANs masked), so the CLI's one line is enough to
fix the mapping or the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from poslab.errors import ConfigError
from poslab.ledger_sources.coerce import Convert, Unfit, converter
from poslab.scoring.ledger_contract import Column, Table

_LONG_DIGITS = re.compile(r"\d{12,19}")


class LedgerSourceError(ConfigError):
    """A ledger source that cannot be read: unreachable, failed command, bad file."""


class LedgerRowError(LedgerSourceError):
    """A row that lacks a mapped column or carries a value of the wrong type."""

    def __init__(self, table: str, row_no: int, column: str, problem: str, row: object) -> None:
        super().__init__(
            f"ledger source, {table} row {row_no} (the first bad row): column {column} "
            f"{problem}; row: {describe_row(row)}"
        )
        self.table = table
        self.row_no = row_no
        self.column = column


def describe_row(row: object, limit: int = 400) -> str:
    """The row for an error message: PAN-like digit runs masked, length bounded."""
    text = _LONG_DIGITS.sub(lambda m: m[0][:6] + "*" * (len(m[0]) - 10) + m[0][-4:], repr(row))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TableMapper:
    """Maps one table's rows; see the module docstring."""

    def __init__(
        self,
        table: Table,
        columns: Mapping[str, str],
        values: Mapping[str, Mapping[str, str]],
        unit: str,
    ) -> None:
        self.table = table
        self.columns = dict(columns)
        self.values = {k: dict(v) for k, v in values.items()}
        self.unit = unit
        # (lab column, their column or None when absent)
        self._plan: list[tuple[Column, str | None]] | None = None
        self._steps: list[tuple[str, str, bool, Convert]] | None = None
        self.rows = 0

    def _their(self, column: Column) -> str:
        return self.columns.get(column.name, column.name)

    def plan(
        self, names: Iterable[str], first_row: object, row_no: int = 1
    ) -> list[tuple[Column, str | None]]:
        """Which of their columns fills each lab column, from the names their rows carry."""
        present = list(names)
        by_lower = {n.lower(): n for n in present}
        plan: list[tuple[Column, str | None]] = []
        for column in self.table.columns:
            theirs = self._their(column)
            found = theirs if theirs in present else by_lower.get(theirs.lower())
            if found is None:
                if column.name in self.columns:
                    raise LedgerRowError(
                        self.table.name,
                        row_no,
                        f"{theirs!r} (the lab's {column.name})",
                        "is missing from the source's rows",
                        first_row,
                    )
                if column.required:
                    raise LedgerRowError(
                        self.table.name,
                        row_no,
                        f"{column.name!r}",
                        "is required by the ledger contract and the source has no such "
                        "column (map it under columns:)",
                        first_row,
                    )
            plan.append((column, found))
        self._plan = plan
        self._steps = [
            (
                column.name,
                theirs,
                column.nullable,
                converter(column, self.unit, self.values.get(column.name)),
            )
            for column, theirs in plan
            if theirs is not None
        ]
        return plan

    def map_row(self, raw: Mapping[str, Any], row_no: int, fixed_names: bool) -> dict[str, Any]:
        """One of their rows as a contract row (raises LedgerRowError).

        :meth:`plan` made sure every required column has a source, and each
        column's converter checks its value against the contract, so the row
        that comes out needs no second check.
        """
        if self._steps is None or not fixed_names:
            self.plan(raw.keys(), raw, row_no)
        assert self._steps is not None
        out: dict[str, Any] = {}
        for name, theirs, nullable, convert in self._steps:
            value = raw.get(theirs)
            if value is None and nullable:
                out[name] = None
                continue
            try:
                out[name] = convert(value)
            except Unfit as exc:
                label = name if theirs == name else f"{theirs!r} (the lab's {name})"
                raise LedgerRowError(self.table.name, row_no, label, str(exc), raw) from None
        self.rows += 1
        return out
