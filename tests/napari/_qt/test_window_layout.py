"""The window as ``spondy-annotate open`` lays it out on a 1920x1080 screen (issue 11).

The README's sample export, its first case: each sagittal image is drawn at least 530 px tall
beside the two docks (the issue asks 500) and at least 900 px with the docks hidden (F11): the
view frames the anatomy both visits show, so the follow-up, whose field of view is 6 % larger,
is cut at its cell's edges rather than making both images smaller. The docks are as narrow as their contents, and no text in them
is cut: every label and button gets its minimum width, the focused field's title and a checked
answer fit in bold, the worklist has no horizontal scroll bar and wraps its long labels and
states. Runs under Xvfb at 1920x1080 (pytest-xvfb, ``xvfb_width`` in pyproject.toml).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractButton,
    QDockWidget,
    QLabel,
    QStyle,
    QStyleOptionButton,
    QWidget,
)

pytestmark = pytest.mark.gui
TIMEOUT_MS = 60_000
SAMPLE = Path(__file__).parents[3] / "sample_dicoms"
#: Shortest image on screen (px) beside the docks, and with the docks hidden.
MIN_HEIGHT_DOCKED = 530
MIN_HEIGHT_FULL = 900


@pytest.fixture
def window(tmp_path, make_napari_viewer, monkeypatch):
    """The window ``open`` builds (1920x1080), reader AB, on a copy of the sample: case 1.

    ``launch`` makes its viewer with napari's test fixture (plugins registered once per test,
    the viewer closed after it)."""
    import napari
    from spondy_napari._app import launch

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)
    folder = Path(shutil.copytree(SAMPLE, tmp_path / "sample_dicoms"))
    viewer, widget = launch(size=(1920, 1080), reader="AB")
    widget.open_folder(str(folder), wait=True)
    return viewer, widget


def image_heights(room) -> dict[str, float]:
    """Pixels each side's image is tall on the canvas: its extent, edge to edge, times the zoom,
    cut at its grid cell's edges."""
    viewer = room.viewer
    zoom, centre = viewer.scene.camera.zoom, viewer.scene.camera.center[-2]
    cell_h = viewer.canvas.viewbox_size(viewer.layers)[0]
    seen_top, seen_bottom = centre - cell_h / 2 / zoom, centre + cell_h / 2 / zoom
    heights = {}
    for side, layer in room.layers.items():
        half = abs(float(layer.scale[-2])) / 2
        top, bottom = layer.extent.world[0, -2] - half, layer.extent.world[1, -2] + half
        heights[side] = (min(bottom, seen_bottom) - max(top, seen_top)) * zoom
    return heights


def settled_heights(qtbot, room) -> dict[str, float]:
    """The heights once the canvas has stopped resizing (the docks have moved)."""
    heights: list[dict[str, float]] = []

    def stable() -> bool:
        heights.append(image_heights(room))
        return len(heights) > 3 and heights[-1] == heights[-4]

    qtbot.waitUntil(stable, timeout=TIMEOUT_MS)
    return heights[-1]


def assert_nothing_clipped(dock: QDockWidget) -> None:
    """Every label and button of ``dock`` as wide as it needs and seen whole (not cut by the
    dock's edge); the focused field's title and a checked answer fit in bold, the answer inside
    the button's padding."""
    from spondy_napari._qt.field_rows import RowTitle, bold_text_width

    for widget in dock.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(widget, QLabel | QAbstractButton):
            continue
        seen = widget.visibleRegion().boundingRect().width()
        assert seen == widget.width() >= widget.minimumSizeHint().width(), widget.text()
        if isinstance(widget, RowTitle) and widget.font().bold():  # the field in focus
            assert widget.width() >= QLabel.sizeHint(widget).width(), widget.text()  # Qt's own
        if isinstance(widget, QAbstractButton) and widget.isCheckable():
            option = QStyleOptionButton()
            widget.initStyleOption(option)
            inside = widget.style().subElementRect(
                QStyle.SubElement.SE_PushButtonContents, option, widget
            )
            assert inside.width() >= bold_text_width(widget), widget.text()  # not "Aggravatec"


