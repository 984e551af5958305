"""The reading room's text on the images: each side's title and the readout, as Qt labels.

Qt labels laid over napari's canvas, not napari's canvas text overlays: under software OpenGL
a text overlay whose text changes costs its draw about 10 ms, and its background box another
13 ms (vispy rebuilds the box's shader), three of them on every case switch and the readout's on
every slice. A label's new text costs well under a millisecond and no OpenGL. The labels ignore
the mouse (the canvas keeps its wheel, drags and clicks) and are part of
``viewer.screenshot(canvas_only=False)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Qt
from qtpy.QtWidgets import QLabel, QWidget

from spondy_napari._registry import real_viewer
from spondy_napari.display.layer_data import SIDES
from spondy_napari.reading_room.readout import Readout

if TYPE_CHECKING:
    import napari

    from spondy_napari.reading_room.room import ReadingRoom

#: Light text on a dark, slightly transparent box: readable over bright marrow and black air.
STYLE = (
    "QLabel {{ background-color: rgba(0, 0, 0, 180); color: #f0f0f0; padding: 2px 6px;"
    " border-radius: 3px; font-size: {size}px; {extra} }}"
)
TITLE_STYLE = STYLE.format(size=15, extra="")
READOUT_STYLE = STYLE.format(size=13, extra="font-family: 'DejaVu Sans Mono', monospace;")
#: Distance of a label from its cell's (or the canvas's) corner, in pixels.
MARGIN = 6


def canvas_widget(viewer: napari.Viewer) -> QWidget:
    """napari's canvas widget (napari's private ``_qt_viewer``: there is no public one)."""
    return real_viewer(viewer).window._qt_viewer.canvas.native  # type: ignore[no-any-return]


def _label(parent: QWidget, style: str) -> QLabel:
    label = QLabel(parent)
    label.setStyleSheet(style)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    label.hide()
    return label


class CanvasLabels(QObject):
    """Titles at the top left of each side's grid cell and the readout at the canvas's bottom left.

    Parameters
    ----------
    room : ReadingRoom
        Whose layers are titled (their names: side, date unless hidden, sequence) and read out.
    canvas : QWidget
        napari's canvas widget, the labels' parent.

    Attributes
    ----------
    titles : dict
        ``{"baseline": QLabel, "followup": QLabel}``.
    readout : Readout
        The readout's text (:mod:`spondy_napari.reading_room.readout`), shown in ``readout_label``.
    """

    def __init__(self, room: ReadingRoom, canvas: QWidget) -> None:
        super().__init__(canvas)
        self.room = room
        self.canvas = canvas
        self.titles = {side: _label(canvas, TITLE_STYLE) for side in SIDES}
        self.readout_label = _label(canvas, READOUT_STYLE)
        self.readout = Readout(room, self._show_readout)
        for emitter in (room.events.cases, room.events.case, room.events.pair):
            emitter.connect(self.update_titles)
        room.viewer.canvas.grid.events.connect(self.place)
        room.viewer.canvas.events.size.connect(self.place)  # the cells' size is napari's by then
        self.readout.update()
        self.update_titles()

    def update_titles(self, event: Any = None) -> None:
        """Title each side with its layer's name (once a case or sequence is in the layers)."""
        if self.room.filling:
            return
        for side, label in self.titles.items():
            layer = self.room.layers.get(side)
            label.setText(layer.name if layer is not None and self.room.current_case else "")
            label.adjustSize()
            label.setVisible(bool(label.text()))  # shown with the canvas
        self.place()

    def _show_readout(self, text: str) -> None:
        label = self.readout_label
        label.setText(text)
        label.adjustSize()
        label.show()
        self._place_readout()

    def place(self, event: Any = None) -> None:
        """Put each title in its side's grid cell and the readout at the bottom left."""
        viewer = self.room.viewer
        layers = viewer.layers
        width = float(viewer.canvas.viewbox_size(layers)[1])
        columns = viewer.canvas.grid.actual_shape(layers)[1]
        gap = (self.canvas.width() - columns * width) / max(columns - 1, 1)
        for side, label in self.titles.items():
            layer = self.room.layers.get(side)
            column = 0
            if layer is not None and layer in layers:
                column = max(viewer.canvas.grid.position(layers.index(layer), layers)[1], 0)
            label.move(round(column * (width + gap)) + MARGIN, MARGIN)
            label.raise_()
        self._place_readout()

    def _place_readout(self) -> None:
        label = self.readout_label
        label.move(MARGIN, self.canvas.height() - label.height() - MARGIN)
        label.raise_()

    def close(self) -> None:
        """Stop following the room (the labels go with the canvas)."""
        room = self.room
        for emitter in (room.events.cases, room.events.case, room.events.pair):
            emitter.disconnect(self.update_titles)
        room.viewer.canvas.grid.events.disconnect(self.place)
        room.viewer.canvas.events.size.disconnect(self.place)
        self.readout.close()
