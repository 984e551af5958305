"""The reader study in the plugin, without a viewer: the reader's choice, their worklist, the
adjudicator's queue and case (``spondy_napari.grading.reader_choice``, ``.room_link``,
``.adjudication``), on a copy of the small export with a study built through the public API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from spondy_napari.grading.adjudication import AdjudicationQueue, CaseAdjudication
from spondy_napari.grading.keys import GradingKeys
from spondy_napari.grading.reader_choice import Blinding, reader_options
from spondy_napari.grading.room_link import NOT_ASSIGNED, NOT_QUEUED, ReaderWorklist

from spondy_annotate.cases.open import open_export
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store

RUBRIC = default_rubric()


@pytest.fixture
def opened(tmp_path: Path, small_export: Path):
    """The small export copied, opened, its cases registered: ``(opened, case IDs)``."""
    export = open_export(shutil.copytree(small_export, tmp_path / "export"))
    with GradingSession.open(export.db_path, reader="setup") as session:
        ids = [session.register(c) for c in export.cases]
    return export, ids


def make_study(db: Path, ids: list[str]) -> None:
    with Store(db) as store:
        store.set_study(
            f'readers = ["AB", "CD"]\nadjudicators = ["EF"]\n'
            f'[assignment]\ncases.AB = ["{ids[2]}", "{ids[0]}"]\n'
            "[order]\nrandom = false\n[blinding]\nhide_dates = true\n"
            "[adjudication]\ngrades_apart = 0\n"
        )


def test_readers_get_their_own_blinding_back(opened):
    export, _ = opened
    for reader, hide, seed in (("AB", True, 5), ("CD", False, None), ("AB", False, 9)):
        with GradingSession.open(
            export.db_path, reader=reader, hide_dates=hide, case_order_seed=seed
        ):
            pass
    options = reader_options(export.db_path)
    assert options.study is None and options.names == ("AB", "CD", "setup")
    assert options.blinding("AB") == Blinding(False, 9)  # the last session's
    assert options.blinding("new") == Blinding()
    assert options.choose("AB", hide_dates=True, random_order=True).blinding == Blinding(True, 9)
    drawn = options.choose("CD", hide_dates=False, random_order=True).blinding
    assert drawn is not None and drawn.case_order_seed is not None  # a first random order
    assert options.choose("CD", hide_dates=False, random_order=False).blinding == Blinding()


def test_study_sets_names_and_blinding(opened):
    export, ids = opened
    make_study(export.db_path, ids)
    options = reader_options(export.db_path)
    assert options.names == ("AB", "CD", "EF")
    assert options.is_adjudicator("EF") and not options.is_adjudicator("AB")
    assert options.blinding("AB") == Blinding(True, None)  # study order by case ID
    choice = options.choose("AB", hide_dates=False, random_order=True)  # ticks ignored
    assert choice.reader == "AB" and choice.blinding is None


def test_reader_worklist_lists_assigned_cases_first(opened):
    export, ids = opened
    make_study(export.db_path, ids)
    with GradingSession.open(export.db_path, reader="AB") as session:
        worklist = ReaderWorklist(session)
        ordered = [session.register(c) for c in worklist.order(list(export.cases))]
        assert ordered[:2] == sorted([ids[2], ids[0]])  # the study's order (by case ID)
        assert ordered[2] == ids[1]  # kept after them, not listed
        assert worklist.state(ids[1]) == NOT_ASSIGNED
        assert worklist.state(ids[0]) == "not started"
        session.record(ids[0], "level", "L4-L5")
        assert worklist.state(ids[0]) == "partly graded"


def test_adjudication_queue_and_case(opened):
    export, ids = opened
    make_study(export.db_path, ids)
    lines = {"AB": 6.0, "CD": 9.5}
    for reader, grade in (("AB", 1), ("CD", 3)):
        with GradingSession.open(export.db_path, reader=reader) as session:
            session.record(ids[1], "marrow_edema.baseline", grade)
            session.record(ids[1], "paravertebral_inflammation.baseline", 2)
            session.record(
                ids[1],
                "disc_height.baseline_mm",
                Measurement.from_points((0, 0, 0), (0, 0, lines[reader])),
            )
    with GradingSession.open(export.db_path, reader="EF") as session:
        queue = AdjudicationQueue(session)
        assert list(queue.by_case) == [ids[1]] and len(queue) == 1
        ordered = [session.register(c) for c in queue.order(list(export.cases))]
        assert ordered[0] == ids[1]
        assert queue.state(ids[1]) == "disputed: marrow_edema"
        assert queue.state(ids[0]) == NOT_QUEUED
        case = CaseAdjudication(queue, ids[1])
        assert [f.key for f in case.fields] == ["marrow_edema.baseline"]
        assert case.readers == ["AB", "CD"]
        assert [label for label, _ in case.options("marrow_edema.baseline")][:2] == [
            "None",
            "Endplate",
        ]
        keys = GradingKeys.from_rubric(RUBRIC)
        assert case.value_of_key(keys, "2") == (True, 2)
        assert case.value_of_key(keys, "i") == (False, None)
        case.step(+1)  # one field: the focus stays
        assert case.current == "marrow_edema.baseline"
        case.settle("marrow_edema.baseline", 2)
        assert case.done and queue.by_case == {} and queue.state(ids[1]) == NOT_QUEUED
        assert case.consensus["marrow_edema.baseline"] == 2


def test_measurement_consensus_takes_a_readers_line(opened):
    export, ids = opened
    with Store(export.db_path) as store:
        store.set_study(
            'readers = ["AB", "CD"]\nadjudicators = ["EF"]\n'
            "[adjudication]\nchange_differs = false\ndisc_height_mm_apart = 1.0\n"
        )
    for reader, mm in (("AB", 6.0), ("CD", 9.5)):
        with GradingSession.open(export.db_path, reader=reader) as session:
            session.record(
                ids[0], "disc_height.followup_mm", Measurement.from_points((0, 0, 0), (0, mm, 0))
            )
    with GradingSession.open(export.db_path, reader="EF") as session:
        case = CaseAdjudication(AdjudicationQueue(session), ids[0])
        assert case.current == "disc_height.followup_mm"
        labels = [label for label, _ in case.options(case.current)]
        assert labels == ["AB: 6.0 mm", "CD: 9.5 mm"]
        found, value = case.value_of_key(GradingKeys.from_rubric(RUBRIC), "2")
        assert found and isinstance(value, Measurement) and value.mm == pytest.approx(9.5)
        assert case.value_of_key(GradingKeys.from_rubric(RUBRIC), "3") == (False, None)
        case.settle(case.current, value)
        assert case.done