def cut_cells(table) -> list[str]:
    """Texts of the worklist's cells that do not fit their cell (wrapped)."""
    metrics, cut = table.fontMetrics(), []
    for row in range(table.rowCount()):
        for col in range(table.columnCount()):
            item = table.item(row, col)
            rect = table.visualItemRect(item).adjusted(3, 0, -3, 0)  # the cell's text margins
            needed = metrics.boundingRect(rect, Qt.TextFlag.TextWordWrap, item.text())
            if needed.width() > rect.width() or needed.height() > rect.height():
                cut.append(item.text())
    return cut


def test_images_are_large_beside_the_docks_and_without_them(window, qtbot):
    viewer, widget = window
    room, canvas = widget.room, viewer.window._qt_viewer.canvas.native
    docks = [d for d in viewer.window._qt_window.findChildren(QDockWidget) if d.isVisible()]
    assert sorted(d.windowTitle() for d in docks) == ["Grading", "Reading room"]
    qtbot.waitUntil(lambda: room.alignment.source != "pending", timeout=TIMEOUT_MS)
    docked = settled_heights(qtbot, room)
    assert min(docked.values()) >= MIN_HEIGHT_DOCKED, docked
    cell_h, cell_w = viewer.canvas.viewbox_size(viewer.layers)
    fitted_h, fitted_w = room.view.fitted()[1] * viewer.scene.camera.zoom
    assert fitted_h <= cell_h and fitted_w <= cell_w  # what both visits show: whole, in its cell

    qtbot.keyClick(canvas, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in docks), timeout=TIMEOUT_MS)
    full = settled_heights(qtbot, room)
    assert min(full.values()) >= MIN_HEIGHT_FULL, full

    qtbot.keyClick(canvas, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: all(d.isVisible() for d in docks), timeout=TIMEOUT_MS)
    back = settled_heights(qtbot, room)
    assert all(back[side] >= docked[side] - 1 for side in docked), (back, docked)


def test_docks_are_narrow_and_cut_no_text(window, qtbot):
    from spondy_napari._qt.grading_panel import GradingPanel

    viewer, widget = window
    main = viewer.window._qt_window
    panel, table = main.findChild(GradingPanel), widget.worklist.table
    docks = {d.windowTitle(): d for d in main.findChildren(QDockWidget) if d.isVisible()}
    # as narrow as their contents (not as first laid out, before napari's style sheet; the
    # worklist widens the reading room's to its cases' longest words)
    qtbot.waitUntil(
        lambda: all(d.width() == d.minimumSizeHint().width() for d in docks.values()), timeout=5000
    )
    for dock in docks.values():
        assert_nothing_clipped(dock)
    # the title of the field in focus is bold: still whole (Tab moves the focus)
    for _ in panel.rows:
        qtbot.keyClick(viewer.window._qt_viewer.canvas.native, Qt.Key.Key_Tab)
        assert_nothing_clipped(docks["Grading"])
    # a checked answer is bold: still inside its button
    for button in panel.rows["marrow_edema.change"].buttons.values():
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert button.isChecked()
        assert_nothing_clipped(docks["Grading"])
    # the worklist: no horizontal scroll bar, every label and state whole (wrapped)
    assert sum(table.columnWidth(c) for c in range(table.columnCount())) <= table.viewport().width()
    assert cut_cells(table) == []
    # the reader widens the dock, a state changes, the dock is narrowed again: rows follow
    room_dock = docks["Reading room"]
    narrow = room_dock.width()
    main.resizeDocks([room_dock], [narrow + 200], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: room_dock.width() > narrow + 100, timeout=TIMEOUT_MS)
    qtbot.mouseClick(panel.rows["confidence"].buttons["confident"], Qt.MouseButton.LeftButton)
    main.resizeDocks([room_dock], [narrow], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: room_dock.width() == narrow and not cut_cells(table), timeout=5000)
