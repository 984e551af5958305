"""The reading room as a radiologist uses it: real key presses, wheel events and window sizes.

Issue 11 ("PACS level"): the follow-up offset survives whatever order the reader's name, the
folder and the first case come in; the wheel pages slices (Ctrl-wheel zooms at the cursor); the
images fill their grid cells and keep the reader's zoom across cases; F11 hides the docks; the
follow-up is aligned automatically in the background, and the reader's own alignment wins.
Runs under Xvfb (pytest-xvfb).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtCore import QPoint, QPointF, Qt
from qtpy.QtGui import QWheelEvent
from qtpy.QtTest import QTest
from qtpy.QtWidgets import QApplication

from spondy_annotate.synthetic.export import read_truth

pytestmark = pytest.mark.gui
TIMEOUT_MS = 60_000
SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def export(tmp_path: Path, small_export: Path) -> Path:
    """A private copy of the small export (its project database goes beside it)."""
    return Path(shutil.copytree(small_export, tmp_path / "export"))


def open_room(make_napari_viewer, qtbot, folder: Path | None, *, align=False, panel=False, **kw):
    """A shown viewer with the reading room (and the grading panel); ``folder`` opened."""
    from spondy_napari import GradingPanel, ReadingRoomWidget

    viewer = make_napari_viewer(show=True)
    widget = ReadingRoomWidget(viewer, align=align)
    viewer.window.add_dock_widget(widget, name="Reading room", area="right")
    grading = None
    if panel:
        grading = GradingPanel(viewer, room=widget.room, **kw)
        viewer.window.add_dock_widget(grading, name="Grading", area="left")
    ctx = SimpleNamespace(
        viewer=viewer,
        widget=widget,
        room=widget.room,
        panel=grading,
        qtbot=qtbot,
        canvas=viewer.window._qt_viewer.canvas.native,
    )
    if folder is not None:
        widget.open_folder(str(folder))
        qtbot.waitUntil(lambda: ctx.room.current_case is not None, timeout=TIMEOUT_MS)
    return ctx


def type_reader(ctx, name: str) -> None:
    """The reader gives their name to the panel (as a script does; the reader picker, which
    asks before the first case, is tested in test_grading_panel.py and test_study_reading.py)."""
    ctx.panel.set_reader(name)


def key(ctx, qt_key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press on napari's canvas."""
    ctx.qtbot.keyClick(ctx.canvas, qt_key, modifiers)


