"""Writing one synthetic MRI study as DICOM files, the way a PACS export holds it.

:func:`write_study` renders one visit of a
:class:`~spondy_annotate.synthetic.patients.SyntheticPatient` (the phantom of
:mod:`spondy_annotate.synthetic.phantom`) for each series asked for from :data:`PROTOCOLS`, places
the slices in the patient coordinates of a field of view centred by hand, and writes each slice
as an MR Image Storage file with the headers a scanner writes (optionally RLE or JPEG-LS
compressed), under random 8-character names, in random order, into one folder per study.

The module is one concept (a study on disk) and longer than most because about a third of it is
data spelled out in full: the acquisition protocols and the header every series carries.

Examples
--------
>>> import datetime as dt
>>> from spondy_annotate.synthetic.dicom_writer import write_study
>>> from spondy_annotate.synthetic.patients import random_patient
>>> study = write_study("/tmp/export", random_patient(1), 0, dt.date(2020, 1, 2))
...                                                                       # doctest: +SKIP
>>> [s.description for s in study.series]                                 # doctest: +SKIP
['SAG T1 TSE', 'SAG T2 TSE', 'SAG STIR']
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.encoders import RLELosslessEncoder
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from spondy_annotate.synthetic._seeds import random_name, seed_key, seeded_rng
from spondy_annotate.synthetic.anatomy import build_anatomy
from spondy_annotate.synthetic.patients import SyntheticPatient
from spondy_annotate.synthetic.phantom import Grid, render

__all__ = [
    "COMPRESSIONS",
    "IMAGE_COMMENT",
    "PROTOCOLS",
    "Compression",
    "SyntheticSeries",
    "SyntheticStudy",
    "write_study",
]

logger = logging.getLogger(__name__)

#: Every file says what it is.
IMAGE_COMMENT = "SYNTHETIC PHANTOM - NOT PATIENT DATA"

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


def _uid(*parts: object) -> str:
    """A DICOM UID that follows from ``parts`` (the same parts give the same UID)."""
    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


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
    if not 0 <= visit < len(patient.visits):
        raise ValueError(f"{patient.patient_id} has {len(patient.visits)} visits, not {visit + 1}")
    if compress is not None and compress not in COMPRESSIONS:
        raise ValueError(f"compress must be None or one of {tuple(COMPRESSIONS)}, not {compress!r}")
    if min(rows, columns) < 16 or slices < 1:
        raise ValueError("rows and columns must be at least 16 and slices at least 1")
    names = _protocol_names(sequences, axial, contrast)
    out = Path(out_dir)
    rng = seeded_rng(seed, patient.patient_id, visit, study_date.isoformat())
    if folder is None:
        folder = Path(
            "DICOM", random_name(seeded_rng(seed, patient.patient_id, "folder")), random_name(rng)
        )
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
            anatomy, grid, wanted, seed=seed_key(seed, study_uid, orientation) % 2**31, noise=noise
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
            name8 = random_name(rng)
            while name8 in used or (target / name8).exists():
                name8 = random_name(rng)
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
