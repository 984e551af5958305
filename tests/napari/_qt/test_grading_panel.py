"""The grading panel: keyboard grading, disc-height lines, saving, resuming, blinding.

In a real napari viewer under Xvfb (pytest-xvfb starts it), on a small synthetic export copied per
test so that each test has its own project database beside it; the keys and the model without a
viewer are in ``tests/napari/grading/test_model.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from contextlib import suppress
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from picker_keys import answer_picker
from qtpy.QtCore import Qt
from spondy_napari.grading.keys import BACKTAB, TAB, level_keys

from spondy_annotate.grading.rubric import GradingStatus, Measurement
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.location import default_db_path
from spondy_annotate.synthetic.export import disc_endpoints, read_truth

TIMEOUT_MS = 60_000
CHANGE_KEYS = {"improved": "i", "unchanged": "u", "aggravated": "a"}
RUBRIC = default_rubric()
LEVEL_KEYS = {v: k for k, v in level_keys(RUBRIC.field("level").choices).items()}


# ------------------------------------------------------------------------------ in the viewer
@pytest.fixture
def export(tmp_path: Path, small_export: Path) -> Path:
    """A private copy of the small export (its database goes beside it)."""
    return Path(shutil.copytree(small_export, tmp_path / "export"))


def open_viewer(make_napari_viewer, qtbot, folder: Path, **panel_kw):
    """Viewer + reading room + grading panel on ``folder``, first case shown and loaded."""
    from spondy_napari import GradingPanel, ReadingRoomWidget

    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reading room")
    panel = GradingPanel(viewer, room=widget.room, **panel_kw)
    viewer.window.add_dock_widget(panel, name="Grading", area="left")
    widget.open_folder(str(folder))
    room = widget.room
    grading = panel.controller
    ready = (
        (lambda: room.current_case is not None and grading.grading is not None)
        if grading.reader
        else (lambda: room.current_case is not None)
    )
    qtbot.waitUntil(ready, timeout=TIMEOUT_MS)
    return SimpleNamespace(
        viewer=viewer,
        widget=widget,
        room=room,
        panel=panel,
        qtbot=qtbot,
        grading=grading,
        canvas=viewer.window._qt_viewer.canvas.native,
    )


def press(ctx, *keys) -> None:
    """Key presses on napari's canvas, as the reader types them."""
    for key in keys:
        if key == BACKTAB:
            ctx.qtbot.keyClick(ctx.canvas, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
        elif key == TAB:
            ctx.qtbot.keyClick(ctx.canvas, Qt.Key.Key_Tab)
        else:
            ctx.qtbot.keyClick(ctx.canvas, key)


def truth_of(ctx, folder: Path):
    return read_truth(folder).set_index("patient_id").loc[ctx.room.current_case.patient_id]


def drag_line(ctx, side: str, a_world, b_world) -> None:
    """Press on ``a_world`` and release on ``b_world`` through the tool's mouse callback."""
    event = SimpleNamespace(
        type="mouse_press",
        button=1,
        modifiers=(),
        position=tuple(a_world),
        viewbox=(0, 0) if side == "baseline" else (0, 1),
        pos=(100, 100),
    )
    drag = ctx.grading.tool._on_mouse(ctx.viewer, event)
    assert drag is not None, "the line tool is not armed"
    next(drag)
    event.type, event.position, event.pos = "mouse_move", tuple(b_world), (100, 140)
    next(drag)
    event.type = "mouse_release"
    with suppress(StopIteration):
        next(drag)


def draw_truth_line(ctx, truth, side: str) -> None:
    tool, layer = ctx.grading.tool, ctx.room.layers[side]
    a, b = (tool.to_world(side, p) for p in disc_endpoints(truth, side))
    ctx.room.set_current_side(side)
    if side == "baseline":  # scroll to the disc's slice, as the reader would
        ctx.room.grid.go_to(int(np.round(layer.world_to_data(a)[0])))
    drag_line(ctx, side, a, b)


@pytest.mark.gui
def test_grade_a_case_with_keys_only(make_napari_viewer, qtbot, export):
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    room, panel = ctx.room, ctx.panel
    first, truth = room.case_index, truth_of(ctx, export)
    case_id = panel.controller.grading.case_id
    grade = {f"{item}.{tp}": str(int(truth[f"{item}_{tp}"]))
             for item in ("marrow_edema", "paravertebral_inflammation")
             for tp in ("baseline", "followup")}  # fmt: skip
    press(ctx, LEVEL_KEYS[truth["level"]])
    for item in ("marrow_edema", "paravertebral_inflammation"):
        press(
            ctx,
            grade[f"{item}.baseline"],
            grade[f"{item}.followup"],
            CHANGE_KEYS[truth[f"{item}_change"]],
        )
    assert room.state(first) == "partly graded"  # the worklist follows the answers
    assert (
        panel.controller.grading.current == "disc_height.baseline_mm"
        and panel.controller.tool.armed
    )
    draw_truth_line(ctx, truth, "baseline")
    press(ctx, "1")  # disc height grade at baseline
    assert (
        panel.controller.grading.current == "disc_height.followup_mm"
        and panel.controller.tool.armed
    )
    draw_truth_line(ctx, truth, "followup")
    press(ctx, "y")  # confidence from any field: the focus stays
    assert panel.controller.grading.current == "disc_height.followup"
    press(ctx, "2", CHANGE_KEYS[truth["disc_height_change"]])

    with Store(default_db_path(export)) as store:
        values = store.current_values(case_id, "r1", RUBRIC)
        assert store.case_status(case_id, "r1", RUBRIC) is GradingStatus.DONE
        assert [s.reader for s in store.sessions()] == ["r1"]
    expected = {
        "level": truth["level"], "confidence": "confident",
        "disc_height.baseline": 1, "disc_height.followup": 2,
        "disc_height.change": truth["disc_height_change"],
        **{k: int(v) for k, v in grade.items()},
        **{f"{i}.change": truth[f"{i}_change"] for i in ("marrow_edema", "paravertebral_inflammation")},
    }  # fmt: skip
    for tp in ("baseline", "followup"):
        measured = values.pop(f"disc_height.{tp}_mm")
        assert measured.mm == pytest.approx(truth[f"disc_height_{tp}_mm"], abs=0.01)
    assert values == expected
    qtbot.waitUntil(lambda: room.case_index not in (None, first), timeout=TIMEOUT_MS)
    assert room.state(first) == "done"
    qtbot.waitUntil(
        lambda: panel.controller.grading is not None and panel.controller.grading.case_id != case_id
    )
    assert panel.controller.grading.current == "level" and panel.controller.grading.values == {}


@pytest.mark.gui
@pytest.mark.parametrize("next_case", ["loaded", "loading", "unreadable"])
def test_keys_typed_on_through_the_auto_advance_go_to_the_next_case(
    make_napari_viewer, qtbot, export, next_case
):
    """The reader types on while the next case opens: the keys queued behind the case's last
    key are applied to the next case, in order, and the finished case stays as it was; when the
    next case still has to be loaded, they are kept for it meanwhile, and when a series of it
    cannot be loaded the case opens with that side blank and the keys go to it all the same."""
    from qtpy.QtCore import QEvent
    from qtpy.QtGui import QKeyEvent
    from qtpy.QtWidgets import QApplication

    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    room, grading, truth = ctx.room, ctx.grading, truth_of(ctx, export)
    first = grading.grading.case_id
    answers = {
        "level": "L5-S1",
        **{f"{i}.{tp}": 1 for i in ("marrow_edema", "paravertebral_inflammation")
           for tp in ("baseline", "followup")},
        "marrow_edema.change": "unchanged", "paravertebral_inflammation.change": "unchanged",
        "disc_height.baseline": 1, "disc_height.followup": 1,
        **{f"disc_height.{tp}_mm": Measurement.from_points(*map(tuple, disc_endpoints(truth, tp)))
           for tp in ("baseline", "followup")},
    }  # fmt: skip
    for key, value in answers.items():
        assert grading.answer(key, value, advance=False)
    grading.focus_field("disc_height.change")
    assert grading.tool.layers["baseline"].nshapes == 4  # the case's line is drawn
    following = room._neighbour(+1)
    for pair in room.cases[following].pairs:  # loaded: the next case opens at once
        for ref in (pair.baseline, pair.followup):
            if ref is not None:
                room.cache.get(ref)
    if next_case != "loaded":
        room.cache.clear()  # its volumes are read again, in a thread, after the keys
    if next_case == "unreadable":
        case = room.cases[following]
        followup = case.pairs[room._pair_for(case, room.current_pair.label)].followup
        Path(followup.files[0]).write_bytes(b"not DICOM")
    messages: list[str] = []
    grading.events.message.connect(lambda e: messages.append(e.value))
    for key in "i421":  # the last answer, then the next case's first three, queued together
        code = getattr(Qt.Key, f"Key_{key.upper()}")
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.postEvent(
                ctx.canvas, QKeyEvent(kind, code, Qt.KeyboardModifier.NoModifier, key)
            )
    qtbot.waitUntil(
        lambda: grading.grading is not None and len(grading.grading.values) == 3,
        timeout=TIMEOUT_MS,
    )
    assert room.case_index == following and grading.grading.case_id == room.label(following)
    assert grading.grading.values == {
        "level": "L4-L5", "marrow_edema.baseline": 2, "marrow_edema.followup": 1
    }  # fmt: skip
    assert grading.grading.current == "marrow_edema.change"
    with Store(default_db_path(export)) as store:
        done = store.history(case_id=first)
        assert [a.key for a in done] == [*answers, "disc_height.change"]
        assert store.current_values(first, "r1", RUBRIC)["disc_height.change"] == "improved"
        typed = store.history(case_id=room.label(following))
        assert [(a.key, a.value) for a in typed] == [
            ("level", "L4-L5"), ("marrow_edema.baseline", 2), ("marrow_edema.followup", 1)
        ]  # fmt: skip
    for layer in grading.tool.layers.values():  # no line of the finished case stays
        assert not layer.visible and layer.nshapes == 0
    assert ctx.panel.rows["marrow_edema.followup"].value == 1
    assert any("keys typed now are kept" in m for m in messages) is (next_case != "loaded")
    assert ("could not be loaded" in room.layers["followup"].name) is (next_case == "unreadable")


@pytest.mark.gui
def test_disc_line_measures_in_patient_mm(make_napari_viewer, qtbot, export):
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    room, panel, truth = ctx.room, ctx.panel, truth_of(ctx, export)
    room.nudge(+1)  # a follow-up offset: the line must still be measured in its own frame
    for side in ("baseline", "followup"):
        press(ctx, "d")
        assert panel.controller.tool.armed
        draw_truth_line(ctx, truth, side)
        saved = panel.controller.grading.values[f"disc_height.{side}_mm"]
        assert isinstance(saved, Measurement)
        pixel = float(min(room.layers[side].scale[1:]))
        assert saved.mm == pytest.approx(truth[f"disc_height_{side}_mm"], abs=pixel)
        ends = np.array([saved.start, saved.end])
        truth_ends = np.array(disc_endpoints(truth, side))
        assert np.abs(ends - truth_ends)[:, 1:].max() < 0.01  # in-plane: exact
        shown = room.displayed_slice(side)[0]  # both ends on the slice the side shows
        layer = room.layers[side]
        slice_x = panel.controller.tool.to_patient(side, layer.data_to_world([shown, 0, 0]))[0]
        assert ends[:, 0] == pytest.approx([slice_x, slice_x])
        assert not panel.controller.tool.armed
    # drawn over their sides, as calipers (line, two end ticks, the box of the length)
    for index, side in ((2, "baseline"), (3, "followup")):
        layer = panel.controller.tool.layers[side]
        assert ctx.viewer.layers.index(layer) == index and len(layer.data) == 4
        assert ctx.viewer.canvas.grid.position(index, ctx.viewer.layers) == (0, index - 2)
    assert ctx.viewer.layers.selection.active is room.layers[room.current_side]


@pytest.mark.slow
@pytest.mark.gui
def test_reopen_resumes_case_offset_and_answers(make_napari_viewer, qtbot, export):
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    room, panel = ctx.room, ctx.panel
    room.request_case(1)
    qtbot.waitUntil(
        lambda: (
            room.case_index == 1
            and panel.controller.grading is not None
            and room.label(1) == panel.controller.grading.case_id
        ),
        timeout=TIMEOUT_MS,
    )
    room.nudge(+2)
    offset = room.offset
    press(ctx, "4", "2")
    room.grid.go_to(2)
    panel.controller.save_slice()
    case_id = panel.controller.grading.case_id
    ctx.viewer.close()

    again = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    qtbot.waitUntil(
        lambda: (
            again.room.case_index == 1
            and again.grading.grading is not None
            and again.grading.grading.case_id == case_id
        ),
        timeout=TIMEOUT_MS,
    )
    assert again.room.current_label == case_id
    assert again.room.offset == pytest.approx(offset)
    assert again.room.grid.current_index() == 2
    panel = again.panel
    assert panel.controller.grading.values == {"level": "L4-L5", "marrow_edema.baseline": 2}
    assert panel.rows["level"].combo.currentData() == "L4-L5"
    assert panel.rows["marrow_edema.baseline"].buttons[2].isChecked()
    assert panel.controller.grading.current == "marrow_edema.followup"  # the first empty field
    assert again.room.state(1) == "partly graded"


@pytest.mark.gui
def test_changed_answer_appends_and_shows_latest(make_napari_viewer, qtbot, export):
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    panel = ctx.panel
    press(ctx, "m", "1")
    assert panel.controller.grading.current == "marrow_edema.followup"
    press(ctx, BACKTAB, "3")
    case_id = panel.controller.grading.case_id
    with Store(default_db_path(export)) as store:
        rows = [a for a in store.history(case_id=case_id) if a.key == "marrow_edema.baseline"]
        assert [a.value for a in rows] == [1, 3]
        assert store.current_values(case_id, "r1", RUBRIC)["marrow_edema.baseline"] == 3
    row = panel.rows["marrow_edema.baseline"]
    assert row.buttons[3].isChecked() and not row.buttons[1].isChecked()
    assert "> half" in row.shown.text()
    panel.controller.focus_field("marrow_edema.baseline")
    panel.controller.handle_key("Delete")  # clearing is an answer too
    with Store(default_db_path(export)) as store:
        assert "marrow_edema.baseline" not in store.current_values(case_id, "r1", RUBRIC)
        assert len(store.history(case_id=case_id)) == 3


@pytest.mark.gui
def test_reader_and_blinding_are_chosen_before_any_image_and_kept(
    make_napari_viewer, qtbot, export, monkeypatch
):
    from spondy_napari import GradingPanel, ReadingRoomWidget

    monkeypatch.delenv("SPONDY_READER", raising=False)

    def ticked(picker) -> bool:
        return picker.hide_dates.isChecked()

    def visit(*keys) -> bool:
        """Open the export, answer the picker with ``keys``; whether Hide was ticked for AB."""
        viewer = make_napari_viewer()
        widget = ReadingRoomWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Reading room")
        panel = GradingPanel(viewer, room=widget.room)
        viewer.window.add_dock_widget(panel, name="Grading", area="left")
        readers_at_first_case: list[object] = []
        answered = answer_picker(qtbot, *keys)
        widget.room.events.case.connect(
            lambda e: readers_at_first_case.append(panel.controller.reader)
        )
        widget.open_folder(str(export))
        qtbot.waitUntil(lambda: answered[-1:] == ["answered"], timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: panel.controller.grading is not None, timeout=TIMEOUT_MS)
        assert readers_at_first_case[0] == "AB"  # the first case came after the name
        assert panel.controller.session.hide_dates and widget.room.hide_dates
        assert panel.hide_dates.isChecked() and panel.hide_dates.isEnabled()  # no study
        assert "AB" in panel.reader_label.text() and not panel.reader_button.isVisibleTo(panel)
        for layer in widget.room.layers.values():
            assert not any(ch.isdigit() for ch in layer.name.split("·")[0])
        assert widget.room.current_label == panel.controller.grading.case_id
        assert not panel.set_reader("CD") and panel.controller.reader == "AB"
        viewer.close()
        return answered[0]

    # the first visit ticks Hide study dates; the second finds it ticked: kept for AB
    assert visit("AB", ticked, Qt.Key.Key_Tab, Qt.Key.Key_Space, Qt.Key.Key_Return) is False
    assert visit("AB", ticked, Qt.Key.Key_Return) is True
    with Store(default_db_path(export)) as store:
        assert [(s.reader, s.hide_dates) for s in store.sessions()] == [("AB", True)] * 2


@pytest.mark.gui
def test_no_reader_no_grading(make_napari_viewer, qtbot, export, monkeypatch):
    from spondy_napari import GradingPanel, ReadingRoomWidget

    monkeypatch.delenv("SPONDY_READER", raising=False)
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    panel = GradingPanel(viewer, room=widget.room)
    answered = answer_picker(qtbot, Qt.Key.Key_Escape)  # the reader declines
    widget.open_folder(str(export))
    qtbot.waitUntil(lambda: widget.room.current_case is not None, timeout=TIMEOUT_MS)
    assert answered[-1] == "answered" and panel.controller.session is None
    assert not panel.controller.is_grading and not panel.controller.handle_key("3")
    with Store(default_db_path(export)) as store:
        assert store.sessions() == []  # nothing is graded before a reader is known
    assert panel.reader_button.isVisibleTo(panel)


@pytest.mark.gui
def test_blinded_reading_order_and_dates(make_napari_viewer, qtbot, export):
    ctx = open_viewer(
        make_napari_viewer, qtbot, export, reader="r1", case_order_seed=7, hide_dates=True
    )
    room = ctx.room
    assert room.cases == ctx.grading.session.order(room.cases)  # the seeded order
    for layer in room.layers.values():
        assert not any(ch.isdigit() for ch in layer.name.split("·")[0])
    with Store(default_db_path(export)) as store:
        session = store.sessions()[-1]
    assert session.case_order_seed == 7 and session.hide_dates
    text = " ".join(w.text() for w in ctx.panel.findChildren(type(ctx.panel.progress)))
    assert "CRP" not in text and "ESR" not in text


@pytest.mark.gui
def test_store_errors_are_one_line_notifications(make_napari_viewer, qtbot, export, monkeypatch):
    import spondy_napari.grading.controller as controller

    shown: list[str] = []
    monkeypatch.setattr(controller, "show_error", shown.append)
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    press(ctx, "4")
    ctx.grading.session.close()  # the database goes away under the panel
    press(ctx, "2")
    assert len(shown) == 1 and shown[0].startswith("Not saved:") and "\n" not in shown[0]
    assert ctx.grading.grading.values == {"level": "L4-L5"}
    assert ctx.grading.grading.current == "marrow_edema.baseline"


@pytest.mark.gui
def test_help_lists_the_grading_keys(make_napari_viewer, qtbot, export):
    from spondy_napari import ReadingRoomWidget
    from spondy_napari._qt.help_overlay import help_html

    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    html = help_html(ctx.room.help_sections)
    assert "Grading keys" in html and "improved / unchanged / aggravated" in html
    ctx.qtbot.keyClick(ctx.canvas, Qt.Key.Key_F1)
    assert "improved / unchanged / aggravated" in ctx.widget.help_overlay.text()
    other = ReadingRoomWidget(make_napari_viewer())  # another viewer, nobody grading there
    assert "Grading keys" not in help_html(other.room.help_sections)


@pytest.mark.gui
@pytest.mark.slow
def test_keypress_benchmark_runs():
    script = Path(__file__).parents[3] / "benchmarks" / "keypresses.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "key presses: 10" in out.stdout


@pytest.mark.gui
def test_return_accepts_the_suggested_change(make_napari_viewer, qtbot, export):
    ctx = open_viewer(make_napari_viewer, qtbot, export, reader="r1")
    press(ctx, "m", "2", "1")
    assert ctx.grading.grading.current == "marrow_edema.change"
    assert "suggest <b>improved</b>" in ctx.panel.hint.text()
    ctx.qtbot.keyClick(ctx.canvas, Qt.Key.Key_Return)
    assert ctx.grading.grading.values["marrow_edema.change"] == "improved"


@pytest.mark.gui
def test_panel_waits_for_the_reading_room(make_napari_viewer, qtbot):
    from spondy_napari import GradingPanel, ReadingRoomWidget

    viewer = make_napari_viewer()
    panel = GradingPanel(viewer, reader="r1")
    assert panel.controller.room is None and "reading room" in panel.case_label.text()
    widget = ReadingRoomWidget(viewer)
    qtbot.waitUntil(lambda: panel.controller.room is widget.room, timeout=5000)
