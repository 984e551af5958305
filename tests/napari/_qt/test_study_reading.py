"""A reader study in the viewer: the reader picks their name first, blinded, in the study's order;
an adjudicator settles a queued disagreement.

In a real napari viewer under Xvfb, driven by real Qt key presses, on a copy of the small export
(three patients) with a two-reader study built through the public API (``Store``,
``GradingSession``): reader AB reads two of the three cases, CD two others, one case in common,
on which they disagree; EF adjudicates.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from picker_keys import answer_picker
from qtpy.QtCore import Qt
from spondy_napari._qt.reader_picker import SET_BY_STUDY, ReaderPicker

from spondy_annotate.cases.open import open_export
from spondy_annotate.grading.readings import CONSENSUS_READER
from spondy_annotate.grading.rubric import GradingStatus, Measurement
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession
from spondy_annotate.grading.store import Store

TIMEOUT_MS = 60_000
RUBRIC = default_rubric()
#: A study date ("2021-03-04") or an interval ("(+42 d)", "42 d") anywhere on screen.
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}|\+\d+ d|\b\d+ d\b")
#: The keys of one complete case (level L5-S1, oedema 1 -> 0 improved, paravertebral 3 -> 3
#: unchanged, disc height 1 -> 1 improved); the two lines are drawn between the keys.
BEFORE_LINES, BETWEEN_LINES, AFTER_LINES = ("5", "1", "0", "i", "3", "3", "u"), ("1",), ("1", "i")

STUDY = """
readers = ["AB", "CD"]
adjudicators = ["EF"]

[assignment]
cases.AB = ["{0}", "{1}"]
cases.CD = ["{0}", "{2}"]

[order]
random = true
seeds = {{ AB = 11, CD = 12 }}

[blinding]
hide_dates = true