def wheel(ctx, pos: tuple[float, float], angle: int, modifiers=Qt.KeyboardModifier.NoModifier):
    """A wheel event on the canvas at pixel ``pos``; 120 is one notch away from the reader."""
    local = QPointF(*pos)
    event = QWheelEvent(
        local,
        QPointF(ctx.canvas.mapToGlobal(local.toPoint())),
        QPoint(0, 0),
        QPoint(0, angle),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(ctx.canvas, event)


def world_at(ctx, pos: tuple[int, int]) -> np.ndarray:
    """The world (y, x) under canvas pixel ``pos`` (napari's cursor, after a mouse move)."""
    ctx.qtbot.mouseMove(ctx.canvas, QPoint(*pos))
    ctx.qtbot.wait(20)
    return np.asarray(ctx.viewer.cursor.position, dtype=float)[-2:]


def slices(room) -> tuple[int, int]:
    return room.slice_index["baseline"], room.slice_index["followup"]


# ------------------------------------------------------------------ the offset comes back
@pytest.mark.slow
@pytest.mark.parametrize("when", ["before the folder", "while loading", "after the first case"])
def test_offset_is_restored_whenever_the_reader_gives_their_name(
    make_napari_viewer, qtbot, export, when
):
    first = open_room(make_napari_viewer, qtbot, export, panel=True, ask_reader=False)
    type_reader(first, "AB")
    qtbot.waitUntil(lambda: first.panel.controller.grading is not None, timeout=TIMEOUT_MS)
    room = first.room
    shown = room.current_case
    key(first, Qt.Key.Key_Up, SHIFT)
    key(first, Qt.Key.Key_Up, SHIFT)
    kept = room.offset
    assert room.offset_slices() == pytest.approx(2.0)
    first.viewer.close()

    second = open_room(make_napari_viewer, qtbot, None, panel=True, ask_reader=False)
    if when == "before the folder":
        type_reader(second, "AB")
    second.widget.open_folder(str(export))
    if when == "while loading":
        type_reader(second, "AB")
    room = second.room
    qtbot.waitUntil(lambda: room.current_case is not None, timeout=TIMEOUT_MS)
    if when == "after the first case":
        type_reader(second, "AB")
    qtbot.waitUntil(lambda: second.panel.controller.grading is not None, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: room.current_case == shown, timeout=TIMEOUT_MS)  # resumed there
    np.testing.assert_allclose(room.offset, kept)
    follow = room.layers["followup"]
    base = np.asarray(room.prepared["followup"].geometry.translate)
    np.testing.assert_allclose(np.asarray(follow.translate) - base, room.offset_world())
    b, f = slices(room)
    assert room.alignment.source == "manual"
    key(second, Qt.Key.Key_Up, SHIFT)  # one more slice: from the stored offset, not from 0
    assert room.offset_slices() == pytest.approx(3.0)
    assert slices(room) == (b, f + 1)


# ------------------------------------------------------------------ the wheel
def test_wheel_pages_slices_on_both_sides_and_ctrl_wheel_zooms_at_the_cursor(
    make_napari_viewer, qtbot, small_export
):
    ctx = open_room(make_napari_viewer, qtbot, small_export)
    room, camera = ctx.room, ctx.viewer.scene.camera
    width, height = ctx.canvas.width(), ctx.canvas.height()
    left = (width // 4, height // 2)
    room.go_to_middle_slice()
    b0, f0 = slices(room)
    zoom = camera.zoom
    wheel(ctx, left, -120)  # one notch towards the reader: the next slice, on both sides
    assert slices(room) == (b0 + 1, f0 + 1)
    wheel(ctx, left, 120)
    wheel(ctx, left, 120)  # away: back, one slice per notch
    assert slices(room) == (b0 - 1, f0 - 1)
    assert camera.zoom == pytest.approx(zoom)  # the wheel never zooms
    for _ in range(3):
        wheel(ctx, left, -30)  # a trackpad's quarter notches add up...
    assert slices(room) == (b0 - 1, f0 - 1)
    wheel(ctx, left, -30)  # ... to one slice
    assert slices(room) == (b0, f0)
    # Ctrl-wheel zooms about the point under the cursor, which stays under it
    spot = (width // 3, height // 3)
    before = world_at(ctx, spot)
    wheel(ctx, spot, 120, CTRL)
    assert camera.zoom == pytest.approx(zoom * 1.25)
    assert slices(room) == (b0, f0)
    np.testing.assert_allclose(world_at(ctx, spot), before, atol=1.0 / camera.zoom + 1e-6)
    # the help says so
    from spondy_napari.reading_room.keys import NAPARI_KEYS

    helped = dict(NAPARI_KEYS)
    assert "page slices" in helped["wheel"] and "zoom" in helped["Ctrl-wheel"]


# ------------------------------------------------------------------ the images use the screen
def test_images_fill_their_cells_and_keep_the_readers_zoom(make_napari_viewer, qtbot, small_export):
    ctx = open_room(make_napari_viewer, qtbot, small_export)
    room, viewer = ctx.room, ctx.viewer
    window = viewer.window._qt_window
    window.resize(1200, 700)
    qtbot.waitUntil(lambda: ctx.canvas.width() > 0, timeout=TIMEOUT_MS)
    qtbot.wait(100)
    small = room.view.image_height_px()
    cell_h, cell_w = viewer.canvas.viewbox_size(viewer.layers)
    extent = room.view.fitted()[1]
    fitted = min(cell_h / extent[0], cell_w / extent[1]) * extent[0]
    assert small == pytest.approx(0.95 * fitted, rel=0.02)  # fills its cell, 5% margin
    window.resize(1800, 1000)  # maximising refits (no Ctrl-R needed)
    qtbot.waitUntil(lambda: room.view.image_height_px() > small * 1.3, timeout=TIMEOUT_MS)
    big = room.view.image_height_px()
    # the reader zooms in twice and pans; the next case keeps it, relative to its own fit
    centre = (ctx.canvas.width() // 4, ctx.canvas.height() // 2)
    wheel(ctx, centre, 120, CTRL)
    wheel(ctx, centre, 120, CTRL)
    assert room.view.zoom == pytest.approx(1.25**2, rel=1e-3)
    key(ctx, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: room.case_index == 1, timeout=TIMEOUT_MS)
    assert room.view.zoom == pytest.approx(1.25**2, rel=1e-3)
    assert room.view.image_height_px() == pytest.approx(big * 1.25**2, rel=0.05)
    viewer.reset_view()  # Ctrl-R: fitted again
    assert room.view.zoom == pytest.approx(1.0, rel=1e-3)


def test_the_readers_input_keeps_background_work_still(make_napari_viewer, qtbot, small_export):
    from spondy_napari._qt.input_quiet import INPUT_QUIET_S

    ctx = open_room(make_napari_viewer, qtbot, small_export)
    quiet = ctx.room.cache.quiet  # registrations and loads ahead of need wait while it is held
    qtbot.waitUntil(lambda: not quiet.held, timeout=TIMEOUT_MS)
    key(ctx, Qt.Key.Key_Up)
    assert quiet.held
    qtbot.waitUntil(lambda: not quiet.held, timeout=int(INPUT_QUIET_S * 1000) + 500)
    wheel(ctx, (ctx.canvas.width() // 4, ctx.canvas.height() // 2), -120)
    assert quiet.held
    qtbot.waitUntil(lambda: not quiet.held, timeout=int(INPUT_QUIET_S * 1000) + 500)
    QTest.mouseMove(ctx.canvas, QPoint(40, 40))  # hovering is not input that holds
    assert not quiet.held


def test_f11_hides_and_restores_the_docks(make_napari_viewer, qtbot, small_export):
    ctx = open_room(make_napari_viewer, qtbot, small_export, panel=True, reader="AB")
    room, viewer = ctx.room, ctx.viewer
    viewer.window._qt_window.resize(1920, 1080)
    qtbot.wait(100)
    with_docks = room.view.image_height_px()
    key(ctx, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not ctx.widget.isVisible(), timeout=TIMEOUT_MS)
    assert not ctx.panel.isVisible()
    qtbot.waitUntil(lambda: room.view.image_height_px() > with_docks * 1.2, timeout=TIMEOUT_MS)
    # each side's title stays at the top left of its own cell
    from spondy_napari._qt.canvas_labels import MARGIN

    titles = ctx.widget.canvas_labels.titles
    cell_width = viewer.canvas.viewbox_size(viewer.layers)[1]
    assert titles["baseline"].x() == MARGIN
    assert titles["followup"].x() == pytest.approx(ctx.canvas.width() - cell_width + MARGIN, abs=2)
    key(ctx, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: ctx.widget.isVisible() and ctx.panel.isVisible(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: room.view.image_height_px() == pytest.approx(with_docks, rel=0.02),
        timeout=TIMEOUT_MS,
    )


# ------------------------------------------------------------------ automatic alignment
def test_follow_up_is_aligned_automatically_and_the_reader_overrides_it(
    make_napari_viewer, qtbot, export
):
    from spondy_annotate.cases.alignment_store import load_alignments
    from spondy_annotate.projectdb.location import default_db_path

    ctx = open_room(make_napari_viewer, qtbot, export, align=True)
    room = ctx.room
    qtbot.waitUntil(lambda: room.alignment.source == "automatic", timeout=TIMEOUT_MS)
    # the offset moves the follow-up's disc onto the baseline's (phantom truth: a translation)
    row = read_truth(export).set_index("patient_id").loc[room.current_case.patient_id]
    true_offset = np.array(
        [row[f"disc_center_baseline_{a}_mm"] - row[f"disc_center_followup_{a}_mm"] for a in "xyz"]
    )
    np.testing.assert_allclose(room.offset, true_offset, atol=2.0)
    assert "aligned automatically (" in ctx.widget.readout.text
    assert "mm residual)" in ctx.widget.readout.text
    stored = load_alignments(default_db_path(export))
    assert room.current_case.patient_id in {k[0] for k in stored}
    # the next case was aligned in the background while this one was read
    qtbot.waitUntil(lambda: len(load_alignments(default_db_path(export))) >= 2, timeout=60_000)
    automatic = room.offset
    key(ctx, Qt.Key.Key_Up, SHIFT)  # the reader's nudge wins, from the automatic offset
    assert room.alignment.source == "manual" and "aligned manually" in ctx.widget.readout.text
    assert room.offset_slices() == pytest.approx(
        1.0
        + float(-room.prepared["followup"].geometry.patient_to_world(automatic)[0])
        / room.prepared["followup"].slice_spacing
    )
    key(ctx, Qt.Key.Key_Home, SHIFT)  # back to the automatic alignment
    assert room.alignment.source == "automatic"
    np.testing.assert_allclose(room.offset, automatic)


def test_failed_registration_falls_back_with_a_message(
    make_napari_viewer, qtbot, export, notifications, monkeypatch
):
    import spondy_annotate.cases.alignment as alignment

    def broken(*args, **kwargs):
        raise RuntimeError("All samples map outside moving image buffer")

    monkeypatch.setattr(alignment, "register_volumes", broken)
    ctx = open_room(make_napari_viewer, qtbot, export, align=True)
    room = ctx.room
    qtbot.waitUntil(lambda: room.alignment.source == "none", timeout=TIMEOUT_MS)
    assert room.alignment.reason.endswith("the two visits do not overlap")
    assert "not aligned (" in ctx.widget.readout.text
    assert np.allclose(room.offset, 0)  # the scanners' positions
    assert any("not aligned automatically" in text for _, text in notifications)


# ------------------------------------------------------------------ the smaller bugs
def test_a_single_click_on_the_worklist_opens_the_case(make_napari_viewer, qtbot, small_export):
    ctx = open_room(make_napari_viewer, qtbot, small_export)
    table = ctx.widget.worklist.table
    rect = table.visualItemRect(table.item(2, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: ctx.room.case_index == 2, timeout=TIMEOUT_MS)


def test_status_bar_follows_the_case_switch(make_napari_viewer, qtbot, small_export):
    ctx = open_room(make_napari_viewer, qtbot, small_export)
    room, viewer = ctx.room, ctx.viewer
    world_at(ctx, (ctx.canvas.width() // 4, ctx.canvas.height() // 2))  # over the baseline
    first = room.current_case.baseline.date_text
    assert first in str(viewer.status)
    key(ctx, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: room.case_index == 1, timeout=TIMEOUT_MS)
    second = room.current_case.baseline.date_text
    assert second != first
    assert second in str(viewer.status) and first not in str(viewer.status)


def test_slider_counts_baseline_slices_from_one(make_napari_viewer, qtbot, small_export):
    ctx = open_room(make_napari_viewer, qtbot, small_export)
    room, slider = ctx.room, ctx.widget.slice_numbers.slider
    count = room.layers["baseline"].data.shape[0]
    assert slider.curslice_label.text() == str(room.slice_index["baseline"] + 1)
    assert slider.totslice_label.text() == str(count)
    assert f"slice {room.slice_index['baseline'] + 1}/{count}" in ctx.widget.readout.text
    key(ctx, Qt.Key.Key_Down)
    assert slider.curslice_label.text() == str(room.slice_index["baseline"] + 1)
    slider.curslice_label.setFocus()
    slider.curslice_label.selectAll()
    qtbot.keyClicks(slider.curslice_label, "1")
    qtbot.keyClick(slider.curslice_label, Qt.Key.Key_Return)  # typed: the first slice
    assert room.slice_index["baseline"] == 0
    assert slider.curslice_label.text() == "1"


def test_chosen_buttons_are_not_clipped_and_labels_have_a_background(
    make_napari_viewer, qtbot, export
):
    from spondy_napari._qt.field_rows import bold_text_width

    ctx = open_room(make_napari_viewer, qtbot, export, panel=True, reader="AB")
    qtbot.waitUntil(lambda: ctx.panel.controller.grading is not None, timeout=TIMEOUT_MS)
    ctx.viewer.window._qt_window.resize(1920, 1080)
    row = ctx.panel.rows["marrow_edema.change"]
    for button in row.buttons.values():
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.wait(20)
        assert button.width() >= bold_text_width(button), button.text()  # "a Aggravated"
    labels = ctx.widget.canvas_labels
    for label in (*labels.titles.values(), labels.readout_label):
        assert "background-color: rgba(0, 0, 0" in label.styleSheet()
    # the labels are in the window's screenshot: light text inside the title's dark box
    title = labels.titles["followup"]
    corner = title.mapTo(ctx.viewer.window._qt_window, title.rect().topLeft())
    shot = ctx.viewer.screenshot(canvas_only=False, flash=False)
    box = shot[
        corner.y() : corner.y() + title.height(), corner.x() : corner.x() + title.width(), :3
    ]
    assert box.mean() < 100 and box.max() > 200


# ------------------------------------------------------------------ scripting
def test_open_reading_room_returns_the_room_scripts_can_read(make_napari_viewer, export):
    import spondy_napari

    viewer = make_napari_viewer()
    room = spondy_napari.open_reading_room(export, viewer=viewer, reader="AB")
    assert room.case_index is not None and room.current_case is not None
    assert len(room.case_ids) == 3 and all(c.startswith("C-") for c in room.case_ids)
    before = room.slice_index["baseline"]
    assert set(room.slice_index) == {"baseline", "followup"} and before is not None
    room.step_slice(+1)
    assert room.slice_index["baseline"] == before + 1
    room.nudge(+1)
    assert room.alignment.source == "manual"
    followup = room.prepared["followup"]
    assert followup is not None
    assert np.linalg.norm(room.followup_offset_mm) == pytest.approx(followup.slice_spacing)
    with pytest.raises(AttributeError):
        room.case_ids = []  # type: ignore[misc]  # read-only
    with pytest.raises(AttributeError):
        room.case_index = 0  # type: ignore[misc]


# ------------------------------------------------------------------ the caliper
def caliper_label(ctx, side: str) -> str:
    """The length written on ``side``'s caliper ("" when none is drawn)."""
    layer = ctx.panel.controller.tool.layers[side]
    return str(layer.features["label"].iloc[-1]) if layer.nshapes else ""


def test_caliper_length_follows_a_real_mouse_drag_on_a_dark_box(make_napari_viewer, qtbot, export):
    ctx = open_room(make_napari_viewer, qtbot, export, panel=True, reader="AB")
    qtbot.waitUntil(lambda: ctx.panel.controller.grading is not None, timeout=TIMEOUT_MS)
    grading = ctx.panel.controller.grading
    key(ctx, Qt.Key.Key_D)  # the disc-height field: the line tool is armed
    assert ctx.panel.controller.tool.armed
    x, y = ctx.canvas.width() // 4, ctx.canvas.height() // 2  # over the baseline
    qtbot.mouseMove(ctx.canvas, QPoint(x, y - 60))
    qtbot.mousePress(ctx.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, y - 60))
    lengths = [0.0]
    for step in range(1, 5):
        qtbot.mouseMove(ctx.canvas, QPoint(x + 2, y - 60 + 30 * step))
        # napari handles mouse moves at the screen's pace (throttled), well before the release
        qtbot.waitUntil(lambda: caliper_label(ctx, "baseline") not in ("", f"{lengths[-1]:.1f} mm"))
        lengths.append(float(caliper_label(ctx, "baseline").removesuffix(" mm")))
    assert lengths == sorted(lengths)  # the length grows with the drag, live
    assert grading.values.get("disc_height.baseline_mm") is None
    qtbot.mouseRelease(ctx.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x + 2, y + 60))
    qtbot.waitUntil(lambda: grading.values.get("disc_height.baseline_mm") is not None)
    saved = grading.values["disc_height.baseline_mm"]
    assert caliper_label(ctx, "baseline") == f"{saved.mm:.1f} mm"
    assert saved.mm == pytest.approx(lengths[-1], abs=0.1)
    # the length is written on a dark box (no outline in napari's text), centred on it ...
    layer = ctx.panel.controller.tool.layers["baseline"]
    assert layer.shape_type == ["line", "line", "line", "rectangle"]
    assert layer.text.anchor == "center" and layer.face_color[-1][3] >= 0.7
    assert max(layer.face_color[-1][:3]) == 0.0

    def box_px() -> np.ndarray:
        corners = np.array([layer.data_to_world(v) for v in layer.data[-1]])[:, 1:]
        return np.ptp(corners, axis=0) * ctx.viewer.camera.zoom

    fitted = box_px()
    assert fitted[1] > fitted[0] > 12  # a line of text, in screen pixels
    wheel(ctx, (x, y), 120, CTRL)  # ... which keeps its size on screen when the reader zooms
    np.testing.assert_allclose(box_px(), fitted, rtol=1e-6)


# ------------------------------------------------------------------ pydicom's warnings
#: A damaged object that begins like DICOM (no 'DICM' marker): pydicom warns about its UIDs,
#: and the index skips it ("truncated DICOM or no pixel data").
DAMAGED = (
    b"\x08\x00\x18\x00UI\x0a\x001.2.abc.3 "
    b"\x20\x00\x0e\x00UI\x06\x001.2.x\x00"
    b"\x28\x00\x10\x00US\x02\x00\x40\x00\x28\x00\x11\x00US\x02\x00\x40\x00"
)


def test_pydicom_warnings_are_logged_never_shown(make_napari_viewer, export, caplog):
    import logging

    import spondy_napari
    from napari.utils.notifications import NotificationSeverity, notification_manager

    (export / "DAMAGED").write_bytes(DAMAGED)
    caplog.set_level(logging.WARNING, logger="pydicom")
    viewer = make_napari_viewer()
    before = len(notification_manager.records)
    with notification_manager:  # as napari.run(): Python warnings become notifications
        room = spondy_napari.open_reading_room(export, viewer=viewer, reader="AB")
    assert room.current_case is not None
    shown = notification_manager.records[before:]
    assert not [n for n in shown if n.severity == NotificationSeverity.WARNING]
    logged = [r.getMessage() for r in caplog.records if r.name == "pydicom"]
    assert any("Invalid value for VR UI: '1.2.x'" in m for m in logged)
