"""The foreign host's tests share the ledger-source tests' databases: SQLite, and
a real PostgreSQL server from scripts/ensure-postgres (one database per test)."""

from tests.ledger_sources.conftest import database, postgres_db, postgres_server

__all__ = ["database", "postgres_db", "postgres_server"]
