"""The grading tables on a PostgreSQL server: connecting, migrating, the grading role.

Several workstations grade into one database named by a URL
(``postgresql://reader@db.example.org/study?sslmode=verify-full``, :mod:`.url`). The server
holds what readers share: the cases and the project's one pseudonym key (so every workstation
shows the same case IDs), the study, rubrics, sessions, answers, consensus links and view
state. Each workstation's header cache and alignments stay in its local SQLite file.

* **Schema**: :data:`~.schema.MIGRATIONS`, with their ``postgresql`` statements; the version
  is ``meta.schema_version``. Migrating takes a transaction-scoped advisory lock, so
  workstations starting together migrate once; DDL is transactional, so a failed step leaves
  the previous version whole.
* **Append-only**: triggers refuse UPDATE, DELETE and TRUNCATE on ``answers`` and
  ``consensus_links`` for every role, the owner included; :func:`grading_role_sql` grants a
  reader's role no UPDATE or DELETE on them at all.
* **Concurrency**: READ COMMITTED transactions whose writes are all idempotent (``ON
  CONFLICT``; every answer carries a UUID); a transaction the server aborts to serialise
  writers (serialization failure, deadlock) is run again, up to :data:`RETRIES` times.
* **Connection**: libpq's own (``~/.pgpass``, ``PGPASSWORD``, service files, TLS from the URL).
  A connection the server dropped (a restart) is opened again and the transaction run once
  more (safe, as its writes are idempotent, even when the lost reply was a commit's); a
  server that does not answer raises :class:`ServerUnreachableError` within
  :data:`CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from spondy_annotate.errors import StoreError, one_line
from spondy_annotate.projectdb.database import (
    Connection,
    Cursor,
    Database,
    Params,
    ServerUnreachableError,
)
from spondy_annotate.projectdb.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    migration_stamp,
    utc_now,
)
from spondy_annotate.projectdb.url import display_name

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to wait for the server to answer a connection (unless the URL sets ``connect_timeout``).
CONNECT_TIMEOUT_S = 5
#: Milliseconds unacknowledged data may wait before the connection counts as lost (unless set).
TCP_USER_TIMEOUT_MS = 10_000
#: How often a transaction aborted by the server to serialise writers is run again.
RETRIES = 8
#: ``pg_advisory_xact_lock`` key held while migrating ("SPND", as the SQLite application_id).
MIGRATION_LOCK = 0x53504E44
#: ``meta`` key of the schema version (SQLite keeps it in ``PRAGMA user_version``).
VERSION_KEY = "schema_version"


def grading_role_sql(role: str, database: str) -> sql.Composed:
    """The statements giving ``role`` what a reader needs in ``database``, and nothing more.

    A reader's role may read everything and add rows; it may update only what is meant to
    change (a case's missing study date, the reader's view state); it may not update, delete
    or truncate answers or consensus links (the triggers refuse that to every role anyway),
    nor change the schema. Run them as the database's owner after the schema exists (after
    the owner opened the database once, e.g. with ``spondy-annotate study create``).
    """
    who, db = sql.Identifier(role), sql.Identifier(database)
    statements = [
        "GRANT CONNECT ON DATABASE {db} TO {who}",
        "GRANT USAGE ON SCHEMA public TO {who}",
        "REVOKE CREATE ON SCHEMA public FROM {who}",
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {who}",
        "GRANT UPDATE ON cases, case_state TO {who}",
    ]
    return sql.SQL(";\n").join(sql.SQL(s).format(db=db, who=who) for s in statements)


def connect_postgres(url: str, *, create: bool = True) -> psycopg.Connection[Any]:
    """Connect to the PostgreSQL database ``url`` and bring it to the current schema.

    Parameters
    ----------
    url
        A libpq URL; the database must exist (``createdb``), its tables are made on first use.
    create
        If false, a database without the grading tables is an error.

    Returns
    -------
    psycopg.Connection
        In autocommit mode: transactions are explicit.

    Raises
    ------
    ServerUnreachableError
        The server did not answer.
    StoreError
        The credentials were refused, the database is not a spondy_annotate database (it has
        other tables), has no grading tables (``create=False``), or was written by a newer
        version (then it is left untouched).
    """
    name = display_name(url)
    try:
        conn = psycopg.connect(url, autocommit=True, **_connection_defaults(url))
    except psycopg.OperationalError as exc:
        raise connection_error(name, exc) from None
    except psycopg.ProgrammingError as exc:  # a malformed URL
        raise StoreError(f"{name}: not a usable PostgreSQL URL ({one_line(exc)})") from None
    try:
        with _errors(name, conn):
            _migrate(conn, name, create)
    except BaseException:
        conn.close()
        raise
    return conn


def _connection_defaults(url: str) -> dict[str, Any]:
    """Time-outs for a lost server, where the URL sets none (libpq waits for ever by default)."""
    given = conninfo_to_dict(url)
    defaults = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        "application_name": "spondy_annotate",
    }
    return {k: v for k, v in defaults.items() if k not in given}


#: Words of libpq's messages when the server answered and refused (credentials, names,
#: settings): asking again will not help, unlike an unreachable server.
_REFUSALS = ("authentication", "password", "does not exist", "pg_hba.conf", "invalid", "denied")


def connection_error(name: str, exc: psycopg.OperationalError) -> StoreError:
    """The one-line error of a failed connection: unreachable, or refused (not worth retrying)."""
    text = one_line(exc)
    if any(word in text for word in _REFUSALS):
        return StoreError(f"{name}: {text}")
    return ServerUnreachableError(f"{name}: the server is unreachable ({text})")


def server_message(exc: psycopg.Error) -> str:
    """The server's one-line message of ``exc``, without libpq's CONTEXT and DETAIL lines."""
    primary = exc.diag.message_primary
    return " ".join(primary.split()) if primary else one_line(exc)


#: Errors by which the server aborts a transaction to serialise concurrent writers.
_SERIALISATION = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


@contextmanager
def _errors(name: str, conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Turn psycopg's errors on ``conn`` into one-line :class:`StoreError` naming the database.

    Raises :class:`ServerUnreachableError` when the connection is lost; leaves the errors of
    :data:`_SERIALISATION` as they are, for the caller to run the transaction again.
    """
    try:
        yield
    except _SERIALISATION:
        raise
    except psycopg.Error as exc:
        if conn.broken or conn.closed:
            raise ServerUnreachableError(f"{name}: connection lost ({one_line(exc)})") from None
        raise StoreError(f"{name}: {server_message(exc)}") from None


