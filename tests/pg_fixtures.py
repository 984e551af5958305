"""A real PostgreSQL server for the tests (Debian package ``postgresql``, installed by
``scripts/install-system-packages.sh``).

Test modules import the fixtures they use (``from pg_fixtures import pg_url``), as they do
:mod:`pacs_fixtures`'. One server (:mod:`pg_server`) runs for the whole session; each test gets
a database of its own. Where PostgreSQL is not installed the tests skip saying so — except in
CI (``$CI`` set), where they fail.

``db`` runs a test on both backends: a new SQLite file, then a new PostgreSQL database;
:func:`raw` opens either with its own driver, beside the store.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pacs_fixtures import need
from pg_server import PostgresServer, postgres_bin, running_postgres

from spondy_annotate.projectdb.url import DbLocation, is_postgres_url

_numbers = itertools.count()


def pg_bin() -> Path:
    """Where PostgreSQL's programs are; skips (fails in CI) when it is not installed."""
    found = postgres_bin()
    need("PostgreSQL (initdb, postgres)", found is not None)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server on 127.0.0.1 (``fsync=off``: see :class:`PostgresServer`)."""
    with running_postgres(pg_bin(), fsync=False) as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return pg_server.create_database(f"test_{next(_numbers)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> DbLocation:
    """A new grading database: an SQLite file, then a database on the test PostgreSQL server."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "export.spondy.sqlite"


def raw(db: DbLocation) -> Any:
    """A connection of the database's own driver (autocommit), beside the store's."""
    if is_postgres_url(db):
        return psycopg.connect(str(db), autocommit=True)
    return sqlite3.connect(db, isolation_level=None)
