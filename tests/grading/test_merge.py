"""Case identity across databases: the pseudonym key file, merging readers' databases."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pg_fixtures
import pytest
from pg_fixtures import raw

from spondy_annotate.analysis.gradings import prepare_gradings
from spondy_annotate.cli import merge_cmd, study_cmd
from spondy_annotate.errors import SpondyError, StoreError
from spondy_annotate.grading.export import gradings_table
from spondy_annotate.grading.merge import merge_databases
from spondy_annotate.grading.pseudonym import read_key_file, write_key_file
from spondy_annotate.grading.readings import CONSENSUS_READER
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.url import DbLocation

#: The fixtures of both backends (pytest finds them as this module's names).
db, pg_server, pg_url = pg_fixtures.db, pg_fixtures.pg_server, pg_fixtures.pg_url

CASES = [(f"P{i}", f"1.{i}.1", "2021-01-04", f"1.{i}.2", "2021-03-01") for i in range(4)]


def reader_db(path: Path, reader: str, change: str, *, key: str | None = None) -> list[str]:
    """A reader's own database: the cases registered, each graded (with a change of mind)."""
    with Store(path) as store:
        if key is not None:
            store.import_key(key)
        ids = [store.register_case(*case) for case in CASES]
        with GradingSession(store, reader=reader) as grading:
            for case_id in ids:
                grading.record(case_id, "marrow_edema.change", "unchanged")
                grading.record(case_id, "marrow_edema.change", change)  # the current answer
    return ids


def count(db: DbLocation, table: str) -> int:
    with raw(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def run_cli(module: object, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    module.add_parser(sub)  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    return int(module.run(args))  # type: ignore[attr-defined]


def test_a_shared_key_gives_the_same_case_ids(tmp_path: Path) -> None:
    first = tmp_path / "a.sqlite"
    ids_a = reader_db(first, "AB", "improved")
    key_file = tmp_path / "key.json"
    assert run_cli(study_cmd, "study", "key", "export", str(key_file), "--db", str(first)) == 0
    assert (key_file.stat().st_mode & 0o777) == 0o600
    second = tmp_path / "b.sqlite"
    assert run_cli(study_cmd, "study", "key", "import", str(key_file), "--db", str(second)) == 0
    assert reader_db(second, "CD", "aggravated") == ids_a
    other = tmp_path / "c.sqlite"
    assert reader_db(other, "EF", "improved") != ids_a  # its own key: other case IDs
    with pytest.raises(StoreError, match="registered case"):
        run_cli(study_cmd, "study", "key", "import", str(key_file), "--db", str(other))
    with pytest.raises(StoreError, match="never overwritten"):
        write_key_file(key_file, read_key_file(key_file))
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(StoreError, match="not a spondy-annotate pseudonym key"):
        read_key_file(tmp_path / "bad.json")


def test_merge_keeps_every_answer_and_is_idempotent(tmp_path: Path, db: DbLocation) -> None:
    a, b, target = tmp_path / "a.sqlite", tmp_path / "b.sqlite", db  # into a file, a server
    ids_a = reader_db(a, "AB", "improved")
    reader_db(b, "CD", "aggravated")  # another key: other case IDs for the same patients
    before = {p: count(p, "answers") for p in (a, b)}
    assert before == {a: 8, b: 8}
    first = merge_databases([a, b], target)
    assert [(c.cases_added, c.answers_added, c.answers_present) for c in first] == [
        (4, 8, 0),
        (0, 8, 0),
    ]
    assert count(target, "answers") == 16 and count(target, "sessions") == 2
    with Store(target) as store:
        assert sorted(c.case_id for c in store.cases()) == sorted(ids_a)  # the first key
        history = store.history(case_id=ids_a[0])
        assert [(h.reader, h.value) for h in history] == [
            ("AB", "unchanged"), ("AB", "improved"), ("CD", "unchanged"), ("CD", "aggravated"),
        ]  # fmt: skip
        table = gradings_table(store, include_identifiers=True)
    assert table["case_id"].nunique() == 4  # not 8
    again = merge_databases([a, b], target)
    assert [(c.answers_added, c.answers_present) for c in again] == [(0, 8), (0, 8)]
    assert count(target, "answers") == 16
    assert {p: count(p, "answers") for p in (a, b)} == before  # sources untouched
    with pytest.raises(StoreError, match="target database itself"):
        merge_databases([target], target)


def test_merge_cli_prints_what_each_source_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, target = tmp_path / "a.sqlite", tmp_path / "all.sqlite"
    reader_db(a, "AB", "improved")
    assert run_cli(merge_cmd, "merge", str(a), "--into", str(target)) == 0
    assert "4 case(s), 1 session(s), 8 answer(s) added (0 already there)" in capsys.readouterr().out


def test_analysis_refuses_a_patient_under_two_case_ids(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    ids_a = reader_db(a, "AB", "improved")
    ids_b = reader_db(b, "CD", "aggravated")
    both = pd.concat(
        [gradings_table(p, include_identifiers=True) for p in (a, b)], ignore_index=True
    )
    with pytest.raises(SpondyError) as info:
        prepare_gradings(both)
    message = str(info.value)
    assert "\n" not in message and "and 3 more patient(s)" in message
    pairs = [", ".join(sorted(ids)) for ids in zip(ids_a, ids_b, strict=True)]
    assert any(f"case IDs {pair} are one patient and date pair" in message for pair in pairs)
    assert "P0" not in message  # names case IDs, never the patient ID


def test_merge_copies_the_study_and_consensus_links(tmp_path: Path, db: DbLocation) -> None:
    source = tmp_path / "a.sqlite"
    with Store(source) as store:
        store.set_study('readers = ["AB"]\nadjudicators = ["GH"]\n')
    case = reader_db(source, "AB", "improved")[0]
    with Store(source) as store:
        settled = store.history(case_id=case, reader="AB")[-1]
        session = store.start_session(CONSENSUS_READER, rubric=default_rubric())
        store.record_consensus(
            session, case, "marrow_edema.change", "aggravated", [settled.answer_id]
        )
    for added in (1, 0):  # the second merge adds nothing
        (counts,) = merge_databases([source], db)
        assert (counts.links_added, counts.answers_added) == (added, 9 * added)
    with Store(db) as target:
        assert target.study() is not None and target.study().readers == ("AB",)
        ((consensus_id, (settled_id,)),) = target.consensus_links().items()
        by_id = {a.answer_id: a for a in target.history()}
    assert (by_id[consensus_id].reader, by_id[consensus_id].value) == (
        CONSENSUS_READER,
        "aggravated",
    )
    assert (by_id[settled_id].answer_uuid, by_id[settled_id].value) == (
        settled.answer_uuid,
        "improved",
    )
