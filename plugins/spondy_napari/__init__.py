"""spondy_napari: the napari front end of spondy_annotate (the radiologist's reading room).

Contributions (``napari.yaml``): a reader for DICOM folders and files, a synthetic sample pair,
and the reading room dock (worklist + baseline/follow-up side by side). The core
(``spondy_annotate``) does the DICOM work; this package only turns its results into layers and
widgets. Attributes are imported on first use, so that napari reading the manifest stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "napari_get_reader": "spondy_napari._reader",
    "make_sample_data": "spondy_napari._sample_data",
    "ReadingRoom": "spondy_napari._reading_room",
    "reading_room_for": "spondy_napari._reading_room",
    "case_key": "spondy_napari._reading_room",
    "ReadingRoomWidget": "spondy_napari._widget",
    "WorklistWidget": "spondy_napari._worklist",
    "VolumeCache": "spondy_napari._cache",
    "open_reading_room": "spondy_napari._app",
}

if TYPE_CHECKING:
    from spondy_napari._app import open_reading_room
    from spondy_napari._cache import VolumeCache
    from spondy_napari._reader import napari_get_reader
    from spondy_napari._reading_room import ReadingRoom, case_key, reading_room_for
    from spondy_napari._sample_data import make_sample_data
    from spondy_napari._widget import ReadingRoomWidget
    from spondy_napari._worklist import WorklistWidget

__all__ = [
    "ReadingRoom",
    "ReadingRoomWidget",
    "VolumeCache",
    "WorklistWidget",
    "case_key",
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
