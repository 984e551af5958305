"""Filling layers in one batch: napari's dims recomputed once, each thumbnail computed once."""

from __future__ import annotations

import numpy as np
import pytest
from spondy_napari.display.layer_data import emit_data_events, thumbnails_held

pytestmark = pytest.mark.gui


@pytest.fixture
def two_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    layers = [viewer.add_image(np.zeros((4, 32, 32), np.float32)) for _ in range(2)]
    return viewer, layers


def test_the_dims_are_recomputed_once_from_every_layer(two_layers, monkeypatch):
    from napari.components import ViewerModel

    viewer, layers = two_layers
    recomputed = []
    recompute = ViewerModel._on_layers_change  # napari calls it by name: the spy is seen

    def spy(self):
        recomputed.append(self)
        recompute(self)

    monkeypatch.setattr(ViewerModel, "_on_layers_change", spy)
    for layer, slices in zip(layers, (6, 9), strict=True):
        with layer.events.data.blocker():
            layer.data = np.zeros((slices, 32, 32), np.float32)
    emit_data_events(viewer, layers)
    assert len(recomputed) == 1  # once (napari: once per layer)
    assert viewer.dims.range[0].stop == 8  # from both layers: the taller one's last slice


def test_each_thumbnail_is_computed_once_at_the_end(two_layers):
    viewer, layers = two_layers
    computed = []
    for layer in layers:
        layer.events.thumbnail.connect(lambda event, layer=layer: computed.append(layer))
    ramp = np.broadcast_to(np.linspace(0, 1, 32, dtype=np.float32), (4, 32, 32))
    with thumbnails_held(layers):
        for layer in layers:
            layer.data = ramp
            layer.contrast_limits_range = (0.0, 1.0)
            layer.contrast_limits = (0.0, 1.0)
            layer.refresh()
        assert computed == []
    assert computed == layers  # one each, from the final data and contrast
    assert all(np.ptp(layer.thumbnail[..., 0]) > 100 for layer in layers)  # the ramp, not blank
