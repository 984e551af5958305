"""The mouse wheel as in PACS: it pages slices on both sides; with Ctrl it zooms at the cursor.

napari zooms with the wheel and pages slices with Ctrl-wheel; radiologists expect the opposite
(PACS, OHIF and Slicer page with the wheel). :class:`SliceWheel` turns napari's wheel zoom off
(the camera's and each image layer's ``mouse_zoom``) and replaces napari's Ctrl-wheel callback:
one notch is one baseline slice, never more, and a trackpad's fine steps add up until they make
one. Ctrl-wheel zooms about the point under the cursor, which stays where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import napari

#: Zoom factor of one wheel notch with Ctrl.
ZOOM_STEP = 1.25


class SliceWheel:
    """Wheel callbacks of ``viewer``: ``step(n)`` pages ``n`` slices (positive: next slices)."""

    def __init__(self, viewer: napari.Viewer, step: Callable[[int], None]) -> None:
        from napari.components._viewer_mouse_bindings import dims_scroll

        self.viewer = viewer
        self.step = step
        self._progress = 0.0
        self._napari = dims_scroll
        viewer.scene.camera.mouse_zoom = False
        callbacks = viewer.mouse_wheel_callbacks
        if dims_scroll in callbacks:
            callbacks.remove(dims_scroll)
        callbacks.append(self.on_wheel)

    def disconnect(self) -> None:
        """Give the wheel back to napari."""
        callbacks = self.viewer.mouse_wheel_callbacks
        if self.on_wheel in callbacks:
            callbacks.remove(self.on_wheel)
        if self._napari not in callbacks:
            callbacks.insert(0, self._napari)
        self.viewer.scene.camera.mouse_zoom = True

    def on_wheel(self, viewer: Any, event: Any) -> None:
        """Page slices, or zoom with Ctrl."""
        modifiers = set(event.modifiers)
        if modifiers - {"Control"}:
            return  # Alt-wheel: napari's layer scroll
        delta = float(event.delta[1])
        native = getattr(event, "native", None)
        if native is not None and hasattr(native, "inverted") and native.inverted():
            delta = -delta
        if "Control" in modifiers:
            self.zoom(delta, event.position)
        else:
            self.page(delta)
        event.handled = True

    def page(self, notches: float) -> None:
        """Add ``notches`` (away from the reader: previous slices) and page the whole ones."""
        self._progress -= notches
        whole = int(np.trunc(self._progress + np.copysign(1e-9, self._progress)))
        if whole:
            self._progress -= whole
            self.step(whole)

    def zoom(self, notches: float, position: Any) -> None:
        """Zoom by :data:`ZOOM_STEP` per notch about world ``position`` (it stays in place)."""
        camera = self.viewer.scene.camera
        factor = ZOOM_STEP**notches
        centre = np.asarray(camera.center, dtype=float)[-2:]
        point = np.asarray(position, dtype=float)[-2:]
        camera.zoom = camera.zoom * factor
        camera.center = tuple(point + (centre - point) / factor)
