"""Synthetic DICOM exports of lumbar spine MRI with known grades (no patient data anywhere).

:func:`generate_export` writes what a PACS export of a small spondylodiscitis cohort looks like:
patients with a baseline and a follow-up study about six weeks apart, sagittal T1, T2 and STIR
series (optionally axial T2 and post-contrast T1), files with random names and no extension in
nested folders, and a few non-DICOM files. The phantom (:mod:`spondy_annotate.synthetic.phantom`) shows an
infected disc whose marrow edema, paravertebral inflammation and disc height are in the truth
table returned (and written to ``truth.csv``).

:func:`write_study` writes one study of one :class:`SyntheticPatient`, for exports with odd
shapes (one study only, three studies...).

Examples
--------
>>> from spondy_annotate.synthetic.export import generate_export
>>> truth = generate_export("/tmp/export", patients=2, rows=96, columns=96, slices=5)
...                                                                       # doctest: +SKIP
>>> truth[["patient_id", "level", "marrow_edema_change"]]                 # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from spondy_annotate.synthetic.phantom import LEVELS, Lesion, normal_disc_height

if TYPE_CHECKING:
    import pandas as pd
    from pydicom.dataset import Dataset

logger = logging.getLogger(__name__)

#: A disc-height change within this many mm (either way) is "unchanged".
DISC_HEIGHT_THRESHOLD_MM = 1.0

#: Change labels, in the truth table and in the grading rubric.
CHANGES: tuple[str, ...] = ("improved", "unchanged", "aggravated")

#: Every file says what it is.
IMAGE_COMMENT = "SYNTHETIC PHANTOM - NOT PATIENT DATA"

#: Columns of the truth table, in order.
TRUTH_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "patient_name",
    "level",
    "baseline_date",
    "followup_date",
    "marrow_edema_baseline",
    "marrow_edema_followup",
    "marrow_edema_change",
    "paravertebral_inflammation_baseline",
    "paravertebral_inflammation_followup",
    "paravertebral_inflammation_change",
    "disc_height_baseline_mm",
    "disc_height_followup_mm",
    "disc_height_change",
    "disc_center_baseline_x_mm",
    "disc_center_baseline_y_mm",
    "disc_center_baseline_z_mm",
    "disc_center_followup_x_mm",
    "disc_center_followup_y_mm",
    "disc_center_followup_z_mm",
    "disc_tilt_deg",
    "baseline_study_uid",
    "followup_study_uid",
)

_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_SLICE_THICKNESS_MM = 4.0
_SLICE_SPACING_MM = 4.4
_AXIAL_FOV_MM = 220.0


@dataclass(frozen=True)
class _Protocol:
    """How one series is acquired and described."""

    description: str
    sequence: str
    orientation: Literal["sagittal", "axial"]
    scanning_sequence: tuple[str, ...]
    sequence_variant: tuple[str, ...]
    scan_options: tuple[str, ...]
    repetition_time: float
    echo_time: float
    inversion_time: float | None
    flip_angle: float
    echo_train_length: int
    scale: float
    contrast: bool = False


#: Series a study can hold, by the names :func:`write_study` takes.
PROTOCOLS: dict[str, _Protocol] = {
    "T1": _Protocol(
        "SAG T1 TSE",
        "T1",
        "sagittal",
        ("SE",),
        ("SK", "SP", "OSP"),
        ("PFP",),
        550.0,
        10.0,
        None,
        150.0,
        3,
        1000.0,
    ),
    "T2": _Protocol(
        "SAG T2 TSE",
        "T2",
        "sagittal",
        ("SE",),
        ("SK", "SP", "OSP"),
        ("PFP",),
        3500.0,
        100.0,
        None,
        150.0,
        17,
        900.0,
    ),
    "STIR": _Protocol(
        "SAG STIR",
        "STIR",
        "sagittal",
        ("SE", "IR"),
        ("SK", "SP", "MP", "OSP"),
        ("IR",),
        4000.0,
        50.0,
        150.0,
        150.0,
        13,
        800.0,
    ),
    "T1FS+C": _Protocol(
        "SAG T1 FS +C",
        "T1FS+C",
        "sagittal",
        ("SE",),
        ("SK", "SP", "OSP"),
        ("FS", "PFP"),
        600.0,
        10.0,
        None,
        150.0,
        3,
        950.0,
        contrast=True,
    ),
    "AXT2": _Protocol(
        "AX T2 TSE",
        "T2",
        "axial",
        ("SE",),
        ("SK", "SP", "OSP"),
        ("PFP",),
        4000.0,
        100.0,
        None,
        150.0,
        17,
        900.0,
    ),
}


@dataclass(frozen=True)
class SyntheticPatient:
    """A made-up patient: identity, the affected level and the lesion at each visit.

    ``visits[0]`` is the baseline, ``visits[1]`` the follow-up, and so on. ``anatomy_seed`` fixes
    the patient's body (size, lordosis, fat) for every visit.
    """

    number: int
    patient_id: str
    patient_name: str
    birth_date: dt.date
    sex: str
    visits: tuple[Lesion, ...]
    anatomy_seed: int

    @property
    def level(self) -> str:
        """The affected disc (e.g. ``"L4-L5"``)."""
        return self.visits[0].level


@dataclass(frozen=True)
class SyntheticSeries:
    """One series written: its files in slice order (along the slice normal)."""

    description: str
    series_instance_uid: str
    series_number: int
    orientation: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class SyntheticStudy:
    """One study written, with where the affected disc is in its patient coordinates (mm)."""

    patient_id: str
    visit: int
    study_instance_uid: str
    study_date: dt.date
    folder: Path
    series: tuple[SyntheticSeries, ...]
    disc_center_mm: tuple[float, float, float]
    disc_tilt_deg: float

    @property
    def files(self) -> tuple[Path, ...]:
        """Every DICOM file of the study."""
        return tuple(f for s in self.series for f in s.files)


# --------------------------------------------------------------------------- seeds


def _key(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_key(*parts))


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _name8(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_ALNUM, 8))


# --------------------------------------------------------------------------- patients


def grade_change(before: int, after: int) -> str:
    """``"improved"``, ``"unchanged"`` or ``"aggravated"`` for a grade going ``before`` -> ``after``
    (a higher grade is worse)."""
    return "improved" if after < before else "aggravated" if after > before else "unchanged"


def disc_height_change(
    before_mm: float, after_mm: float, threshold_mm: float = DISC_HEIGHT_THRESHOLD_MM
) -> str:
    """The change of a disc height: a loss of more than ``threshold_mm`` is aggravated, a gain of
    more than it improved."""
    delta = after_mm - before_mm
    if delta < -threshold_mm:
        return "aggravated"
    return "improved" if delta > threshold_mm else "unchanged"


def _next_grade(rng: np.random.Generator, grade: int, course: str) -> int:
    if course == "improved" and grade > 0:
        return grade - int(rng.integers(1, grade + 1))
    if course == "aggravated" and grade < 3:
        return grade + int(rng.integers(1, 4 - grade))
    return grade


def _next_height(rng: np.random.Generator, height: float, course: str) -> float:
    if course == "improved" and height < 12.0:
        delta = rng.uniform(1.3, 2.2)
    elif course == "aggravated" and height > 4.5:
        delta = -rng.uniform(1.3, min(3.5, height - 3.0))
    else:
        delta = rng.uniform(-0.7, 0.7)
    return round(float(np.clip(height + delta, 2.0, 14.0)), 1)


def random_patient(number: int, *, seed: int = 0, visits: int = 2) -> SyntheticPatient:
    """Make up patient ``number`` (1, 2, ...) with ``visits`` lesion states.

    The course of each finding (improved, unchanged, aggravated) rotates with ``number`` (from a
    start drawn from ``seed``), so any three consecutive patients show every kind of change.
    """
    if visits < 1:
        raise ValueError(f"visits must be at least 1, not {visits}")
    start = int(_rng(seed, "courses").integers(3))
    rng = _rng(seed, "patient", number)
    level = str(rng.choice(LEVELS, p=[0.15, 0.25, 0.3, 0.3]))
    sex = str(rng.choice(["M", "F"], p=[0.6, 0.4]))
    age = int(rng.integers(45, 86))
    birth = dt.date(2021 - age, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))

    def courses(visit: int) -> tuple[str, str, str]:
        n = number + start + 2 * (visit - 1)
        return CHANGES[n % 3], CHANGES[(n + 1) % 3], CHANGES[(2 * n) % 3]

    first = courses(1)
    # a baseline from which the first follow-up can go the chosen way
    edema = int(rng.choice([1, 2] if first[0] == "aggravated" else [1, 2, 3]))
    para = int(rng.choice([0, 1, 2] if first[1] == "aggravated" else [1, 2, 3]))
    height = round(normal_disc_height(level) * float(rng.uniform(0.5, 0.85)), 1)
    states = [Lesion(level, edema, para, height, round(float(rng.uniform(0.85, 1.15)), 2))]
    for v in range(1, visits):
        edema_course, para_course, height_course = courses(v)
        edema = _next_grade(rng, edema, edema_course)
        para = _next_grade(rng, para, para_course)
        height = _next_height(rng, height, height_course)
        states.append(Lesion(level, edema, para, height, round(float(rng.uniform(0.8, 1.2)), 2)))
    return SyntheticPatient(
        number=number,
        patient_id=f"SYN{number:04d}",
        patient_name=f"SYNTH^PATIENT{number:03d}",
        birth_date=birth,
        sex=sex,
        visits=tuple(states),
        anatomy_seed=_key(seed, "anatomy", number) % 2**31,
    )


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Geometry:
    """Where a series' voxels are: slice positions, in-plane axes and spacing (patient mm)."""

    orientation: str
    positions: np.ndarray  # (slices, 3) ImagePositionPatient in slice order
    row_dir: tuple[float, float, float]
    col_dir: tuple[float, float, float]
    spacing: float
    rows: int
    columns: int

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_dir, self.col_dir)

    def grid_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates along patient x, y and z, ascending."""
        p0 = self.positions[0]
        if self.orientation == "sagittal":
            xs = self.positions[:, 0]
            ys = p0[1] + self.spacing * np.arange(self.columns)
            zs = p0[2] - self.spacing * np.arange(self.rows)
        else:
            xs = p0[0] + self.spacing * np.arange(self.columns)
            ys = p0[1] + self.spacing * np.arange(self.rows)
            zs = self.positions[:, 2]
        return np.sort(xs), np.sort(ys), np.sort(zs)

    def to_slices(self, vol: np.ndarray) -> np.ndarray:
        """Turn a rendered ``[x, y, z]`` (ascending) volume into ``[slice, row, column]``."""
        if self.orientation == "sagittal":
            # slices go from the patient's left (+x) to the right; rows head to feet
            return np.ascontiguousarray(vol[::-1, :, ::-1].transpose(0, 2, 1))
        return np.ascontiguousarray(vol.transpose(2, 1, 0))


def _sagittal(center: np.ndarray, fov: float, rows: int, columns: int, slices: int) -> _Geometry:
    spacing = round(fov / max(rows, columns), 6)
    y0 = center[1] - spacing * (columns - 1) / 2
    z0 = center[2] + spacing * (rows - 1) / 2
    xs = center[0] + _SLICE_SPACING_MM * ((slices - 1) / 2 - np.arange(slices))
    pos = np.round(np.stack([xs, np.full(slices, y0), np.full(slices, z0)], axis=1), 4)
    return _Geometry("sagittal", pos, (0.0, 1.0, 0.0), (0.0, 0.0, -1.0), spacing, rows, columns)


def _axial(center: np.ndarray, rows: int, columns: int, slices: int) -> _Geometry:
    spacing = round(_AXIAL_FOV_MM / max(rows, columns), 6)
    x0 = center[0] - spacing * (columns - 1) / 2
    y0 = center[1] - spacing * (rows - 1) / 2
    zs = center[2] + _SLICE_SPACING_MM * (np.arange(slices) - (slices - 1) / 2)
    pos = np.round(np.stack([np.full(slices, x0), np.full(slices, y0), zs], axis=1), 4)
    return _Geometry("axial", pos, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), spacing, rows, columns)


# --------------------------------------------------------------------------- DICOM


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{years:03d}Y"


def _window(pixels: np.ndarray) -> tuple[int, int]:
    lo, hi = np.percentile(pixels, [1.0, 99.7])
    return int(round((lo + hi) / 2)), max(int(round(hi - lo)), 1)


def _slice_dataset(
    common: Mapping[str, Any],
    *,
    sop_uid: str,
    position: Sequence[float],
    location: float,
    instance: int,
) -> Dataset:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(_MR_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for keyword, value in common.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.SliceLocation = round(float(location), 4)
    return ds


def _series_common(
    patient: SyntheticPatient,
    protocol: _Protocol,
    geometry: _Geometry,
    *,
    study: Mapping[str, Any],
    series_uid: str,
    number: int,
    time: str,
    window: tuple[int, int],
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "SpecificCharacterSet": "ISO_IR 100",
        "ImageType": ["ORIGINAL", "PRIMARY", "M", "ND"],
        "SOPClassUID": _MR_IMAGE_STORAGE,
        "StudyDate": study["date"],
        "SeriesDate": study["date"],
        "AcquisitionDate": study["date"],
        "ContentDate": study["date"],
        "StudyTime": study["time"],
        "SeriesTime": time,
        "AcquisitionTime": time,
        "ContentTime": time,
        "AccessionNumber": study["accession"],
        "Modality": "MR",
        "Manufacturer": "SYNTHETIC",
        "InstitutionName": "SYNTHETIC",
        "ReferringPhysicianName": "",
        "StationName": "SYNTHMR1",
        "StudyDescription": "MRI LUMBAR SPINE",
        "SeriesDescription": protocol.description,
        "ManufacturerModelName": "PHANTOM",
        "PatientName": patient.patient_name,
        "PatientID": patient.patient_id,
        "PatientBirthDate": patient.birth_date.strftime("%Y%m%d"),
        "PatientSex": patient.sex,
        "PatientAge": study["age"],
        "BodyPartExamined": "LSPINE",
        "ScanningSequence": list(protocol.scanning_sequence),
        "SequenceVariant": list(protocol.sequence_variant),
        "ScanOptions": list(protocol.scan_options),
        "MRAcquisitionType": "2D",
        "SequenceName": "*tir2d1_13" if protocol.inversion_time else "*tse2d1_15",
        "SliceThickness": _SLICE_THICKNESS_MM,
        "RepetitionTime": protocol.repetition_time,
        "EchoTime": protocol.echo_time,
        "NumberOfAverages": 2,
        "ImagingFrequency": round(42.577478 * study["field"], 6),
        "ImagedNucleus": "1H",
        "EchoNumbers": 1,
        "MagneticFieldStrength": study["field"],
        "SpacingBetweenSlices": _SLICE_SPACING_MM,
        "EchoTrainLength": protocol.echo_train_length,
        "FlipAngle": protocol.flip_angle,
        "PatientPosition": "HFS",
        "StudyInstanceUID": study["uid"],
        "SeriesInstanceUID": series_uid,
        "StudyID": "1",
        "SeriesNumber": number,
        "AcquisitionNumber": 1,
        "ImageOrientationPatient": [*geometry.row_dir, *geometry.col_dir],
        "FrameOfReferenceUID": study["frame_uid"],
        "PositionReferenceIndicator": "",
        "ImageComments": IMAGE_COMMENT,
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": geometry.rows,
        "Columns": geometry.columns,
        "PixelSpacing": [geometry.spacing, geometry.spacing],
        "BitsAllocated": 16,
        "BitsStored": 12,
        "HighBit": 11,
        "PixelRepresentation": 0,
        "WindowCenter": window[0],
        "WindowWidth": window[1],
        "RescaleIntercept": 0,
        "RescaleSlope": 1,
        "RescaleType": "US",
    }
    if protocol.inversion_time is not None:
        c["InversionTime"] = protocol.inversion_time
    if protocol.contrast:
        c["ContrastBolusAgent"] = "GADOTERATE 0.1 MMOL/KG (SYNTHETIC)"
        c["ContrastBolusRoute"] = "IV"
    return c


#: ``compress`` values and the transfer syntax each writes.
COMPRESSIONS: dict[str, str] = {
    "rle": "1.2.840.10008.1.2.5",  # RLE Lossless
    "jpegls": "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
}

Compression = Literal["rle", "jpegls"]


def _encoding_plugin(syntax: str) -> str:
    """The fastest installed encoder for ``syntax`` ('' lets pydicom choose)."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    if syntax == COMPRESSIONS["rle"] and "pylibjpeg" in RLELosslessEncoder.available_plugins:
        return "pylibjpeg"
    return ""


