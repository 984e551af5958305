"""Opening napari with the reading room and the grading panel docked: what ``open`` runs.

``spondy-annotate open`` (:mod:`spondy_napari._cli`) calls :func:`run_reading_room`; scripts call
:func:`open_reading_room` (exported as ``spondy_napari.open_reading_room``), which returns the
room; :func:`launch` gives the viewer and its docks to scripts and benchmarks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

#: Seconds ``--screenshot`` waits for the first case's automatic alignment.
ALIGNMENT_WAIT_S = 60.0

if TYPE_CHECKING:
    import napari

    from spondy_annotate.dicom.rules import MatchingRules
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget
    from spondy_napari.reading_room.room import ReadingRoom


def launch(
    *,
    size: tuple[int, int] | None = None,
    rules: MatchingRules | None = None,
    show: bool = True,
    reader: str | None = None,
    ask_reader: bool = True,
) -> tuple[napari.Viewer, ReadingRoomWidget]:
    """A napari viewer with the reading room docked on the right and grading on the left.

    The window takes ``size``; without one, napari's remembered geometry, or the whole screen
    (maximised) the first time, when napari remembers none. ``reader``: who grades (default
    ``$SPONDY_READER``, else the grading panel asks when an export opens, before its first case
    is shown, unless ``ask_reader`` is False).
    """
    import napari
    from napari.settings import get_settings

    from spondy_napari._qt.grading_panel import GradingPanel
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget
    from spondy_napari._qt.window_layout import hide_layer_docks, maximise, narrow_docks

    remembered = get_settings().application
    first = (
        remembered.first_time
        or not remembered.save_window_geometry
        or remembered.window_size is None
    )
    viewer = napari.Viewer(title="spondy-annotate", show=show)
    if size is not None:
        viewer.window.resize(*size)
    elif show and first:
        maximise(viewer)
    widget = ReadingRoomWidget(viewer, rules=rules)
    viewer.window.add_dock_widget(widget, name="Reading room", area="right")
    # the panel asks who reads when an export opens, before its first case is shown
    panel = GradingPanel(viewer, room=widget.room, reader=reader, ask_reader=ask_reader)
    viewer.window.add_dock_widget(panel, name="Grading", area="left")
    hide_layer_docks(viewer)
    narrow_docks(viewer, [panel, widget])
    if show:
        panel.warm()
    return viewer, widget


def open_reading_room(
    folder: str | os.PathLike[str],
    *,
    viewer: napari.Viewer | None = None,
    reader: str | None = None,
) -> ReadingRoom:
    """Open ``folder`` in the reading room and return the room once its first case is shown.

    The scripting entry point: the room's read-only properties ``case_ids``, ``case_index``,
    ``slice_index`` (per side), ``followup_offset_mm`` and ``alignment`` show what the reader
    sees; its methods (``next_case()``, ``step_slice(n)``, ...) act as the keys do.

    Parameters
    ----------
    folder : path
        A DICOM export folder (or a DICOMweb service URL).
    viewer : napari.Viewer, optional
        Dock the reading room and the grading panel on this viewer (default: a new window, as
        ``spondy-annotate open`` makes).
    reader : str, optional
        Who grades (default ``$SPONDY_READER``; else the grading panel asks, before the first
        case is shown).

    Raises
    ------
    SpondyError
        When the folder cannot be read or holds no case to compare.

    Examples
    --------
    >>> room = open_reading_room("sample_dicoms", reader="AB")  # doctest: +SKIP
    >>> room.case_ids[:2], room.slice_index, room.alignment.text  # doctest: +SKIP
    """
    if viewer is None:
        viewer, widget = launch(reader=reader)
    else:
        from spondy_napari._qt.grading_panel import GradingPanel
        from spondy_napari._qt.reading_room_dock import ReadingRoomWidget

        widget = ReadingRoomWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Reading room", area="right")
        panel = GradingPanel(viewer, room=widget.room, reader=reader)
        viewer.window.add_dock_widget(panel, name="Grading", area="left")
    widget.open_folder(os.fspath(folder), wait=True)
    return widget.room


def run_reading_room(
    folder: str,
    *,
    case: int | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = (1920, 1080),
    rules: MatchingRules | None = None,
) -> int:
    """What ``spondy-annotate open`` runs: the reading room on ``folder`` until the window closes.

    With ``screenshot``, save the window (at ``size``) and return at once. Returns the exit
    status. Raises :class:`~spondy_annotate.errors.SpondyError` (after closing the viewer) when
    ``screenshot`` is asked and the folder has no readable case.
    """
    import napari

    from spondy_napari._qt.screenshot import save_screenshot, wait_until

    # Interactive: napari's own (remembered) window geometry, and the reader is asked first;
    # a screenshot: the size asked, and nobody grades.
    viewer, widget = launch(
        size=None if screenshot is None else size, rules=rules, ask_reader=screenshot is None
    )
    if screenshot is None:
        widget.open_folder(folder, case=case)
        napari.run()
        return 0
    try:
        widget.open_folder(folder, case=case, wait=True)
        # the case as the reader sees it a moment later: aligned (registration takes seconds)
        wait_until(lambda: widget.room.alignment.source != "pending", ALIGNMENT_WAIT_S)
        save_screenshot(viewer, screenshot)
        room = widget.room
        print(f"screenshot of {room.current_label} ({room.alignment.text}) saved to {screenshot}")
        return 0
    finally:
        viewer.close()
