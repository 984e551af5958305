"""Keeping the slice slider on the reference (baseline) series' own slices.

Both sides slice at the same world position (napari's dims are shared), so they always show the
slices nearest the same anatomical position. napari spaces the slider's stops by the smallest
slice spacing from the lowest slice of any layer; with two series of different spacing and start
that grid matches neither, so a scroll step could skip or repeat a baseline slice. This keeps
the slider's stops on the reference series' slices, extended to cover every layer: one step is
one baseline slice, and the follow-up shows whichever of its slices is nearest.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

#: Stops closer than this (mm) are the same stop.
TOLERANCE_MM = 1e-6


class SliceGrid:
    """Pins ``viewer.dims`` axis 0 to a reference layer's slice positions."""

    def __init__(self, viewer: napari.Viewer) -> None:
        self.viewer = viewer
        self.reference: Image | None = None
        self._busy = False
        viewer.dims.events.range.connect(self._enforce)

    def disconnect(self) -> None:
        """Stop following the viewer."""
        self.viewer.dims.events.range.disconnect(self._enforce)

    @property
    def axis(self) -> int:
        """The slider axis (world z)."""
        return 0

    def set_reference(self, layer: Image | None) -> None:
        """Use ``layer``'s slices as the slider's stops."""
        self.reference = layer
        self._enforce()

    def reference_step(self) -> tuple[float, float] | None:
        """``(first slice position, spacing)`` of the reference in world mm, if there is one."""
        layer = self.reference
        if layer is None or layer not in self.viewer.layers or layer.ndim != 3:
            return None
        return float(layer.translate[0]), float(layer.scale[0])

    def position_of(self, index: int) -> float | None:
        """World position (mm) of the reference's slice ``index``."""
        ref = self.reference_step()
        return None if ref is None else ref[0] + index * ref[1]

    def wanted_range(self, start: float, stop: float) -> tuple[float, float, float] | None:
        """The range covering ``start..stop`` whose stops are the reference's slice positions."""
        ref = self.reference_step()
        if ref is None:
            return None
        origin, step = ref
        k_lo = math.floor((start - origin) / step + 1e-6)
        k_hi = math.ceil((stop - origin) / step - 1e-6)
        return origin + k_lo * step, origin + max(k_hi, k_lo) * step, step

    def _enforce(self, event: Any = None) -> None:
        if self._busy or self.viewer.dims.ndim < 3:
            return
        axis = self.axis
        current = self.viewer.dims.range[axis]
        wanted = self.wanted_range(current.start, current.stop)
        if wanted is None or all(
            abs(a - b) < TOLERANCE_MM for a, b in zip(wanted, current, strict=True)
        ):
            return
        self._busy = True
        try:
            self.viewer.dims.set_range(axis, wanted)
        finally:
            self._busy = False

    def go_to(self, index: int) -> None:
        """Move the slider to the reference's slice ``index`` (a stop: no snapping elsewhere)."""
        position = self.position_of(index)
        if position is not None:
            self._enforce()
            self.viewer.dims.set_point(self.axis, position)

    def current_index(self) -> int | None:
        """The reference slice at the slider's position."""
        ref = self.reference_step()
        if ref is None:
            return None
        return round((self.viewer.dims.point[self.axis] - ref[0]) / ref[1])
