"""The ``sql`` ledger source: one query per table against their database.

Any SQLAlchemy URL (``postgresql+psycopg://…``, ``sqlite:///…``, …; the
``[external]`` extra installs SQLAlchemy and psycopg). Every table is read
inside one transaction — REPEATABLE READ where the database offers it — so
transactions, batches and payouts are one consistent snapshot even while
their host keeps booking. Rows stream (``yield_per``): a big ledger is never
held in memory.

A query may use the bind parameters ``:since`` and ``:until`` (the scenario's
window as epoch seconds), ``:since_ts`` and ``:until_ts`` (the same as UTC
datetimes) and ``:scenario``: their database holds every day's books, and the
scenario must be judged on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from poslab.ledger_sources.config import SqlLedgerSource, SqlTable
from poslab.ledger_sources.mapping import LedgerSourceError, TableMapper
from poslab.scoring.ledger_contract import TABLES

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_BATCH_ROWS = 5000


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError:  # pragma: no cover - the extra is installed in the lab's own venv
        raise LedgerSourceError(
            "the sql ledger source needs SQLAlchemy: pip install 'pos-resilience-lab[external]'"
        ) from None
    return sqlalchemy


def describe_url(url: str) -> str:
    """The URL without its password (for reports and errors)."""
    sa = _sqlalchemy()
    try:
        return str(sa.engine.make_url(url).render_as_string(hide_password=True))
    except Exception:  # an unparsable URL: show nothing of it that may be secret
        return "<unparsable URL>"


def window_params(scenario: str, since: float, until: float) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "since": since,
        "until": until,
        "since_ts": datetime.fromtimestamp(since, UTC),
        "until_ts": datetime.fromtimestamp(until, UTC),
    }


@contextmanager
def snapshot(source: SqlLedgerSource) -> Iterator[Connection]:
    """One read-only transaction for every table of the source."""
    sa = _sqlalchemy()
    where = describe_url(source.url)
    try:
        url = sa.engine.make_url(source.url)
    except Exception as exc:
        raise LedgerSourceError(f"ledger source: bad database URL {where}: {exc}") from None
    connect_args: dict[str, Any] = {}
    options: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        connect_args["connect_timeout"] = max(1, int(source.timeout_s))
        options["isolation_level"] = "REPEATABLE READ"
    elif backend == "sqlite":
        connect_args["timeout"] = source.timeout_s
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except Exception as exc:
        raise LedgerSourceError(f"ledger source {where}: {exc}") from None
    try:
        with engine.connect().execution_options(**options) as conn, conn.begin():
            if backend == "postgresql":
                ms = int(source.timeout_s * 1000)
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {ms}"))
                conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            yield conn
    except LedgerSourceError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise LedgerSourceError(f"ledger source {where}: {detail}") from None
    finally:
        engine.dispose()


def read_table(
    conn: Connection, name: str, part: SqlTable, params: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """Contract rows of table ``name`` (raises LedgerRowError on the first bad row)."""
    sa = _sqlalchemy()
    used = {p: params[p] for p in _PARAM.findall(part.query) if p in params}
    mapper = TableMapper(TABLES[name], part.columns, part.values, part.amount_unit)
    result = conn.execution_options(yield_per=_BATCH_ROWS).execute(sa.text(part.query), used)
    names = list(result.keys())
    first = True
    for row_no, row in enumerate(result.mappings(), start=1):
        if first:
            mapper.plan(names, dict(row), row_no)
            first = False
        yield mapper.map_row(cast(Mapping[str, Any], row), row_no, fixed_names=True)
    if first:  # no rows: still refuse a mapping that names columns the query lacks
        mapper.plan(names, "(the query returned no rows)", 0)