[adjudication]
change_differs = true
disc_height_mm_apart = 2.0
"""


def export_with_study(
    tmp_path: Path, small_export: Path, study_toml: Callable[[list[str]], str]
) -> SimpleNamespace:
    """A copy of the small export whose project database holds the study ``study_toml(case
    IDs)`` (no answer yet)."""
    folder = Path(shutil.copytree(small_export, tmp_path / "export"))
    opened = open_export(folder)
    with Store(opened.db_path) as store:
        ids = [
            store.register_case(
                c.patient_id,
                c.baseline.study_instance_uid,
                c.baseline.date,
                c.followup.study_instance_uid,
                c.followup.date,
            )
            for c in opened.cases
        ]
        study = store.set_study(study_toml(ids))
    return SimpleNamespace(
        folder=folder, db=opened.db_path, ids=ids, study=study, cases=opened.cases
    )


@pytest.fixture
def study_export(tmp_path: Path, small_export: Path) -> SimpleNamespace:
    """The small export with :data:`STUDY` (its cases named by their IDs)."""
    return export_with_study(tmp_path, small_export, lambda ids: STUDY.format(*ids))


def open_room(make_napari_viewer, monkeypatch) -> SimpleNamespace:
    """Viewer + reading room + grading panel, nobody named yet."""
    from spondy_napari import GradingPanel, ReadingRoomWidget

    monkeypatch.delenv("SPONDY_READER", raising=False)
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reading room")
    panel = GradingPanel(viewer, room=widget.room)
    viewer.window.add_dock_widget(panel, name="Grading", area="left")
    return SimpleNamespace(
        viewer=viewer,
        widget=widget,
        room=widget.room,
        panel=panel,
        grading=panel.controller,
        canvas=viewer.window._qt_viewer.canvas.native,
    )


def on_screen_text(ctx) -> str:
    """Everything a reader reads: layer names, readout, status bar, title, worklist cells."""
    table = ctx.widget.worklist.table
    cells = [
        table.item(r, c).text()
        for r in range(table.rowCount())
        for c in range(table.columnCount())
        if table.item(r, c) is not None and not table.isRowHidden(r)
    ]
    status = ctx.viewer.status
    return " | ".join(
        [
            *(layer.name for layer in ctx.viewer.layers),
            ctx.widget.readout.text,
            status if isinstance(status, str) else " ".join(map(str, status.values())),
            ctx.viewer.title,
            *cells,
            ctx.widget.worklist.header.text(),
            ctx.panel.progress.text(),
        ]
    )


def listed(ctx) -> list[str]:
    """The case labels the worklist lists, top to bottom."""
    table = ctx.widget.worklist.table
    return [table.item(r, 0).text() for r in range(table.rowCount()) if not table.isRowHidden(r)]


def press(ctx, qtbot, *keys: str) -> None:
    for key in keys:
        qtbot.keyClick(ctx.canvas, key)


def grade_case(ctx, qtbot) -> None:
    """The keys of a complete case; the disc lines as the line tool reports them."""
    press(ctx, qtbot, *BEFORE_LINES)
    tool = ctx.grading.tool
    assert tool.armed and ctx.grading.grading.current == "disc_height.baseline_mm"
    tool.on_line("disc_height", "baseline", Measurement.from_points((0, 0, 0), (0, 0, 8.0)))
    press(ctx, qtbot, *BETWEEN_LINES)
    tool.on_line("disc_height", "followup", Measurement.from_points((0, 0, 0), (0, 0, 7.5)))
    press(ctx, qtbot, *AFTER_LINES)


@pytest.mark.gui
@pytest.mark.slow
def test_reader_picks_name_first_and_reads_assigned_cases_blinded_in_order(
    make_napari_viewer, qtbot, study_export, monkeypatch
):
    ctx = open_room(make_napari_viewer, monkeypatch)
    before: dict[str, object] = {}

    def check(picker: ReaderPicker) -> None:  # while the reader chooses: nothing on screen
        before["names"] = [picker.names.item(i).text() for i in range(picker.names.count())]
        before["ticks"] = [
            (box.isChecked(), box.isEnabled()) for box in (picker.hide_dates, picker.random_order)
        ]
        before["case"] = ctx.room.current_case
        before["rows"] = ctx.widget.worklist.table.rowCount()
        before["text"] = on_screen_text(ctx)
        before["header"] = ctx.widget.worklist.header.text()

    answered = answer_picker(qtbot, check, Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_Return)
    ctx.widget.open_folder(str(study_export.folder))
    qtbot.waitUntil(lambda: answered[-1:] == ["answered"], timeout=TIMEOUT_MS)
    assert before["names"] == ["AB", "CD", "EF — adjudicator"]
    assert before["ticks"] == [(True, False), (True, False)]  # the study's, not changeable
    assert before["case"] is None and before["rows"] == 0
    assert "Choose your name" in before["header"]
    assert not DATE.search(before["text"]), before["text"]

    grading, room = ctx.grading, ctx.room
    qtbot.waitUntil(lambda: grading.grading is not None, timeout=TIMEOUT_MS)
    expected = study_export.study.assigned("AB", study_export.ids)
    assert grading.reader == "AB" and room.hide_dates and grading.blinding_fixed
    assert grading.session.case_order_seed == 11
    assert listed(ctx) == expected  # the unassigned case is not listed
    assert room.current_label == expected[0] == grading.grading.case_id
    assert not ctx.panel.hide_dates.isEnabled() and SET_BY_STUDY in ctx.panel.blinding_note.text()
    assert ctx.widget.worklist.header.text() == (
        "AB: 2 assigned · 0 done · 0 in progress · 0 repeats due"
    )
    assert not DATE.search(on_screen_text(ctx)), on_screen_text(ctx)

    press(ctx, qtbot, "5")  # the header follows the answers
    assert "1 in progress" in ctx.widget.worklist.header.text()
    grade_case(ctx, qtbot)
    qtbot.waitUntil(lambda: room.current_label == expected[1], timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: grading.grading is not None, timeout=TIMEOUT_MS)
    assert "1 done" in ctx.widget.worklist.header.text()
    assert not DATE.search(on_screen_text(ctx)), on_screen_text(ctx)
    grade_case(ctx, qtbot)
    assert ctx.widget.worklist.header.text().startswith("AB: 2 assigned · 2 done")
    assert room.current_label == expected[1]  # every assigned case done: the others stay out
    assert room.next_case() is None
    with Store(study_export.db) as store:
        statuses = store.case_statuses("AB", RUBRIC, study_export.ids)
        assert [s.reader for s in store.sessions()] == ["AB"]
        assert store.sessions()[0].hide_dates
    assert [statuses[c] for c in study_export.ids] == [
        GradingStatus.DONE if c in expected else GradingStatus.NOT_STARTED for c in study_export.ids
    ]


@pytest.mark.gui
@pytest.mark.slow
def test_adjudicator_settles_a_queued_disagreement(
    make_napari_viewer, qtbot, study_export, monkeypatch
):
    common = study_export.ids[0]
    lines = {"AB": 7.0, "CD": 10.0}
    changes = {"AB": "improved", "CD": "aggravated"}
    for reader in ("AB", "CD"):
        with GradingSession.open(study_export.db, reader=reader) as session:
            session.record(common, "marrow_edema.change", changes[reader])
            session.record(common, "paravertebral_inflammation.change", "unchanged")
            session.record(
                common,
                "disc_height.baseline_mm",
                Measurement.from_points((0, 0, 0), (0, 0, lines[reader])),
            )
    ctx = open_room(make_napari_viewer, monkeypatch)
    answered = answer_picker(qtbot, Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Return)
    ctx.widget.open_folder(str(study_export.folder))
    qtbot.waitUntil(lambda: answered[-1:] == ["answered"], timeout=TIMEOUT_MS)
    grading, room = ctx.grading, ctx.room
    qtbot.waitUntil(lambda: grading.adjudication is not None, timeout=TIMEOUT_MS)

    assert grading.reader == "EF" and grading.is_adjudicating
    assert listed(ctx) == [common]  # the queue: one case, its items in dispute
    state = ctx.widget.worklist.table.item(room.case_index, 1).text()
    assert state == "disputed: marrow_edema, disc_height"
    view = ctx.panel.adjudication
    assert view.isVisibleTo(ctx.panel) and not ctx.panel.rows["level"].isVisibleTo(ctx.panel)
    assert list(view.blocks) == ["marrow_edema.change", "disc_height.baseline_mm"]
    shown = " ".join(label.text() for label in view.findChildren(type(view.title)))
    assert "improved" in shown and "aggravated" in shown and "10.0 mm" in shown
    assert [b.text() for b in view.buttons["disc_height.baseline_mm"]] == [
        "1  AB: 7.0 mm",
        "2  CD: 10.0 mm",
    ]
    assert "2 disagreements in 1 case to settle" in ctx.widget.worklist.header.text()
    lines = ctx.viewer.layers["Readers' lines (baseline)"]  # each reader's line, labelled
    assert list(lines.features["label"])[2:] == ["AB 7.0 mm", "CD 10.0 mm"]
    assert ctx.viewer.layers.index(lines) == 4 and ctx.viewer.canvas.grid.position(
        4, ctx.viewer.layers
    ) == (0, 0)
    assert ctx.viewer.layers.selection.active is room.layers[room.current_side]

    press(ctx, qtbot, "i")  # the change: improved
    assert list(view.blocks) == ["disc_height.baseline_mm"]  # settled: it leaves the view
    assert "1 disagreement in 1 case to settle" in ctx.widget.worklist.header.text()
    view.buttons["disc_height.baseline_mm"][1].click()  # CD's line, by a click
    assert listed(ctx) == [] and grading.queue.by_case == {}
    assert "0 disagreements" in ctx.widget.worklist.header.text()

    with GradingSession.open(study_export.db, reader="EF") as session:
        assert session.adjudication_queue() == []
        store = session.store
        consensus = store.latest_answers(readers=[CONSENSUS_READER])
        links = store.consensus_links(common)
        readers_answers = {
            (a.reader, a.key): a.answer_id for a in store.latest_answers(readers=["AB", "CD"])
        }
    values = {a.key: a.value for a in consensus}
    assert values["marrow_edema.change"] == "improved"
    assert values["disc_height.baseline_mm"].mm == pytest.approx(10.0)
    for a in consensus:
        assert set(links[a.answer_id]) == {
            readers_answers[("AB", a.key)],
            readers_answers[("CD", a.key)],
        }
