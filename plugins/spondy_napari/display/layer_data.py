"""Turning a loaded :class:`~spondy_annotate.dicom.volume.Volume` into napari image layer data.

Everything that is costly (the display geometry, the value range, percentiles for the window
presets) is computed once per volume in :func:`prepare`, which the background loader runs, so that
putting a volume into an existing layer on the GUI thread only sets attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spondy_napari import _registry
from spondy_napari.display.frame import LayerGeometry, layer_array, layer_geometry

if TYPE_CHECKING:
    from napari.layers import Image

    from spondy_annotate.dicom.volume import Volume

#: The two sides of the reading room, left to right.
SIDES = ("baseline", "followup")
#: How each side is named on screen.
SIDE_TITLES = {"baseline": "Baseline", "followup": "Follow-up"}
#: Percentiles computed per volume for the window presets
#: (:data:`spondy_napari.reading_room.window_level.PRESETS`).
PERCENTILES = (0.5, 1.0, 2.0, 5.0, 50.0, 95.0, 98.0, 99.0, 99.5, 99.8, 99.9)
#: Metadata keys of a Volume that may be shown (never patient name, ID or file paths).
SAFE_METADATA = ("series_description", "series_number", "modality", "stack")


@dataclass(frozen=True)
class PreparedVolume:
    """A volume with what the viewer needs to show it at once.

    Attributes
    ----------
    volume : Volume
        The loaded series.
    geometry : LayerGeometry
        Where it goes in napari's world.
    data : numpy.ndarray
        The array as the layer shows it (a view of ``volume.array``).
    data_range : tuple of float
        Minimum and maximum value (the contrast slider's range).
    percentiles : dict
        Value at each of :data:`PERCENTILES` (of voxels above the background).
    """

    volume: Volume
    geometry: LayerGeometry
    data: np.ndarray
    data_range: tuple[float, float]
    percentiles: dict[float, float] = field(default_factory=dict)

    @property
    def window(self) -> tuple[float, float]:
        """The DICOM (or loader's default) window as ``(center, width)``."""
        return float(self.volume.window[0]), float(self.volume.window[1])

    @property
    def slice_spacing(self) -> float:
        """Distance between displayed slices in mm (world z step)."""
        return float(self.geometry.scale[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the voxel array."""
        return int(self.volume.array.nbytes)


def prepare(volume: Volume) -> PreparedVolume:
    """Compute display geometry, value range and preset percentiles (run off the GUI thread)."""
    geometry = layer_geometry(volume)
    array = volume.array
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    # Percentiles of the foreground: MR background is a large share of the voxels near zero.
    sample = array[:: max(1, array.shape[0] // 8)].ravel()
    foreground = sample[sample > lo + 0.02 * (hi - lo)]
    values = np.percentile(foreground if foreground.size else sample, PERCENTILES)
    return PreparedVolume(
        volume=volume,
        geometry=geometry,
        data=layer_array(volume, geometry),
        data_range=(lo, hi),
        percentiles=dict(zip(PERCENTILES, (float(v) for v in values), strict=True)),
    )


def window_to_limits(center: float, width: float) -> tuple[float, float]:
    """Contrast limits ``(low, high)`` of a window ``(center, width)``."""
    width = max(float(width), 1e-6)
    return float(center) - width / 2, float(center) + width / 2


def limits_to_window(limits: tuple[float, float] | list[float]) -> tuple[float, float]:
    """Window ``(center, width)`` of contrast limits ``(low, high)``."""
    low, high = float(limits[0]), float(limits[1])
    return (low + high) / 2, high - low


def layer_name(side: str, date_text: str, label: str, *, note: str = "") -> str:
    """For example ``"Baseline 2024-01-10 · SAG STIR"``; ``note`` is appended after a dash.

    An empty ``date_text`` (dates hidden from the reader) gives ``"Baseline · SAG STIR"``.
    """
    title = SIDE_TITLES.get(side, side)
    name = f"{title} {date_text} · {label}" if date_text else f"{title} · {label}"
    return f"{name} — {note}" if note else name


def layer_metadata(
    prepared: PreparedVolume | None, *, side: str, date_text: str, label: str, case: str = ""
) -> dict[str, Any]:
    """Layer metadata: timepoint, sequence and geometry; nothing that identifies the patient."""
    meta: dict[str, Any] = {"side": side, "study_date": date_text, "label": label}
    if case:
        meta["case"] = case
    if prepared is not None:
        vol, geo = prepared.volume, prepared.geometry
        meta.update({k: vol.metadata.get(k) for k in SAFE_METADATA if k in vol.metadata})
        meta.update(
            {
                "series_instance_uid": vol.metadata.get("series_instance_uid", ""),
                "study_instance_uid": vol.metadata.get("study_instance_uid", ""),
                "plane": geo.plane,
                "spacing_zyx_mm": tuple(vol.spacing),
                "origin_lps_mm": tuple(vol.origin),
                "direction": np.asarray(vol.direction).tolist(),
                "display_frame": geo.frame.tolist(),
                "oblique": vol.is_oblique,
                "dicom_window": prepared.window,
                "n_files": len(vol.metadata.get("files", ())),
            }
        )
    return {"spondy": meta}


def layer_kwargs(
    prepared: PreparedVolume, *, name: str, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Keyword arguments of ``viewer.add_image`` / a reader's layer data tuple."""
    return {
        "name": name,
        "metadata": metadata,
        "contrast_limits": window_to_limits(*prepared.window),
        "colormap": "gray",
        "interpolation2d": "linear",
        **prepared.geometry.transform_kwargs(),
    }


def blank_like(prepared: PreparedVolume | None) -> tuple[np.ndarray, dict[str, Any]]:
    """An all-zero (read-only, no memory) stand-in for a missing series, placed like ``prepared``."""
    if prepared is None:
        return np.broadcast_to(np.float32(0), (1, 2, 2)), {}
    data = np.broadcast_to(np.float32(0), prepared.data.shape)
    return data, prepared.geometry.transform_kwargs()


def apply_to_layer(
    layer: Image,
    prepared: PreparedVolume | None,
    *,
    name: str,
    metadata: dict[str, Any],
    offset_world: np.ndarray | None = None,
    template: PreparedVolume | None = None,
    window: tuple[float, float] | None = None,
) -> None:
    """Put a volume into an existing layer: data, transform, contrast, name (no new layer).

    Nothing is sliced or emitted yet: emit the layer's ``events.data`` once every layer of the
    change is filled (napari's viewer then recomputes its dims once, from all of them), then
    refresh it, unless the dims point moved (napari then re-slices every layer anyway).

    Parameters
    ----------
    layer : napari.layers.Image
        The layer to reuse.
    prepared : PreparedVolume or None
        The volume; None shows a blank placed like ``template`` (missing or unloadable series).
    offset_world : array, optional
        Added to ``translate`` (the follow-up's per-case offset, in world mm).
    window : (center, width), optional
        The window to show (default: the volume's DICOM window).
    """
    if prepared is None:
        data, transform = blank_like(template)
        limits, data_range = (0.0, 1.0), (0.0, 1.0)
    else:
        data, transform = prepared.data, prepared.geometry.transform_kwargs()
        limits = window_to_limits(*(window or prepared.window))
        data_range = prepared.data_range
    translate = np.asarray(transform.get("translate", (0.0, 0.0, 0.0)), dtype=float)
    if offset_world is not None:
        translate = translate + np.asarray(offset_world, dtype=float)
    layer.metadata = metadata
    layer.name = name
    # Transform, data and contrast are set with refreshes and their events held back: napari
    # would recompute its dims and re-slice every layer for each, and its layer controls set
    # their contrast sliders three times (the range sets the limits too). The contrast's two
    # events are emitted once each at the end; the data's by the caller.
    events = layer.events
    contrast = (events.contrast_limits_range, events.contrast_limits)
    with ExitStack() as held:
        held.enter_context(_refresh_held(layer))
        for emitter in (events.scale, events.rotate, events.translate, events.data, *contrast):
            held.enter_context(emitter.blocker())
        for attr, value in (
            ("scale", transform.get("scale", (1.0, 1.0, 1.0))),
            ("rotate", transform.get("rotate", np.eye(3))),
            ("translate", translate),
        ):
            value = np.asarray(value, dtype=float)
            current = np.asarray(getattr(layer, attr), dtype=float)
            if current.shape != value.shape or not np.allclose(current, value, rtol=0, atol=1e-9):
                setattr(layer, attr, value)
        layer.data = data
        layer.contrast_limits_range = (
            min(data_range[0], limits[0]),
            max(data_range[1], limits[1]),
        )
        layer.contrast_limits = limits
    for emitter in contrast:
        emitter()


def emit_data_events(viewer: Any, layers: list[Image]) -> None:
    """Emit each filled layer's ``events.data``; napari's viewer recomputes its dims from every
    layer (its private ``_on_layers_change``, about 4 ms) on the last one only."""
    recompute = getattr(_registry.real_viewer(viewer), "_on_layers_change", None)
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        with nullcontext() if last or recompute is None else layer.events.data.blocker(recompute):
            layer.events.data(value=layer.data)


@contextmanager
def thumbnails_held(layers: list[Image]) -> Iterator[None]:
    """Compute each layer's thumbnail (napari's layer list) once, at the end of a change.

    napari recomputes it on every data, contrast and slice change: three to five times per layer
    in a case switch. Uses napari's private ``_update_thumbnail`` (nothing is held without it).
    """
    held = [layer for layer in layers if callable(getattr(layer, "_update_thumbnail", None))]
    for layer in held:
        layer._update_thumbnail = _no_thumbnail  # shadows the method on this layer only
    try:
        yield
    finally:
        for layer in held:
            del layer._update_thumbnail
            layer._update_thumbnail()


def _no_thumbnail() -> None:
    """The thumbnail is computed when the change ends (:func:`thumbnails_held`)."""


def _refresh_held(layer: Image) -> AbstractContextManager[Any]:
    """napari's private ``Layer._block_refresh`` when there is one (else no batching)."""
    block = getattr(layer, "_block_refresh", None)
    return block() if callable(block) else nullcontext()
