"""Reader studies through Store and GradingSession: blinding, order, progress, adjudication."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from spondy_annotate.errors import ConfigError
from spondy_annotate.grading.export import gradings_table
from spondy_annotate.grading.progress import study_status
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store
from spondy_annotate.grading.study import StudyError, parse_study

STUDY = """\
readers = ["AB", "CD", "EF"]
adjudicators = ["GH"]

[blinding]
hide_dates = true

[repeats]
share = 0.5
washout_days = 14

[adjudication]
items = ["marrow_edema", "disc_height"]
change_differs = true
grades_apart = 1
disc_height_mm_apart = 2.0
"""
N_CASES = 6


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "study.sqlite"
    with Store(path) as store:
        store.set_study(STUDY)
        for i in range(N_CASES):
            store.register_case(f"P{i}", f"1.{i}.1", "2021-01-04", f"1.{i}.2", "2021-03-01")
    return path


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db) as s:
        yield s


def grade(
    grading: GradingSession, case_id: str, change: str = "improved", base: int = 2, mm: float = 8.0
) -> None:
    """Answer every required field of the default rubric for ``case_id``."""
    rubric = grading.rubric
    grading.record(case_id, "level", "L4-L5")
    for item in rubric.items:
        grading.record(case_id, f"{item.id}.baseline", base if item.id == "marrow_edema" else 1)
        grading.record(case_id, f"{item.id}.followup", 1)
        grading.record(
            case_id, f"{item.id}.change", change if item.id == "marrow_edema" else "unchanged"
        )
        if item.type.value == "measurement":
            grading.record(case_id, f"{item.id}.baseline_mm", Measurement(mm))
            grading.record(case_id, f"{item.id}.followup_mm", Measurement(mm - 1))


def test_study_text_records_the_drawn_seeds_and_refuses_bad_definitions() -> None:
    study = parse_study(STUDY)
    assert set(study.seeds) == {"AB", "CD", "EF"}
    assert parse_study(study.text).seeds == study.seeds  # recorded: the order is reproducible
    assert study.rule.grades_apart == 1 and study.rule.disc_height_mm_apart == 2.0
    for text, match in [
        ('readers = ["consensus"]', "reserved"),
        ('readers = ["AB (repeat)"]', "reserved"),
        ('readers = ["AB"]\n[repeats]\nshare = 1.5', "share"),
        ('readers = ["AB"]\ncolour = 1', "unknown key"),
        ("readers = []", "at least one"),
    ]:
        with pytest.raises(StudyError, match=match):
            parse_study(text)
    assert issubclass(StudyError, ConfigError)


def test_a_study_cannot_change_once_reading_started(store: Store) -> None:
    store.set_study(STUDY.replace('"EF"]', '"EF", "IJ"]'))  # before reading: allowed
    case = store.cases()[0].case_id
    with GradingSession(store, reader="AB") as grading:
        grading.record(case, "level", "L4-L5")
    with Store(store.path) as again, pytest.raises(StudyError, match="reading has started"):
        again.set_study(STUDY)


def test_session_takes_blinding_and_order_from_the_study(store: Store) -> None:
    study = store.study()
    assert study is not None
    grading = GradingSession(store, reader="AB")
    assert grading.hide_dates is True
    assert grading.case_order_seed == study.seeds["AB"]
    with pytest.raises(StudyError, match="cannot change"):
        GradingSession(store, reader="AB", hide_dates=False)
    with pytest.raises(StudyError, match="study sets the blinding"):
        grading.set_blinding(hide_dates=False, case_order_seed=None)
    with pytest.raises(StudyError, match="not a reader"):
        GradingSession(store, reader="ZZ")
    ids = [c.case_id for c in store.cases()]
    order_ab, order_cd = study.assigned("AB", ids), study.assigned("CD", ids)
    assert sorted(order_ab) == sorted(ids) and order_ab != order_cd  # seeded per reader
    assert study.assigned("AB", reversed(ids)) == order_ab


def test_status_counts_done_in_progress_and_due_repeats(store: Store) -> None:
    study = store.study()
    assert study is not None
    ids = [c.case_id for c in store.cases()]
    grading = GradingSession(store, reader="AB")
    for case_id in ids:
        grade(grading, case_id)
    grading_cd = GradingSession(store, reader="CD")
    grading_cd.record(ids[0], "level", "L4-L5")
    rubric = default_rubric()
    now = dt.datetime.now(dt.timezone.utc)
    status = {r.reader: r for r in study_status(store, rubric, now=now).readers}
    assert (status["AB"].assigned, status["AB"].done, status["AB"].in_progress) == (6, 6, 0)
    assert (status["CD"].done, status["CD"].in_progress, status["CD"].not_started) == (0, 1, 5)
    repeats = study.repeats("AB", ids)
    assert status["AB"].repeats == len(repeats) and status["AB"].repeats_due == 0  # wash-out
    later = study_status(store, rubric, now=now + dt.timedelta(days=15))
    assert later.readers[0].repeats_due == len(repeats)
    for case_id in repeats[:1]:
        for key, value in grading.answers(case_id).items():
            grading.record(case_id, key, value, kind=ReadKind.REPEAT)
    after = study_status(store, rubric, now=now + dt.timedelta(days=15)).readers[0]
    assert after.repeats_done == min(1, len(repeats))
    assert after.repeats_due == len(repeats) - after.repeats_done
    assert {r.reader for r in store.latest_answers()} >= {"AB", "CD"}


def test_adjudication_queue_consensus_rows_links_and_export(store: Store) -> None:
    ids = [c.case_id for c in store.cases()][:3]
    readers = {name: GradingSession(store, reader=name) for name in ("AB", "CD", "EF")}
    # case 0: all agree; case 1: EF judges the change differently; case 2: CD's grade is
    # 2 apart (more than 1) and EF's disc height 3 mm apart (more than 2)
    for name, grading in readers.items():
        grade(grading, ids[0])
        grade(grading, ids[1], change="aggravated" if name == "EF" else "improved")
        grade(grading, ids[2], base=0 if name == "CD" else 2, mm=11.0 if name == "EF" else 8.0)
    adjudicator = GradingSession(store, reader="GH")
    queue = adjudicator.adjudication_queue()
    assert {(d.case_id, d.item) for d in queue} == {
        (ids[1], "marrow_edema"), (ids[2], "marrow_edema"), (ids[2], "disc_height"),
    }  # fmt: skip
    by_place = {(d.case_id, d.item): d for d in queue}
    changed = by_place[(ids[1], "marrow_edema")]
    assert changed.fields == ("marrow_edema.change",)
    assert {a.reader for a in changed.answers} == {"AB", "CD", "EF"}
    grades = by_place[(ids[2], "marrow_edema")]
    assert grades.fields == ("marrow_edema.baseline",) and "2 apart" in grades.reasons[0]
    assert by_place[(ids[2], "disc_height")].fields == (
        "disc_height.baseline_mm",
        "disc_height.followup_mm",
    )
    with pytest.raises(StudyError, match="not an adjudicator"):
        readers["AB"].settle(changed, {"marrow_edema.change": "improved"})
    stored = adjudicator.settle(changed, {"marrow_edema.change": "improved"})
    assert [a.reader for a in stored] == [CONSENSUS_READER]
    links = store.consensus_links(ids[1])
    assert links == {stored[0].answer_id: tuple(sorted(a.answer_id for a in changed.answers))}
    assert {(d.case_id, d.item) for d in adjudicator.adjudication_queue()} == {
        (ids[2], "marrow_edema"), (ids[2], "disc_height"),
    }  # fmt: skip
    table = gradings_table(store)
    consensus = table[(table["reader"] == CONSENSUS_READER) & table["change"].notna()]
    assert list(consensus[["case_id", "item", "change"]].itertuples(index=False, name=None)) == [
        (ids[1], "marrow_edema", "improved")
    ]
    session = [s for s in store.sessions() if s.reader == CONSENSUS_READER][0]
    assert session.settings["adjudicator"] == "GH"


def test_a_repeat_and_a_timepoint_read_are_kept_apart(store: Store) -> None:
    case = store.cases()[0].case_id
    grading = GradingSession(store, reader="AB")
    grading.record(case, "marrow_edema.baseline", 2)
    grading.record(case, "marrow_edema.baseline", 3, kind=ReadKind.REPEAT)
    grading.record(case, "marrow_edema.baseline", 1, kind=ReadKind.TIMEPOINT)
    values = {a.reader: a.value for a in store.latest_answers()}
    assert values == {"AB": 2, "AB (repeat)": 3, "AB (timepoint)": 1}


def test_study_cli_create_show_set_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import json

    from spondy_annotate.cli import study_cmd

    def run(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        study_cmd.add_parser(parser.add_subparsers())
        return study_cmd.run(parser.parse_args(["study", *argv]))

    db, toml = tmp_path / "p.sqlite", tmp_path / "study.toml"
    toml.write_text(STUDY)
    assert run("create", str(toml), "--db", str(db)) == 0
    with pytest.raises(StudyError, match="has a study already"):
        run("create", str(toml), "--db", str(db))
    capsys.readouterr()
    assert run("show", "--db", str(db)) == 0
    shown = capsys.readouterr().out
    assert "[order.seeds]" in shown  # the drawn seeds are recorded
    with Store(db) as store:
        case = store.register_case("P1", "1.1", None, "1.2", None)
        GradingSession(store, reader="CD").record(case, "level", "L4-L5")
    assert run("status", "--db", str(db), "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert [(r["reader"], r["assigned"], r["in_progress"]) for r in status["readers"]] == [
        ("AB", 1, 0), ("CD", 1, 1), ("EF", 1, 0),
    ]  # fmt: skip
    with pytest.raises(StudyError, match="reading has started"):
        run("set", str(toml), "--db", str(db))
