"""A study's first pass in the viewer: each MRI graded alone, in random order, before the pairs.

In a real napari viewer under Xvfb, driven by real Qt key presses, on a copy of the small export
(three patients) with a one-reader study asking for the first pass
(``first_pass_per_timepoint = true``), built through the public API (``Store``).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from picker_keys import answer_picker
from qtpy.QtCore import Qt
from spondy_napari.grading.model import Reading
from spondy_napari.reading_room.room import HIDDEN_NOTE
from test_study_reading import DATE, export_with_study, listed, open_room, press

from spondy_annotate.grading.readings import ReadKind, reading_label
from spondy_annotate.grading.rubric import Measurement, Timepoint
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store

TIMEOUT_MS = 60_000
RUBRIC = default_rubric()
ALONE = reading_label("AB", ReadKind.TIMEPOINT)

STUDY = """
readers = ["AB"]

[order]
random = true
seeds = { AB = 31 }

[blinding]
hide_dates = false  # dates are shown with the pairs, never with one MRI alone
first_pass_per_timepoint = true
"""


@pytest.fixture
def first_pass_export(tmp_path: Path, small_export: Path) -> SimpleNamespace:
    """A copy of the small export whose project database holds the study (no answer yet)."""
    return export_with_study(tmp_path, small_export, lambda ids: STUDY)


@pytest.mark.gui
@pytest.mark.slow
def test_reader_grades_each_mri_alone_first(
    make_napari_viewer, qtbot, first_pass_export, monkeypatch
):
    ctx = open_room(make_napari_viewer, monkeypatch)
    answered = answer_picker(qtbot, Qt.Key.Key_Return)
    ctx.widget.open_folder(str(first_pass_export.folder))
    qtbot.waitUntil(lambda: answered[-1:] == ["answered"], timeout=TIMEOUT_MS)
    grading, room, panel = ctx.grading, ctx.room, ctx.panel
    qtbot.waitUntil(lambda: grading.grading is not None, timeout=TIMEOUT_MS)
    study = first_pass_export.study
    first_pass = study.first_pass("AB", first_pass_export.ids)
    tasks = [(c, Reading(ReadKind.TIMEPOINT, Timepoint(tp))) for c, tp in first_pass]
    assigned = study.assigned("AB", first_pass_export.ids)
    titles = [reading.title(c) for c, reading in tasks]
    assert len(tasks) == 6 and {t[0] for t in tasks} == set(assigned)
    assert listed(ctx) == [*titles, *assigned]  # each MRI alone first, then the pairs
    assert ctx.widget.worklist.header.text().startswith("AB: first pass 0 of 6 done · 3 assigned")

    case_id, reading = tasks[0]
    assert room.current_label == titles[0] and grading.grading.reading == reading
    timepoint = reading.timepoint
    assert timepoint is not None
    shown = timepoint.value
    hidden = "followup" if timepoint is Timepoint.BASELINE else "baseline"
    assert room.prepared[shown] is not None and room.prepared[hidden] is None  # one MRI only
    assert HIDDEN_NOTE in room.layers[hidden].name
    table = ctx.widget.worklist.table
    cells = [table.item(r, c).text() for r in range(len(tasks)) for c in range(table.columnCount())]
    names = [layer.name for layer in ctx.viewer.layers]
    on_screen = " | ".join([*names, ctx.widget.readout.text, ctx.viewer.title, *cells])
    assert not DATE.search(on_screen), on_screen  # no date, no interval
    assert panel.case_label.text() == titles[0]
    visible = [k for k, row in panel.rows.items() if row.isVisibleTo(panel)]
    assert visible == [
        f"marrow_edema.{shown}",
        f"paravertebral_inflammation.{shown}",
        f"disc_height.{shown}_mm",
        f"disc_height.{shown}",
    ]  # no level, no change: that MRI's fields only
    assert grading.grading.current == f"marrow_edema.{shown}"

    press(ctx, qtbot, "l")  # the level is not asked when one MRI is read alone
    assert "Not asked" in panel.hint.text() and grading.grading.current == visible[0]
    press(ctx, qtbot, "1", "2")
    tool = grading.tool
    assert tool.armed and grading.grading.current == f"disc_height.{shown}_mm"
    tool.on_line("disc_height", shown, Measurement.from_points((0, 0, 0), (0, 0, 8.0)))
    press(ctx, qtbot, "1")  # the last field: the next MRI of the first pass opens
    qtbot.waitUntil(lambda: room.current_label == titles[1], timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: grading.grading.reading == tasks[1][1], timeout=TIMEOUT_MS)
    assert ctx.widget.worklist.table.item(0, 1).text() == "done"
    assert "first pass 1 of 6 done · 3 assigned · 0 done" in ctx.widget.worklist.header.text()

    with Store(first_pass_export.db) as store:
        alone = {
            k: v for k, v in store.current_values(case_id, ALONE, RUBRIC).items() if v is not None
        }
        assert store.current_values(case_id, "AB", RUBRIC) == {}  # the pair is not read yet
    assert alone.pop(f"disc_height.{shown}_mm").mm == pytest.approx(8.0)
    assert alone == {
        f"marrow_edema.{shown}": 1,
        f"paravertebral_inflammation.{shown}": 2,
        f"disc_height.{shown}": 1,
    }
