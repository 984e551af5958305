"""The disc-height line: two points on one side's image, measured in patient mm.

While the tool is armed the reader presses on one endplate and releases on the other (or clicks
both); the side clicked decides the timepoint (left: baseline, right: follow-up). Both points lie
on the slice that side shows; they are converted to patient (LPS) mm through the layer's
transform, the follow-up's without the per-case offset, and measured with
:meth:`~spondy_annotate.grading.rubric.Measurement.from_points`.

Saved lines are drawn from their stored endpoints in two Shapes layers (listed right after the
two images, so napari's grid puts each over its side) that take their side's image transform: a
line shows on the slice it was drawn on, whatever sequence or offset is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from spondy_annotate.grading.rubric import Measurement
from spondy_napari.display.layer_data import SIDE_TITLES, SIDES

if TYPE_CHECKING:
    from napari.layers import Shapes

    from spondy_napari.reading_room.room import ReadingRoom

#: Colour of the disc-height lines: orange-red, readable on bright (STIR-hyperintense) and grey tissue.
LINE_COLOUR = "#FF5A1F"
#: Line width, half length of the end ticks and gap between the line and its length (mm).
EDGE_MM, TICK_MM, LABEL_OFFSET_MM = 0.7, 3.0, 5.0
#: Mouse travel (canvas pixels) below which a press-release is a click, not a drag.
CLICK_PX = 3.0


class DiscLineTool:
    """Draw and show measurement lines on the reading room's two sides.

    Parameters
    ----------
    room
        The reading room (its layers, offsets and sides).
    on_line
        ``on_line(item, side, measurement)``: called when a line is finished.
    """

    def __init__(self, room: ReadingRoom, on_line: Callable[[str, str, Measurement], None]) -> None:
        self.room = room
        self.viewer = room.viewer
        self.on_line = on_line
        self.item: str | None = None
        self.first: tuple[str, np.ndarray] | None = None
        self.layers: dict[str, Shapes] = {}
        self._saved: dict[str, Measurement | None] = {}
        self._restore_drag = False
        self.viewer.mouse_drag_callbacks.append(self._on_mouse)
        self.viewer.mouse_move_callbacks.append(self._on_move)

    # -- arming ---------------------------------------------------------------------------------
    @property
    def armed(self) -> bool:
        """True while clicks on the images draw a line."""
        return self.item is not None

    def arm(self, item: str) -> None:
        """Let the next press (or two clicks) on either image draw ``item``'s line."""
        if self.item is None:
            wl = self.room.window_level
            self._restore_drag = wl.drag_mode
            if wl.drag_mode:
                wl.set_drag_mode(False)
            for layer in self.room.layers.values():
                layer.mouse_pan = False
            self.viewer.cursor.style = "crosshair"
        self.item = item
        self.first = None

    def disarm(self) -> None:
        """Back to panning; a line begun is dropped."""
        if self.item is None:
            return
        self.item = None
        self.first = None
        for layer in self.room.layers.values():
            layer.mouse_pan = True
        if self._restore_drag:
            self.room.window_level.set_drag_mode(True)
        self.viewer.cursor.style = "standard"
        self.show(self._saved)

    # -- coordinates ----------------------------------------------------------------------------
    def on_slice(self, side: str, world: Any) -> np.ndarray | None:
        """``world`` moved onto the slice ``side`` shows (world mm), or None if nothing is shown."""
        layer, shown = self.room.layer(side), self.room.displayed_slice(side)
        if layer is None or shown is None or self.room.prepared.get(side) is None:
            return None
        data = np.asarray(layer.world_to_data(np.asarray(world, dtype=float)), dtype=float)
        data[0] = shown[0]
        return np.asarray(layer.data_to_world(data), dtype=float)

    def to_patient(self, side: str, world: Any) -> np.ndarray:
        """Patient (LPS) mm of a world position on ``side`` (the follow-up's offset removed)."""
        prepared = self.room.prepared[side]
        assert prepared is not None
        w = np.asarray(world, dtype=float)
        if side == "followup":
            w = w - self.room.offset_world()
        return prepared.geometry.world_to_patient(w)

    def to_world(self, side: str, patient: Any) -> np.ndarray:
        """World mm where ``side`` shows a patient position (inverse of :meth:`to_patient`)."""
        prepared = self.room.prepared[side]
        assert prepared is not None
        w = prepared.geometry.patient_to_world(np.asarray(patient, dtype=float))
        return w + self.room.offset_world() if side == "followup" else w

    def measure(self, side: str, world_a: Any, world_b: Any) -> Measurement | None:
        """The line between two world positions on ``side``, on its shown slice."""
        a, b = self.on_slice(side, world_a), self.on_slice(side, world_b)
        if a is None or b is None:
            return None
        start, end = (tuple(map(float, self.to_patient(side, w))) for w in (a, b))
        return Measurement.from_points(start, end)

    # -- input ----------------------------------------------------------------------------------
    def click(self, side: str, world: Any) -> Measurement | None:
        """One click at ``world`` on ``side``: the first point, or the second (then saved)."""
        if self.item is None:
            return None
        point = np.asarray(world, dtype=float)
        if self.first is None or self.first[0] != side:
            self.first = (side, point)
            return None
        return self.finish(side, self.first[1], point)

    def finish(self, side: str, world_a: Any, world_b: Any) -> Measurement | None:
        """Measure the line, hand it to ``on_line`` and disarm."""
        item = self.item
        measurement = self.measure(side, world_a, world_b)
        self.first = None
        if item is None or measurement is None:
            return None
        self.disarm()
        self.on_line(item, side, measurement)
        return measurement

    def _on_mouse(self, viewer: Any, event: Any) -> Generator[None, None, None] | None:
        if self.item is None or event.type != "mouse_press" or event.button != 1:
            return None
        if "Shift" in event.modifiers:  # the reading room's landmark click
            return None
        return self._drag(event)

    def _drag(self, event: Any) -> Generator[None, None, None]:
        side = self.room.side_at(event)
        if side is None:
            return
        start = np.asarray(event.position, dtype=float)
        start_px = np.asarray(getattr(event, "pos", (0, 0)), dtype=float)
        begun = self.first is not None and self.first[0] == side
        if not begun:
            self.first = (side, start)
        yield
        while event.type == "mouse_move":
            self._preview(side, self.first[1] if self.first else start, event.position)
            yield
        end_px = np.asarray(getattr(event, "pos", start_px), dtype=float)
        if begun:
            self.click(side, start)
        elif np.linalg.norm(end_px - start_px) > CLICK_PX:
            self.finish(side, start, event.position)

    def _on_move(self, viewer: Any, event: Any) -> None:
        if self.item is not None and self.first is not None:
            side = self.room.side_at(event)
            if side == self.first[0]:
                self._preview(side, self.first[1], event.position)

    # -- showing --------------------------------------------------------------------------------
    def ensure_layers(self) -> None:
        """Create the two line layers once, right after the two images."""
        if not all(self.room.layers.get(s) in self.viewer.layers for s in SIDES):
            return
        for side in SIDES:
            layer = self.layers.get(side)
            if layer is None or layer not in self.viewer.layers:
                self.layers[side] = self.viewer.add_shapes(
                    ndim=3,
                    name=f"Disc line ({SIDE_TITLES[side].lower()})",
                    edge_color=LINE_COLOUR,
                    face_color="transparent",
                    opacity=1.0,
                    blending="translucent_no_depth",
                )
        for position, side in enumerate(SIDES, start=2):  # grid: 2 over baseline, 3 over follow-up
            self.viewer.layers.move(self.viewer.layers.index(self.layers[side]), position)
        self.room.set_current_side(self.room.current_side)  # keep the image layer active

    def show(self, saved: Mapping[str, Measurement | None]) -> None:
        """Draw the stored lines (``{side: measurement}``) on their sides."""
        self._saved = dict(saved)
        self.ensure_layers()
        for side, layer in self.layers.items():
            image = self.room.layer(side)
            line = self._saved.get(side)
            vertices = None
            if (
                image is not None
                and self.room.prepared.get(side) is not None
                and line
                and line.start
            ):
                ends = [self.to_world(side, line.start), self.to_world(side, line.end)]
                vertices = np.array([image.world_to_data(w) for w in ends], dtype=float)
            self._draw(layer, image, vertices, line.mm if line and vertices is not None else None)

    def clear(self) -> None:
        """Remove the lines shown (another case, or no grading)."""
        self._saved = {}
        for layer in self.layers.values():
            layer.data = []

    def _preview(self, side: str, world_a: Any, world_b: Any) -> None:
        layer, image = self.layers.get(side), self.room.layer(side)
        if layer is None or image is None:
            return
        a, b = self.on_slice(side, world_a), self.on_slice(side, world_b)
        if a is None or b is None:
            return
        mm = float(np.linalg.norm(self.to_patient(side, a) - self.to_patient(side, b)))
        self._draw(layer, image, np.array([image.world_to_data(a), image.world_to_data(b)]), mm)

    def _draw(
        self, layer: Shapes, image: Any, vertices: np.ndarray | None, mm: float | None
    ) -> None:
        """Draw a caliper (line with end ticks) and its length, in ``image``'s data coordinates."""
        layer.data = []
        if image is None:
            return
        layer.scale, layer.translate, layer.rotate = image.scale, image.translate, image.rotate
        if vertices is None:
            return
        a, b = (np.asarray(image.data_to_world(v), dtype=float) for v in vertices)
        along = b - a
        across = np.array([0.0, -along[2], along[1]])  # in the displayed (y, x) plane
        norm = float(np.linalg.norm(across))
        lines = [np.asarray(vertices, dtype=float)]
        if norm > 0:
            tick = across / norm * TICK_MM
            lines += [
                np.array([image.world_to_data(p - tick), image.world_to_data(p + tick)])
                for p in (a, b)
            ]
        width = EDGE_MM / float(min(image.scale[1:]))
        layer.add_lines(lines, edge_color=LINE_COLOUR, edge_width=width)
        layer.features = {"label": [f"{mm or 0.0:.1f} mm"] + [""] * (len(lines) - 1)}
        layer.text = {
            "string": "{label}",
            "color": LINE_COLOUR,
            "size": 12,
            "anchor": "upper_right",  # the text ends left of the line (anterior), clear of it
            "translation": [0.0, 0.0, -LABEL_OFFSET_MM / float(image.scale[2])],
        }

    def close(self) -> None:
        """Stop listening to the mouse (the layers stay)."""
        for callbacks, func in (
            (self.viewer.mouse_drag_callbacks, self._on_mouse),
            (self.viewer.mouse_move_callbacks, self._on_move),
        ):
            if func in callbacks:
                callbacks.remove(func)
