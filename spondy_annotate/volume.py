"""Loading a series into a volume (z, y, x) with its true geometry.

Slices are sorted along the slice normal by ImagePositionPatient; the slice spacing is measured
from the positions (never taken from SliceThickness); rescale slope/intercept are applied (per
frame for Enhanced MR) and MONOCHROME1 is inverted, so that the DICOM window applies as it is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from spondy_annotate.dicom_headers import (
    first_item,
    frame_geometries,
    group_attr,
    pixel_spacing_value,
    to_float,
    to_int,
)
from spondy_annotate.errors import SeriesGeometryError, SeriesLoadError
from spondy_annotate.fast_header import scan_header
from spondy_annotate.geometry import Stack, plan_stacks

logger = logging.getLogger(__name__)

#: Which pydicom plugin package decodes which compressed transfer syntax (for error messages).
DECODER_PACKAGES = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg-libjpeg",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg",  # JPEG Extended
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pyjpegls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.5": "pylibjpeg-rle",  # RLE Lossless
}


@dataclass(frozen=True)
class Volume:
    """A regular volume and where it lies in patient space.

    Attributes
    ----------
    array : numpy.ndarray
        Voxel values (float32, rescaled), indexed ``[z, y, x]``: slice, row, column.
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
    def is_oblique(self) -> bool:
        """True when the axes are not aligned with the patient axes."""
        return bool(np.any(np.abs(np.abs(self.direction).max(axis=0) - 1) > 1e-3))


def _decoder_error(path: str, ds: Dataset, exc: Exception) -> SeriesLoadError:
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    name = getattr(tsyntax, "name", str(tsyntax))
    package = DECODER_PACKAGES.get(str(tsyntax))
    hint = f"; install {package} (pip install {package})" if package else ""
    reason = " ".join(str(exc).split())[:200]
    return SeriesLoadError(f"{path}: cannot decode pixel data ({name}){hint}: {reason}")


#: Native (uncompressed) explicit VR little endian: read straight from the file with numpy.
NATIVE_LE = "1.2.840.10008.1.2.1"

Source = Dataset | Mapping[str, Any]


def _open(path: str) -> Source:
    """The header of ``path``: the fast scanner's mapping when numpy can read the pixels
    straight from the file (native little-endian gray images), else a full pydicom dataset."""
    try:
        with open(path, "rb") as fp:
            values = scan_header(fp)
    except OSError:
        values = None
    if (
        values is not None
        and values.get("TransferSyntaxUID") == NATIVE_LE
        and "PixelDataOffset" in values
        and values.get("SamplesPerPixel") in (None, 1)
        and values.get("BitsAllocated") in (8, 16)
        and (to_int(values.get("NumberOfFrames")) or 1) == 1
    ):
        return values
    return _read(path)


def _native_pixels(path: str, values: Mapping[str, Any]) -> np.ndarray:
    rows, cols = int(values.get("Rows") or 0), int(values.get("Columns") or 0)
    allocated = int(values["BitsAllocated"])
    stored = int(values.get("BitsStored") or allocated)
    signed = values.get("PixelRepresentation") == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    if rows * cols * dtype.itemsize > int(values["PixelDataLength"]):
        raise SeriesLoadError(
            f"{path}: pixel data holds {values['PixelDataLength']} bytes, "
            f"less than Rows x Columns ({rows} x {cols}) needs"
        )
    arr = np.fromfile(path, dtype=dtype, count=rows * cols, offset=int(values["PixelDataOffset"]))
    if arr.size != rows * cols:
        raise SeriesLoadError(f"{path}: the file ends inside its pixel data (truncated)")
    if stored < allocated:  # as pydicom does: mask unused bits, or sign-extend
        shift = allocated - stored
        arr = (arr << shift) >> shift if signed else arr & ((1 << stored) - 1)
    return arr.reshape(1, rows, cols)


def _pixels(path: str, ds: Source) -> np.ndarray:
    if not isinstance(ds, Dataset):
        return _native_pixels(path, ds)
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise SeriesLoadError(f"{path}: no pixel data (7FE0,0010)")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises RuntimeError/ValueError/NotImplementedError
        if ds.file_meta.get("TransferSyntaxUID") in DECODER_PACKAGES or "decode" in str(exc):
            raise _decoder_error(path, ds, exc) from None
        raise SeriesLoadError(
            f"{path}: unreadable pixel data: {' '.join(str(exc).split())}"
        ) from None
    frames = int(ds.get("NumberOfFrames") or 1)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[0] != frames:
        raise SeriesLoadError(
            f"{path}: pixel data of shape {arr.shape} is not {frames} gray frames"
        )
    return arr


def _rescale(ds: Source, frame: int) -> tuple[float, float]:
    group = None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        group = per_frame[frame]
    slope = to_float(group_attr(ds, group, "PixelValueTransformationSequence", "RescaleSlope"))
    intercept = to_float(
        group_attr(ds, group, "PixelValueTransformationSequence", "RescaleIntercept")
    )
    if slope is None:
        slope = to_float(ds.get("RescaleSlope"))
    if intercept is None:
        intercept = to_float(ds.get("RescaleIntercept"))
    return (1.0 if slope in (None, 0.0) else slope), (intercept or 0.0)


