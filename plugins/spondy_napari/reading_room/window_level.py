"""Window/level: MR presets, a mouse-drag tool and linking the two sides.

MR signal has no absolute unit (unlike CT's Hounsfield scale), so the presets are not fixed
numbers: each is a pair of percentiles of the volume's foreground (voxels above the background),
chosen for what the radiologist looks at on that weighting. "DICOM" is the window stored by the
scanner or the technologist, the default.

In drag mode (key ``W``) a left-drag changes the window of the side under the mouse, PACS style:
right widens the window (less contrast), down raises the level (darker). Linked, both sides get the
same center and width (same sequence on both sides, same scanner: comparable signal).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from spondy_napari.display.layer_data import PreparedVolume, limits_to_window, window_to_limits

if TYPE_CHECKING:
    from napari.layers import Image
    from napari.utils.events import Event


class Sides(Protocol):
    """What window/level needs of the reading room: its two sides (the room is one)."""

    @property
    def layers(self) -> Mapping[str, Image]:
        """The image layer of each side."""

    @property
    def prepared(self) -> Mapping[str, PreparedVolume | None]:
        """The volume on each side."""

    @property
    def current_side(self) -> str:
        """The active side."""

    def set_current_side(self, side: str) -> None:
        """Make ``side`` the active one."""

    def side_at(self, event: Any) -> str | None:
        """The side under a mouse event."""


@dataclass(frozen=True)
class Preset:
    """A window preset: ``low``/``high`` percentiles of the foreground (None: the DICOM window).

    ``sequences`` are the weightings it is meant for (empty: any); on a series of another
    weighting the DICOM window is shown instead.
    """

    name: str
    low: float | None
    high: float | None
    description: str
    sequences: tuple[str, ...] = ()

    def applies_to(self, sequence: str) -> bool:
        """Whether this preset is used for a series of weighting ``sequence`` ("T2", ...)."""
        return not self.sequences or sequence in self.sequences

    def window(self, prepared: PreparedVolume) -> tuple[float, float]:
        """``(center, width)`` of this preset for a volume."""
        if self.low is None or self.high is None:
            return prepared.window
        lo, hi = prepared.percentiles[self.low], prepared.percentiles[self.high]
        if hi <= lo:
            return prepared.window
        return (lo + hi) / 2, hi - lo


#: Presets by name, in the order of the keys 3, 4, 5, 6, 7.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("DICOM", None, None, "the window stored in the series"),
        Preset(
            "T1",
            2.0,
            99.5,
            "fat and marrow bright without clipping; low-signal edema visible",
            ("T1", "T1C"),
        ),
        Preset(
            "T2", 1.0, 99.8, "fluid and CSF kept below white; disc and abscess contrast", ("T2",)
        ),
        Preset(
            "STIR",
            5.0,
            99.9,
            "suppressed fat dark, edema and fluid spread over the grey scale",
            ("STIR",),
        ),
        Preset("Auto", 0.5, 99.5, "0.5 to 99.5 percentile of the foreground"),
    )
}
#: Fraction of the value range per screen pixel of drag.
DRAG_SENSITIVITY = 1 / 600


class WindowLevel:
    """Window/level of the reading room's two layers.

    Parameters
    ----------
    room : Sides
        The reading room: the layers and the prepared volumes of each side.

    Attributes
    ----------
    drag_mode : bool
        Left-drag changes window/level (panning is off meanwhile).
    linked : bool
        A change on one side is copied to the other.
    """

    def __init__(self, room: Sides) -> None:
        self.room = room
        self.drag_mode = False
        self.linked = False
        self.preset = "DICOM"
        #: Windows the reader set, by SeriesInstanceUID (restored when the series comes back).
        self.memory: dict[str, tuple[float, float]] = {}
        self._syncing = False
        self.on_change: list[Callable[[], None]] = []

    # -- reading and setting ----------------------------------------------------------------
    def window(self, side: str) -> tuple[float, float]:
        """Current ``(center, width)`` of a side."""
        return limits_to_window(self.room.layers[side].contrast_limits)

    def effective_preset(self, sequence: str) -> str:
        """The preset used for a series of weighting ``sequence`` (DICOM when the chosen one
        is for another weighting)."""
        return self.preset if PRESETS[self.preset].applies_to(sequence) else "DICOM"

    def initial_window(self, prepared: PreparedVolume, sequence: str = "") -> tuple[float, float]:
        """Window for a volume coming on screen: the reader's last one for it, else the preset."""
        uid = prepared.volume.metadata.get("series_instance_uid", "")
        if uid in self.memory:
            return self.memory[uid]
        return PRESETS[self.effective_preset(sequence)].window(prepared)

    def set_window(self, side: str, center: float, width: float, *, propagate: bool = True) -> None:
        """Set a side's window (and the other side's when linked)."""
        sides = [side]
        if propagate and self.linked:
            sides = list(self.room.layers)
        for s in sides:
            self._apply(s, center, width)
        self._changed()

    def _apply(self, side: str, center: float, width: float) -> None:
        layer = self.room.layers.get(side)
        if layer is None:
            return
        self._syncing = True
        try:
            low, high = window_to_limits(center, width)
            rng = layer.contrast_limits_range
            layer.contrast_limits_range = (min(rng[0], low), max(rng[1], high))
            layer.contrast_limits = (low, high)
        finally:
            self._syncing = False
        prepared = self.room.prepared.get(side)
        if prepared is not None:
            uid = prepared.volume.metadata.get("series_instance_uid", "")
            self.memory[uid] = (float(center), float(width))

    def apply_preset(self, name: str) -> None:
        """Apply a preset to both sides, each from its own volume.

        It stays chosen: later series of its weighting (any series for DICOM and Auto) open
        with it.
        """
        preset = PRESETS[name]
        self.preset = name
        for side, prepared in self.room.prepared.items():
            if prepared is not None:
                uid = prepared.volume.metadata.get("series_instance_uid", "")
                self.memory.pop(uid, None)
                self._apply(side, *preset.window(prepared))
        if self.linked:
            side = self.room.current_side
            self.set_window(side, *self.window(side))
        self._changed()

    def set_linked(self, linked: bool) -> None:
        """Link or unlink; linking copies the current side's window to the other side."""
        self.linked = bool(linked)
        if self.linked and self.room.layers:
            side = self.room.current_side
            self.set_window(side, *self.window(side))
        self._changed()

    def toggle_linked(self) -> None:
        """Toggle linking."""
        self.set_linked(not self.linked)

    def set_drag_mode(self, on: bool) -> None:
        """Turn the drag tool on or off (panning with the left button is off while it is on)."""
        self.drag_mode = bool(on)
        for layer in self.room.layers.values():
            layer.mouse_pan = not self.drag_mode
        self._changed()

    def toggle_drag_mode(self) -> None:
        """Toggle the drag tool."""
        self.set_drag_mode(not self.drag_mode)

    def readout(self, side: str) -> str:
        """``"W: 1200 L: 600"`` for a side."""
        center, width = self.window(side)
        return f"W: {_fmt(width)} L: {_fmt(center)}"

    # -- events ---------------------------------------------------------------------------------
    def on_contrast_limits(self, event: Event) -> None:
        """A layer's contrast changed elsewhere (napari's slider): remember it, follow when linked."""
        if self._syncing:
            return
        layer = event.source
        side = next((s for s, lay in self.room.layers.items() if lay is layer), None)
        if side is None:
            return
        center, width = limits_to_window(layer.contrast_limits)
        prepared = self.room.prepared.get(side)
        if prepared is not None:
            self.memory[prepared.volume.metadata.get("series_instance_uid", "")] = (center, width)
        if self.linked:
            for other in self.room.layers:
                if other != side:
                    self._apply(other, center, width)
        self._changed()

    def drag(self, viewer: Any, event: Any) -> Generator[None, None, None]:
        """Mouse drag callback of the viewer: window/level with the left button in drag mode."""
        if not self.drag_mode or event.type != "mouse_press" or event.button != 1:
            return
        side = self.room.side_at(event)
        if side is None or side not in self.room.layers:
            return
        self.room.set_current_side(side)
        center0, width0 = self.window(side)
        layer: Image = self.room.layers[side]
        rng = layer.contrast_limits_range
        per_pixel = max(rng[1] - rng[0], 1e-6) * DRAG_SENSITIVITY
        x0, y0 = event.pos[0], event.pos[1]
        yield
        while event.type == "mouse_move":
            dx, dy = event.pos[0] - x0, event.pos[1] - y0
            width = max(width0 + dx * per_pixel, per_pixel)
            self.set_window(side, center0 + dy * per_pixel, width)
            yield

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3g}"
