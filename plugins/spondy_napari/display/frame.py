"""Where a volume goes in napari's world: scale, translate and (when oblique) rotate, in mm.

napari slices along world axes and shows the last two, so each plane gets a fixed *display frame*:
three patient (LPS) directions taken as the world's (z, y, x) axes, chosen as radiologists hang
images (the frame of a standard acquisition, so that most series need no reordering):

========  =======================  ======================  ======================
plane     world z (slider)         world y (down)          world x (right)
========  =======================  ======================  ======================
sagittal  patient right (-X)       inferior (-Z)           posterior (+Y)
coronal   posterior (+Y)           inferior (-Z)           patient left (+X)
axial     superior (+Z)            posterior (+Y)          patient left (+X)
========  =======================  ======================  ======================

A volume is shown as stored when its index axes already run along its frame (then ``translate``
is its origin in that frame and ``scale`` its spacing); otherwise its array is transposed and
flipped (views, no copy) until they do. What remains of an oblique acquisition is a small
rotation, given to napari as ``rotate``. Every series of a plane shares one world, so series of
the same plane line up slice by slice whatever their slice order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from spondy_annotate.dicom.volume import Volume

#: Rows: the patient (LPS) unit vectors of world axes (z, y, x) for each plane.
DISPLAY_FRAMES: dict[str, np.ndarray] = {
    "sagittal": np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "coronal": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]),
    "axial": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),
}
#: Label of world z (the slider) per plane: what a positive value means.
SLICE_AXIS_LABELS = {"sagittal": "R (mm)", "coronal": "P (mm)", "axial": "S (mm)"}
#: A residual rotation entry further than this from the identity makes the volume oblique.
OBLIQUE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class LayerGeometry:
    """How to show one volume: its reoriented array view and napari transform parameters.

    Attributes
    ----------
    plane : str
        ``"sagittal"``, ``"coronal"`` or ``"axial"`` (:attr:`Volume.plane
        <spondy_annotate.dicom.volume.Volume.plane>`).
    frame : numpy.ndarray
        The plane's display frame (rows: patient vectors of world z, y, x).
    axes : tuple of int
        Volume array axis shown as layer axis 0, 1, 2 (a transpose).
    flip : tuple of bool
        Whether layer axis 0, 1, 2 runs backwards along its volume axis.
    scale : tuple of float
        Voxel size in mm along layer axes (the volume's spacing, reordered).
    translate : tuple of float
        World position in mm of the centre of layer voxel ``[0, 0, 0]``.
    rotate : numpy.ndarray or None
        Residual 3x3 rotation of an oblique volume (None when aligned with its frame).
    """

    plane: str
    frame: np.ndarray
    axes: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    rotate: np.ndarray | None

    @property
    def is_reoriented(self) -> bool:
        """True when the layer's array is not the volume's array as stored."""
        return self.axes != (0, 1, 2) or any(self.flip)

    def transform_kwargs(self) -> dict[str, object]:
        """``scale``, ``translate`` and ``rotate`` for a napari layer (identity rotate if none)."""
        return {
            "scale": self.scale,
            "translate": self.translate,
            "rotate": np.eye(3) if self.rotate is None else self.rotate,
        }

    def world_to_patient(self, world_zyx: np.ndarray) -> np.ndarray:
        """Patient (LPS) position in mm of a world ``(z, y, x)`` position."""
        return self.frame.T @ np.asarray(world_zyx, dtype=float)

    def patient_to_world(self, patient_xyz: np.ndarray) -> np.ndarray:
        """World ``(z, y, x)`` position in mm of a patient (LPS) position or displacement."""
        return self.frame @ np.asarray(patient_xyz, dtype=float)


def layer_geometry(volume: Volume) -> LayerGeometry:
    """Compute how ``volume`` is placed in its plane's display frame."""
    plane = volume.plane
    frame = DISPLAY_FRAMES[plane]
    # Columns: patient unit vectors of the volume's (z, y, x) index axes.
    units = np.asarray(volume.direction, dtype=float)[:, ::-1]
    in_frame = frame @ units  # row w, column k: component of index axis k along world axis w
    axes = max(
        itertools.permutations(range(3)),
        key=lambda p: sum(abs(in_frame[w, p[w]]) for w in range(3)),
    )
    signs = [1.0 if in_frame[w, axes[w]] >= 0 else -1.0 for w in range(3)]
    shape = volume.array.shape
    spacing = np.asarray(volume.spacing, dtype=float)
    origin = np.asarray(volume.origin, dtype=float)
    for w in range(3):
        if signs[w] < 0:  # voxel 0 of a flipped axis is the volume's last one along it
            k = axes[w]
            origin = origin + (shape[k] - 1) * spacing[k] * units[:, k]
    new_units = np.column_stack([signs[w] * units[:, axes[w]] for w in range(3)])
    residual = frame @ new_units
    oblique = bool(np.abs(residual - np.eye(3)).max() > OBLIQUE_TOLERANCE)
    return LayerGeometry(
        plane=plane,
        frame=frame,
        axes=tuple(int(a) for a in axes),  # type: ignore[arg-type]
        flip=tuple(s < 0 for s in signs),  # type: ignore[arg-type]
        scale=tuple(float(spacing[k]) for k in axes),  # type: ignore[arg-type]
        translate=tuple(float(v) for v in frame @ origin),  # type: ignore[arg-type]
        rotate=residual if oblique else None,
    )


def layer_array(volume: Volume, geometry: LayerGeometry) -> np.ndarray:
    """The volume's array as the layer shows it (a view: transposed and flipped, never copied)."""
    array = volume.array
    if geometry.axes != (0, 1, 2):
        array = array.transpose(geometry.axes)
    flips = tuple(slice(None, None, -1) if f else slice(None) for f in geometry.flip)
    return array[flips] if any(geometry.flip) else array
