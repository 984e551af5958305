"""Real scanner files (Philips, Siemens, GE) from ../shared/realworld-dicom, when it is there.

The folder sits beside the repository on the developers' machines and in CI; it is not part of
the package, so these tests skip where it is absent (for example, an sdist unpacked elsewhere).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.errors import SeriesGeometryError

REALWORLD = Path(__file__).resolve().parents[3] / "shared" / "realworld-dicom"
pytestmark = pytest.mark.skipif(not REALWORLD.is_dir(), reason="no ../shared/realworld-dicom")


@pytest.fixture(scope="module")
def index():
    return index_folder(REALWORLD)


def series(index, number: int, description: str) -> dict:
    """The one series with this number and description."""
    rows = [
        r
        for r in index.rows
        if r["series_number"] == number and r["series_description"] == description
    ]
    assert len(rows) == 1, (number, description)
    return rows[0]


def test_skips_raw_data_dicomdir_junk_and_copies(index):
    reasons = {os.path.basename(s.path): s.reason for s in index.skipped}
    assert reasons["philips_rawdata_not_image.dcm"] == "not an image (Raw Data Storage)"
    assert reasons["DICOMDIR"].startswith("DICOMDIR")
    assert reasons["notes.txt"].startswith("not DICOM")
    copies = [s for s in index.skipped if "same SOPInstanceUID" in s.reason]
    assert len(copies) >= 24  # mixed_vendors_one_folder repeats files of the other folders


def test_philips_slices_5_5_mm_apart_not_5(index):
    row = series(index, 501, "T1W_FFE_Sno_CS4")
    assert row["slice_thickness"] == pytest.approx(5.0)
    assert row["slice_spacing"] == pytest.approx(5.5)
    vol = load_series(row["files"])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(
        sitk.ImageSeriesReader.GetGDCMSeriesFileNames(
            os.path.dirname(row["files"][0]), row["series_instance_uid"]
        )
    )
    img = reader.Execute()
    assert vol.spacing == pytest.approx(img.GetSpacing()[::-1], abs=1e-4)
    assert vol.origin == pytest.approx(img.GetOrigin(), abs=1e-3)
    np.testing.assert_allclose(vol.array, sitk.GetArrayFromImage(img), rtol=1e-5, atol=1e-2)


def test_enhanced_is_one_series_with_the_classic_geometry(index):
    enhanced = series(index, 401, "T1W_FFE_Sno_CS2")
    assert enhanced["num_images"] == 24 and len(enhanced["files"]) == 1
    classic = load_series(series(index, 501, "T1W_FFE_Sno_CS4")["files"])
    vol = load_series(enhanced["files"])
    assert vol.array.shape == classic.array.shape
    assert vol.spacing == pytest.approx(classic.spacing)
    assert vol.origin == pytest.approx(classic.origin)


@pytest.mark.parametrize(
    ("number", "description", "volumes", "shape"),
    [
        (4, "Axial EPI-FMRI (Interleaved I to S)", 10, (15, 64, 64)),  # GE, 150 files
        (6, "REST1 w SMS PF7-8", 4, (6, 64, 64)),  # Siemens XA Enhanced, 4 files
        (801, "B0 NS", 2, (32, 64, 64)),  # Philips Enhanced, two frame types
        (201, "EPI_asc", 3, (9, 64, 64)),  # Philips classic, oblique
    ],
)
def test_4d_series_are_split_never_stacked(index, number, description, volumes, shape):
    files = series(index, number, description)["files"]
    with pytest.raises(SeriesGeometryError, match=f"{volumes} volumes"):
        load_series(files)
    assert load_series(files, stack=volumes - 1).array.shape == shape


def test_mosaics_are_refused_with_a_reason(index):
    row = series(index, 1, "ax_asc_35sl")
    assert "mosaic" in row["note"]
    with pytest.raises(SeriesGeometryError, match="mosaic"):
        load_series(row["files"])


def test_oblique_series_keeps_its_direction(index):
    files = series(index, 201, "EPI_asc")["files"]
    vol = load_series(files, stack=0)
    assert vol.is_oblique
    assert np.allclose(vol.direction.T @ vol.direction, np.eye(3), atol=1e-4)
