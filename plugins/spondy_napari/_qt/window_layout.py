"""The main window laid out for reading: the whole screen, narrow docks, no layer docks.

napari opens a small window the first time (its layout's size hint) and docks at their size
hints; the reading room wants the images as large as the screen allows. These functions use
napari's private ``_qt_window`` and ``_qt_viewer``: if they move, the window keeps napari's
layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication, QDockWidget, QWidget

from spondy_napari._registry import real_viewer

if TYPE_CHECKING:
    import napari


def maximise(viewer: napari.Viewer) -> None:
    """Give the window the whole screen (also where no window manager maximises it)."""
    window = real_viewer(viewer).window._qt_window
    screen = window.screen()
    if screen is not None:
        window.setGeometry(screen.availableGeometry())
    window.showMaximized()


def hide_layer_docks(viewer: napari.Viewer) -> None:
    """Give the images the room of napari's layer list and controls (Window menu shows them)."""
    qt_viewer = getattr(real_viewer(viewer).window, "_qt_viewer", None)
    for name in ("dockLayerList", "dockLayerControls"):
        dock = getattr(qt_viewer, name, None)
        if dock is not None and hasattr(dock, "setVisible"):
            dock.setVisible(False)


def narrow_docks(viewer: napari.Viewer, widgets: list[QWidget]) -> None:
    """Make the docks holding ``widgets`` as narrow as their contents allow.

    Qt keeps a dock's minimum width at its contents' as they were laid out when docked, before
    napari's style sheet applied (the reading room's: 371 px, then 310), because napari's
    ``setMinimumWidth(50)`` makes the dock's minimum explicit and a dock never goes below an
    explicit minimum. It is dropped here: the docks then follow their contents as shown.
    """
    window = real_viewer(viewer).window._qt_window
    QApplication.processEvents()  # the docks are laid out first: then they can be resized
    docks = []
    for widget in widgets:
        parent = widget.parentWidget()
        while parent is not None and not isinstance(parent, QDockWidget):
            parent = parent.parentWidget()
        if parent is not None:
            parent.setMinimumWidth(0)  # no explicit minimum: the contents' own
            docks.append(parent)
    widths = [dock.minimumSizeHint().width() for dock in docks]
    window.resizeDocks(docks, widths, Qt.Orientation.Horizontal)
