"""napari's slice slider numbered as the readout is: baseline slice 6 of 11, counted from 1.

napari labels its slider with the 0-based step of the slider's range ("5 | 11"), which covers
both sides (the follow-up may reach beyond the baseline); the readout says "slice 6/11" of the
baseline. :class:`SliceNumbers` relabels the slider of the slice axis with the baseline's slice
number from 1 and its slice count, and a number typed there goes to that baseline slice. It uses
napari's private slider widget (``_qt_viewer.dims.slider_widgets``); if that moves, napari's
labels stay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spondy_napari._registry import real_viewer

if TYPE_CHECKING:
    from spondy_napari.reading_room.room import ReadingRoom


class SliceNumbers:
    """Relabels the slice slider of ``room``'s viewer (axis 0) from 1, in baseline slices."""

    def __init__(self, room: ReadingRoom) -> None:
        self.room = room
        dims = getattr(getattr(real_viewer(room.viewer).window, "_qt_viewer", None), "dims", None)
        sliders = getattr(dims, "slider_widgets", [])
        self.slider: Any = sliders[0] if sliders else None
        if self.slider is None:
            return
        label = self.slider.curslice_label
        label.editingFinished.disconnect()
        label.editingFinished.connect(self._go_to_typed)
        label.validator().setBottom(1)
        events = room.viewer.dims.events
        events.current_step.connect(self.update)
        events.range.connect(self.update)
        room.events.pair.connect(self.update)
        self.update()

    def update(self, event: Any = None) -> None:
        """Show the baseline slice number (from 1) and the baseline's slice count."""
        if self.slider is None or self.room.filling:
            return
        index = self.room.slice_index["baseline"]
        layer = self.room.layers.get("baseline")
        total = layer.data.shape[0] if layer is not None and layer.ndim == 3 else None
        self.slider.curslice_label.setText("–" if index is None else str(index + 1))
        self.slider.totslice_label.setText("" if total is None else str(total))

    def _go_to_typed(self) -> None:
        label = self.slider.curslice_label
        text = label.text()
        if text.isdigit():
            self.room.grid.go_to(int(text) - 1)
        label.clearFocus()
        self.update()

    def close(self) -> None:
        """Stop relabelling."""
        if self.slider is None:
            return
        events = self.room.viewer.dims.events
        events.current_step.disconnect(self.update)
        events.range.disconnect(self.update)
        self.room.events.pair.disconnect(self.update)