def _dicom_window(ds: Source) -> tuple[float, float] | None:
    center, width = to_float(ds.get("WindowCenter")), to_float(ds.get("WindowWidth"))
    if center is None or width is None:
        group = first_item(ds, "PerFrameFunctionalGroupsSequence")
        center = to_float(group_attr(ds, group, "FrameVOILUTSequence", "WindowCenter"))
        width = to_float(group_attr(ds, group, "FrameVOILUTSequence", "WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return center, width


def _read(path: str) -> Dataset:
    try:
        return dcmread(path)
    except FileNotFoundError:
        raise SeriesLoadError(f"{path}: file not found (re-index the folder)") from None
    except Exception as exc:
        raise SeriesLoadError(f"{path}: unreadable DICOM ({' '.join(str(exc).split())})") from None


def load_series(files: Sequence[str | os.PathLike[str]], *, stack: int | None = None) -> Volume:
    """Load a series into a :class:`Volume`.

    Parameters
    ----------
    files : sequence of path
        The series' files, in any order (for example the ``files`` of an index row).
    stack : int, optional
        Which volume to load when the series holds several (time points, echoes, planes); the
        default refuses such a series with a message listing its volumes.

    Returns
    -------
    Volume

    Raises
    ------
    SeriesGeometryError
        When the slices do not form one regular volume (and ``stack`` is not given).
    SeriesLoadError
        When a file is unreadable or its pixel data cannot be decoded (the message names the
        file, the transfer syntax and the package to install).
    """
    if not files:
        raise SeriesLoadError("no files given")
    datasets: dict[str, tuple[str, Source]] = {}
    for path in map(os.fspath, files):
        ds = _open(path)
        uid = str(ds.get("SOPInstanceUID") or path)
        datasets.setdefault(uid, (path, ds))
    entries = [(path, ds, g) for path, ds in datasets.values() for g in frame_geometries(ds)]
    first_path = entries[0][0] if entries else os.fspath(files[0])
    if any("MOSAIC" in str(ds.get("ImageType", "")).upper() for _, ds, _ in entries):
        raise SeriesGeometryError(
            f"{first_path}: Siemens mosaic (slices tiled in one image) is not supported; "
            "convert the series with dcm2niix"
        )
    try:
        stacks = plan_stacks([g for _, _, g in entries])
    except SeriesGeometryError as exc:
        raise SeriesGeometryError(f"{first_path}: {exc}") from None
    chosen = _choose(stacks, stack, first_path)
    return _assemble([entries[i] for i in chosen.indices], chosen)


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


def _assemble(entries: list[tuple[str, Source, Any]], stack: Stack) -> Volume:
    pixel_cache: dict[str, np.ndarray] = {}
    slices = []
    for path, ds, geom in entries:
        if path not in pixel_cache:
            pixel_cache[path] = _pixels(path, ds)
        frame = pixel_cache[path][geom.frame]
        slope, intercept = _rescale(ds, geom.frame)
        slices.append(frame.astype(np.float32) * np.float32(slope) + np.float32(intercept))
    shapes = {s.shape for s in slices}
    if len(shapes) > 1:
        raise SeriesGeometryError(f"{entries[0][0]}: slices differ in size {sorted(shapes)}")
    array = np.stack(slices)
    path0, ds0, geom0 = entries[0]
    if str(ds0.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        array = array.max() + array.min() - array
    spacing_yx = _pixel_spacing(path0, ds0)
    z_step = (
        stack.spacing
        or to_float(ds0.get("SpacingBetweenSlices"))
        or to_float(ds0.get("SliceThickness"))
        or 1.0
    )
    row, col = np.asarray(stack.orientation[:3]), np.asarray(stack.orientation[3:])
    direction = np.column_stack([row, col, np.asarray(stack.normal)])
    window = _dicom_window(ds0) or _percentile_window(array)
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
        "loaded %s: %s voxels %s mm", metadata["series_description"], array.shape, spacing_yx
    )
    return Volume(
        array=array,
        spacing=(float(z_step), spacing_yx[0], spacing_yx[1]),
        origin=tuple(float(v) for v in geom0.position),  # type: ignore[arg-type]
        direction=direction,
        window=window,
        metadata=metadata,
    )


def _pixel_spacing(path: str, ds: Source) -> tuple[float, float]:
    value = pixel_spacing_value(ds)
    try:
        dy, dx = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SeriesLoadError(f"{path}: no usable PixelSpacing (0028,0030)") from None
    if not (dy > 0 and dx > 0 and np.isfinite(dy) and np.isfinite(dx)):
        raise SeriesLoadError(f"{path}: PixelSpacing (0028,0030) {dy}\\{dx} is not positive")
    return dy, dx


def _percentile_window(array: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(array, [0.5, 99.5])
    return float((lo + hi) / 2), float(max(hi - lo, 1.0))
