"""The readout: the reading room's bottom-left text (case, slices, window/level, offset).

:class:`Readout` keeps the text up to date from the room's events and hands it to whatever draws
it (the dock's label over the canvas, :mod:`spondy_napari._qt.canvas_labels`); the room does not
know about it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from spondy_napari.display.layer_data import SIDE_TITLES, SIDES

if TYPE_CHECKING:
    from spondy_napari.reading_room.room import ReadingRoom

#: The readout before a case is shown (it also draws most glyphs once, ahead of the first case).
WELCOME = (
    "Reading room: open an export folder (F2, or the dock on the right)\n"
    "N next case · S sequence · wheel or Up/Down slices · Ctrl-wheel zoom · F11 docks\n"
    "3 DICOM · 4 T1 · 5 T2 · 6 STIR · 7 auto · W drag W/L · K link · F1 help"
)


def readout_text(room: ReadingRoom) -> str:
    """The readout of what ``room`` shows (:data:`WELCOME` before a case)."""
    case, pair = room.current_case, room.current_pair
    if case is None or pair is None or not room.layers or room.case_index is None:
        return WELCOME
    ready = room.ready_indices()
    position = (
        f"{ready.index(room.case_index) + 1} of {len(ready)}" if room.case_index in ready else ""
    )
    lines = [
        f"{room.label(room.case_index)}  ·  case {position}  ·  "
        f"{pair.label} ({room.pair_index + 1}/{len(case.pairs)})"
    ]
    for side in SIDES:
        marker = "▶" if side == room.current_side else " "
        shown = room.displayed_slice(side)
        layer = room.layers[side]
        slice_text = f"slice {shown[0] + 1}/{layer.data.shape[0]}" if shown else "no slice here"
        wl = room.window_level.readout(side) if room.prepared.get(side) else ""
        text = f"{marker} {SIDE_TITLES[side]:<9}  {slice_text:<13}  {wl}"
        if side == "followup" and room.prepared.get("followup") is not None:
            slices = room.offset_slices() + 0.0  # no "-0.0"
            if np.any(np.abs(room.offset) > 1e-6):
                text += f"  offset {slices:+.1f} sl ({np.linalg.norm(room.offset):.1f} mm)"
            text += f"  ·  {room.alignment.text}"
        lines.append(text.rstrip())
    wl_state = room.window_level
    modes = []
    if wl_state.drag_mode:
        modes.append("W/L drag")
    if wl_state.linked:
        modes.append("W/L linked")
    preset = wl_state.effective_preset(pair.entry.sequence.value)
    if preset != "DICOM":
        modes.append(f"preset {preset}")
    lines.append("  ·  ".join(modes) + ("  ·  " if modes else "") + "F1: keys")
    return "\n".join(lines)


class Readout:
    """The readout of ``room``, given to ``show(text)`` when the room or the slider changes."""

    def __init__(self, room: ReadingRoom, show: Callable[[str], object]) -> None:
        self.room = room
        self.show = show
        self._text = ""
        events = room.events
        self._emitters = (
            events.cases,
            events.case,
            events.pair,
            events.side,
            events.offset,
            events.alignment,
            room.viewer.dims.events.point,
        )
        for emitter in self._emitters:
            emitter.connect(self.update)
        room.window_level.on_change.append(self.update)
        self.update()

    @property
    def text(self) -> str:
        """What the readout shows."""
        return self._text

    def update(self, event: Any = None) -> None:
        """Show the text again when it changed (once per case or sequence switch)."""
        if self.room.filling:
            return
        text = readout_text(self.room)
        if text != self._text:
            self._text = text
            self.show(text)

    def close(self) -> None:
        """Stop following the room."""
        for emitter in self._emitters:
            emitter.disconnect(self.update)
        if self.update in self.room.window_level.on_change:
            self.room.window_level.on_change.remove(self.update)