def _protocol_names(sequences: Sequence[str], axial: bool, contrast: bool) -> list[str]:
    names = list(dict.fromkeys(sequences))
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown sequences {unknown}; known: {tuple(PROTOCOLS)}")
    if contrast and "T1FS+C" not in names:
        names.append("T1FS+C")
    if axial and "AXT2" not in names:
        names.append("AXT2")
    return names


def write_study(
    out_dir: str | os.PathLike[str],
    patient: SyntheticPatient,
    visit: int,
    study_date: dt.date,
    *,
    seed: int = 0,
    study_time: dt.time | None = None,
    rows: int = 256,
    columns: int = 256,
    slices: int = 15,
    sequences: Sequence[str] = ("T1", "T2", "STIR"),
    axial: bool = False,
    contrast: bool = False,
    compress: Compression | None = None,
    folder: str | os.PathLike[str] | None = None,
    noise: float = 0.015,
) -> SyntheticStudy:
    """Write one study (one visit) of ``patient`` under ``out_dir``.

    Parameters
    ----------
    out_dir
        The export's root folder.
    patient
        Who; ``patient.visits[visit]`` is the lesion shown.
    visit
        0 for the baseline, 1 for the follow-up, ...
    study_date, study_time
        When (the time defaults to a seeded one between 07:00 and 18:00).
    seed
        Seeds UIDs, folder and file names, the patient's position on the table and the noise.
    rows, columns, slices
        Matrix and number of slices of every series.
    sequences
        Names from :data:`PROTOCOLS` (``"T1"``, ``"T2"``, ``"STIR"``, ``"T1FS+C"``, ``"AXT2"``).
    axial, contrast
        Also write an axial T2 through the affected disc / a sagittal fat-saturated T1 after
        gadolinium.
    compress
        ``"rle"`` for RLE Lossless, ``"jpegls"`` for JPEG-LS Lossless (smaller with noise),
        None for Explicit VR Little Endian.
    folder
        Where the files go, relative to ``out_dir``; default ``DICOM/<patient>/<study>`` with
        random 8-character names. Every series of the study shares the folder.
    noise
        Rician noise relative to the brightest tissues (0 for none; 0.015 looks like a 1.5 T
        scanner, 0.004 like a denoised reconstruction and compresses much better).

    Returns
    -------
    SyntheticStudy
        UIDs, files and the affected disc's centre in this study's patient coordinates.
    """
    from spondy_annotate.synthetic.phantom import Grid, build_anatomy, render

    if not 0 <= visit < len(patient.visits):
        raise ValueError(f"{patient.patient_id} has {len(patient.visits)} visits, not {visit + 1}")
    if compress is not None and compress not in COMPRESSIONS:
        raise ValueError(f"compress must be None or one of {tuple(COMPRESSIONS)}, not {compress!r}")
    if min(rows, columns) < 16 or slices < 1:
        raise ValueError("rows and columns must be at least 16 and slices at least 1")
    names = _protocol_names(sequences, axial, contrast)
    out = Path(out_dir)
    rng = _rng(seed, patient.patient_id, visit, study_date.isoformat())
    if folder is None:
        folder = Path("DICOM", _name8(_rng(seed, patient.patient_id, "folder")), _name8(rng))
    target = out / folder
    target.mkdir(parents=True, exist_ok=True)
    if study_time is None:
        study_time = dt.time(
            int(rng.integers(7, 18)), int(rng.integers(0, 60)), int(rng.integers(0, 60))
        )

    lesion = patient.visits[visit]
    anatomy = build_anatomy(patient.anatomy_seed, lesion)
    # the patient lies a little differently at each visit; the FOV is centred by hand
    offset = np.array([rng.uniform(-1.5, 1.5), rng.uniform(-5.0, 5.0), rng.uniform(-8.0, 8.0)])
    back_l3 = float(np.interp(0.0, *anatomy.wall("back")))
    fov_center = offset + np.array(
        [rng.uniform(-1.0, 1.0), back_l3 + 8.0 + rng.uniform(-4, 4), rng.uniform(-6.0, 6.0)]
    )
    fov = float(rng.choice([300.0, 300.0, 310.0, 320.0]))
    disc = anatomy.disc(lesion.level)
    disc_center = np.asarray(disc.frame.center) + offset

    study_uid = _uid(seed, patient.patient_id, visit, study_date.isoformat(), "study")
    study = {
        "uid": study_uid,
        "frame_uid": _uid(study_uid, "frame of reference"),
        "date": study_date.strftime("%Y%m%d"),
        "time": study_time.strftime("%H%M%S"),
        "accession": f"SYN{int(rng.integers(10**6, 10**7))}",
        "age": _age(patient.birth_date, study_date),
        "field": float(rng.choice([1.5, 1.5, 3.0])),
    }
    geometries = {
        "sagittal": _sagittal(fov_center, fov, rows, columns, slices),
        "axial": _axial(disc_center, rows, columns, slices),
    }
    rendered: dict[str, np.ndarray] = {}
    for orientation, geom in geometries.items():
        wanted = [PROTOCOLS[n].sequence for n in names if PROTOCOLS[n].orientation == orientation]
        if not wanted:
            continue
        xs, ys, zs = geom.grid_axes()
        grid = Grid(xs - offset[0], ys - offset[1], zs - offset[2], geom.spacing)
        vol = render(
            anatomy, grid, wanted, seed=_key(seed, study_uid, orientation) % 2**31, noise=noise
        )
        for name in names:
            protocol = PROTOCOLS[name]
            if protocol.orientation == orientation:
                rendered[name] = geom.to_slices(vol[wanted.index(protocol.sequence)])

    syntax = COMPRESSIONS[compress] if compress else None
    plugin = _encoding_plugin(syntax) if syntax else ""
    pending: list[tuple[Path, Dataset]] = []
    series_out: list[SyntheticSeries] = []
    used: set[str] = set()
    start = dt.datetime.combine(study_date, study_time)
    for number, name in enumerate(names, start=2):
        protocol = PROTOCOLS[name]
        geom = geometries[protocol.orientation]
        pixels = np.clip(np.rint(rendered[name] * protocol.scale), 0, 4095).astype(np.uint16)
        series_uid = _uid(study_uid, name, "series")
        when = (start + dt.timedelta(minutes=4 * (number - 1))).strftime("%H%M%S")
        common = _series_common(
            patient,
            protocol,
            geom,
            study=study,
            series_uid=series_uid,
            number=number,
            time=when,
            window=_window(pixels),
        )
        reverse = bool(rng.integers(2)) if number > 2 else True
        normal = geom.normal
        files: list[Path] = []
        for k in range(pixels.shape[0]):
            instance = pixels.shape[0] - k if reverse else k + 1
            name8 = _name8(rng)
            while name8 in used or (target / name8).exists():
                name8 = _name8(rng)
            used.add(name8)
            position = geom.positions[k]
            location = position[0] if geom.orientation == "sagittal" else float(position @ normal)
            ds = _slice_dataset(
                common,
                sop_uid=_uid(series_uid, k),
                position=position,
                location=location,
                instance=instance,
            )
            if syntax:
                ds.compress(syntax, pixels[k], encoding_plugin=plugin, generate_instance_uid=False)
            else:
                ds.PixelData = pixels[k].tobytes()
            path = target / name8
            pending.append((path, ds))
            files.append(path)
        series_out.append(
            SyntheticSeries(
                protocol.description, series_uid, number, protocol.orientation, tuple(files)
            )
        )
    for i in rng.permutation(len(pending)):
        path, ds = pending[i]
        ds.save_as(path, enforce_file_format=True)
    logger.info(
        "%s visit %d: %d series, %d files in %s",
        patient.patient_id,
        visit,
        len(series_out),
        len(pending),
        target,
    )
    return SyntheticStudy(
        patient_id=patient.patient_id,
        visit=visit,
        study_instance_uid=study_uid,
        study_date=study_date,
        folder=target,
        series=tuple(series_out),
        disc_center_mm=tuple(round(float(v), 3) for v in disc_center),  # type: ignore[arg-type]
        disc_tilt_deg=round(math.degrees(disc.frame.tilt), 3),
    )


