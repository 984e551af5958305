"""The grading store and its database: append-only answers, pseudonyms, migrations, damage,
concurrency; on both backends (an SQLite file, a PostgreSQL server) where ``db`` is used."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pg_fixtures
import psycopg
import pytest
from pg_fixtures import raw

from spondy_annotate.dicom.index_cache import IndexCache
from spondy_annotate.errors import StoreError
from spondy_annotate.grading import pseudonym as pseudonym_module
from spondy_annotate.grading.rubric import GradingStatus, Measurement, Rubric
from spondy_annotate.grading.rubric_toml import default_rubric, load_rubric
from spondy_annotate.grading.store import Session, Store, open_store
from spondy_annotate.projectdb.database import SqliteDatabase
from spondy_annotate.projectdb.schema import APPLICATION_ID, SCHEMA_VERSION
from spondy_annotate.projectdb.url import DbLocation

#: The fixtures of both backends (pytest finds them as this module's names).
db, pg_server, pg_url = pg_fixtures.db, pg_fixtures.pg_server, pg_fixtures.pg_url

PATIENT = "PAT-0042"
UID_BASE = "1.2.826.0.1.3680043.8.498.1"
UID_FOLLOW = "1.2.826.0.1.3680043.8.498.2"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture
def rubric() -> Rubric:
    return default_rubric()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return tmp_path / "gradings.sqlite"


@pytest.fixture
def store(db: DbLocation) -> Iterator[Store]:
    with Store(db) as s:
        yield s


@pytest.fixture
def case(store: Store) -> str:
    return store.register_case(PATIENT, UID_BASE, "20190301", UID_FOLLOW, dt.date(2019, 4, 12))


@pytest.fixture
def session(store: Store, rubric: Rubric) -> Session:
    return store.start_session(
        "reader1", rubric=rubric, case_order_seed=7, hide_dates=True, app_version="9.9"
    )


# ----------------------------------------------------------------------------- opening


def test_created_with_wal_full_sync_and_version(sqlite_db: Path) -> None:
    database = SqliteDatabase(sqlite_db)
    try:
        assert sqlite_db.exists() and database.schema_version == SCHEMA_VERSION >= 2
        pragmas = ("journal_mode", "synchronous", "foreign_keys")
        values = [database.query_one(f"PRAGMA {p}")[0] for p in pragmas]
        assert values == ["wal", 2, 1]  # synchronous=FULL
    finally:
        database.close()
    with raw(sqlite_db) as c:
        assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_missing_db_not_created_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite"
    with pytest.raises(StoreError, match=f"{re.escape(str(path))}: no such grading database"):
        open_store(path, create=False)
    assert not path.exists()
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "dir.sqlite")


def test_empty_postgres_database_not_used_when_asked(pg_url: str) -> None:
    with pytest.raises(StoreError, match=f"^{re.escape(pg_url)}: no grading database there"):
        Store(pg_url, create=False)
    with raw(pg_url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
            == 0
        )


def test_postgres_database_of_other_tables_refused(pg_url: str) -> None:
    with raw(pg_url) as conn:
        conn.execute("CREATE TABLE patients (id TEXT)")
    with pytest.raises(StoreError, match="holds other tables.*not a spondy_annotate"):
        Store(pg_url)


def test_closed_store_refuses(db: DbLocation, rubric: Rubric) -> None:
    s = Store(db)
    s.close()
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.start_session("r", rubric=rubric)


# ----------------------------------------------------------------------------- cases


def test_register_case_idempotent_and_pseudonymous(store: Store, case: str) -> None:
    assert re.fullmatch(r"C-[0-9A-F]{6}", case)
    assert PATIENT not in case and "0042" not in case
    assert store.register_case(PATIENT, UID_BASE, "2019-03-01", UID_FOLLOW, None) == case
    other = store.register_case(PATIENT, UID_BASE, None, "1.2.3.4", None)
    assert other != case
    assert [c.case_id for c in store.cases()] == sorted([case, other])
    record = store.case(case)
    assert record.patient_id == PATIENT and record.baseline_date == dt.date(2019, 3, 1)
    assert record.interval_days == 42
    with pytest.raises(KeyError):
        store.case("C-000000")


def test_register_case_fills_missing_date(store: Store) -> None:
    case = store.register_case("P", "1.1", None, "1.2", None)
    store.register_case("P", "1.1", "2020-01-01", "1.2", "2020-02-01")
    assert store.case(case).interval_days == 31


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "1.1", None, "1.2", None), "patient_id"),
        (("P", "1.1", None, "1.1", None), "same study"),
        (("P", "1.1", "01.03.2019", "1.2", None), "baseline_date"),
    ],
)
def test_register_case_rejects(store: Store, args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        store.register_case(*args)


def test_pseudonym_stable_across_reopen_and_differs_across_dbs(tmp_path: Path) -> None:
    ids = []
    for name in ("a.sqlite", "a.sqlite", "b.sqlite"):
        with Store(tmp_path / name) as s:
            ids.append(s.register_case(PATIENT, UID_BASE, None, UID_FOLLOW, None))
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]  # each database has its own random salt
    salts = {
        json.dumps(
            raw(tmp_path / n).execute("SELECT value FROM meta WHERE key = 'salt'").fetchall()
        )
        for n in ("a.sqlite", "b.sqlite")
    }
    assert len(salts) == 2


def test_pseudonym_collision_gets_longer_id(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pseudonym_module.case_pseudonym

    def colliding(salt: str, *ids: str, length: int) -> str:
        return "C-AAAAAA" if length == 6 else real(salt, *ids, length=length)

    monkeypatch.setattr(pseudonym_module, "case_pseudonym", colliding)
    first = store.register_case("P1", "1.1", None, "1.2", None)
    second = store.register_case("P2", "2.1", None, "2.2", None)
    assert first == "C-AAAAAA"
    assert re.fullmatch(r"C-[0-9A-F]{8}", second)
    assert store.register_case("P2", "2.1", None, "2.2", None) == second


# ----------------------------------------------------------------------------- answers


def test_answers_append_only_latest_wins(
    store: Store, db: DbLocation, case: str, session: Session, rubric: Rubric
) -> None:
    first = store.record_answer(session, case, "marrow_edema.baseline", 2)
    second = store.record_answer(session, case, "marrow_edema.baseline", 3)
    assert second.answer_id > first.answer_id
    history = store.history(case_id=case)
    assert [(a.field, a.value) for a in history] == [("baseline", 2), ("baseline", 3)]
    assert store.current_values(case, "reader1", rubric) == {"marrow_edema.baseline": 3}
    for a in history:
        assert ISO_MS.match(a.answered_at)
        assert (a.reader, a.rubric_name, a.rubric_version, a.session_id) == (
            "reader1",
            "ahn2020",
            "1.0",
            session.session_id,
        )

    refused = (sqlite3.IntegrityError, psycopg.errors.RaiseException)
    with raw(db) as conn:
        with pytest.raises(refused, match="append-only: UPDATE is not allowed"):
            conn.execute("UPDATE answers SET value = '0'")
        with pytest.raises(refused, match="append-only: DELETE is not allowed"):
            conn.execute("DELETE FROM answers")
        with pytest.raises(refused, match="append-only"):
            conn.execute(f"DELETE FROM answers WHERE answer_id = {first.answer_id}")
        assert conn.execute("SELECT value FROM answers ORDER BY answer_id").fetchall() == [
            ("2",),
            ("3",),
        ]


def test_answer_committed_before_return(
    store: Store, db: DbLocation, case: str, session: Session
) -> None:
    store.record_answer(session, case, "level", "L4-L5")
    with raw(db) as other:  # another connection sees it while the store is still open
        assert other.execute("SELECT item, field, value FROM answers").fetchall() == [
            ("case", "level", '"L4-L5"')
        ]


def test_all_value_kinds_round_trip(
    store: Store, case: str, session: Session, rubric: Rubric
) -> None:
    line = Measurement.from_points((1.5, -20.0, 33.0), (1.5, -20.0, 41.5))
    given = {
        "level": "L5-S1",
        "marrow_edema.change": "aggravated",
        "disc_height.baseline_mm": line,
        "disc_height.followup_mm": 4.0,
        "confidence": "uncertain",
        "note": "Schmorl's node? ü",
    }
    for key, value in given.items():
        store.record_answer(session, case, key, value)
    values = store.current_values(case, "reader1", rubric)
    assert values["disc_height.baseline_mm"] == line and line.mm == pytest.approx(8.5)
    assert values["disc_height.followup_mm"] == Measurement(4.0)
    assert values == {**given, "disc_height.followup_mm": Measurement(4.0)}


def test_clearing_adds_a_row(store: Store, case: str, session: Session, rubric: Rubric) -> None:
    store.record_answer(session, case, "note", "first thought")
    store.record_answer(session, case, "note", None)
    assert store.current_values(case, "reader1", rubric) == {}
    assert [a.value for a in store.history()] == ["first thought", None]
    assert store.case_status(case, "reader1", rubric) is GradingStatus.NOT_STARTED


def test_bad_answers_store_nothing(store: Store, case: str, session: Session) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        store.record_answer(session, case, "marrow_edema.baseline", 7)
    with pytest.raises(KeyError):
        store.record_answer(session, case, "marrow_edema.size", 1)
    with pytest.raises(ValueError, match="no case 'C-FFFFFF'"):
        store.record_answer(session, "C-FFFFFF", "level", "L4-L5")
    assert store.history() == []


def test_readers_and_rubrics_kept_apart(
    store: Store, case: str, session: Session, rubric: Rubric
) -> None:
    other = store.start_session("reader2", rubric=rubric)
    kowalski = store.start_session("reader1", rubric=load_rubric("kowalski2007"))
    store.record_answer(session, case, "marrow_edema.baseline", 1)
    store.record_answer(other, case, "marrow_edema.baseline", 2)
    store.record_answer(kowalski, case, "marrow_edema.baseline", 3)
    assert store.current_values(case, "reader1", rubric) == {"marrow_edema.baseline": 1}
    assert store.current_values(case, "reader2", rubric) == {"marrow_edema.baseline": 2}
    assert store.current_answers(case, "reader1")["marrow_edema.baseline"].value == 3
    assert len(store.latest_answers()) == 3
    assert [a.reader for a in store.latest_answers(readers=["reader2"])] == ["reader2"]


# ----------------------------------------------------------------------------- sessions, state


def test_session_logged(store: Store, session: Session, rubric: Rubric) -> None:
    (logged,) = store.sessions()
    assert logged == session
    assert (logged.case_order_seed, logged.hide_dates, logged.app_version) == (7, True, "9.9")
    assert logged.rubric == rubric and logged.rubric.text == rubric.text
    assert ISO_MS.match(logged.started_at)
    assert store.sessions("nobody") == []
    assert store.stored_rubric("ahn2020") == rubric
    assert store.stored_rubric("kowalski2007") is None


def test_case_state_upsert_and_last_case(store: Store, case: str, session: Session) -> None:
    other = store.register_case("P9", "9.1", None, "9.2", None)
    assert store.last_case("reader1") is None
    store.set_case_state(case, "reader1", "slice_offset", 3)
    store.set_case_state(case, "reader1", "position", {"baseline": [12, 40.5, 3.0]})
    store.set_case_state(case, "reader1", "slice_offset", -2)
    store.set_case_state(case, "reader2", "slice_offset", 9)
    assert store.get_case_state(case, "reader1") == {
        "slice_offset": -2,
        "position": {"baseline": [12, 40.5, 3.0]},
    }
    assert store.last_case("reader1") == case
    time.sleep(0.002)
    store.record_answer(session, other, "level", "L1-L2")
    assert store.last_case("reader1") == other
    assert store.history(case_id=case) == []  # view state is not graded data


def test_case_status_progress(store: Store, case: str, session: Session, rubric: Rubric) -> None:
    other = store.register_case("P9", "9.1", None, "9.2", None)
    assert store.case_status(case, "reader1", rubric) is GradingStatus.NOT_STARTED
    store.record_answer(session, case, "level", "L4-L5")
    assert store.case_status(case, "reader1", rubric) is GradingStatus.PARTLY
    for f in rubric.fields:
        if f.required and f.key != "level":
            value = Measurement(6.0) if f.unit else f.choices[0].value
            store.record_answer(session, case, f.key, value)
    assert store.case_status(case, "reader1", rubric) is GradingStatus.DONE
    assert store.case_status(case, "reader2", rubric) is GradingStatus.NOT_STARTED
    assert store.case_statuses("reader1", rubric) == {
        case: GradingStatus.DONE,
        other: GradingStatus.NOT_STARTED,
    }
    store.record_answer(session, case, "marrow_edema.change", None)  # cleared again
    assert store.case_statuses("reader1", rubric, [case]) == {case: GradingStatus.PARTLY}


# ----------------------------------------------------------------------------- migrations, damage

V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE cases (case_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL,
    baseline_study_uid TEXT NOT NULL, baseline_date TEXT, followup_study_uid TEXT NOT NULL,
    followup_date TEXT, registered_at TEXT NOT NULL,
    UNIQUE (patient_id, baseline_study_uid, followup_study_uid));
CREATE TABLE rubrics (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL,
    source TEXT NOT NULL, stored_at TEXT NOT NULL);
CREATE TABLE sessions (session_id TEXT PRIMARY KEY, reader TEXT NOT NULL,
    started_at TEXT NOT NULL, rubric_sha256 TEXT NOT NULL REFERENCES rubrics (sha256),
    rubric_name TEXT NOT NULL, rubric_version TEXT NOT NULL, case_order_seed INTEGER,
    hide_dates INTEGER NOT NULL CHECK (hide_dates IN (0, 1)), app_version TEXT NOT NULL,
    host TEXT, pid INTEGER);
CREATE TABLE answers (answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases (case_id), reader TEXT NOT NULL,
    rubric_name TEXT NOT NULL, rubric_version TEXT NOT NULL, item TEXT NOT NULL,
    field TEXT NOT NULL, value TEXT NOT NULL, answered_at TEXT NOT NULL,
    session_id TEXT REFERENCES sessions (session_id));
CREATE TRIGGER answers_no_update BEFORE UPDATE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers
BEGIN SELECT RAISE(ABORT, 'answers are append-only: DELETE is not allowed'); END;
"""


