"""The ``ledger:`` section of a topology: where a team's books are and how they map.

Two kinds (``docs/ledger-contract.md``)::

    ledger:
      kind: sql
      url: postgresql+psycopg://lab@db.example:5432/host   # any SQLAlchemy URL
      query: SELECT * FROM journal WHERE booked >= :since AND booked < :until
      columns: {tid: term_id, stan: trace_no, amount: amt}  # lab column: their column
      values: {status: {A: approved, D: declined}}          # lab column: {their value: lab's}
      batches: {query: SELECT * FROM settlements, columns: {...}}
      payouts: {...}
      issuer: {...}

    ledger:
      kind: file
      command: [./export-ledger, --out, "{ledger_dir}/theirs.csv"]   # run after the drain
      path: "{ledger_dir}/theirs.csv"
      format: csv                                                   # or jsonl
      columns: {...}

The top-level ``query``/``path`` fills ``transactions``; ``batches``, ``payouts``
and ``issuer`` are optional tables of their own (a check whose table is absent
is reported "not available", never passed).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from poslab.scoring.ledger_contract import TABLES, Table

ColumnMap = dict[str, str]
ValueMap = dict[str, dict[str, str]]
AmountUnit = Literal["fen", "yuan"]
FileFormat = Literal["csv", "jsonl"]


class _Mapped(BaseModel):
    """How one table of theirs maps onto the lab's (shared by both kinds)."""

    model_config = ConfigDict(extra="forbid")

    #: lab column → their column; an unmapped lab column is looked up under its own name
    columns: ColumnMap = Field(default_factory=dict)
    #: lab column → {their value → the lab's value} (status and type vocabularies)
    values: ValueMap = Field(default_factory=dict)
    #: their money columns in fen (integers) or yuan (exact decimals, 2 places at most)
    amount_unit: AmountUnit = "fen"


class SqlTable(_Mapped):
    query: str = Field(min_length=1)


class FileTable(_Mapped):
    path: str = Field(min_length=1)
    #: from the path's suffix (.csv, .jsonl/.ndjson) when not given
    format: FileFormat | None = None


def check_mapping(table: Table, mapped: _Mapped) -> None:
    """Mapping keys must be the lab's column names (a typo would silently map nothing)."""
    known = {c.name for c in table.columns}
    for what, keys in (("columns", mapped.columns), ("values", mapped.values)):
        unknown = sorted(set(keys) - known)
        if unknown:
            raise ValueError(
                f"{table.name}: {what} names {', '.join(unknown)}, not columns of the lab's "
                f"{table.name} (known: {', '.join(sorted(known))})"
            )


class SqlLedgerSource(SqlTable):
    """Their database, read with one query per table inside one snapshot."""

    kind: Literal["sql"]
    url: str = Field(min_length=1)
    batches: SqlTable | None = None
    payouts: SqlTable | None = None
    issuer: SqlTable | None = None
    timeout_s: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _mappings(self) -> SqlLedgerSource:
        _check_all(self)
        return self

    def tables(self) -> dict[str, SqlTable]:
        out: dict[str, SqlTable] = {"transactions": self}
        for name in ("batches", "payouts", "issuer"):
            part = getattr(self, name)
            if part is not None:
                out[name] = part
        return out


class FileLedgerSource(FileTable):
    """Files their own export command writes (CSV or JSON Lines), read after it exits."""

    kind: Literal["file"]
    #: argv run once after the drain; None when something else already wrote the files
    command: list[str] | None = None
    timeout_s: float = Field(120.0, gt=0)
    #: working directory of the command (default: the run directory)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    batches: FileTable | None = None
    payouts: FileTable | None = None
    issuer: FileTable | None = None

    @field_validator("command")
    @classmethod
    def _argv(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("command must be a non-empty argv list")
        return value

    @model_validator(mode="after")
    def _mappings(self) -> FileLedgerSource:
        _check_all(self)
        return self

    def tables(self) -> dict[str, FileTable]:
        out: dict[str, FileTable] = {"transactions": self}
        for name in ("batches", "payouts", "issuer"):
            part = getattr(self, name)
            if part is not None:
                out[name] = part
        return out


def _check_all(source: SqlLedgerSource | FileLedgerSource) -> None:
    for name, mapped in source.tables().items():
        check_mapping(TABLES[name], mapped)


LedgerSource = Annotated[SqlLedgerSource | FileLedgerSource, Field(discriminator="kind")]


class LedgerSection(BaseModel):
    """A wrapper to validate a bare ``ledger:`` mapping (``parse_ledger_source``)."""

    model_config = ConfigDict(extra="forbid")

    ledger: LedgerSource