# --------------------------------------------------------------------------- export


def disc_endpoints(
    row: Mapping[str, Any], visit: Literal["baseline", "followup"]
) -> tuple[np.ndarray, np.ndarray]:
    """The centres of the upper and lower endplates of the affected disc (patient mm).

    ``row`` is a row of the truth table; the two points are ``disc_height_<visit>_mm`` apart
    along the disc axis, which leans ``disc_tilt_deg`` from the vertical (lower end posterior).
    """
    center = np.array([float(row[f"disc_center_{visit}_{a}_mm"]) for a in "xyz"])
    tilt = math.radians(float(row["disc_tilt_deg"]))
    up = np.array([0.0, -math.sin(tilt), math.cos(tilt)])
    half = float(row[f"disc_height_{visit}_mm"]) / 2
    return center + half * up, center - half * up


def _truth_row(patient: SyntheticPatient, studies: Sequence[SyntheticStudy]) -> dict[str, Any]:
    base = patient.visits[0]
    row: dict[str, Any] = dict.fromkeys(TRUTH_COLUMNS)
    row.update(
        patient_id=patient.patient_id,
        patient_name=patient.patient_name,
        level=patient.level,
        baseline_date=studies[0].study_date.isoformat(),
        marrow_edema_baseline=base.marrow_edema,
        paravertebral_inflammation_baseline=base.paravertebral_inflammation,
        disc_height_baseline_mm=base.disc_height_mm,
        disc_tilt_deg=studies[0].disc_tilt_deg,
        baseline_study_uid=studies[0].study_instance_uid,
    )
    for axis, value in zip("xyz", studies[0].disc_center_mm, strict=True):
        row[f"disc_center_baseline_{axis}_mm"] = value
    if len(studies) > 1:
        follow = patient.visits[1]
        row.update(
            followup_date=studies[1].study_date.isoformat(),
            marrow_edema_followup=follow.marrow_edema,
            marrow_edema_change=grade_change(base.marrow_edema, follow.marrow_edema),
            paravertebral_inflammation_followup=follow.paravertebral_inflammation,
            paravertebral_inflammation_change=grade_change(
                base.paravertebral_inflammation, follow.paravertebral_inflammation
            ),
            disc_height_followup_mm=follow.disc_height_mm,
            disc_height_change=disc_height_change(base.disc_height_mm, follow.disc_height_mm),
            followup_study_uid=studies[1].study_instance_uid,
        )
        for axis, value in zip("xyz", studies[1].disc_center_mm, strict=True):
            row[f"disc_center_followup_{axis}_mm"] = value
    return row


