"""The grading tables on a real PostgreSQL server: the grading role, migrations, passwords,
many writers at once."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pg_fixtures
import psycopg
import pytest
from pg_fixtures import raw

from spondy_annotate.errors import StoreError
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb import postgres
from spondy_annotate.projectdb.database import Connection, ServerUnreachableError, open_database
from spondy_annotate.projectdb.postgres import VERSION_KEY, grading_role_sql
from spondy_annotate.projectdb.schema import SCHEMA_VERSION
from spondy_annotate.projectdb.url import display_name

#: The fixtures of the test server (pytest finds them as this module's names).
pg_server, pg_url = pg_fixtures.pg_server, pg_fixtures.pg_url


def reader_url(owner_url: str, role: str) -> str:
    """The URL of the same database as ``owner_url``, as ``role``."""
    return owner_url.replace("postgresql://postgres@", f"postgresql://{role}@")


def test_grading_role_may_add_but_never_change_or_delete(pg_url: str) -> None:
    with Store(pg_url) as owner:  # the owner makes the schema
        case = owner.register_case("P1", "1.1", None, "1.2", None)
    database = pg_url.rsplit("/", 1)[1]
    with raw(pg_url) as conn:
        conn.execute("CREATE ROLE reader_ab LOGIN")
        conn.execute(grading_role_sql("reader_ab", database))
    url = reader_url(pg_url, "reader_ab")
    with Store(url) as store:  # a reader grades through the role
        session = store.start_session("AB", rubric=default_rubric())
        store.record_answer(session, case, "level", "L4-L5")
        store.register_case("P1", "1.1", "2020-01-02", "1.2", None)  # fills a missing date
        store.set_case_state(case, "AB", "slice_index", 3)
        store.set_case_state(case, "AB", "slice_index", 4)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in (
            "UPDATE answers SET value = '0'",
            "DELETE FROM answers",
            "DELETE FROM consensus_links",
            "TRUNCATE answers",
            "DROP TABLE answers",
            "CREATE TABLE mine (x INT)",
            "UPDATE meta SET value = 'x' WHERE key = 'salt'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with raw(pg_url) as conn:  # and the owner is refused by the triggers
        for statement in ("UPDATE answers SET value = '0'", "DELETE FROM answers"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.RaiseException, match="TRUNCATE is not allowed"):
            conn.execute("TRUNCATE answers CASCADE")
        assert conn.execute("SELECT value FROM answers").fetchall() == [('"L4-L5"',)]


def test_password_never_in_messages(pg_url: str) -> None:
    with_password = pg_url.replace("postgres@", "postgres:s3cret@") + "?sslmode=disable"
    with Store(with_password) as store:  # the test server trusts 127.0.0.1: any password works
        assert "s3cret" not in str(store.path) and "s3cret" not in repr(store)
        assert store.path == display_name(with_password) == f"{pg_url}?sslmode=disable"
    port = int(re.findall(r":(\d+)/", pg_url)[0])
    nowhere = with_password.replace(f":{port}/", f":{port + 1}/")  # nobody listens there
    with pytest.raises(ServerUnreachableError) as caught:
        Store(nowhere)
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith(f"{display_name(nowhere)}: the server is unreachable")


def test_workstations_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    keys: list[str] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            with Store(pg_url) as store:
                keys.append(store.pseudonym_key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(keys)) == 1  # one schema, one pseudonym key
    with raw(pg_url) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = %s", (VERSION_KEY,))
        assert int(version.fetchone()[0]) == SCHEMA_VERSION


def test_newer_database_refused_untouched(pg_url: str) -> None:
    Store(pg_url).close()
    with raw(pg_url) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = %s", (SCHEMA_VERSION + 1, VERSION_KEY))
    with pytest.raises(StoreError, match=rf"newer spondy_annotate \(schema v{SCHEMA_VERSION + 1}"):
        Store(pg_url)


WRITER = textwrap.dedent(
    """
    import sys
    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.grading.store import Store

    db, reader, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Store(db) as store:
        cases = [store.register_case(f"P{i}", f"1.{i}.1", None, f"1.{i}.2", None) for i in range(5)]
        session = store.start_session(reader, rubric=default_rubric())
        for i in range(n):
            store.record_answer(session, cases[i % 5], "note", f"{reader}-{i}")
            print(f"ack {reader}-{i}", flush=True)
    """
)


@pytest.mark.slow
def test_eight_writers_at_once_lose_and_double_nothing(tmp_path: Path, pg_url: str) -> None:
    n, writers = 500, [f"W{i}" for i in range(8)]
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_url, reader, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for reader in writers
    ]
    acked: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        acked += [line.split()[1] for line in out.splitlines()]
    assert len(acked) == 8 * n
    with Store(pg_url) as store:
        stored = [str(a.value) for a in store.history()]
        assert len(store.cases()) == 5  # all eight registered the same cases: no duplicates
    assert sorted(stored) == sorted(acked)  # every acknowledged answer, none twice


def test_same_grading_tables_and_columns_as_the_sqlite_file(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "file.sqlite"
    Store(path).close()
    local_only = {"index_cache", "index_snapshot", "alignments", "sqlite_sequence"}
    with raw(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite_columns = {
            t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
            for t in tables
            if t not in local_only
        }
    Store(pg_url).close()
    with raw(pg_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema "
            "= 'public' AND column_name != 'rowid' ORDER BY table_name, ordinal_position"
        ).fetchall()
    pg_columns: dict[str, list[str]] = {}
    for table, column in rows:
        pg_columns.setdefault(table, []).append(column)
    assert pg_columns == sqlite_columns


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            "postgresql://ab:s3cret@db:5432/study?sslmode=require&password=x",
            "postgresql://ab@db:5432/study?sslmode=require",
        ),
        ("postgres://ab@[::1]/study", "postgres://ab@[::1]/study"),
        ("postgresql:///study?host=/run/postgresql", "postgresql:///study?host=/run/postgresql"),
        ("/data/export.spondy.sqlite", "/data/export.spondy.sqlite"),
    ],
)
def test_display_name_drops_the_password(given: str, shown: str) -> None:
    assert display_name(given) == shown


CONFLICT = (
    "DO $$ BEGIN RAISE EXCEPTION 'concurrent update' USING ERRCODE = 'serialization_failure'; "
    "END $$"
)


def test_a_transaction_aborted_to_serialise_writers_runs_again(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []

    def work(conn: Connection) -> int:
        attempts.append(1)
        if len(attempts) < 3:
            conn.execute(CONFLICT)  # the server's own serialization failure (SQLSTATE 40001)
        conn.execute("INSERT INTO meta VALUES ('attempts', ?)", (str(len(attempts)),))
        return len(attempts)

    database = open_database(pg_url)
    try:
        assert database.transaction(work) == 3  # the failed attempts were rolled back
        assert database.query("SELECT value FROM meta WHERE key = 'attempts'") == [("3",)]
        monkeypatch.setattr(postgres, "RETRIES", 2)
        with pytest.raises(StoreError, match=r"^postgresql://.*: concurrent update$"):
            database.transaction(lambda conn: conn.execute(CONFLICT))
    finally:
        database.close()
