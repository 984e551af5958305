"""spondy_napari: the napari front end of spondy_annotate (the radiologist's reading room).

Contributions (``napari.yaml``): a reader for DICOM folders and files, a synthetic sample pair,
the reading room, grading and analysis docks; and the ``open`` subcommand of the core's command
line (entry point group ``spondy_annotate.cli``). The core (``spondy_annotate``) does the work;
this package only turns its results into layers and widgets. Layout, as napari's:

* ``_reader``, ``_sample_data``: npe2 adapters over the core, no Qt;
* ``display/``: a volume as napari layer data (display frame, layer data, volume cache), no Qt;
* ``reading_room/``, ``grading/``: the controllers over napari's model, no Qt;
* ``_registry``: a viewer's reading room and grading gate, for docks that must not import each
  other;
* ``_qt/``: every widget (and every import of Qt);
* ``_app``, ``_cli``: launching napari with the docks; the ``open`` subcommand.

Attributes are imported on first use, so that napari reading the manifest stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "napari_get_reader": "spondy_napari._reader",
    "make_sample_data": "spondy_napari._sample_data",
    "ReadingRoom": "spondy_napari.reading_room.room",
    "reading_room_for": "spondy_napari.reading_room.room",
    "GradingController": "spondy_napari.grading.controller",
    "ReadingRoomWidget": "spondy_napari._qt.reading_room_dock",
    "GradingPanel": "spondy_napari._qt.grading_panel",
    "AnalysisWidget": "spondy_napari._qt.analysis_dock",
    "WorklistWidget": "spondy_napari._qt.worklist",
    "VolumeCache": "spondy_napari.display.volume_cache",
    "open_reading_room": "spondy_napari._app",
}

if TYPE_CHECKING:
    from spondy_napari._app import open_reading_room
    from spondy_napari._qt.analysis_dock import AnalysisWidget
    from spondy_napari._qt.grading_panel import GradingPanel
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget
    from spondy_napari._qt.worklist import WorklistWidget
    from spondy_napari._reader import napari_get_reader
    from spondy_napari._sample_data import make_sample_data
    from spondy_napari.display.volume_cache import VolumeCache
    from spondy_napari.grading.controller import GradingController
    from spondy_napari.reading_room.room import ReadingRoom, reading_room_for

__all__ = [
    "AnalysisWidget",
    "GradingController",
    "GradingPanel",
    "ReadingRoom",
    "ReadingRoomWidget",
    "VolumeCache",
    "WorklistWidget",
    "make_sample_data",
    "napari_get_reader",
    "open_reading_room",
    "reading_room_for",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
