"""Loading series into volumes: order, spacing, rescale, windows, decoders, refusals."""

import shutil
from dataclasses import replace

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_factory import AXIAL, SAGITTAL, write_enhanced, write_series
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from spondy_annotate.dicom.headers import header_from_dataset, read_header
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.errors import SeriesGeometryError, SeriesLoadError


def sitk_read(files):
    reader = sitk.ImageSeriesReader()
    folder = str(files[0].parent)
    uid = pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))
    return reader.Execute()


@pytest.mark.parametrize(
    ("orientation", "plane"),
    [(SAGITTAL, "sagittal"), (AXIAL, "axial"), ((0.0, 0.8, 0.6, 0.0, -0.6, 0.8), "sagittal")],
)
def test_geometry_matches_simpleitk(tmp_path, orientation, plane):
    files, values = write_series(
        tmp_path,
        orientation=orientation,
        slices=7,
        spacing=5.5,
        slice_thickness=5.0,
        slope=2.5,
        intercept=-100.0,
    )
    vol = load_series(files)
    img = sitk_read(files)
    assert vol.array.shape == (7, 12, 10)
    assert vol.spacing == pytest.approx(img.GetSpacing()[::-1])
    assert vol.spacing[0] == pytest.approx(5.5)  # measured, not SliceThickness (5.0)
    assert vol.origin == pytest.approx(img.GetOrigin())
    assert vol.direction == pytest.approx(np.array(img.GetDirection()).reshape(3, 3))
    assert vol.plane == plane
    np.testing.assert_allclose(vol.array, sitk.GetArrayFromImage(img), atol=1e-3)
    np.testing.assert_allclose(vol.array, values * 2.5 - 100.0)
    # the affine maps the last voxel where SimpleITK says it is
    last = img.TransformIndexToPhysicalPoint((9, 11, 6))
    assert vol.index_to_patient((6, 11, 9)) == pytest.approx(last)


def test_sorted_by_position_not_instance_number(tmp_path):
    files, values = write_series(tmp_path, slices=6)
    vol = load_series(files)  # instance numbers run backwards in the factory
    np.testing.assert_array_equal(vol.array, values.astype(np.float32))


def test_window_and_monochrome1(tmp_path):
    files, values = write_series(tmp_path / "a", window=(300.0, 800.0))
    assert load_series(files).window == (300.0, 800.0)
    files, values = write_series(tmp_path / "b", photometric="MONOCHROME1", window=None)
    vol = load_series(files)
    np.testing.assert_allclose(vol.array, values.max() + values.min() - values.astype(np.float32))
    lo, hi = np.percentile(vol.array, [0.5, 99.5])
    assert vol.window == pytest.approx(((lo + hi) / 2, hi - lo))


def test_enhanced_mr_per_frame_rescale_and_order(tmp_path):
    slopes = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    values = write_enhanced(tmp_path / "enh", slopes=slopes, frame_order=[3, 0, 5, 1, 4, 2])
    vol = load_series([tmp_path / "enh"])
    assert vol.array.shape == (6, 8, 9)
    assert vol.spacing == pytest.approx((3.0, 0.9, 0.9))
    expected = values * np.asarray(slopes)[:, None, None]
    np.testing.assert_allclose(vol.array, expected)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
    ],
)
def test_compressed_and_other_syntaxes_decode(tmp_path, name):
    reference = load_series([get_testdata_file("MR_small.dcm")])
    vol = load_series([get_testdata_file(name)])
    np.testing.assert_array_equal(vol.array, reference.array)
    assert vol.spacing == reference.spacing


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG2000.dcm"])
def test_single_image_without_geometry_loads_as_one_slice(name):
    vol = load_series([get_testdata_file(name)])
    assert vol.array.shape == (1, 1024, 256) or vol.array.shape[:2] == (1, 1024)
    assert vol.spacing[1:] == (2.26, 2.26)
    assert vol.array.std() > 0


def test_missing_decoder_names_file_syntax_and_package(tmp_path, monkeypatch):
    path = tmp_path / "j2k.dcm"
    shutil.copy(get_testdata_file("MR_small_jp2klossless.dcm"), path)

    def no_decoder(self):
        raise RuntimeError("Unable to decode the pixel data as there are no plugins available")

    monkeypatch.setattr(Dataset, "pixel_array", property(no_decoder))
    with pytest.raises(SeriesLoadError) as info:
        load_series([path])
    message = str(info.value)
    assert str(path) in message
    assert "JPEG 2000 Image Compression (Lossless Only)" in message
    assert "pylibjpeg-openjpeg" in message


def test_truncated_pixel_data_is_refused():
    with pytest.raises(SeriesLoadError, match="MR_truncated.dcm"):
        load_series([get_testdata_file("MR_truncated.dcm")])


@pytest.mark.parametrize(
    ("positions", "message"),
    [
        ([(0, 0, 0), (0, 0, 4), (0, 0, 8), (0, 0, 16)], "a gap between slices"),
        ([(0, 0, 0), (0, 0, 4), (0, 0, 4), (0, 0, 8)], "duplicate slice positions"),
        ([(0, 0, 0), (0, 0, 4), (0, 0, 9)], "uneven spacing"),
    ],
)
def test_irregular_series_refused_with_file_named(tmp_path, positions, message):
    files, _ = write_series(tmp_path, orientation=AXIAL, positions=positions)
    with pytest.raises(SeriesGeometryError, match=message) as info:
        load_series(files)
    assert str(tmp_path) in str(info.value)


