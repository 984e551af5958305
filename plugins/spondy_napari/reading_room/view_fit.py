"""Each side fills its grid cell: the fitted view, and the reader's zoom and pan relative to it.

The two sides share one camera (napari's grid mode), so a millimetre is as long on each. The
fitted view frames what both visits show, with napari's ``reset_view`` margin: centred on the
first (reference, baseline) image, as tall and wide as the smaller image. Each image then fills
its cell even when the visits' fields of view differ (the larger one is cut at its cell's edge;
zoom out to see it), and a follow-up offset (an alignment, a nudge) moves only the follow-up.
:class:`ViewFit` computes that view and keeps the reader's zoom and pan *relative* to it: zoom
as a factor of the fitted zoom, pan as a fraction of the fitted scene. Then the canvas resizing (a maximised window, docks shown or hidden) or another
case or sequence coming keeps what the reader chose: twice the fitted size, centred a little
low, stays twice the fitted size, centred a little low. napari's Ctrl-R (its ``reset_view``)
fits again, this way (factor 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import napari
    from napari.layers import Layer

#: Blank border of the fitted view, as a fraction of the cell (napari's ``reset_view`` margin).
MARGIN = 0.05


class ViewFit:
    """Fits ``layers()`` into one grid cell of ``viewer`` and keeps the reader's relative view.

    Attributes
    ----------
    zoom : float
        The reader's zoom relative to the fitted one (1: fitted).
    pan : numpy.ndarray
        The camera centre's distance from the fitted centre, in fractions of the fitted scene's
        ``(height, width)``.
    """

    def __init__(self, viewer: napari.Viewer, layers: Callable[[], list[Layer]]) -> None:
        self.viewer = viewer
        self.layers = layers
        self.zoom = 1.0
        self.pan = np.zeros(2)
        self._applying = False
        camera = viewer.scene.camera
        viewer.canvas.events.size.connect(self.apply)
        viewer.events.reset_view.connect(self.reset)
        camera.events.zoom.connect(self._remember)
        camera.events.center.connect(self._remember)

    def disconnect(self) -> None:
        """Stop following the viewer."""
        camera = self.viewer.scene.camera
        self.viewer.canvas.events.size.disconnect(self.apply)
        self.viewer.events.reset_view.disconnect(self.reset)
        camera.events.zoom.disconnect(self._remember)
        camera.events.center.disconnect(self._remember)

    def fitted(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        """``(centre (y, x), scene size (h, w), zoom)`` of the fitted view, or None (no image).

        The scene is centred on the first image and as tall and wide as the smallest."""
        layers = [layer for layer in self.layers() if layer in self.viewer.layers]
        if not layers or self.viewer.dims.ndisplay != 2:
            return None
        # voxel centres, plus half a voxel on each side: the image's edges (as napari fits)
        half = np.array([np.abs(np.asarray(layer.scale[-2:], dtype=float)) / 2 for layer in layers])
        extents = np.array([layer.extent.world[:, -2:] for layer in layers])
        lows, highs = extents[:, 0] - half, extents[:, 1] + half
        size = np.maximum((highs - lows).min(axis=0), 1e-6)
        cell = np.asarray(self.viewer.canvas.viewbox_size(self.viewer.layers), dtype=float)
        zoom = (1 - MARGIN) * float(np.min(cell / size))
        return (lows[0] + highs[0]) / 2, size, zoom

    def apply(self, event: Any = None) -> None:
        """Show the fitted view with the reader's relative zoom and pan."""
        fit = self.fitted()
        if fit is None:
            return
        centre, size, zoom = fit
        centre, zoom = centre + self.pan * size, zoom * self.zoom
        camera = self.viewer.scene.camera
        self._applying = True
        try:  # each change moves napari's and vispy's cameras: only what changed
            if not np.allclose(np.asarray(camera.center)[-2:], centre, rtol=0, atol=1e-9):
                camera.center = tuple(centre)
            if not np.isclose(camera.zoom, zoom, rtol=1e-12, atol=0):
                camera.zoom = zoom
        finally:
            self._applying = False

    def reset(self, event: Any = None) -> None:
        """Fit the images (no relative zoom or pan)."""
        self.zoom, self.pan = 1.0, np.zeros(2)
        self.apply()

    def image_height_px(self) -> float | None:
        """How tall the fitted scene (the smaller image's height) is on screen (px), or None."""
        fit = self.fitted()
        if fit is None:
            return None
        return float(fit[1][0] * self.viewer.scene.camera.zoom)

    def _remember(self, event: Any = None) -> None:
        """The reader zoomed or panned (or napari fitted): keep it relative to the fit."""
        if self._applying:
            return
        fit = self.fitted()
        if fit is None:
            return
        centre, size, zoom = fit
        camera = self.viewer.scene.camera
        self.zoom = float(camera.zoom) / zoom
        self.pan = (np.asarray(camera.center, dtype=float)[-2:] - centre) / size
