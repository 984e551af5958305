"""Which reading room and which grading gate belong to a napari viewer.

The docks of one viewer find each other here (the grading panel its reading room, the analysis
dock the grading it must end before lab values are shown) without importing one another: this
module imports no dock and no controller, and describes what it hands out as Protocols.

Entries are weak both ways: a viewer that closes, or a room or gate that goes, leaves nothing
behind. napari hands plugin widgets a proxy of the viewer; it is unwrapped first, so the proxy
and the viewer find the same entry.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class ViewerRoom(Protocol):
    """What another dock may ask of a viewer's reading room."""

    @property
    def db_path(self) -> Path | None:
        """The project database of the export on screen (None before one is opened)."""


class GradingGate(Protocol):
    """Grading in a viewer, as the blinding rule sees it: lab values only once it has ended."""

    @property
    def is_grading(self) -> bool:
        """True while answers can be given in this viewer."""

    def end_grading(self) -> None:
        """Stop grading in this viewer (answers stay saved)."""


@dataclass
class _Entry:
    room: weakref.ReferenceType[Any] | None = None
    gate: weakref.ReferenceType[Any] | None = None


_ENTRIES: weakref.WeakKeyDictionary[Any, _Entry] = weakref.WeakKeyDictionary()


def real_viewer(viewer: Any) -> Any:
    """The viewer behind the proxy napari hands to plugin widgets (for the Qt window's parts
    napari does not expose: see ``_qt/window_layout.py``)."""
    return getattr(viewer, "__wrapped__", viewer)


def _entry(viewer: Any) -> _Entry:
    return _ENTRIES.setdefault(real_viewer(viewer), _Entry())


def _alive(ref: weakref.ReferenceType[Any] | None) -> Any:
    return ref() if ref is not None else None


def set_room(viewer: Any, room: ViewerRoom) -> None:
    """Make ``room`` the reading room of ``viewer``."""
    _entry(viewer).room = weakref.ref(room)


def room_for(viewer: Any) -> ViewerRoom | None:
    """The reading room of ``viewer``, or None."""
    entry = _ENTRIES.get(real_viewer(viewer))
    return _alive(entry.room) if entry else None


def forget_room(viewer: Any, room: ViewerRoom) -> None:
    """Drop ``room`` as ``viewer``'s reading room (if it still is)."""
    entry = _ENTRIES.get(real_viewer(viewer))
    if entry is not None and _alive(entry.room) is room:
        entry.room = None


def set_grading_gate(viewer: Any, gate: GradingGate) -> None:
    """Make ``gate`` the grading of ``viewer``."""
    _entry(viewer).gate = weakref.ref(gate)


def grading_gate_for(viewer: Any) -> GradingGate | None:
    """The grading of ``viewer``, or None when nobody grades in it."""
    entry = _ENTRIES.get(real_viewer(viewer))
    return _alive(entry.gate) if entry else None
