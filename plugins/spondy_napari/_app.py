"""Opening napari with the reading room and the grading panel docked: what ``open`` runs.

``spondy-annotate open`` (:mod:`spondy_napari._cli`) and ``scripts/screenshot.py`` call
:func:`open_reading_room`; :func:`launch` gives the viewer and its docks to scripts and benchmarks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import napari

    from spondy_annotate.dicom.rules import MatchingRules
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget


def launch(
    *, size: tuple[int, int] | None = None, rules: MatchingRules | None = None, show: bool = True
) -> tuple[napari.Viewer, ReadingRoomWidget]:
    """A napari viewer with the reading room docked on the right and grading on the left."""
    import napari

    from spondy_napari._qt.grading_panel import GradingPanel
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget

    viewer = napari.Viewer(title="spondy-annotate", show=show)
    if size is not None:
        viewer.window.resize(*size)
    widget = ReadingRoomWidget(viewer, rules=rules)
    viewer.window.add_dock_widget(widget, name="Reading room", area="right")
    # the panel asks the reader's name itself
    viewer.window.add_dock_widget(
        GradingPanel(viewer, room=widget.room), name="Grading", area="left"
    )
    _hide_layer_docks(viewer)
    return viewer, widget


def _hide_layer_docks(viewer: napari.Viewer) -> None:
    """Give the images the room of napari's layer list and controls (Window menu shows them).

    napari has no public switch for these docks; if its private attributes change, they stay.
    """
    qt_viewer = getattr(viewer.window, "_qt_viewer", None)
    for name in ("dockLayerList", "dockLayerControls"):
        dock = getattr(qt_viewer, name, None)
        if dock is not None and hasattr(dock, "setVisible"):
            dock.setVisible(False)


def open_reading_room(
    folder: str,
    *,
    case: int | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = (1920, 1080),
    rules: MatchingRules | None = None,
) -> int:
    """Open ``folder`` in the reading room; with ``screenshot``, save the window and return.

    Returns the exit status. Raises :class:`~spondy_annotate.errors.SpondyError` (after closing
    the viewer) when ``screenshot`` is asked and the folder has no readable case.
    """
    import napari

    from spondy_napari._qt.screenshot import save_screenshot

    # Interactive: napari's own (remembered) window geometry; a screenshot: the size asked.
    viewer, widget = launch(size=None if screenshot is None else size, rules=rules)
    if screenshot is None:
        widget.open_folder(folder, case=case)
        napari.run()
        return 0
    try:
        widget.open_folder(folder, case=case, wait=True)
        save_screenshot(viewer, screenshot)
        print(f"screenshot of {widget.room.current_label} saved to {screenshot}")
        return 0
    finally:
        viewer.close()
