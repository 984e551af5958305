"""A study's repeat reads in the viewer: listed once due, read blinded to the first reading.

In a real napari viewer under Xvfb, driven by real Qt key presses, on a copy of the small export
(three patients) with a one-reader study built through the public API (``Store``): every case is
read again (``repeats.share = 1.0``) with no wash-out, so a case's repeat is due the moment its
first reading is finished.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from picker_keys import answer_picker
from qtpy.QtCore import Qt
from spondy_napari.grading.model import Reading
from spondy_napari.grading.room_link import (
    NOT_ASSIGNED,
    REPEAT_DUE,
    ReaderWorklist,
    StudyReading,
    reading_of,
)
from test_study_reading import export_with_study, grade_case, listed, open_room, press

from spondy_annotate.grading.readings import ReadKind, reading_label
from spondy_annotate.grading.rubric import GradingStatus, Measurement
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store

TIMEOUT_MS = 60_000
RUBRIC = default_rubric()
REPEAT = reading_label("AB", ReadKind.REPEAT)
AGAIN = Reading(ReadKind.REPEAT)

STUDY = """
readers = ["AB"]

[order]
random = true
seeds = { AB = 21 }

[blinding]
hide_dates = true

[repeats]
share = 1.0
washout_days = 0
"""


@pytest.fixture
def repeat_export(tmp_path: Path, small_export: Path) -> SimpleNamespace:
    """A copy of the small export whose project database holds the study (no answer yet)."""
    return export_with_study(tmp_path, small_export, lambda ids: STUDY)


def complete(session: GradingSession, case_id: str, kind: ReadKind = ReadKind.PAIR) -> None:
    """Answer every required field of ``case_id`` in reading ``kind``."""
    for f in RUBRIC.fields:
        if f.required:
            value = Measurement(6.0) if f.unit else f.choices[0].value
            session.record(case_id, f.key, value, kind=kind)


def test_repeat_is_listed_once_due_and_not_before(repeat_export):
    with GradingSession.open(repeat_export.db, reader="AB") as session:
        worklist = ReaderWorklist(session)
        order = worklist.order(list(repeat_export.cases))
        assigned = repeat_export.study.assigned("AB", repeat_export.ids)
        assert [session.register(c) for c in order] == assigned  # nothing due yet
        first = assigned[1]
        session.record(first, "level", "L5-S1")  # started only: not due
        assert not any(isinstance(c, StudyReading) for c in worklist.order(order))
        complete(session, first)
        relisted = worklist.order(order)
        entry = relisted[-1]
        assert len(relisted) == 4 and reading_of(entry) == AGAIN
        assert session.register(entry) == first and entry != relisted[1]
        assert worklist.state(first, AGAIN) == REPEAT_DUE
        assert worklist.state(assigned[0], AGAIN) == NOT_ASSIGNED
        assert worklist.state(first) == "done"
        complete(session, first, ReadKind.REPEAT)
        assert worklist.order(relisted)[-1] == entry  # done, still listed
        assert worklist.state(first, AGAIN) == "done"


@pytest.mark.gui
@pytest.mark.slow
def test_reader_reads_a_due_repeat_blinded_to_their_first_reading(
    make_napari_viewer, qtbot, repeat_export, monkeypatch
):
    ctx = open_room(make_napari_viewer, monkeypatch)
    answered = answer_picker(qtbot, Qt.Key.Key_Return)
    ctx.widget.open_folder(str(repeat_export.folder))
    qtbot.waitUntil(lambda: answered[-1:] == ["answered"], timeout=TIMEOUT_MS)
    grading, room, worklist = ctx.grading, ctx.room, ctx.widget.worklist
    qtbot.waitUntil(lambda: grading.grading is not None, timeout=TIMEOUT_MS)
    expected = repeat_export.study.assigned("AB", repeat_export.ids)
    assert listed(ctx) == expected  # no repeat due before a case is read
    assert worklist.header.text() == (
        "AB: 3 assigned · 0 done · 0 in progress · 0 repeats due · 0 of 3 repeats done"
    )

    first = expected[0]
    grade_case(ctx, qtbot)  # the first reading is finished: its repeat is due at once
    qtbot.waitUntil(lambda: room.current_label == expected[1], timeout=TIMEOUT_MS)
    repeat = f"{first} (repeat)"
    assert listed(ctx) == [*expected, repeat]  # after the main pass's cases
    row = room.case_ids.index(repeat)
    assert worklist.table.item(row, 1).text() == REPEAT_DUE
    assert "1 done" in worklist.header.text() and "1 repeats due" in worklist.header.text()
    with Store(repeat_export.db) as store:
        first_reading = store.history(case_id=first, reader="AB")

    qtbot.keyClicks(worklist.filter, "repeat")  # the reader picks the repeat from the list
    assert listed(ctx) == [repeat]
    qtbot.keyClick(worklist.filter, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: room.current_label == repeat, timeout=TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: grading.grading is not None and grading.grading.reading == AGAIN,
        timeout=TIMEOUT_MS,
    )
    assert grading.grading.case_id == first and grading.grading.values == {}  # blinded
    assert ctx.panel.case_label.text() == repeat
    assert all(row.value is None for row in ctx.panel.rows.values())
    assert grading.grading.current == "level"

    press(ctx, qtbot, "4")  # another level than the first reading's
    with Store(repeat_export.db) as store:
        assert (
            store.current_values(first, REPEAT, RUBRIC)["level"]
            != (store.current_values(first, "AB", RUBRIC)["level"])
        )
    press(ctx, qtbot, "l")  # back to the level field: the case is graded again from the top
    grade_case(ctx, qtbot)
    qtbot.waitUntil(lambda: worklist.table.item(row, 1).text() == "done", timeout=TIMEOUT_MS)
    assert "0 repeats due · 1 of 3 repeats done" in worklist.header.text()
    with Store(repeat_export.db) as store:
        assert store.history(case_id=first, reader="AB") == first_reading  # unchanged
        assert store.case_status(first, REPEAT, RUBRIC) is GradingStatus.DONE
        repeat_values = store.current_values(first, REPEAT, RUBRIC)
        first_values = store.current_values(first, "AB", RUBRIC)
        assert {s.reader for s in store.sessions()} == {"AB", REPEAT}
    assert repeat_values == first_values  # the same keys were pressed, the level re-answered
