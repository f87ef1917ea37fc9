"""A real PostgreSQL server for the ledger-source tests (scripts/ensure-postgres),
and a fresh database per test on it; SQLite needs nothing."""

from __future__ import annotations

import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's SQLAlchemy URL; skipped, with the script's reason, only when no
    server can be had (no root to install or start one, no packages)."""
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    try:
        done = subprocess.run(
            [str(REPO / "scripts" / "ensure-postgres")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no PostgreSQL: scripts/ensure-postgres did not run: {exc}")
    if done.returncode != 0:
        pytest.skip(f"no PostgreSQL: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def postgres_db(postgres_server: str) -> Iterator[str]:
    """A database of its own for one test (dropped afterwards)."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(postgres_server).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        # A leftover database is litter, not a failure of the test.
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        except sa.exc.SQLAlchemyError as exc:
            warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)
        admin.dispose()


# The PostgreSQL case starts a server (scripts/ensure-postgres) behind a fixture
# looked up by name, out of the tiers' static reading: marked here.
@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.process, pytest.mark.slow])]
)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLAlchemy URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'their-books.sqlite'}"
    return str(request.getfixturevalue("postgres_db"))
