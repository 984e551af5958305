"""The synthetic export: valid DICOM, real-export habits, geometry, and the lesion where the truth
table says it is."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from spondy_annotate.cli import main
from spondy_annotate.synthetic.anatomy import Lesion
from spondy_annotate.synthetic.dicom_writer import IMAGE_COMMENT, SyntheticStudy, write_study
from spondy_annotate.synthetic.export import (
    TRUTH_COLUMNS,
    disc_endpoints,
    generate_export,
    read_truth,
)
from spondy_annotate.synthetic.patients import disc_height_change, grade_change, random_patient

JUNK_NAMES = {"README.TXT", ".DS_Store", "THUMB001.JPG", "truth.csv"}
SMALL = {"rows": 64, "columns": 64, "slices": 3}


def _dicom_files(root: Path) -> list[Path]:
    return [
        f
        for f in sorted(root.rglob("*"))
        if f.is_file() and f.name not in JUNK_NAMES and f.stat().st_size > 0
    ]


def _digest(root: Path) -> dict[str, str]:
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("export") / "out"
    truth = generate_export(
        out,
        patients=2,
        single_study_patients=1,
        seed=5,
        rows=48,
        columns=56,
        slices=5,
        axial=True,
        contrast=True,
        compress="rle",
    )
    return out, truth


@pytest.fixture(scope="module")
def headers(export: tuple[Path, pd.DataFrame]) -> list:
    return [dcmread(f, stop_before_pixels=True) for f in _dicom_files(export[0])]


def _series(headers: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for ds in headers:
        out.setdefault(ds.SeriesInstanceUID, []).append(ds)
    return out


# --------------------------------------------------------------------------- the export


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_export(tmp_path / "a", patients=1, seed=3, **SMALL)
    b = generate_export(tmp_path / "b", patients=1, seed=3, **SMALL)
    c = generate_export(tmp_path / "c", patients=1, seed=4, **SMALL)
    pd.testing.assert_frame_equal(a, b)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    dicom_a = {f.read_bytes() for f in _dicom_files(tmp_path / "a")}
    assert dicom_a.isdisjoint(f.read_bytes() for f in _dicom_files(tmp_path / "c"))
    assert a.loc[0, "baseline_study_uid"] != c.loc[0, "baseline_study_uid"]


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_export(tmp_path, patients=1, **SMALL)


def test_truth_table(export: tuple[Path, pd.DataFrame]) -> None:
    out, truth = export
    assert list(truth.columns) == list(TRUTH_COLUMNS)
    assert list(truth["patient_id"]) == ["SYN0001", "SYN0002", "SYN0003"]
    assert list(truth["patient_name"]) == [f"SYNTH^PATIENT00{i}" for i in (1, 2, 3)]
    pd.testing.assert_frame_equal(read_truth(out), truth)
    complete, single = truth.iloc[:2], truth.iloc[2]
    assert pd.isna(single["followup_date"]) and pd.isna(single["followup_study_uid"])
    assert pd.isna(single["marrow_edema_followup"]) and pd.isna(single["disc_height_change"])
    for _, row in complete.iterrows():
        gap = dt.date.fromisoformat(row.followup_date) - dt.date.fromisoformat(row.baseline_date)
        assert 35 <= gap.days <= 56
        assert row.level in ("L2-L3", "L3-L4", "L4-L5", "L5-S1")
        for finding in ("marrow_edema", "paravertebral_inflammation"):
            before, after = row[f"{finding}_baseline"], row[f"{finding}_followup"]
            assert 0 <= before <= 3 and 0 <= after <= 3
            assert row[f"{finding}_change"] == grade_change(before, after)
        assert row.disc_height_change == disc_height_change(
            row.disc_height_baseline_mm, row.disc_height_followup_mm
        )
        base = np.array([row[f"disc_center_baseline_{a}_mm"] for a in "xyz"])
        follow = np.array([row[f"disc_center_followup_{a}_mm"] for a in "xyz"])
        assert 0.1 < np.linalg.norm(base - follow) < 25  # the patient lay differently


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (8.0, 6.5, "aggravated"),
        (8.0, 7.0, "unchanged"),
        (8.0, 9.2, "improved"),
        (6.0, 6.0, "unchanged"),
    ],
)
def test_disc_height_change_uses_a_one_mm_threshold(
    before: float, after: float, expected: str
) -> None:
    assert disc_height_change(before, after) == expected


def test_courses_vary_across_a_few_patients() -> None:
    changes = set()
    for number in range(1, 7):
        p = random_patient(number, seed=0)
        base, follow = p.visits
        changes.add(grade_change(base.marrow_edema, follow.marrow_edema))
        changes.add(disc_height_change(base.disc_height_mm, follow.disc_height_mm))
    assert changes == {"improved", "unchanged", "aggravated"}


def test_real_export_habits(export: tuple[Path, pd.DataFrame]) -> None:
    out, _ = export
    files = _dicom_files(out)
    assert len(files) == 5 * 5 * 5  # 5 studies x 5 series x 5 slices
    for f in files:
        rel = f.relative_to(out).parts
        assert rel[0] == "DICOM" and len(rel) == 4
        assert all(re.fullmatch(r"[A-Z0-9]{8}", part) for part in rel[1:])
    assert (out / "README.TXT").read_text().startswith("SYNTHETIC")
    assert (out / ".DS_Store").read_bytes().startswith(b"\x00\x00\x00\x01Bud1")
    jpegs = list(out.rglob("*.JPG"))
    assert len(jpegs) == 1 and jpegs[0].read_bytes()[:3] == b"\xff\xd8\xff"
    empty = [f for f in out.rglob("*") if f.is_file() and f.stat().st_size == 0]
    assert len(empty) == 1 and re.fullmatch(r"[A-Z0-9]{8}", empty[0].name)


def test_headers_are_synthetic_and_complete(
    headers: list, export: tuple[Path, pd.DataFrame]
) -> None:
    _, truth = export
    studies = {ds.StudyInstanceUID for ds in headers}
    assert studies == set(truth["baseline_study_uid"]) | set(truth["followup_study_uid"].dropna())
    frames = {ds.StudyInstanceUID: ds.FrameOfReferenceUID for ds in headers}
    assert len(set(frames.values())) == len(studies)
    descriptions = {ds.SeriesDescription for ds in headers}
    assert descriptions == {"SAG T1 TSE", "SAG T2 TSE", "SAG STIR", "SAG T1 FS +C", "AX T2 TSE"}
    for ds in headers:
        assert ds.file_meta.TransferSyntaxUID == RLELossless
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
        assert ds.ImageComments == IMAGE_COMMENT
        assert ds.InstitutionName == ds.Manufacturer == "SYNTHETIC"
        assert re.fullmatch(r"SYN\d{4}", ds.PatientID)
        assert str(ds.PatientName).startswith("SYNTH^PATIENT")
        assert ds.StudyDescription == "MRI LUMBAR SPINE"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16,
            12,
            11,
            0,
        )
        assert float(ds.SpacingBetweenSlices) > float(ds.SliceThickness)
        if ds.SeriesDescription == "SAG STIR":
            assert float(ds.InversionTime) == 150.0
        if ds.SeriesDescription.endswith("+C"):
            assert "GADO" in ds.ContrastBolusAgent
        else:
            assert "ContrastBolusAgent" not in ds


def test_pixels_decode(export: tuple[Path, pd.DataFrame]) -> None:
    for f in _dicom_files(export[0])[:20]:
        ds = dcmread(f)
        arr = ds.pixel_array
        assert arr.shape == (ds.Rows, ds.Columns) == (48, 56)
        assert arr.dtype == np.uint16 and 0 < arr.max() <= 4095


def test_slices_step_along_the_normal_and_numbers_do_not_follow_position(headers: list) -> None:
    reversed_series = 0
    for series in _series(headers).values():
        iop = np.array(series[0].ImageOrientationPatient, dtype=float)
        if series[0].SeriesDescription.startswith("SAG"):
            assert iop.tolist() == [0, 1, 0, 0, 0, -1]
        else:
            assert iop.tolist() == [1, 0, 0, 0, 1, 0]
        normal = np.cross(iop[:3], iop[3:])
        series.sort(key=lambda ds: float(np.dot(ds.ImagePositionPatient, normal)))
        pos = np.array([ds.ImagePositionPatient for ds in series], dtype=float)
        steps = np.diff(pos @ normal)
        np.testing.assert_allclose(steps, float(series[0].SpacingBetweenSlices), atol=1e-3)
        in_plane = pos - np.outer(pos @ normal, normal)
        np.testing.assert_allclose(in_plane, in_plane[0][None].repeat(len(pos), 0), atol=1e-3)
        numbers = [int(ds.InstanceNumber) for ds in series]
        assert sorted(numbers) == list(range(1, len(series) + 1))
        reversed_series += numbers[0] > numbers[-1]
    assert reversed_series >= 5  # at least one per study


def test_simpleitk_reads_the_same_geometry(
    export: tuple[Path, pd.DataFrame], headers: list
) -> None:
    sitk = pytest.importorskip("SimpleITK")
    series = next(s for s in _series(headers).values() if s[0].SeriesDescription == "SAG STIR")
    folder = str(Path(series[0].filename).parent)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder, series[0].SeriesInstanceUID))
    image = reader.Execute()
    spacing = float(series[0].PixelSpacing[0])
    assert image.GetSize() == (56, 48, 5)
    np.testing.assert_allclose(image.GetSpacing(), (spacing, spacing, 4.4), atol=1e-4)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction[:, 0], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(direction[:, 1], [0, 0, -1], atol=1e-6)
    assert abs(direction[0, 2]) == pytest.approx(1.0)  # slices go across the body along x


# --------------------------------------------------------------------------- the lesion


class _Volume:
    """A written sagittal series as an array with its geometry (nearest/linear sampling)."""

    order = 3

    def __init__(self, files: tuple[Path, ...]) -> None:
        slices = [dcmread(f) for f in files]
        self.array = np.stack([ds.pixel_array.astype(float) for ds in slices])
        self.positions = np.array([ds.ImagePositionPatient for ds in slices], dtype=float)
        self.spacing = float(slices[0].PixelSpacing[0])

    def profile(self, start: np.ndarray, end: np.ndarray, step: float = 0.1) -> np.ndarray:
        """Linear samples on the slice nearest ``start`` along the segment."""
        from scipy.ndimage import map_coordinates

        k = int(np.argmin(np.abs(self.positions[:, 0] - start[0])))
        origin = self.positions[k]
        n = int(np.linalg.norm(end - start) / step) + 1
        pts = start[None] + np.linspace(0, 1, n)[:, None] * (end - start)[None]
        rows = (origin[2] - pts[:, 2]) / self.spacing
        cols = (pts[:, 1] - origin[1]) / self.spacing
        return map_coordinates(self.array[k], [rows, cols], order=self.order)

    def mean_in_band(
        self, center: np.ndarray, up: np.ndarray, lo: float, hi: float, half_width: float
    ) -> float:
        """Mean over a band ``lo``..``hi`` mm from ``center`` along ``up`` (both ways)."""
        back = np.array([0.0, up[2], -up[1]])
        values = []
        for sign in (1.0, -1.0):
            for w in np.arange(-half_width, half_width + 0.1, 1.0):
                a = center + sign * lo * up + w * back
                values.append(self.profile(a, a + sign * (hi - lo) * up, step=0.5))
        return float(np.mean(np.concatenate(values)))


@pytest.fixture(scope="module")
def two_visits(tmp_path_factory: pytest.TempPathFactory) -> list[SyntheticStudy]:
    out = tmp_path_factory.mktemp("lesion")
    patient = dataclasses.replace(
        random_patient(1, seed=2),
        visits=(Lesion("L3-L4", 1, 1, 8.2), Lesion("L3-L4", 3, 3, 4.6)),
    )
    day = dt.date(2022, 3, 1)
    return [
        write_study(
            out,
            patient,
            v,
            day + dt.timedelta(days=42 * v),
            seed=2,
            rows=320,
            columns=320,
            slices=3,
            sequences=("T2", "STIR"),
            noise=0.01,
        )
        for v in (0, 1)
    ]


def _row(study: SyntheticStudy, height: float) -> dict[str, float]:
    row = {
        f"disc_center_baseline_{a}_mm": v for a, v in zip("xyz", study.disc_center_mm, strict=True)
    }
    return {**row, "disc_tilt_deg": study.disc_tilt_deg, "disc_height_baseline_mm": height}


@pytest.mark.parametrize("visit", [0, 1])
def test_disc_height_measured_on_t2_is_within_a_pixel(
    two_visits: list[SyntheticStudy], visit: int
) -> None:
    study = two_visits[visit]
    height = (8.2, 4.6)[visit]
    t2 = _Volume(next(s for s in study.series if s.description == "SAG T2 TSE").files)
    top, bottom = disc_endpoints(_row(study, height), "baseline")
    axis = (top - bottom) / np.linalg.norm(top - bottom)
    center = (top + bottom) / 2
    profile = t2.profile(center - 15 * axis, center + 15 * axis)
    t = np.linspace(-15, 15, len(profile))
    slope = np.gradient(profile, t)
    mid, reach = len(t) // 2, 120  # endplates within 12 mm of the centre
    edge_hi = t[mid + int(np.argmin(slope[mid : mid + reach]))]  # steepest fall: upper endplate
    edge_lo = t[mid - reach + int(np.argmax(slope[mid - reach : mid]))]
    assert edge_hi - edge_lo == pytest.approx(height, abs=t2.spacing)


def test_stir_edema_follows_the_grade(two_visits: list[SyntheticStudy]) -> None:
    means = []
    for visit, study in enumerate(two_visits):
        height = (8.2, 4.6)[visit]
        stir = _Volume(next(s for s in study.series if s.description == "SAG STIR").files)
        top, bottom = disc_endpoints(_row(study, height), "baseline")
        up = (top - bottom) / np.linalg.norm(top - bottom)
        center = (top + bottom) / 2
        means.append(stir.mean_in_band(center, up, height / 2 + 2.5, height / 2 + 14.0, 6.0))
    assert means[1] > 1.8 * means[0]  # grade 3 fills the bodies, grade 1 only the endplates


def test_three_studies_of_one_patient(tmp_path: Path) -> None:
    patient = random_patient(9, seed=1, visits=3)
    day = dt.date(2021, 5, 3)
    studies = [
        write_study(
            tmp_path,
            patient,
            v,
            day + dt.timedelta(days=40 * v),
            seed=1,
            sequences=("STIR",),
            **SMALL,
        )
        for v in range(3)
    ]
    assert len({s.study_instance_uid for s in studies}) == 3
    assert len({s.folder.parent for s in studies}) == 1  # one patient folder
    dates = {dcmread(s.files[0], stop_before_pixels=True).StudyDate for s in studies}
    assert dates == {"20210503", "20210612", "20210722"}
    with pytest.raises(ValueError, match="visits"):
        write_study(tmp_path, patient, 3, day)


def test_uncompressed_by_default(tmp_path: Path) -> None:
    study = write_study(
        tmp_path,
        random_patient(1),
        0,
        dt.date(2020, 1, 2),
        folder="flat",
        sequences=("T1",),
        **SMALL,
    )
    ds = dcmread(study.files[0])
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert study.folder == tmp_path / "flat"
    assert ds.pixel_array.shape == (64, 64)
    assert math.isclose(study.disc_tilt_deg, study.disc_tilt_deg)


# --------------------------------------------------------------------------- command line


def test_cli_writes_an_export_and_refuses_a_full_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sample"
    argv = [
        "sample",
        str(out),
        "--patients",
        "1",
        "--single-study",
        "1",
        "--rows",
        "32",
        "--columns",
        "32",
        "--slices",
        "2",
        "--compress",
        "jpegls",
        "--seed",
        "7",
    ]
    assert main(argv) == 0
    truth = read_truth(out)
    assert list(truth["patient_id"]) == ["SYN0001", "SYN0002"]
    assert len(_dicom_files(out)) == 3 * 3 * 2
    assert "synthetic patients" in capsys.readouterr().out
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not an empty folder" in err and str(out) in err
