"""A grading database behind one small interface: an SQLite file or a PostgreSQL server.

:func:`open_database` opens either, by what ``db`` is (:mod:`.url`), brought to the current
schema (:mod:`.schema`'s migrations). The grading store writes its SQL once, with ``?``
placeholders, and runs it through :meth:`Database.transaction` (several statements, committed
together) or :meth:`Database.query` (one read); the PostgreSQL side
(:class:`~spondy_annotate.projectdb.postgres.PostgresDatabase`) translates the placeholders and
retries a transaction the server aborted to serialise concurrent writers.

Both serialise their own calls with a lock, so one object may be used from worker threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from spondy_annotate.errors import StoreError
from spondy_annotate.projectdb.schema import connect, store_error
from spondy_annotate.projectdb.url import DbLocation, display_name, is_postgres_url

T = TypeVar("T")
#: Parameters of one statement, matching its ``?`` placeholders in order.
Params = Sequence[Any]


class ServerUnreachableError(StoreError):
    """The database server cannot be reached (down, restarting, the network lost)."""


class Cursor(Protocol):
    """The rows of one statement (DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a transaction's work gets: statements with ``?`` placeholders."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...


class Database(ABC):
    """An open grading database.

    Parameters
    ----------
    location
        The SQLite file, or the PostgreSQL URL (which may hold a password: never print it).
    """

    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: str

    def __init__(self, location: Path | str) -> None:
        self.location = location
        #: How messages name the database (a URL without its password).
        self.name = display_name(location)
        self._lock = threading.RLock()

    @abstractmethod
    def transaction(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction, committed (durably) when it returns.

        A read transaction (``write=False``) sees one consistent snapshot. ``work`` may be run
        again when the server aborted its transaction to serialise concurrent writers.

        Raises
        ------
        StoreError
            The database failed (locked too long, the server unreachable, a disk error); the
            transaction was rolled back.
        """

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        """The rows of one read-only statement."""
        return self.transaction(lambda conn: conn.execute(sql, params).fetchall(), write=False)

    def query_one(self, sql: str, params: Params = ()) -> Any:
        """The first row of one read-only statement, or None."""
        return self.transaction(lambda conn: conn.execute(sql, params).fetchone(), write=False)

    @property
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the database (:data:`~.schema.SCHEMA_VERSION` once open)."""

    @abstractmethod
    def close(self) -> None:
        """Close the database (idempotent)."""

    def closed_error(self) -> StoreError:
        """The error of a call after :meth:`close`."""
        return StoreError(f"{self.name}: the store is closed")


class SqliteDatabase(Database):
    """The project database file (WAL, ``synchronous=FULL``; see :mod:`.schema`)."""

    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        super().__init__(Path(path))
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = connect(self.path, create=create)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise self.closed_error()
        return self._conn

    def transaction(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise store_error(self.path, exc) from None
            return result

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def open_database(db: DbLocation, *, create: bool = True) -> Database:
    """Open the grading database ``db``: a PostgreSQL URL, or else the path of an SQLite file.

    Parameters
    ----------
    db
        ``postgresql://user@host:port/dbname?sslmode=...`` (the database must exist on the
        server; its tables are created on first use), or an SQLite file.
    create
        If false, a missing file (or an empty PostgreSQL database) is an error.

    Raises
    ------
    StoreError
        The database cannot be used (see :func:`.schema.connect` and
        :func:`.postgres.connect_postgres`).
    """
    if is_postgres_url(db):
        from spondy_annotate.projectdb.postgres import PostgresDatabase

        return PostgresDatabase(str(db), create=create)
    return SqliteDatabase(db, create=create)
