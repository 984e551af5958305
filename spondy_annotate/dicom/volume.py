"""Loading a series into a volume (z, y, x) with its true geometry.

Slices are sorted along the slice normal by ImagePositionPatient; the slice spacing is measured
from the positions (never taken from SliceThickness); rescale slope/intercept are applied (per
frame for Enhanced MR) and MONOCHROME1 is inverted, so that the DICOM window applies as it is.
A series larger than :data:`LAZY_THRESHOLD_BYTES` is loaded lazily: a dask array whose slices
are read from their files when they are computed. The pixels themselves are read by
:mod:`~spondy_annotate.dicom.pixels`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from spondy_annotate.dicom.headers import (
    first_item,
    frame_geometries,
    group_attr,
    pixel_spacing_value,
    to_float,
    to_int,
)
from spondy_annotate.dicom.pixels import SliceReader, open_image, reading
from spondy_annotate.dicom.records import orientation_label
from spondy_annotate.dicom.stacks import Stack, plan_stacks
from spondy_annotate.errors import SeriesGeometryError, SeriesLoadError, SpondyError

if TYPE_CHECKING:
    from spondy_annotate.dicom.headers import DatasetLike
    from spondy_annotate.dicom.pixels import Entry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Volume:
    """A regular volume and where it lies in patient space.

    Attributes
    ----------
    array : numpy.ndarray or dask.array.Array
        Voxel values (float32, rescaled), indexed ``[z, y, x]``: slice, row, column. A dask
        array when the series was loaded lazily (see :func:`load_series`).
    spacing : tuple of float
        Voxel size in mm as ``(z, y, x)``: slice step measured from positions, row spacing,
        column spacing.
    origin : tuple of float
        Patient (LPS) position in mm of the centre of voxel ``[0, 0, 0]``.
    direction : numpy.ndarray
        3x3 matrix whose columns are the patient-space unit vectors of the x (column), y (row)
        and z (slice) index axes, as in SimpleITK/ITK.
    window : tuple of float
        Default display window ``(center, width)``: the DICOM one, or the 0.5-99.5 percentile
        range when the files have none.
    metadata : dict
        Series description, UIDs, modality, stack label, files (nothing identifying a patient).
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    window: tuple[float, float]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous ``(z, y, x, 1)`` indices to patient ``(x, y, z)`` mm."""
        zyx_axes = self.direction[:, ::-1] * np.asarray(self.spacing)
        out = np.eye(4)
        out[:3, :3] = zyx_axes
        out[:3, 3] = self.origin
        return out

    def index_to_patient(self, zyx: Sequence[float]) -> np.ndarray:
        """Patient (LPS) position in mm of a (possibly fractional) ``(z, y, x)`` index."""
        return (self.affine @ np.append(np.asarray(zyx, dtype=float), 1.0))[:3]

    @property
    def plane(self) -> str:
        """sagittal, coronal or axial (:func:`~spondy_annotate.dicom.records.orientation_label`)."""
        return orientation_label((*self.direction[:, 0], *self.direction[:, 1]))

    @property
    def is_oblique(self) -> bool:
        """True when the axes are not aligned with the patient axes."""
        return bool(np.any(np.abs(np.abs(self.direction).max(axis=0) - 1) > 1e-3))


#: Above this many bytes of float32 voxels, :func:`load_series` loads lazily by default (1 GiB).
LAZY_THRESHOLD_BYTES = 1 << 30


def _dicom_window(ds: DatasetLike) -> tuple[float, float] | None:
    center, width = to_float(ds.get("WindowCenter")), to_float(ds.get("WindowWidth"))
    if center is None or width is None:
        group = first_item(ds, "PerFrameFunctionalGroupsSequence")
        center = to_float(group_attr(ds, group, "FrameVOILUTSequence", "WindowCenter"))
        width = to_float(group_attr(ds, group, "FrameVOILUTSequence", "WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return center, width


def load_series(
    files: Sequence[str | os.PathLike[str]],
    *,
    stack: int | None = None,
    lazy: bool | None = None,
    pause: Callable[[], None] | None = None,
) -> Volume:
    """Load a series into a :class:`Volume`.

    Parameters
    ----------
    files : sequence of path
        The series' files, in any order (for example the ``files`` of an index row).
    stack : int, optional
        Which volume to load when the series holds several (time points, echoes, planes); the
        default refuses such a series with a message listing its volumes.
    lazy : bool, optional
        Return a dask array whose slices are read from their files when computed, instead of
        reading every slice now. The default is lazy above :data:`LAZY_THRESHOLD_BYTES` of
        float32 voxels. Headers are read, and checked, either way; a lazy volume's window is
        the DICOM one or the percentiles of its middle slice.
    pause : callable, optional
        Called before each file is read; a caller loading in the background may wait in it (the
        viewer's loads ahead of need wait there while the reader is busy).

    Returns
    -------
    Volume

    Raises
    ------
    SeriesGeometryError
        When the slices do not form one regular volume (and ``stack`` is not given).
    SeriesLoadError
        When a file is unreadable or its pixel data cannot be decoded (the message names the
        file, the transfer syntax and the package to install). A lazy volume raises it when
        the slice is computed.
    """
    try:
        return _load_series(files, stack, lazy, pause or _no_pause)
    except SpondyError as exc:  # one line, even when a value read from a file breaks lines
        text = str(exc)
        if len(text.splitlines()) > 1:
            raise type(exc)(" ".join(text.splitlines())) from None
        raise


def _no_pause() -> None:
    """Read on (no caller wants to wait between files)."""


def _load_series(
    files: Sequence[str | os.PathLike[str]],
    stack: int | None,
    lazy: bool | None,
    pause: Callable[[], None],
) -> Volume:
    if not files:
        raise SeriesLoadError("no files given")
    paths = [os.fspath(f) for f in files]
    if lazy is None:  # estimated from the first file, before any pixel data is read
        first = open_image(paths[0])
        with reading(paths[0]):
            frames = max(to_int(first.get("NumberOfFrames")) or 1, 1)
            size = [to_int(first.get(k)) or 0 for k in ("Rows", "Columns")]
        pixels = len(paths) * frames * size[0] * size[1] * 4 <= LAZY_THRESHOLD_BYTES
    else:
        pixels = not lazy
    datasets: dict[str, tuple[str, DatasetLike]] = {}
    entries: list[Entry] = []
    for path in paths:
        pause()
        ds = open_image(path, pixels=pixels)
        with reading(path):
            uid = str(ds.get("SOPInstanceUID") or path)
            if uid not in datasets:
                datasets[uid] = (path, ds)
                entries += [(path, ds, g) for g in frame_geometries(ds)]
                if "MOSAIC" in str(ds.get("ImageType", "")).upper():
                    raise SeriesGeometryError(
                        f"{path}: Siemens mosaic (slices tiled in one image) is not supported; "
                        "convert the series with dcm2niix"
                    )
    first_path = entries[0][0] if entries else paths[0]
    lost = [p for p, _, g in entries if g.assumed] if len(entries) > 1 else []
    try:
        stacks = plan_stacks([g for _, _, g in entries])
    except SeriesGeometryError as exc:
        hint = f" ({lost[0]} has no ImagePositionPatient/Orientation)" if lost else ""
        raise SeriesGeometryError(f"{first_path}: {exc}{hint}") from None
    chosen = _choose(stacks, stack, first_path)
    members = [entries[i] for i in chosen.indices]
    if len(members) > 1 and (bad := next((p for p, _, g in members if g.assumed), None)):
        raise SeriesGeometryError(
            f"{bad}: no ImagePositionPatient (0020,0032) / ImageOrientationPatient (0020,0037); "
            f"it cannot be placed among the {len(members)} slices of its stack"
        )
    return _assemble(members, chosen, lazy, pause)


def _choose(stacks: list[Stack], stack: int | None, where: str) -> Stack:
    if stack is None:
        if len(stacks) == 1:
            return stacks[0]
        labels = "; ".join(f"{i}: {s.label}" for i, s in enumerate(stacks[:6]))
        raise SeriesGeometryError(
            f"{where}: the series holds {len(stacks)} volumes ({labels}"
            f"{' ...' if len(stacks) > 6 else ''}); load one with stack=N"
        )
    if not 0 <= stack < len(stacks):
        raise SeriesGeometryError(f"{where}: stack {stack} asked, the series has {len(stacks)}")
    return stacks[stack]


def _shape(path: str, header: DatasetLike) -> tuple[int, int]:
    """Rows x Columns as the header declares them (checked before any pixel is read)."""
    with reading(path):
        if header.get("Rows") is None or header.get("Columns") is None:
            raise SeriesLoadError(f"{path}: no Rows (0028,0010) or Columns (0028,0011)")
        rows, cols = to_int(header.get("Rows")) or 0, to_int(header.get("Columns")) or 0
    if rows <= 0 or cols <= 0:
        raise SeriesLoadError(f"{path}: Rows x Columns is {rows} x {cols}: no pixels to show")
    return rows, cols


def _assemble(
    entries: list[Entry], stack: Stack, lazy: bool | None, pause: Callable[[], None]
) -> Volume:
    shapes = {_shape(path, header) for path, header, _ in entries}
    if len(shapes) > 1:
        raise SeriesGeometryError(f"{entries[0][0]}: slices differ in size {sorted(shapes)}")
    shape = shapes.pop()
    if lazy is None:
        lazy = len(entries) * shape[0] * shape[1] * 4 > LAZY_THRESHOLD_BYTES
    reader = SliceReader(entries, shape, keep_all=not lazy)
    array: Any
    if lazy:
        import dask
        import dask.array as da

        read = dask.delayed(reader, pure=False)
        array = da.stack(
            [da.from_delayed(read(i), shape=shape, dtype=np.float32) for i in range(len(entries))]
        )
    else:
        slices = []
        for i in range(len(entries)):
            pause()
            slices.append(reader(i))
        array = np.stack(slices)
    path0, ds0, geom0 = entries[0]
    with reading(path0):
        if str(ds0.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
            array = array.max() + array.min() - array
        spacing_yx = _pixel_spacing(path0, ds0)
        z_step = stack.spacing or _declared_spacing(path0, ds0)
        row, col = np.asarray(stack.orientation[:3]), np.asarray(stack.orientation[3:])
        direction = np.column_stack([row, col, np.asarray(stack.normal)])
        window = _dicom_window(ds0) or _percentile_window(
            np.asarray(array[len(entries) // 2]) if lazy else array
        )
        metadata = {
            "series_instance_uid": str(ds0.get("SeriesInstanceUID", "")),
            "study_instance_uid": str(ds0.get("StudyInstanceUID", "")),
            "series_description": str(ds0.get("SeriesDescription", "")),
            "series_number": to_int(ds0.get("SeriesNumber")),
            "modality": str(ds0.get("Modality", "")),
            "stack": stack.label,
            "files": sorted({e[0] for e in entries}),
        }
    logger.info(
        "loaded %s: %s voxels %s mm%s",
        metadata["series_description"],
        array.shape,
        spacing_yx,
        " (lazily)" if lazy else "",
    )
    return Volume(
        array=array,
        spacing=(float(z_step), spacing_yx[0], spacing_yx[1]),
        origin=geom0.position,
        direction=direction,
        window=window,
        metadata=metadata,
    )


def _pixel_spacing(path: str, ds: DatasetLike) -> tuple[float, float]:
    value = pixel_spacing_value(ds)
    try:
        dy, dx = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SeriesLoadError(f"{path}: no usable PixelSpacing (0028,0030)") from None
    if not (dy > 0 and dx > 0 and np.isfinite(dy) and np.isfinite(dx)):
        raise SeriesLoadError(f"{path}: PixelSpacing (0028,0030) {dy}\\{dx} is not positive")
    return dy, dx


def _declared_spacing(path: str, ds: DatasetLike) -> float:
    """The slice step of a single slice: SpacingBetweenSlices, else SliceThickness, else 1 mm.

    Raises
    ------
    SeriesLoadError
        When the value used is not a positive number (no scanner writes one).
    """
    for keyword, tag in (
        ("SpacingBetweenSlices", "(0018,0088)"),
        ("SliceThickness", "(0018,0050)"),
    ):
        value = ds.get(keyword)
        if value is None or str(value).strip() == "":
            continue
        step = to_float(value)
        if step is None or step <= 0:
            raise SeriesLoadError(f"{path}: {keyword} {tag} {value} is not a positive number")
        return step
    return 1.0


def _percentile_window(array: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(array, [0.5, 99.5])
    return float((lo + hi) / 2), float(max(hi - lo, 1.0))
