"""Synthetic DICOM exports of lumbar spine MRI with known grades (no patient data anywhere).

:func:`generate_export` writes what a PACS export of a small spondylodiscitis cohort looks like:
patients (:mod:`~spondy_annotate.synthetic.patients`) with a baseline and a follow-up study
about six weeks apart, each written by
:func:`~spondy_annotate.synthetic.dicom_writer.write_study` (sagittal T1, T2 and STIR series,
optionally axial T2 and post-contrast T1, files with random names and no extension in nested
folders), and a few non-DICOM files. The phantom shows an infected disc whose marrow edema,
paravertebral inflammation and disc height are in the truth table returned (and written to
``truth.csv``; :func:`read_truth` reads it back).

Examples
--------
>>> from spondy_annotate.synthetic.export import generate_export
>>> truth = generate_export("/tmp/export", patients=2, rows=96, columns=96, slices=5)
...                                                                       # doctest: +SKIP
>>> truth[["patient_id", "level", "marrow_edema_change"]]                 # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from PIL import Image
from pydicom import dcmread

from spondy_annotate.synthetic._seeds import random_name, seeded_rng
from spondy_annotate.synthetic.dicom_writer import (
    IMAGE_COMMENT,
    Compression,
    SyntheticStudy,
    write_study,
)
from spondy_annotate.synthetic.patients import (
    SyntheticPatient,
    disc_height_change,
    grade_change,
    random_patient,
)

__all__ = ["TRUTH_COLUMNS", "disc_endpoints", "generate_export", "read_truth"]

logger = logging.getLogger(__name__)

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
        seeded_rng(seed, "ds_store").integers(0, 256, 56, dtype=np.uint8)
    )
    (out / ".DS_Store").write_bytes(ds_store)
    (out / "DICOM").mkdir(exist_ok=True)
    (out / "DICOM" / ".DS_Store").write_bytes(ds_store)
    if not studies:
        return
    first = studies[0]
    (first.folder / "THUMB001.JPG").write_bytes(_thumbnail(first))
    rng = seeded_rng(seed, "empty file")
    (studies[-1].folder / random_name(rng)).write_bytes(b"")


def _thumbnail(study: SyntheticStudy) -> bytes:
    """A small JPEG of the study's middle sagittal slice (junk a real export carries)."""
    series = study.series[0]
    ds = dcmread(series.files[len(series.files) // 2])
    img = ds.pixel_array.astype(float)
    img = np.clip(255 * img / max(float(img.max()), 1.0), 0, 255).astype(np.uint8)
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
        As :func:`~spondy_annotate.synthetic.dicom_writer.write_study`, for every study.
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
        rng = seeded_rng(seed, patient.patient_id, "dates")
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
