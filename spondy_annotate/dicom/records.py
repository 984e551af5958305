"""The typed records of the index: one frame's geometry, one file's header, one series.

:class:`HeaderRecord` is what the index keeps of a file (read by :mod:`~spondy_annotate.dicom.headers`,
cached by :mod:`~spondy_annotate.dicom.index_cache`); :class:`SeriesRecord` is one row of the
series table, built once from a row (a dict of the index, JSON of the cache or a DataFrame row)
by :meth:`SeriesRecord.from_row`, where missing values (None, NaN) are handled. This module
imports neither numpy nor pandas, so that re-opening an unchanged export starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

#: PhotometricInterpretation values of colour images (PS3.3 C.7.6.3.1.2); grey ones are
#: MONOCHROME1 and MONOCHROME2.
COLOUR_MODELS = frozenset(
    {"RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT"}
)
#: The imaging planes, in the order of the patient axes (x: sagittal, y: coronal, z: axial).
PLANES = ("sagittal", "coronal", "axial")


def orientation_label(orientation: Sequence[float] | None) -> str:
    """Name the plane of an ImageOrientationPatient: sagittal, coronal, axial (or unknown).

    The plane is the patient axis closest to the slice normal (row x column cosines).
    """
    if orientation is None or len(orientation) != 6:
        return "unknown"
    rx, ry, rz, cx, cy, cz = (float(v) for v in orientation)
    normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
    sizes = [abs(v) for v in normal]
    return PLANES[sizes.index(max(sizes))]


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """Where one frame (one 2D image) lies in patient space.

    Attributes
    ----------
    position : tuple of float
        ImagePositionPatient: the centre of the first transmitted pixel, in mm (LPS).
    orientation : tuple of float
        ImageOrientationPatient: row then column direction cosines.
    split_keys : tuple
        Values that tell apart frames that share a position (time point, echo, frame type, ...),
        in the order :func:`spondy_annotate.dicom.stacks.plan_stacks` tries them: image/frame
        type, temporal position, echo, acquisition (or stack), acquisition time, instance.
    frame : int
        Index of the frame in its file (0 for classic single-frame images).
    assumed : bool
        True for a single 2D image without position/orientation (a radiograph, a screenshot):
        it is placed at the origin, axial, so that it can still be shown.
    """

    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    split_keys: tuple[Any, ...]
    frame: int = 0
    assumed: bool = False

    def __reduce__(self) -> tuple[type[FrameGeometry], tuple[Any, ...]]:
        # pickled as the arguments (the dataclass default pickles field by field: slower)
        return FrameGeometry, (
            self.position,
            self.orientation,
            self.split_keys,
            self.frame,
            self.assumed,
        )


@dataclass(slots=True)
class HeaderRecord:
    """What the index keeps of one image file (header only).

    The fields are the DICOM attributes of the same name (snake case), plus the file's
    ``path``, ``size`` and ``mtime_ns`` (the index cache's key) and the geometry of each frame.
    Missing text is ``""``, missing numbers None. Treat a record as read-only: it is not frozen
    because a frozen dataclass sets each of its 35 fields through ``object.__setattr__``, which
    made building records (in a worker, and again unpickling them in the index) about 4% of the
    CPU time of a fresh index.
    """

    path: str
    size: int
    mtime_ns: int
    patient_id: str
    study_instance_uid: str
    study_date: str
    study_time: str
    study_description: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    sop_class_uid: str
    sop_instance_uid: str
    frame_of_reference_uid: str
    transfer_syntax: str
    rows: int
    columns: int
    number_of_frames: int
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    scanning_sequence: str
    sequence_variant: str
    scan_options: str
    repetition_time: float | None
    echo_time: float | None
    inversion_time: float | None
    contrast_agent: str
    magnetic_field_strength: float | None
    image_type: str
    instance_number: int | None
    samples_per_pixel: int
    photometric_interpretation: str
    frames: tuple[FrameGeometry, ...]

    def __reduce__(self) -> tuple[type[HeaderRecord], tuple[Any, ...]]:
        # pickled as the arguments, in one C call: worker processes send records to the index
        return HeaderRecord, _header_values(self)

    @property
    def colour(self) -> str:
        """The colour model of a colour image (``"RGB"``, ``"YBR_FULL_422"``,
        ``"PALETTE COLOR"``...), ``""`` for a grey one: from SamplesPerPixel (0028,0002) and
        PhotometricInterpretation (0028,0004), so that the index can tell a colour series (a
        fused or FA map, a screenshot) from a grey volume without reading its pixels."""
        if self.samples_per_pixel > 1 or self.photometric_interpretation in COLOUR_MODELS:
            return self.photometric_interpretation or f"{self.samples_per_pixel} samples per pixel"
        return ""


#: A header record's field values, in order (a tuple).
_header_values = attrgetter(*(f.name for f in fields(HeaderRecord)))


@dataclass(frozen=True)
class SeriesRecord:
    """One series of an export, as the index found it: a row of the series table.

    The fields are the columns of :attr:`IndexResult.series
    <spondy_annotate.dicom.index.IndexResult.series>`, in order. Missing text is ``""``,
    missing numbers None.

    Attributes
    ----------
    orientation : str
        The imaging plane (:func:`orientation_label`): sagittal, coronal, axial or unknown.
    sequence : str
        The MR sequence (a :class:`~spondy_annotate.dicom.sequence.SequenceType` value; empty for
        other modalities).
    num_images : int
        Frames in the series (an Enhanced file counts each of its frames).
    slice_spacing : float or None
        The slice step measured from positions (None for one slice or an irregular series).
    volumes : int
        Regular volumes the series holds (0 when it holds none; ``note`` says why).
    files : tuple of str
        The series' files, sorted.
    """

    patient_id: str
    study_instance_uid: str
    study_date: str
    study_time: str
    study_description: str
    series_instance_uid: str
    series_number: int | None
    series_description: str
    modality: str
    orientation: str
    sequence: str
    scanning_sequence: str
    sequence_variant: str
    repetition_time: float | None
    echo_time: float | None
    inversion_time: float | None
    contrast_agent: str
    num_images: int
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    slice_spacing: float | None
    slice_thickness: float | None
    volumes: int
    note: str
    transfer_syntaxes: tuple[str, ...]
    files: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SeriesRecord:
        """Build from a row of the series table: a dict of :attr:`IndexResult.rows
        <spondy_annotate.dicom.index.IndexResult.rows>` or a DataFrame row (where a missing
        number is NaN)."""
        from spondy_annotate._dates import is_missing  # pandas: not on the index's fast path

        def text(key: str) -> str:
            value: Any = row.get(key)
            return "" if is_missing(value) else str(value)

        def number(key: str) -> float | None:
            value: Any = row.get(key)
            return None if is_missing(value) else float(value)

        def integer(key: str) -> int | None:
            value = number(key)
            return None if value is None else int(value)

        spacing = row.get("pixel_spacing")  # a list, or None (NaN in a DataFrame)
        return cls(
            patient_id=text("patient_id"),
            study_instance_uid=text("study_instance_uid"),
            study_date=text("study_date"),
            study_time=text("study_time"),
            study_description=text("study_description"),
            series_instance_uid=text("series_instance_uid"),
            series_number=integer("series_number"),
            series_description=text("series_description"),
            modality=text("modality"),
            orientation=text("orientation"),
            sequence=text("sequence"),
            scanning_sequence=text("scanning_sequence"),
            sequence_variant=text("sequence_variant"),
            repetition_time=number("repetition_time"),
            echo_time=number("echo_time"),
            inversion_time=number("inversion_time"),
            contrast_agent=text("contrast_agent"),
            num_images=integer("num_images") or 0,
            rows=integer("rows") or 0,
            columns=integer("columns") or 0,
            pixel_spacing=(float(spacing[0]), float(spacing[1]))
            if isinstance(spacing, (list, tuple))
            else None,
            slice_spacing=number("slice_spacing"),
            slice_thickness=number("slice_thickness"),
            volumes=integer("volumes") or 0,
            note=text("note"),
            transfer_syntaxes=tuple(row.get("transfer_syntaxes") or ()),
            files=tuple(row.get("files") or ()),
        )