def _write_junk(out: Path, studies: Sequence[SyntheticStudy], seed: int) -> None:
    """README.TXT, .DS_Store files, a JPEG thumbnail and an empty file, as real exports have."""
    (out / "README.TXT").write_text(
        "SYNTHETIC DICOM EXPORT\r\nGenerated by spondy-annotate sample. "
        f"{IMAGE_COMMENT}.\r\nNo viewer included.\r\n",
        encoding="ascii",
    )
    ds_store = b"\x00\x00\x00\x01Bud1" + bytes(
        _rng(seed, "ds_store").integers(0, 256, 56, dtype=np.uint8)
    )
    (out / ".DS_Store").write_bytes(ds_store)
    (out / "DICOM").mkdir(exist_ok=True)
    (out / "DICOM" / ".DS_Store").write_bytes(ds_store)
    if not studies:
        return
    first = studies[0]
    (first.folder / "THUMB001.JPG").write_bytes(_thumbnail(first))
    rng = _rng(seed, "empty file")
    (studies[-1].folder / _name8(rng)).write_bytes(b"")


def _thumbnail(study: SyntheticStudy) -> bytes:
    """A small JPEG of the study's middle sagittal slice (hand-made bytes without Pillow)."""
    import io

    from pydicom import dcmread

    series = study.series[0]
    ds = dcmread(series.files[len(series.files) // 2])
    img = ds.pixel_array.astype(float)
    img = np.clip(255 * img / max(float(img.max()), 1.0), 0, 255).astype(np.uint8)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    buf = io.BytesIO()
    Image.fromarray(img).resize((64, 64)).save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def generate_export(
    out_dir: str | os.PathLike[str],
    *,
    patients: int = 3,
    seed: int = 0,
    rows: int = 256,
    columns: int = 256,
    slices: int = 15,
    sequences: Sequence[str] = ("T1", "T2", "STIR"),
    axial: bool = False,
    contrast: bool = False,
    compress: Compression | None = None,
    junk: bool = True,
    single_study_patients: int = 0,
    noise: float = 0.015,
) -> pd.DataFrame:
    """Write a synthetic DICOM export and return its truth table.

    Parameters
    ----------
    out_dir
        Folder to create (or an empty one).
    patients
        Patients with a baseline and a follow-up study (35-56 days apart).
    seed
        Everything (identities, anatomy, grades, UIDs, names, noise) follows from it.
    rows, columns, slices, sequences, axial, contrast, compress, noise
        As :func:`write_study`, for every study.
    junk
        Also write non-DICOM files (``README.TXT``, ``.DS_Store``, a JPEG, an empty file).
    single_study_patients
        Extra patients (numbered after the others) with a baseline study only.

    Returns
    -------
    pandas.DataFrame
        One row per patient with :data:`TRUTH_COLUMNS` (follow-up columns empty for a single
        study), also written to ``out_dir/truth.csv``.

    Raises
    ------
    FileExistsError
        If ``out_dir`` exists and is not an empty folder.
    """
    import pandas as pd

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty")
    if patients < 0 or single_study_patients < 0:
        raise ValueError("patients and single_study_patients must not be negative")
    out.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "rows": rows,
        "columns": columns,
        "slices": slices,
        "sequences": sequences,
        "axial": axial,
        "contrast": contrast,
        "compress": compress,
        "noise": noise,
    }
    rows_out: list[dict[str, Any]] = []
    written: list[SyntheticStudy] = []
    for number in range(1, patients + single_study_patients + 1):
        visits = 2 if number <= patients else 1
        patient = random_patient(number, seed=seed, visits=visits)
        rng = _rng(seed, patient.patient_id, "dates")
        date = dt.date(2019, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        studies = []
        for visit in range(visits):
            studies.append(write_study(out, patient, visit, date, seed=seed, **options))
            date += dt.timedelta(days=int(rng.integers(35, 57)))
        written += studies
        rows_out.append(_truth_row(patient, studies))
    if junk:
        _write_junk(out, written, seed)
    truth = pd.DataFrame(rows_out, columns=list(TRUTH_COLUMNS))
    for col in TRUTH_COLUMNS:
        if col.startswith(("marrow_edema_", "paravertebral_inflammation_")) and not col.endswith(
            "_change"
        ):
            truth[col] = truth[col].astype("Int64")
    truth.to_csv(out / "truth.csv", index=False)
    logger.info("wrote %d studies of %d patients to %s", len(written), len(rows_out), out)
    return truth


def read_truth(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``truth.csv`` written by :func:`generate_export` (a folder holding it is fine)."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        p = p / "truth.csv"
    truth = pd.read_csv(
        p, dtype={"patient_id": str, "baseline_study_uid": str, "followup_study_uid": str}
    )
    for col in truth.columns:
        if col.startswith(("marrow_edema_", "paravertebral_inflammation_")) and not col.endswith(
            "_change"
        ):
            truth[col] = truth[col].astype("Int64")
    return truth


__all__ = [
    "CHANGES",
    "COMPRESSIONS",
    "DISC_HEIGHT_THRESHOLD_MM",
    "IMAGE_COMMENT",
    "PROTOCOLS",
    "TRUTH_COLUMNS",
    "SyntheticPatient",
    "SyntheticSeries",
    "SyntheticStudy",
    "disc_endpoints",
    "disc_height_change",
    "generate_export",
    "grade_change",
    "random_patient",
    "read_truth",
    "write_study",
]