def _version(conn: psycopg.Connection[Any], name: str) -> int:
    """The schema version: 0 for an empty database; refuses a database of other tables."""
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    }
    if "meta" not in tables:
        if tables:
            raise StoreError(
                f"{name}: holds other tables ({len(tables)}), not a spondy_annotate grading "
                "database; use an empty database"
            )
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (VERSION_KEY,)).fetchone()
    if row is None:
        raise StoreError(f"{name}: has a meta table but no schema version; not a grading database")
    return int(row[0])


def _migrate(conn: psycopg.Connection[Any], name: str, create: bool) -> None:
    version = _version(conn, name)
    if version == 0 and not create:
        raise StoreError(f"{name}: no grading database there (no tables)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{name}: written by a newer spondy_annotate (schema v{version}; this version reads "
            f"up to v{SCHEMA_VERSION}); upgrade spondy_annotate. The database was not modified"
        )
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        version = _version(conn, name)  # another workstation may have migrated meanwhile
        now = utc_now()
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            logger.info("%s: schema v%d: %s", name, migration.version, migration.description)
            statements = migration.postgresql
            for statement in migration.statements if statements is None else statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                migration_stamp(migration, now),
            )
        if version < SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO meta VALUES ('created_at', %s) ON CONFLICT DO NOTHING", (now,)
            )
            conn.execute(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                (VERSION_KEY, str(SCHEMA_VERSION)),
            )


class _Translating:
    """A psycopg connection taking the store's ``?`` placeholders (as ``%s``)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, statement: str, params: Params = (), /) -> Cursor:
        if not params:
            return self._conn.execute(statement)
        query = statement.replace("%", "%%").replace("?", "%s")
        return self._conn.execute(query, params)


class PostgresDatabase(Database):
    """The grading tables of the PostgreSQL database at ``url`` (see the module's notes)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, create: bool = True) -> None:
        super().__init__(url)
        self._url = url
        self._conn: psycopg.Connection[Any] | None = connect_postgres(url, create=create)
        self._closed = False

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, made again after it was lost."""
        if self._closed:
            raise self.closed_error()
        if self._conn is None or self._conn.closed:
            self._conn = connect_postgres(self._url)
            logger.info("%s: connected again", self.name)
        return self._conn

    def transaction(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        with self._lock:
            attempt = 0
            while True:
                attempt += 1
                fresh = self._conn is None or self._conn.closed
                try:
                    return self._attempt(work, write)
                except _SERIALISATION as exc:
                    if attempt > RETRIES:
                        raise StoreError(f"{self.name}: {server_message(exc)}") from None
                    time.sleep(random.uniform(0.005, 0.05) * attempt)  # 1.8 s at most in all
                except ServerUnreachableError:
                    if fresh or attempt > 1:
                        raise
                    # an idle connection the server dropped (a restart): once more, anew

    def _attempt(self, work: Callable[[Connection], T], write: bool) -> T:
        """Run ``work`` once; a lost connection is closed, to be opened anew next time."""
        conn = self._connection()
        try:
            with _errors(self.name, conn), conn.transaction():
                if not write:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return work(_Translating(conn))
        except ServerUnreachableError:
            conn.close()
            raise

    @property
    def schema_version(self) -> int:
        row = self.query_one("SELECT value FROM meta WHERE key = ?", (VERSION_KEY,))
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
