"""poslab/ledger_sources: a team's books as the lab's ledger rows (issue 13).

The lab's own acquirer exports its ledger; a system the lab did not write
offers its database or an export command instead. A *ledger source* reads
that, maps their column names and vocabularies onto the ledger contract
(:mod:`poslab.scoring.ledger_contract`, ``docs/ledger-contract.md``), coerces
and checks every row, and writes the run directory's ``ledger/`` files so
every integrity check runs on their books:

- :func:`parse_ledger_source` — the topology's ``ledger:`` section, validated;
- :func:`write_ledger_export` — read the source for one scenario's
  :class:`Window` and write ``ledger/*.jsonl`` + ``contract.json``;
- :class:`LedgerSourceError` (a ``ConfigError``: exit 2) and its subclass
  :class:`LedgerRowError` naming the column and the first bad row.

Kinds: ``sql`` (a SQLAlchemy URL and a query per table; the ``[external]``
extra) and ``file`` (CSV or JSON Lines written by their command, run after the
drain). This package does I/O, so it sits beside scoring, not inside it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from poslab.ledger_sources.config import (
    FileLedgerSource,
    FileTable,
    LedgerSection,
    LedgerSource,
    SqlLedgerSource,
    SqlTable,
)
from poslab.ledger_sources.export import LedgerExport, Window, write_ledger_export
from poslab.ledger_sources.mapping import LedgerRowError, LedgerSourceError

__all__ = [
    "FileLedgerSource",
    "FileTable",
    "LedgerExport",
    "LedgerRowError",
    "LedgerSource",
    "LedgerSourceError",
    "SqlLedgerSource",
    "SqlTable",
    "Window",
    "parse_ledger_source",
    "write_ledger_export",
]


def parse_ledger_source(raw: Any, where: str = "ledger") -> SqlLedgerSource | FileLedgerSource:
    """The ``ledger:`` mapping of a topology as a source; ConfigError naming the field."""
    try:
        return LedgerSection.model_validate({"ledger": raw}).ledger
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"][1:] if str(p) not in ("sql", "file"))
        field = f"{where}.{path}" if path else where
        raise LedgerSourceError(f"{field}: {first['msg']}") from None