def test_4d_series_is_split_not_stacked(tmp_path):
    uid = pydicom.uid.generate_uid()
    files = []
    for t in range(3):
        f, _ = write_series(
            tmp_path,
            series_uid=uid,
            orientation=AXIAL,
            slices=4,
            seed=t,
            extra={"TemporalPositionIdentifier": t + 1},
        )
        files += f
    with pytest.raises(SeriesGeometryError, match="3 volumes"):
        load_series(files)
    vol = load_series(files, stack=2)
    assert vol.array.shape == (4, 12, 10)
    assert vol.metadata["stack"] == "time point 3"


def test_mixed_orientations_refused_unless_chosen(tmp_path):
    uid = pydicom.uid.generate_uid()
    files, _ = write_series(tmp_path, series_uid=uid, orientation=AXIAL, slices=3)
    more, _ = write_series(tmp_path, series_uid=uid, orientation=SAGITTAL, slices=3, seed=4)
    with pytest.raises(SeriesGeometryError, match="axial"):
        load_series(files + more)
    assert load_series(files + more, stack=1).array.shape == (3, 12, 10)


def deflated(files):
    """Re-save ``files`` as Deflated Explicit VR Little Endian."""
    for path in files:
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        ds.save_as(path, enforce_file_format=True)
    return files


def test_deflated_series_is_indexed_and_loads(tmp_path):
    files, values = write_series(tmp_path / "export", slices=4)
    deflated(files)
    result = index_folder(tmp_path / "export")
    assert result.skipped == []
    (row,) = result.records
    assert row.num_images == 4 and row.volumes == 1
    assert row.transfer_syntaxes == ("1.2.840.10008.1.2.1.99",)
    np.testing.assert_array_equal(load_series(files).array, values.astype(np.float32))


def test_colour_series_is_told_from_its_header(tmp_path):
    """SamplesPerPixel 3 / RGB (a fused or FA map): known from the header, fast path and
    pydicom alike, and never loaded as a grey volume."""
    rgb = np.zeros((12, 10, 3), dtype=np.uint8).tobytes()
    extra = {"SamplesPerPixel": 3, "PlanarConfiguration": 0, "BitsAllocated": 8,
             "BitsStored": 8, "HighBit": 7}  # fmt: skip
    files, _ = write_series(tmp_path, slices=2, photometric="RGB", extra=extra)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PixelData = rgb
        ds.save_as(path)
    record = read_header(files[0])
    assert record.colour == "RGB" and record.samples_per_pixel == 3
    slow = header_from_dataset(pydicom.dcmread(files[0]), str(files[0]), record.size)
    assert slow == replace(record, mtime_ns=0)
    grey, _ = write_series(tmp_path / "grey", slices=1)
    assert read_header(grey[0]).colour == ""
    with pytest.raises(SeriesLoadError, match="is not 1 gray frames") as info:
        load_series(files)
    assert str(files[0]) in str(info.value) or str(files[1]) in str(info.value)


def rle_with_bad_segment_offset(path):
    """An RLE Lossless file whose second segment offset is off: pylibjpeg-rle panics (Rust)."""
    files, _ = write_series(path.parent / "src", slices=1, shape=(16, 16))
    ds = pydicom.dcmread(files[0])
    ds.compress(pydicom.uid.RLELossless)
    ds.save_as(path)
    data = bytearray(path.read_bytes())
    item = data.index(b"\xfe\xff\x00\xe0", data.index(b"\xe0\x7f\x10\x00"))  # offset table
    fragment = data.index(b"\xfe\xff\x00\xe0", item + 8) + 8
    data[fragment + 8] ^= 0x80
    path.write_bytes(bytes(data))
    return path


def test_decoder_panic_becomes_series_load_error(tmp_path):
    pytest.importorskip("rle")  # pylibjpeg-rle
    bad = rle_with_bad_segment_offset(tmp_path / "rle.dcm")
    try:
        _ = pydicom.dcmread(bad).pixel_array
    except Exception:
        pytest.skip("this decoder raises an Exception here, not a panic")
    except BaseException as exc:  # what the test is about: pyo3's PanicException
        assert type(exc).__name__ == "PanicException"
    with pytest.raises(SeriesLoadError, match="corrupt pixel data") as info:
        load_series([bad])
    assert str(info.value).startswith(f"{bad}: ") and "PanicException" in str(info.value)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (MemoryError(), "not enough memory to decode the pixel data (64 x 64 x 1 frames)"),
        (ValueError("bad marker"), "corrupt pixel data: the decoder of JPEG-LS Lossless"),
    ],
)
def test_decoder_failure_is_not_called_a_missing_package(tmp_path, monkeypatch, raised, expected):
    """Only a missing plugin suggests installing one (before: any failure said "install")."""
    path = tmp_path / "jls.dcm"
    shutil.copy(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"), path)

    def failing(self):
        raise raised

    monkeypatch.setattr(Dataset, "pixel_array", property(failing))
    with pytest.raises(SeriesLoadError) as info:
        load_series([path])
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)
    assert "install" not in str(info.value)
