"""A grading session on a synthetic export: cases registered once, answers, view state, blinding."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pg_fixtures
import pytest
from pg_fixtures import raw
from pg_server import PostgresServer, running_postgres

from spondy_annotate.cases.pairing import Case, CaseStatus, find_cases
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.errors import StoreError
from spondy_annotate.grading.journal import journal_path
from spondy_annotate.grading.readings import ReadKind
from spondy_annotate.grading.rubric import GradingStatus, Measurement
from spondy_annotate.grading.rubric_toml import default_rubric, load_rubric
from spondy_annotate.grading.session import (
    OFFSET_KEY,
    OPENED_KEY,
    SLICE_KEY,
    GradingSession,
    ViewState,
    case_key,
)
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.url import DbLocation, is_postgres_url

#: The fixtures of both backends (pytest finds them as this module's names).
db, pg_server, pg_url = pg_fixtures.db, pg_fixtures.pg_server, pg_fixtures.pg_url

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture(scope="module")
def cases(mixed_export: Path) -> list[Case]:
    """Two patients with a baseline and a follow-up, one with a single study."""
    found = find_cases(index_folder(mixed_export).series)
    assert [c.status for c in found] == [CaseStatus.READY, CaseStatus.READY, CaseStatus.INCOMPLETE]
    return found


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    return tmp_path / "export.spondy.sqlite"


@pytest.fixture
def grading(db: DbLocation) -> Iterator[GradingSession]:
    with GradingSession.open(db, reader="AB", settings={"front_end": "test"}) as g:
        yield g


def complete(grading: GradingSession, case_id: str) -> None:
    """Answer every required field of the rubric."""
    for f in grading.rubric.fields:
        if f.required:
            grading.record(case_id, f.key, Measurement(6.0) if f.unit else f.choices[0].value)


# ----------------------------------------------------------------------------- opening


def test_open_logs_a_session(grading: GradingSession, db: DbLocation) -> None:
    assert grading.path == db and (is_postgres_url(db) or Path(db).exists())
    assert (grading.reader, grading.rubric) == ("AB", default_rubric())
    assert (grading.case_order_seed, grading.hide_dates) == (None, False)
    (logged,) = grading.store.sessions()
    assert logged == grading.session
    assert logged.settings == {"front_end": "test"} and ISO_MS.match(logged.started_at)


def test_open_missing_database_without_create(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite"
    with pytest.raises(StoreError, match="no such grading database"):
        GradingSession.open(path, reader="AB", create=False)
    assert not path.exists()


def test_bad_reader_refused_and_database_closed(db: DbLocation) -> None:
    with pytest.raises(ValueError, match="reader"):
        GradingSession.open(db, reader="  ")
    with Store(db) as store:
        assert store.sessions() == []  # nothing logged; the file is usable again


def test_closed_session_refuses(db: DbLocation, cases: list[Case]) -> None:
    with GradingSession.open(db, reader="AB") as g:
        case_id = g.register(cases[0])
        assert case_id is not None
    g.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        g.record(case_id, "level", "L4-L5")


# ----------------------------------------------------------------------------- cases


def test_register_gives_pseudonyms_of_ready_cases(
    grading: GradingSession, cases: list[Case]
) -> None:
    ids = [grading.register(c) for c in cases]
    assert ids[2] is None  # a single study: nothing to grade, nothing registered
    assert all(re.fullmatch(r"C-[0-9A-F]{6}", i or "") for i in ids[:2]) and ids[0] != ids[1]
    assert not any(c.patient_id in (i or "") for c in cases for i in ids)
    records = {r.case_id: r for r in grading.store.cases()}
    assert sorted(records) == sorted(ids[:2])
    for case, case_id in zip(cases[:2], ids[:2], strict=True):
        record = records[case_id]
        assert (record.patient_id, record.baseline_study_uid, record.followup_study_uid) == (
            case_key(case)
        )
        assert (record.baseline_date, record.followup_date) == (
            case.baseline.date, case.followup.date)  # fmt: skip
        assert record.interval_days == case.interval_days


def test_register_asks_the_database_once_per_case(sqlite_db: Path, cases: list[Case]) -> None:
    with GradingSession.open(sqlite_db, reader="AB") as grading:
        first = grading.register(cases[0])
        other = sqlite3.connect(sqlite_db, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            assert grading.register(cases[0]) == first  # cached: no write, no wait
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_case_ids_stable_across_sessions(db: DbLocation, cases: list[Case]) -> None:
    with GradingSession.open(db, reader="AB") as g:
        first = [g.register(c) for c in cases]
    with GradingSession.open(db, reader="CD", rubric=load_rubric("kowalski2007")) as g:
        assert [g.register(c) for c in reversed(cases)] == first[::-1]
        assert len(g.store.cases()) == 2


# ----------------------------------------------------------------------------- answers


def test_record_saves_at_once_and_answers_are_current(
    grading: GradingSession, cases: list[Case], db: DbLocation
) -> None:
    case_id = grading.register(cases[0])
    assert case_id is not None and grading.answers(case_id) == {}
    answer = grading.record(case_id, "marrow_edema.baseline", 2)
    assert (answer.value, answer.session_id, answer.reader) == (2, grading.session.session_id, "AB")
    with raw(db) as other:  # committed before record returned
        assert other.execute("SELECT item, field, value FROM answers").fetchall() == [
            ("marrow_edema", "baseline", "2")]  # fmt: skip
    grading.record(case_id, "marrow_edema.baseline", 3)  # a change of mind adds a row
    grading.record(case_id, "level", "L4-L5")
    grading.record(case_id, "level", None)  # cleared
    assert grading.answers(case_id) == {"marrow_edema.baseline": 3}
    assert [a.value for a in grading.store.history(case_id=case_id)] == [2, 3, "L4-L5", None]


def test_bad_answers_save_nothing(grading: GradingSession, cases: list[Case]) -> None:
    case_id = grading.register(cases[0])
    assert case_id is not None
    with pytest.raises(ValueError, match="not allowed"):
        grading.record(case_id, "marrow_edema.baseline", 9)
    with pytest.raises(KeyError, match="no field"):
        grading.record(case_id, "marrow_edema.size", 1)
    with pytest.raises(ValueError, match="no case 'C-FFFFFF'"):
        grading.record("C-FFFFFF", "level", "L4-L5")
    assert grading.store.history() == []


def test_status_follows_the_answers(grading: GradingSession, cases: list[Case]) -> None:
    done, partly = (grading.register(c) for c in cases[:2])
    assert done is not None and partly is not None
    assert grading.statuses() == {
        done: GradingStatus.NOT_STARTED,
        partly: GradingStatus.NOT_STARTED,
    }
    complete(grading, done)
    grading.record(partly, "level", "L2-L3")
    assert grading.status(done) is GradingStatus.DONE
    assert grading.statuses([partly]) == {partly: GradingStatus.PARTLY}
    with GradingSession.open(grading.path, reader="CD") as other:  # per reader
        assert other.status(done) is GradingStatus.NOT_STARTED


def test_last_case_resumes_where_the_reader_stopped(
    grading: GradingSession, cases: list[Case]
) -> None:
    first, second = (grading.register(c) for c in cases[:2])
    assert grading.last_case() is None
    grading.record(first or "", "level", "L1-L2")
    grading.save_view_state(second or "", ViewState(slice_index=3))
    with GradingSession.open(grading.path, reader="AB") as later:
        assert later.last_case() == second
    with GradingSession.open(grading.path, reader="CD") as other:
        assert other.last_case() is None


# ----------------------------------------------------------------------------- view state


def test_view_state_saved_field_by_field_and_restored(
    grading: GradingSession, cases: list[Case], db: DbLocation
) -> None:
    case_id = grading.register(cases[0])
    assert case_id is not None and grading.view_state(case_id) == ViewState()
    grading.save_view_state(case_id, ViewState(followup_offset_mm=(1.5, -2, 0.25)))
    grading.save_view_state(case_id, ViewState(slice_index=4))  # keeps the offset
    with raw(db) as other:  # the keys the napari panel has always written
        stored = dict(other.execute("SELECT key, value FROM case_state").fetchall())
    assert stored == {OFFSET_KEY: "[1.5, -2.0, 0.25]", SLICE_KEY: "4"}
    assert grading.view_state(case_id) == ViewState(
        followup_offset_mm=(1.5, -2.0, 0.25), slice_index=4
    )
    grading.note_opened(case_id)  # stamps the time
    with GradingSession.open(db, reader="AB") as later:
        state = later.view_state(case_id)
        assert (state.followup_offset_mm, state.slice_index) == ((1.5, -2.0, 0.25), 4)
        assert state.opened_at is not None and ISO_MS.match(state.opened_at)
        assert later.store.history() == []  # view state is not graded data
    with GradingSession.open(db, reader="CD") as other_reader:
        assert other_reader.view_state(case_id) == ViewState()


def test_view_state_ignores_values_of_the_wrong_type(
    grading: GradingSession, cases: list[Case]
) -> None:
    case_id = grading.register(cases[0])
    assert case_id is not None
    for key, value in ((OFFSET_KEY, [1, 2]), (SLICE_KEY, True), (OPENED_KEY, 5)):
        grading.store.set_case_state(case_id, "AB", key, value)
    assert grading.view_state(case_id) == ViewState()
    grading.store.set_case_state(case_id, "AB", OFFSET_KEY, [0, 0, "x"])
    grading.store.set_case_state(case_id, "AB", SLICE_KEY, 2)
    assert grading.view_state(case_id) == ViewState(slice_index=2)


# ----------------------------------------------------------------------------- blinding, order


def test_blinding_change_logs_a_new_session(grading: GradingSession, cases: list[Case]) -> None:
    case_id = grading.register(cases[0])
    assert case_id is not None
    first = grading.session
    assert grading.set_blinding(hide_dates=False, case_order_seed=None) is first  # no change
    second = grading.set_blinding(hide_dates=True, case_order_seed=42)
    assert second != first and (grading.hide_dates, grading.case_order_seed) == (True, 42)
    answer = grading.record(case_id, "level", "L3-L4")
    assert answer.session_id == second.session_id
    logged = grading.store.sessions("AB")
    assert [(s.hide_dates, s.case_order_seed) for s in logged] == [(False, None), (True, 42)]
    assert logged[1].settings == {"front_end": "test"}


def test_order_is_export_order_or_reproducible_from_the_logged_seed(
    db: DbLocation, cases: list[Case]
) -> None:
    many = [*cases, *(Case(f"P{i:02d}", (), CaseStatus.INCOMPLETE) for i in range(12))]
    shuffled = random.Random(1).sample(many, len(many))
    with GradingSession.open(db, reader="AB") as g:
        assert g.order(shuffled) == sorted(many, key=case_key)
    with GradingSession.open(db, reader="AB", case_order_seed=7) as g:
        order = g.order(shuffled)
        assert sorted(order, key=case_key) == sorted(many, key=case_key)
        assert order != sorted(many, key=case_key)
        assert g.order(list(reversed(shuffled))) == order  # independent of the input order
    with Store(db) as store:  # the seed logged with the session reproduces the order
        seed = store.sessions("AB")[-1].case_order_seed
    with GradingSession.open(db, reader="EF", case_order_seed=seed) as g:
        assert g.order(many) == order


# ----------------------------------------------------------------------------- a shared server


@pytest.fixture
def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own (it is stopped and started); journals in tmp_path."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with running_postgres(pg_fixtures.pg_bin(), fsync=False) as server:
        yield server


def open_shared(server: PostgresServer, case: Case) -> tuple[str, GradingSession, str]:
    """A new database on ``server``, AB's grading session on it, and ``case``'s ID there."""
    url = server.create_database("shared")
    grading = GradingSession.open(url, reader="AB")
    case_id = grading.register(case)
    assert case_id is not None
    return url, grading, case_id


@pytest.mark.parametrize("crash", [False, True], ids=["shutdown", "crash"])
def test_answers_given_while_the_server_is_down_arrive_once_back(
    own_server: PostgresServer, cases: list[Case], crash: bool
) -> None:
    url = own_server.create_database("shared")
    with GradingSession.open(url, reader="AB") as grading:
        first, second = (grading.register(c) for c in cases[:2])
        assert first is not None and second is not None
        grading.record(first, "level", "L1-L2")
        own_server.stop(immediate=crash)
        given = [
            grading.record(first, "level", "L2-L3"),
            grading.record(second, "marrow_edema.baseline", 2),
            grading.record(first, "level", None),  # cleared, still offline
        ]
        assert [a.pending for a in given] == [True] * 3 and grading.pending == 3
        with pytest.raises(StoreError, match="unreachable"):
            grading.flush()  # still down: nothing lost
        assert grading.pending == 3
        own_server.start()
        back = grading.record(second, "note", "back")  # sends the journal first, in order
        assert not back.pending and back.answer_id > 0 and grading.pending == 0
        assert grading.answers(first) == {}
    with Store(url) as store:
        history = store.history()
    assert [(a.case_id, a.key, a.value) for a in history] == [
        (first, "level", "L1-L2"),
        (first, "level", "L2-L3"),
        (second, "marrow_edema.baseline", 2),
        (first, "level", None),
        (second, "note", "back"),
    ]
    assert [a.answer_uuid for a in history[1:4]] == [a.answer_uuid for a in given]
    assert [a.answered_at for a in history[1:4]] == [a.answered_at for a in given]


def test_answers_kept_when_the_session_ends_offline_are_sent_by_the_next(
    own_server: PostgresServer, cases: list[Case]
) -> None:
    url, grading, case_id = open_shared(own_server, cases[0])
    with grading:
        own_server.stop()
        kept = grading.record(case_id, "level", "L4-L5")
        assert kept.pending
    own_server.start()
    with GradingSession.open(url, reader="CD") as other:  # another reader's journal is apart
        assert other.pending == 0
        assert other.store.history() == []
    with GradingSession.open(url, reader="AB") as again:  # sent on opening
        assert again.pending == 0
        (stored,) = again.store.history()
        assert (stored.answer_uuid, stored.value, stored.pending) == (
            kept.answer_uuid,
            "L4-L5",
            False,
        )
        assert again.flush() == 0


def test_a_repeat_read_begun_while_the_server_is_down_is_logged_once_back(
    own_server: PostgresServer, cases: list[Case]
) -> None:
    url, grading, case_id = open_shared(own_server, cases[0])
    with grading:
        own_server.stop()
        kept = grading.record(case_id, "level", "L4-L5", kind=ReadKind.REPEAT)
        assert kept.pending and kept.reader == "AB (repeat)" and grading.pending == 1
    own_server.start()
    with GradingSession.open(url, reader="AB") as again:  # sends the session, then the answer
        repeat = again.store.sessions("AB (repeat)")
        (stored,) = again.store.history()
        assert again.answers(case_id, kind=ReadKind.REPEAT) == {"level": "L4-L5"}
        assert again.answers(case_id) == {}  # the first read's answers are apart
    assert [s.session_id for s in repeat] == [kept.session_id]
    assert repeat[0].rubric == default_rubric() and repeat[0].settings == {}
    assert (stored.answer_uuid, stored.session_id) == (kept.answer_uuid, kept.session_id)


def test_journal_sent_twice_stores_each_answer_once(
    own_server: PostgresServer, cases: list[Case]
) -> None:
    url, grading, case_id = open_shared(own_server, cases[0])
    with grading:
        own_server.stop()
        grading.record(case_id, "level", "L4-L5")
        journal = journal_path(str(grading.path), "AB")
        copy = journal.read_bytes()  # as if the reply to the commit was lost, the file kept
        own_server.start()
        assert grading.flush() == 1
    journal.write_bytes(copy + b'{"answer_id": 0, "case_id": "C-')  # and a line cut by a crash
    with GradingSession.open(url, reader="AB") as again:
        assert again.pending == 0
        assert [a.value for a in again.store.history()] == ["L4-L5"]
