"""The disc-height line: two points on one side's image, measured in patient mm.

While the tool is armed the reader presses on one endplate and releases on the other (or clicks
both); the side clicked decides the timepoint (left: baseline, right: follow-up). Both points lie
on the slice that side shows; they are converted to patient (LPS) mm through the layer's
transform, the follow-up's without the per-case offset, and measured with
:meth:`~spondy_annotate.grading.rubric.Measurement.from_points`.

Saved lines are drawn from their stored endpoints in two Shapes layers (listed right after the
two images, so napari's grid puts each over its side) that take their side's image transform: a
line shows on the slice it was drawn on, whatever sequence or offset is shown; a layer with no
line is hidden (napari then skips it when a case switch re-slices the layers). While the reader
drags, the line and its length follow the mouse (each move only moves the shapes). The length
is written on a dark box left of the line (napari's layer text has no outline), sized in screen
pixels: it is re-sized when the zoom changes, so it reads the same at any zoom and over bright
marrow. A caliper is redrawn only when it changed (a key press redraws the panel, not the lines),
the line layers never make napari recompute the dims (:func:`keep_dims`), and each is drawn once
off screen when its side's first case is shown (:meth:`DiscLineTool.warm`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from spondy_annotate.grading.rubric import Measurement
from spondy_napari._registry import real_viewer
from spondy_napari.display.layer_data import SIDE_TITLES, SIDES

if TYPE_CHECKING:
    from napari.layers import Shapes

    from spondy_napari.reading_room.room import ReadingRoom

#: Colour of the disc-height lines: orange-red, readable on bright (STIR-hyperintense) and grey tissue.
LINE_COLOUR = "#FF5A1F"
#: Line width and half length of the end ticks (mm).
EDGE_MM, TICK_MM = 0.7, 3.0
#: The length's text size (points, as napari's layer text) and its box behind it: black, 75 % opaque.
LABEL_SIZE, LABEL_BOX = 12, (0.0, 0.0, 0.0, 0.75)
#: Box width per character and padding, in text heights (measured on napari's canvas: a digit
#: of its font is 0.76 of the text height), and the gap to the line (screen px).
CHAR_EM, PAD_EM, LABEL_GAP_PX = 0.8, 1.0, 8.0
#: Screen pixels per text point (napari's canvas draws text at 96 dpi).
PX_PER_POINT = 96 / 72
#: Mouse travel (canvas pixels) below which a press-release is a click, not a drag.
CLICK_PX = 3.0


#: A layer's events on which napari recomputes the dims' ranges.
DIMS_EVENTS = ("data", "scale", "translate", "rotate")


def keep_dims(viewer: Any, layer: Shapes) -> None:
    """Let ``layer``'s shapes and transform change without napari recomputing the dims.

    napari recomputes the dims' ranges on each data or transform change of any layer, and the
    reading room's slice grid then pins them again: every layer is sliced 2 to 4 times per
    change (a caliper drawn, moved or removed took 70-450 ms, mostly re-slicing the images).
    Lines lie on the slices of the image they are drawn over, so the dims never need them.
    (Private napari: the viewer's ``_on_layers_change``, connected when a layer is added.)
    """
    model = real_viewer(viewer)
    for name in DIMS_EVENTS:
        getattr(layer.events, name).disconnect(model._on_layers_change)


def hide_empty(layer: Shapes) -> None:
    """Hide ``layer`` and empty it: napari re-slices every visible layer on each dims change
    (a case switch makes several), a Shapes layer with text even when it has no shapes.

    Hidden first: napari does not slice a hidden layer when its shapes go.
    """
    if layer.visible:
        layer.visible = False
    if layer.nshapes:
        layer.data = []


def reveal(layer: Shapes) -> None:
    """Show a layer :func:`hide_empty` hid, once it has its shapes (napari slices it then)."""
    if not layer.visible:
        layer.visible = True


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
        self._drawn: dict[str, tuple[np.ndarray, float]] = {}  # side: (vertices, mm) shown
        self._shapes: dict[str, tuple[list[np.ndarray], str]] = {}  # side: (caliper, label) shown
        self._warm: set[str] = set()  # sides whose caliper napari has drawn once
        self.viewer.mouse_drag_callbacks.append(self._on_mouse)
        self.viewer.mouse_move_callbacks.append(self._on_move)
        self.viewer.scene.camera.events.zoom.connect(self._on_zoom)
        # now, while no case is on screen: napari's first Shapes layer takes most of a second
        self.ensure_layers()

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
                    visible=False,  # until it has a line (see hide_empty)
                    name=f"Disc line ({SIDE_TITLES[side].lower()})",
                    edge_color=LINE_COLOUR,
                    face_color="transparent",
                    opacity=1.0,
                    blending="translucent_no_depth",
                    features={"label": np.array([], dtype=object)},
                    text={
                        "string": "{label}",
                        "color": LINE_COLOUR,
                        "size": LABEL_SIZE,
                        "anchor": "center",  # on the label box (the other shapes have none)
                    },
                )
                keep_dims(self.viewer, self.layers[side])
        for position, side in enumerate(SIDES, start=2):  # grid: 2 over baseline, 3 over follow-up
            self.viewer.layers.move(self.viewer.layers.index(self.layers[side]), position)
        self.room.set_current_side(self.room.current_side)  # keep the image layer active

    def show(self, saved: Mapping[str, Measurement | None]) -> None:
        """Draw the stored lines (``{side: measurement}``) on their sides."""
        self._saved = dict(saved)
        self.ensure_layers()
        for side in self.layers:
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
            self._draw(side, vertices, line.mm if line and vertices is not None else 0.0)

    def warm(self) -> None:
        """Draw a caliper on each side once, off screen, and remove it.

        napari prepares a layer's shaders (and the text's font and digits) on its first draw:
        0.2-1 s under software OpenGL, which the reader's first line would wait for. ``open``
        does it once its window is up, before any case (on the blank sides); otherwise it is
        done when a side's first case is shown.
        """
        drawn = []
        for side in [s for s in SIDES if s not in self._warm and s not in self._drawn]:
            image = self.room.layer(side)
            if image is None or image.ndim != 3:
                continue
            slices, rows, columns = image.data.shape
            z = int(
                np.clip(np.round(image.world_to_data(self.viewer.dims.point)[0]), 0, slices - 1)
            )
            ends = [[z, rows * f, columns / 2] for f in (0.4, 0.6)]
            self._draw(side, np.array(ends), 1234567890.5)  # every digit of a length
            drawn.append(side)
        if not drawn:
            return
        self.viewer.screenshot(canvas_only=True, flash=False)  # drawn now, never on screen
        for side in drawn:
            self._draw(side, None, 0.0)
        self._warm.update(drawn)

    def clear(self) -> None:
        """Remove the lines shown (another case, or no grading)."""
        self._saved = {}
        self._drawn = {}
        self._shapes = {}
        for layer in self.layers.values():
            hide_empty(layer)

    def _preview(self, side: str, world_a: Any, world_b: Any) -> None:
        image = self.room.layer(side)
        if side not in self.layers or image is None:
            return
        a, b = self.on_slice(side, world_a), self.on_slice(side, world_b)
        if a is None or b is None:
            return
        mm = float(np.linalg.norm(self.to_patient(side, a) - self.to_patient(side, b)))
        self._draw(side, np.array([image.world_to_data(a), image.world_to_data(b)]), mm)

    def _draw(self, side: str, vertices: np.ndarray | None, mm: float) -> None:
        """Draw a caliper (line, end ticks, its length on a box) in the side image's data coordinates.

        The first draw adds the four shapes; later ones (a drag's every move) only move them; the
        caliper on screen is left alone.
        """
        layer, image = self.layers[side], self.room.layer(side)
        self._drawn.pop(side, None)
        shown = self._shapes.pop(side, None)
        if image is None or vertices is None:
            hide_empty(layer)
            return
        transform = (image.scale, image.translate, image.rotate)
        mine = (layer.scale, layer.translate, layer.rotate)
        moved = not all(np.allclose(m, t) for m, t in zip(mine, transform, strict=True))
        if moved:
            layer.scale, layer.translate, layer.rotate = transform
        self._drawn[side] = (np.asarray(vertices, dtype=float), mm)
        label = f"{mm:.1f} mm"
        shapes = self._caliper(image, self._drawn[side][0], label)
        self._shapes[side] = (shapes, label)
        if (
            shown is not None
            and not moved
            and layer.visible
            and layer.nshapes == len(shapes)
            and shown[1] == label
            and all(np.array_equal(a, b) for a, b in zip(shown[0], shapes, strict=True))
        ):
            return
        if layer.nshapes == len(shapes) and not moved:
            layer.data = shapes  # the same shapes moved: colours and widths stay
        else:
            layer.data = []
            width = EDGE_MM / float(min(image.scale[1:]))
            layer.add_lines(shapes[:3], edge_color=LINE_COLOUR, edge_width=width)
            layer.add_rectangles(shapes[3:], edge_width=0, face_color=[LABEL_BOX])
        layer.features = {"label": ["", "", "", label]}
        reveal(layer)

    def _caliper(self, image: Any, vertices: np.ndarray, label: str) -> list[np.ndarray]:
        """The line, its two end ticks and the label's box, in ``image``'s data coordinates."""
        a, b = (np.asarray(image.data_to_world(v), dtype=float) for v in vertices)
        along = b - a
        across = np.array([0.0, -along[2], along[1]])  # in the displayed (y, x) plane
        norm = float(np.linalg.norm(across))
        tick = across / norm * TICK_MM if norm > 0 else np.array([0.0, 0.0, TICK_MM])
        ticks = [
            np.array([image.world_to_data(p - tick), image.world_to_data(p + tick)]) for p in (a, b)
        ]
        # the box, in screen pixels, left of the line (anterior on a sagittal image), mid-height
        zoom = float(self.viewer.scene.camera.zoom)
        text_px = LABEL_SIZE * PX_PER_POINT
        half_h = (1 + PAD_EM / 2) * text_px / 2 / zoom
        width = (len(label) * CHAR_EM + PAD_EM) * text_px / zoom
        right = min(a[2], b[2]) - TICK_MM - LABEL_GAP_PX / zoom
        middle = (a[1] + b[1]) / 2
        box = [
            image.world_to_data(np.array([a[0], y, x]))
            for y, x in (
                (middle - half_h, right - width),
                (middle - half_h, right),
                (middle + half_h, right),
                (middle + half_h, right - width),
            )
        ]
        return [np.asarray(vertices, dtype=float), *ticks, np.array(box, dtype=float)]

    def _on_zoom(self, event: Any = None) -> None:
        """Keep the label boxes their size on screen."""
        for side, (vertices, mm) in list(self._drawn.items()):
            self._draw(side, vertices, mm)

    def close(self) -> None:
        """Stop listening to the mouse and the zoom (the layers stay)."""
        self.viewer.scene.camera.events.zoom.disconnect(self._on_zoom)
        for callbacks, func in (
            (self.viewer.mouse_drag_callbacks, self._on_mouse),
            (self.viewer.mouse_move_callbacks, self._on_move),
        ):
            if func in callbacks:
                callbacks.remove(func)
