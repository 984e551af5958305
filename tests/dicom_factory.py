"""Small DICOM files made in the tests: classic MR series and Enhanced MR, with known geometry."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


def _base(sop_class: str, patient_id: str, study_uid: str, series_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "TEST^PATIENT"
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid(prefix=None, entropy_srcs=[study_uid])
    ds.Modality = "MR"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def volume_values(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A (z, y, x) uint16 volume whose every slice differs (to check slice order)."""
    rng = np.random.default_rng(seed)
    z, y, x = shape
    data = rng.integers(0, 1000, size=(z, y, x), dtype=np.uint16)
    data += (np.arange(z, dtype=np.uint16) * 1000)[:, None, None]
    return data


def write_series(
    folder: Path,
    *,
    patient_id: str = "P1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    study_date: str = "20240110",
    description: str = "SAG STIR",
    series_number: int = 1,
    orientation: Sequence[float] = SAGITTAL,
    positions: Sequence[Sequence[float]] | None = None,
    slices: int = 5,
    spacing: float = 4.4,
    pixel_spacing: tuple[float, float] = (0.8, 0.7),
    shape: tuple[int, int] = (12, 10),
    origin: Sequence[float] = (-20.0, -50.0, 60.0),
    slice_thickness: float = 4.0,
    slope: float = 1.0,
    intercept: float = 0.0,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = (500.0, 1000.0),
    tr: float = 4000.0,
    te: float = 60.0,
    ti: float | None = 150.0,
    scanning_sequence: str = "IR",
    extra: dict | None = None,
    seed: int = 0,
    shuffle: bool = True,
) -> tuple[list[Path], np.ndarray]:
    """Write a classic MR series; return its files and the stored pixel values in slice order.

    Files get random names and InstanceNumbers run backwards, so that only positions give order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, col)
    if positions is None:
        positions = [np.asarray(origin) + k * spacing * normal for k in range(slices)]
    values = volume_values((len(positions), *shape), seed)
    order = list(range(len(positions)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    files = []
    for k in order:
        ds = _base(MR_IMAGE, patient_id, study_uid, series_uid)
        ds.StudyDate = study_date
        ds.StudyTime = "101500"
        ds.StudyDescription = "MRI LUMBAR SPINE"
        ds.SeriesDescription = description
        ds.SeriesNumber = series_number
        ds.InstanceNumber = len(positions) - k
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = slice_thickness
        ds.RepetitionTime = tr
        ds.EchoTime = te
        if ti is not None:
            ds.InversionTime = ti
        ds.ScanningSequence = scanning_sequence
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]
        ds.Rows, ds.Columns = shape
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PhotometricInterpretation = photometric
        if window:
            ds.WindowCenter, ds.WindowWidth = window
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        ds.PixelData = values[k].tobytes()
        path = folder / f"{rng.getrandbits(40):010X}"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files, values


#: Sequence hints of a T1 series (the defaults of :func:`write_series` make a STIR).
T1 = {"tr": 550.0, "te": 10.0, "ti": None, "scanning_sequence": "SE"}


def write_study(
    root: Path,
    patient: str,
    date: str,
    uid: str,
    *,
    seed: int = 0,
    sequences: Sequence[str] = ("SAG STIR", "SAG T1"),
) -> None:
    """One study of ``patient`` in ``root/patient/date``: a series per description in
    ``sequences`` (T1 hints for "T1", axial geometry for "AX ...")."""
    for n, desc in enumerate(sequences, start=1):
        params: dict = dict(T1) if "T1" in desc else {}
        if desc.startswith("AX"):
            params.update(orientation=AXIAL, tr=3500.0, te=100.0, ti=None, scanning_sequence="SE")
        write_series(
            root / patient / date,
            patient_id=patient,
            study_uid=uid,
            study_date=date,
            description=desc,
            series_number=n,
            seed=seed + n,
            **params,
        )


def write_enhanced(
    path: Path,
    *,
    patient_id: str = "P1",
    frames: int = 6,
    spacing: float = 3.0,
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] = (-30.0, -40.0, -10.0),
    pixel_spacing: tuple[float, float] = (0.9, 0.9),
    shape: tuple[int, int] = (8, 9),
    slopes: Sequence[float] | None = None,
    frame_order: Sequence[int] | None = None,
    seed: int = 1,
) -> np.ndarray:
    """Write an Enhanced MR file with per-frame positions and rescale; return values by position."""
    ds = _base(ENHANCED_MR, patient_id, generate_uid(), generate_uid())
    ds.StudyDate = "20240110"
    ds.StudyTime = "090000"
    ds.SeriesDescription = "AX T2 ENH"
    ds.SeriesNumber = 7
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T2", "NONE"]
    ds.Rows, ds.Columns = shape
    ds.NumberOfFrames = frames
    values = volume_values((frames, *shape), seed)
    order = list(frame_order if frame_order is not None else range(frames))
    slopes = list(slopes if slopes is not None else [1.0] * frames)
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = list(pixel_spacing)
    measures.SliceThickness = spacing
    shared.PixelMeasuresSequence = DicomSequence([measures])
    plane = Dataset()
    plane.ImageOrientationPatient = [float(v) for v in orientation]
    shared.PlaneOrientationSequence = DicomSequence([plane])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    groups = []
    for k in order:
        group = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [float(v) for v in np.asarray(origin) + k * spacing * normal]
        group.PlanePositionSequence = DicomSequence([pos])
        transform = Dataset()
        transform.RescaleSlope = slopes[k]
        transform.RescaleIntercept = 0
        transform.RescaleType = "US"
        group.PixelValueTransformationSequence = DicomSequence([transform])
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(groups)
    ds.PixelData = np.stack([values[k] for k in order]).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return values