def build_v1(path: Path, rubric: Rubric) -> None:
    """A grading database as version 1 wrote it, built by hand."""
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    t = "2020-05-01T10:00:00.000+00:00"
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("salt", "ab" * 32), ("created_at", t)])
    conn.execute(
        "INSERT INTO cases VALUES ('C-123ABC', 'P1', '1.1', '2020-01-01', '1.2', '2020-02-15', ?)",
        (t,),
    )
    conn.execute(
        "INSERT INTO rubrics VALUES (?, ?, ?, ?, ?)",
        (rubric.sha256, rubric.name, rubric.version, rubric.text, t),
    )
    conn.execute(
        "INSERT INTO sessions VALUES ('s1', 'old reader', ?, ?, 'ahn2020', '1.0', 5, 0, "
        "'0.0.1', 'host', 1)",
        (t, rubric.sha256),
    )
    conn.executemany(
        "INSERT INTO answers (case_id, reader, rubric_name, rubric_version, item, field, value, "
        "answered_at, session_id) VALUES ('C-123ABC', 'old reader', 'ahn2020', '1.0', ?, ?, ?, "
        "?, 's1')",
        [
            ("marrow_edema", "baseline", "1", t),
            ("marrow_edema", "baseline", "2", t),
            ("case", "level", '"L2-L3"', t),
        ],
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_v1_database_is_migrated(tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / "old.sqlite"
    build_v1(path, rubric)
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.current_values("C-123ABC", "old reader", rubric) == {
            "marrow_edema.baseline": 2,
            "level": "L2-L3",
        }
        (old_session,) = s.sessions()
        assert old_session.settings == {} and old_session.case_order_seed == 5
        s.set_case_state("C-123ABC", "old reader", "slice_offset", 1)  # v2 table
        assert s.last_case("old reader") == "C-123ABC"
        # the pseudonym key survived: re-registering finds the old case
        assert s.register_case("P1", "1.1", None, "1.2", None) == "C-123ABC"
    backup = tmp_path / "old.sqlite.schema-v1.bak"
    with raw(backup) as c:  # a copy of the v1 file was kept
        assert c.execute("PRAGMA user_version").fetchone()[0] == 1
        assert c.execute("SELECT count(*) FROM answers").fetchone()[0] == 3
    with raw(path) as c:
        indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "answers_current" in indexes
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            c.execute("DELETE FROM answers")
    with Store(path) as s:  # reopening does not migrate again
        assert s.schema_version == SCHEMA_VERSION


def test_newer_database_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE answers (x)")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(
        StoreError,
        match=rf"{re.escape(str(path))}: written by a newer .*"
        rf"v{SCHEMA_VERSION + 1}.*not modified",
    ):
        Store(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.sqlite"]


def test_foreign_sqlite_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a spondy_annotate grading database"):
        Store(path)
    assert path.read_bytes() == before


def test_garbage_file_reported(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(random.Random(1).randbytes(8192))
    with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: not a readable"):
        Store(path)


def test_truncated_file_reported(tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / "cut.sqlite"
    with Store(path) as s:
        session = s.start_session("r", rubric=rubric)
        cases = [s.register_case(f"P{i}", f"1.{i}.1", None, f"1.{i}.2", None) for i in range(50)]
        for c in cases:
            s.record_answer(session, c, "note", "x" * 500)
    data = path.read_bytes()
    assert len(data) > 40_000  # checkpointed into the main file on close
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: .*(damaged|malformed)"):
        Store(path)


# ----------------------------------------------------------------------------- the project file


def test_index_cache_creates_the_file_and_the_store_adds_its_key(tmp_path: Path) -> None:
    path = tmp_path / "export.spondy.sqlite"
    IndexCache(path).close()  # `index` ran first: the whole schema, no pseudonym key yet
    with raw(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone() is None
    with Store(path) as s:
        case = s.register_case(PATIENT, UID_BASE, None, UID_FOLLOW, None)
    with Store(path) as s:  # the key was created once and is kept
        assert s.register_case(PATIENT, UID_BASE, None, UID_FOLLOW, None) == case
    IndexCache(path).close()  # and the index cache opens the grading file as it is
    with raw(path) as c:
        assert c.execute("SELECT count(*) FROM meta WHERE key = 'salt'").fetchone()[0] == 1


def test_lost_pseudonym_key_refused_when_cases_exist(db: DbLocation) -> None:
    with Store(db) as s:
        s.register_case(PATIENT, UID_BASE, None, UID_FOLLOW, None)
    with raw(db) as c:
        c.execute("DELETE FROM meta WHERE key = 'salt'")
    with pytest.raises(StoreError, match=rf"^{re.escape(str(db))}: .*no pseudonym key"):
        Store(db)


# ----------------------------------------------------------------------------- processes

WRITER = textwrap.dedent(
    """
    import sys
    import time
    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.grading.store import Store

    db, reader, n, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    store = Store(db)
    cases = [store.register_case(f"P{i}", f"1.{i}.1", None, f"1.{i}.2", None) for i in range(5)]
    session = store.start_session(reader, rubric=default_rubric())
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        store.record_answer(session, cases[i % 5], "note", f"{reader}-{i}")
        print(f"ack {reader}-{i}", flush=True)
        time.sleep(pause)  # a reader's think time, so that the two writers interleave
    """
)


def start_writer(
    tmp_path: Path, db: DbLocation, reader: str, n: int, pause: float = 0.0
) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), reader, str(n), str(pause)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr
    return proc


def test_two_processes_write_concurrently(tmp_path: Path, db: DbLocation) -> None:
    n = 200
    procs = {r: start_writer(tmp_path, db, r, n, pause=0.001) for r in ("R1", "R2")}
    for p in procs.values():  # both are ready: start them together
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for reader, p in procs.items():
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.count("ack ") == n, reader
    with Store(db) as s:
        history = s.history()
        assert len(history) == 2 * n
        sessions = {x.reader: x.session_id for x in s.sessions()}
        for reader in ("R1", "R2"):
            mine = [a for a in history if a.reader == reader]
            assert sorted(str(a.value) for a in mine) == sorted(f"{reader}-{i}" for i in range(n))
            assert {a.session_id for a in mine} == {sessions[reader]}
        assert len(s.cases()) == 5  # both registered the same cases: no duplicates
    readers = [a.reader for a in history]
    switches = sum(a != b for a, b in pairwise(readers))
    assert switches > 10, "the two writers did not run at the same time"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_loses_no_acknowledged_answer(tmp_path: Path, db: DbLocation) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    acked: set[str] = set()
    for round_ in range(3):
        proc = start_writer(tmp_path, db, f"K{round_}", 1_000_000)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        target = rng.randint(1, 150)
        for count, line in enumerate(proc.stdout, start=1):
            acked.add(line.split()[1])
            if count >= target:
                break
        time.sleep(rng.uniform(0, 0.005))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # acks printed before the kill
        proc.wait()
        acked.update(line.split()[1] for line in rest.splitlines() if line.startswith("ack "))
        assert proc.returncode == -signal.SIGKILL
    with Store(db) as s:
        stored = {a.value for a in s.history()}
    lost = acked - stored
    assert not lost, f"seed {seed}: acknowledged answers lost: {sorted(lost)[:5]}"
    assert len(acked) >= 3


def test_processes_opening_a_new_database_at_once_share_one_key(db: DbLocation) -> None:
    code = (
        "import sys; from spondy_annotate.grading.store import Store\n"
        "with Store(sys.argv[1]) as s: print(s.register_case('P1', '1.1', None, '1.2', None))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    assert len({out for out, _ in results}) == 1  # one pseudonym key, one case ID
