"""Reading the pixels of DICOM files: one file's frames, and a stack's rescaled slices.

A native (uncompressed) little-endian gray image is read straight from the file with numpy, at
the offset the fast header scan found; anything else goes through pydicom and its decoder
plugins. Every failure is a one-line :class:`~spondy_annotate.errors.SeriesLoadError` naming the
file (and, for a missing decoder, the transfer syntax and the package to install).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from spondy_annotate.dicom._deflate import RefusedDataSet, dcmread_bounded
from spondy_annotate.dicom._fastscan import scan_header
from spondy_annotate.dicom.headers import NotAnImage, group_attr, open_regular, to_int
from spondy_annotate.errors import SeriesGeometryError, SeriesLoadError, SpondyError, one_line

if TYPE_CHECKING:
    from spondy_annotate.dicom.headers import DatasetLike
    from spondy_annotate.dicom.records import FrameGeometry

    #: One frame of a stack: its file, the file's header and the frame's geometry.
    Entry: TypeAlias = tuple[str, DatasetLike, FrameGeometry]

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

#: Native (uncompressed) explicit VR little endian: read straight from the file with numpy.
NATIVE_LE = "1.2.840.10008.1.2.1"


#: What pydicom says when no installed plugin can decode a transfer syntax.
_NO_DECODER = ("missing dependencies", "no plugins", "no pixel data decoders")
#: Exceptions that stop the program rather than report a file: never turned into an error.
EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _decoder_error(path: str, ds: Dataset, exc: BaseException) -> SeriesLoadError:
    """The error for pixel data that was not decoded: a missing plugin (naming the package to
    install), too little memory, or data the decoder refused (corrupt)."""
    tsyntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    name = " ".join(str(getattr(tsyntax, "name", tsyntax)).split())  # as read from the file
    if isinstance(exc, MemoryError):
        size = f"{ds.get('Rows')} x {ds.get('Columns')} x {ds.get('NumberOfFrames') or 1} frames"
        return SeriesLoadError(f"{path}: not enough memory to decode the pixel data ({size})")
    package = DECODER_PACKAGES.get(str(tsyntax))
    if package and any(text in str(exc) for text in _NO_DECODER):
        hint = f"install {package} (pip install {package})"
        return SeriesLoadError(
            f"{path}: cannot decode pixel data ({name}); {hint}: {one_line(exc)}"
        )
    kind = type(exc).__name__
    return SeriesLoadError(
        f"{path}: corrupt pixel data: the decoder of {name} failed ({kind}: {one_line(exc)})"
    )


@contextmanager
def reading(path: str) -> Iterator[None]:
    """Report any unexpected error while reading ``path`` as a one-line SeriesLoadError."""
    try:
        yield
    except SpondyError:
        raise
    except Exception as exc:  # pydicom raises many kinds on values it cannot convert
        raise SeriesLoadError(f"{path}: corrupt DICOM ({one_line(exc)})") from None


def open_image(path: str, *, pixels: bool = False) -> DatasetLike:
    """The header of ``path``: the fast scanner's mapping when numpy can read the pixels
    straight from the file (native little-endian gray images), else pydicom's dataset (with
    its pixel data when ``pixels``, as an eager load decodes them next)."""
    try:
        fp, _ = open_regular(path)
    except NotAnImage as exc:  # a FIFO or a device: never read it
        raise SeriesLoadError(f"{path}: {exc}") from None
    except OSError:
        return _read(path)  # which says why
    with fp:
        try:
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
        fp.seek(0)
        return _read(path, stop_before_pixels=not pixels, fp=fp)


def _native_pixels(path: str, values: Mapping[str, Any]) -> np.ndarray:
    rows, cols = int(values.get("Rows") or 0), int(values.get("Columns") or 0)
    allocated = int(values["BitsAllocated"])
    stored = int(values.get("BitsStored") or allocated)
    signed = values.get("PixelRepresentation") == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    offset, needed = int(values["PixelDataOffset"]), rows * cols * dtype.itemsize
    # A length running past the end of the file is a corrupt field of the last element: the
    # bytes that are there count.
    length = min(int(values["PixelDataLength"]), os.path.getsize(path) - offset)
    if length not in (needed, needed + needed % 2):  # an odd length is padded to even
        if length < needed and length < int(values["PixelDataLength"]):
            raise SeriesLoadError(f"{path}: the file ends inside its pixel data (truncated)")
        raise SeriesLoadError(
            f"{path}: pixel data holds {length} bytes, {'less' if length < needed else 'more'} "
            f"than Rows x Columns x frames x bytes ({rows} x {cols} x 1 x {dtype.itemsize} = "
            f"{needed})"
        )
    arr = np.fromfile(path, dtype=dtype, count=rows * cols, offset=offset)
    if arr.size != rows * cols:
        raise SeriesLoadError(f"{path}: the file ends inside its pixel data (truncated)")
    if stored < allocated:  # as pydicom does: mask unused bits, or sign-extend
        shift = allocated - stored
        arr = (arr << shift) >> shift if signed else arr & ((1 << stored) - 1)
    return arr.reshape(1, rows, cols)


def _pixels(path: str, ds: DatasetLike) -> np.ndarray:
    if not isinstance(ds, Dataset):
        return _native_pixels(path, ds)
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise SeriesLoadError(f"{path}: no pixel data (7FE0,0010)")
    try:
        arr = ds.pixel_array
    except EXITS:
        raise
    except BaseException as exc:  # any decoder failure: a Rust panic (pyo3) is a BaseException
        compressed = ds.file_meta.get("TransferSyntaxUID") in DECODER_PACKAGES
        if compressed or "decode" in str(exc) or isinstance(exc, MemoryError):
            raise _decoder_error(path, ds, exc) from None
        raise SeriesLoadError(f"{path}: unreadable pixel data: {one_line(exc)}") from None
    frames = int(ds.get("NumberOfFrames") or 1)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[0] != frames:
        raise SeriesLoadError(
            f"{path}: pixel data of shape {arr.shape} is not {frames} gray frames"
        )
    return arr


def read_pixels(path: str, header: DatasetLike) -> np.ndarray:
    """Every frame of one file as ``(frames, rows, columns)``; a dataset read without its
    pixel data is read again, whole."""
    if isinstance(header, Dataset) and "PixelData" not in header:
        header = _read(path)
    return _pixels(path, header)


class SliceReader:
    """Reads the rescaled float32 slices of a stack from their files: eager and lazy alike.

    ``reader(i)`` is slice ``i`` of ``entries`` as a ``shape`` float32 array. Decoded files
    are kept while the stack is read eagerly (``keep_all``); a lazy reader keeps only the last
    one (so a multi-frame file is not decoded once per frame when slices are read in order).
    """

    def __init__(self, entries: list[Entry], shape: tuple[int, int], *, keep_all: bool) -> None:
        self.entries = entries
        self.shape = shape
        self.keep_all = keep_all
        self._files: dict[str, np.ndarray] = {}

    def __call__(self, index: int) -> np.ndarray:
        path, header, geom = self.entries[index]
        with reading(path):
            frames = self._files.get(path)
            if frames is None:
                frames = read_pixels(path, header)
                if not self.keep_all:
                    self._files.clear()
                self._files[path] = frames
            frame = frames[geom.frame]
            if frame.shape != self.shape:
                raise SeriesGeometryError(
                    f"{path}: slices differ in size {sorted({frame.shape, self.shape})}"
                )
            slope, intercept = _rescale(path, header, geom.frame)
            with np.errstate(over="ignore", invalid="ignore"):
                out = frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)
            if not np.isfinite(out).all():
                raise SeriesLoadError(
                    f"{path}: RescaleSlope {slope:g} and RescaleIntercept {intercept:g} give "
                    "voxel values beyond the float32 range"
                )
            return out


#: The largest magnitude a float32 voxel holds.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _rescale_value(path: str, value: Any, name: str, default: float) -> float:
    """One rescale attribute as a finite float32-sized number; ``default`` when absent."""
    if type(value).__name__ == "MultiValue" or isinstance(value, (list, tuple)):
        value = value[0] if len(value) else None
    if value is None or str(value).strip() == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not abs(number) <= _FLOAT32_MAX:  # NaN fails this too
        raise SeriesLoadError(
            f"{path}: {name} {str(value).strip()!r} is not a finite number (in the float32 range)"
        )
    return number


def _rescale(path: str, ds: DatasetLike, frame: int) -> tuple[float, float]:
    """RescaleSlope and RescaleIntercept of one frame: its functional group's, else the file's.

    Raises
    ------
    SeriesLoadError
        When either is not a finite number (no scanner writes one).
    """
    group = None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        group = per_frame[frame]
    values = []
    for keyword, tag, default in (
        ("RescaleSlope", "(0028,1053)", 1.0),
        ("RescaleIntercept", "(0028,1052)", 0.0),
    ):
        value = group_attr(ds, group, "PixelValueTransformationSequence", keyword)
        if value is None or str(value).strip() == "":
            value = ds.get(keyword)
        values.append(_rescale_value(path, value, f"{keyword} {tag}", default))
    slope, intercept = values
    return (slope or 1.0), intercept


def _read(
    path: str, *, stop_before_pixels: bool = False, fp: io.BufferedReader | None = None
) -> Dataset:
    """pydicom's dataset of ``path`` (read from ``fp`` when given, which is then closed)."""
    try:
        if fp is None:
            fp, _ = open_regular(path)
        with fp:
            size = os.fstat(fp.fileno()).st_size
            try:
                ds, _ = dcmread_bounded(fp, size, stop_before_pixels=stop_before_pixels)
            except InvalidDicomError as exc:  # no 'DICM' marker: the index accepts old exports
                fp.seek(0)
                ds, _ = dcmread_bounded(fp, size, stop_before_pixels=stop_before_pixels, force=True)
                if "SeriesInstanceUID" not in ds:
                    raise SeriesLoadError(f"{path}: not DICOM ({one_line(exc)})") from None
    except SpondyError:
        raise
    except FileNotFoundError:
        raise SeriesLoadError(f"{path}: file not found (re-index the folder)") from None
    except (NotAnImage, RefusedDataSet) as exc:
        raise SeriesLoadError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SeriesLoadError(f"{path}: unreadable ({exc.strerror or one_line(exc)})") from None
    except Exception as exc:
        raise SeriesLoadError(f"{path}: unreadable DICOM ({one_line(exc)})") from None
    implicit, little = ds.original_encoding
    if "TransferSyntaxUID" not in ds.file_meta and implicit is not None:  # no file meta
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else ExplicitVRLittleEndian
            if little
            else ExplicitVRBigEndian
        )
    return ds
