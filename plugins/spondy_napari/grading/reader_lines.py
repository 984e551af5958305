"""Each reader's disc-height lines, for the adjudicator: labelled, one colour per reader, read-only.

The adjudicator compares the readers' measurements on the images: every line a study reader
stored for the case on screen is drawn on its side (baseline left, follow-up right) in one
Shapes layer per side, listed after the line tool's layers so that napari's grid puts each over
its side, in the reader's colour, with a label in the same colour ("AB 7.4 mm") on a dark box
left of the lines, one under the other (two readers' lines of one disc lie almost on top of each
other), sized on screen as the line tool's (:mod:`.line_tool`). The layers are never made
active, so napari's shape editing never applies to them; they are redrawn when the case, the
sequence, the zoom or the follow-up offset changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spondy_annotate.grading.rubric import Measurement
from spondy_napari.display.layer_data import SIDE_TITLES, SIDES
from spondy_napari.grading.line_tool import (
    CHAR_EM,
    EDGE_MM,
    LABEL_BOX,
    LABEL_GAP_PX,
    LABEL_SIZE,
    PAD_EM,
    PX_PER_POINT,
    DiscLineTool,
    hide_empty,
    keep_dims,
    reveal,
)
from spondy_napari.grading.model import measured_items, measurement_field

if TYPE_CHECKING:
    from napari.layers import Shapes

    from spondy_annotate.grading.session import GradingSession

#: One colour per reader (Okabe-Ito: sky blue, yellow, reddish purple, bluish green).
READER_COLOURS = ("#56B4E9", "#F0E442", "#CC79A7", "#009E73")


def layer_name(side: str) -> str:
    """The name of a side's layer of readers' lines."""
    return f"Readers' lines ({SIDE_TITLES[side].lower()})"


class ReaderLines:
    """The study readers' measurement lines of one case, drawn for the adjudicator.

    Parameters
    ----------
    tool
        The line tool (its room, and its patient-to-world conversion of each side).
    """

    def __init__(self, tool: DiscLineTool) -> None:
        self.tool = tool
        self.room = tool.room
        self.viewer = tool.viewer
        self.layers: dict[str, Shapes] = {}
        self.lines: dict[str, list[tuple[str, Measurement]]] = {s: [] for s in SIDES}
        self.viewer.scene.camera.events.zoom.connect(self.draw)  # the boxes keep their size

    def load(self, session: GradingSession, case_id: str | None) -> None:
        """Take the lines the study's readers stored for ``case_id`` (None: none), and draw."""
        self.lines = {s: [] for s in SIDES}
        study = session.study
        if case_id is not None and study is not None:
            rubric = session.rubric
            for reader in study.readers:
                values = session.store.current_values(case_id, reader, rubric)
                for item in measured_items(rubric):
                    for side in SIDES:
                        value = values.get(measurement_field(rubric, item, side))
                        if isinstance(value, Measurement) and value.start and value.end:
                            self.lines[side].append((reader, value))
        self.draw()

    def readers(self) -> list[str]:
        """The readers with a line, in the order of their colours."""
        seen: list[str] = []
        for side in SIDES:
            seen += [r for r, _ in self.lines[side] if r not in seen]
        return seen

    def draw(self, event: object = None) -> None:
        """Draw the lines on the sides shown (after a case, sequence or offset change)."""
        readers = self.readers()
        if not readers and not self.layers:
            return
        colours = {r: READER_COLOURS[i % len(READER_COLOURS)] for i, r in enumerate(readers)}
        self._ensure_layers()
        for side in SIDES:
            image = self.room.layer(side)
            lines = self.lines[side] if self.room.prepared.get(side) is not None else []
            layer = self.layers[side]
            if image is None or not lines:
                hide_empty(layer)
                continue
            layer.data = []
            layer.scale, layer.translate, layer.rotate = image.scale, image.translate, image.rotate
            ends = [self._ends(side, m) for _, m in lines]
            width = EDGE_MM / float(min(image.scale[1:]))
            data = [np.array([image.world_to_data(w) for w in pair]) for pair in ends]
            slices = [float(np.round(d[:, 0].mean())) for d in data]  # a line and its label
            for d, z in zip(data, slices, strict=True):  # lie on one slice (napari shows
                d[:, 0] = z  # a rectangle only on its exact slice)
            layer.add_lines(data, edge_color=[colours[r] for r, _ in lines], edge_width=width)
            labels = [f"{r} {m.mm:.1f} mm" for r, m in lines]
            boxes = self._boxes(side, ends, max(len(label) for label in labels))
            for box, z in zip(boxes, slices, strict=True):
                box[:, 0] = z
            layer.add_rectangles(boxes, face_color=[LABEL_BOX], edge_width=0)
            layer.features = {
                "label": [""] * len(lines) + labels,
                "colour": [colours[r] for r, _ in lines] * 2,
            }
            reveal(layer)

    def _ends(self, side: str, line: Measurement) -> Sequence[np.ndarray]:
        """The line's two ends in world mm on ``side``."""
        assert line.start is not None and line.end is not None
        return [self.tool.to_world(side, p) for p in (line.start, line.end)]

    def _boxes(
        self, side: str, ends: Sequence[Sequence[np.ndarray]], chars: int
    ) -> list[np.ndarray]:
        """The label boxes (data coordinates), sized in screen pixels: left of the lines (anterior
        on a sagittal image), one under the other from the lines' top."""
        image = self.room.layer(side)
        assert image is not None
        zoom = float(self.viewer.scene.camera.zoom)
        text_px = LABEL_SIZE * PX_PER_POINT
        height = (1 + PAD_EM) * text_px / zoom
        width = (chars * CHAR_EM + PAD_EM) * text_px / zoom
        points = np.array([w for pair in ends for w in pair], dtype=float)
        right = points[:, 2].min() - LABEL_GAP_PX / zoom
        top = points[:, 1].min() - height / 2
        boxes = []
        for i in range(len(ends)):
            y0 = top + i * height
            corners = [(y0, right - width), (y0 + height, right - width),
                       (y0 + height, right), (y0, right)]  # fmt: skip
            boxes.append(
                np.array(
                    [image.world_to_data(np.array([points[0, 0], y, x])) for y, x in corners],
                    dtype=float,
                )
            )
        return boxes

    def _ensure_layers(self) -> None:
        """Both sides' layers, after the line tool's: 4 over the baseline, 5 over the follow-up."""
        if all(self.layers.get(s) in self.viewer.layers for s in SIDES):
            return
        self.tool.ensure_layers()
        for side in SIDES:
            if self.layers.get(side) not in self.viewer.layers:
                self.layers[side] = self.viewer.add_shapes(
                    ndim=3,
                    visible=False,  # until it has lines
                    name=layer_name(side),
                    face_color="transparent",
                    opacity=1.0,
                    blending="translucent_no_depth",
                    features={
                        "label": np.array([], dtype=object),
                        "colour": np.array([], dtype=object),
                    },
                    text={
                        "string": "{label}",
                        "size": LABEL_SIZE,
                        "anchor": "center",
                        "color": {"feature": "colour"},
                    },
                )
                keep_dims(self.viewer, self.layers[side])
        for position, side in enumerate(SIDES, start=4):
            self.viewer.layers.move(self.viewer.layers.index(self.layers[side]), position)
        self.room.set_current_side(self.room.current_side)  # the image layer stays active

    def close(self) -> None:
        """Remove the lines (and their layers) from the viewer; stop following the zoom."""
        self.viewer.scene.camera.events.zoom.disconnect(self.draw)
        self.lines = {s: [] for s in SIDES}
        for layer in self.layers.values():
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.layers = {}
