"""Opening napari with the reading room docked: what ``spondy-annotate open`` runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from spondy_annotate.errors import SpondyError

if TYPE_CHECKING:
    import napari

    from spondy_annotate.cases.rules import MatchingRules
    from spondy_napari._widget import ReadingRoomWidget


def launch(
    *, size: tuple[int, int] | None = None, rules: MatchingRules | None = None, show: bool = True
) -> tuple[napari.Viewer, ReadingRoomWidget]:
    """A napari viewer with the reading room docked on the right and grading on the left."""
    import napari

    from spondy_napari._widget import ReadingRoomWidget

    viewer = napari.Viewer(title="spondy-annotate", show=show)
    if size is not None:
        viewer.window.resize(*size)
    widget = ReadingRoomWidget(viewer, rules=rules)
    viewer.window.add_dock_widget(widget, name="Reading room", area="right")
    from spondy_napari._grading import GradingPanel  # asks the reader's name in the panel

    viewer.window.add_dock_widget(GradingPanel(viewer, room=widget.room), name="Grading", area="left")
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


def save_screenshot(viewer: napari.Viewer, path: str | os.PathLike[str]) -> Path:
    """Let the window lay out and draw, then save it (the whole window, docks included)."""
    from napari.utils.io import imsave
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    image = viewer.screenshot(canvas_only=False, flash=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        imsave(str(out), image)
    except OSError as exc:
        raise SpondyError(f"{out}: cannot save the screenshot ({exc.strerror or exc})") from None
    return out
