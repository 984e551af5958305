"""The napari reader, sample data and manifest (no viewer needed: layer data tuples only)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import AXIAL, CORONAL, SAGITTAL, write_series
from napari.layers import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from spondy_napari import napari_get_reader
from spondy_napari.display.frame import layer_geometry

from spondy_annotate.cases.open import open_export
from spondy_annotate.cases.pairing import CaseStatus
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.synthetic.export import read_truth

COS10, SIN10 = float(np.cos(np.radians(10))), float(np.sin(np.radians(10)))


def read(path: Path) -> list[tuple]:
    reader = napari_get_reader(str(path))
    assert callable(reader), f"no reader for {path}"
    return reader(str(path))


def test_axial_series_scale_translate_window(tmp_path):
    folder = tmp_path / "ax"
    _, values = write_series(
        folder,
        orientation=AXIAL,
        slices=6,
        spacing=5.5,
        slice_thickness=5.0,
        pixel_spacing=(0.8, 0.7),
        origin=(-20.0, -50.0, 60.0),
        window=(500.0, 1000.0),
    )
    layers = read(folder)
    assert len(layers) == 1
    data, kwargs, kind = layers[0]
    assert kind == "image"
    # scale: the DICOM spacing in (z, y, x) order, slice step measured (5.5), not thickness (5.0)
    assert tuple(kwargs["scale"]) == pytest.approx((5.5, 0.8, 0.7))
    # translate: the origin (x, y, z) = (-20, -50, 60) in the layer's (z, y, x) order
    assert tuple(kwargs["translate"]) == pytest.approx((60.0, -50.0, -20.0))
    assert tuple(kwargs["contrast_limits"]) == pytest.approx(
        (0.0, 1000.0)
    )  # center 500, width 1000
    np.testing.assert_array_equal(np.asarray(data), values)
    assert np.allclose(kwargs["rotate"], np.eye(3))


@pytest.mark.parametrize(
    "orientation",
    [
        SAGITTAL,
        (0.0, -1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal, rows and slices running backwards
        (0.0, 0.8, 0.6, 0.0, -0.6, 0.8),  # sagittal rotated in plane (37 degrees)
        CORONAL,
        AXIAL,
        (1.0, 0.0, 0.0, 0.0, COS10, SIN10),  # axial tilted 10 degrees out of plane
    ],
    ids=["sagittal", "sagittal-reversed", "sagittal-rotated", "coronal", "axial", "axial-tilted"],
)
def test_every_voxel_lands_where_the_dicom_says(tmp_path, orientation):
    files, _ = write_series(tmp_path / "s", orientation=orientation, slices=5, spacing=4.0)
    volume = load_series(files)
    data, kwargs, _ = read(tmp_path / "s")[0]
    layer = Image(data, **kwargs)
    geometry = layer_geometry(volume)
    assert tuple(kwargs["scale"]) == pytest.approx([volume.spacing[k] for k in geometry.axes])
    for corner in itertools.product(*[(0, n - 1) for n in data.shape]):
        source = [0, 0, 0]
        for w, k in enumerate(geometry.axes):
            n = volume.array.shape[k]
            source[k] = n - 1 - corner[w] if geometry.flip[w] else corner[w]
        assert data[corner] == volume.array[tuple(source)]
        patient = geometry.world_to_patient(np.asarray(layer.data_to_world(corner)))
        np.testing.assert_allclose(patient, volume.index_to_patient(source), atol=1e-6)


def test_standard_sagittal_is_shown_as_stored(tmp_path):
    files, _ = write_series(tmp_path / "s", orientation=SAGITTAL, origin=(-20.0, -50.0, 60.0))
    volume = load_series(files)
    data, kwargs, _ = read(tmp_path / "s")[0]
    assert not layer_geometry(volume).is_reoriented  # no transpose, no flip
    np.testing.assert_array_equal(data, volume.array)
    assert tuple(kwargs["scale"]) == pytest.approx(volume.spacing)
    # world axes of a sagittal: patient right (-X), inferior (-Z), posterior (+Y)
    assert tuple(kwargs["translate"]) == pytest.approx((20.0, -60.0, -50.0))


def test_reader_declines_what_it_does_not_read(tmp_path, junk_folder):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert napari_get_reader(str(text)) is None
    assert napari_get_reader(str(tmp_path / "missing")) is None
    assert napari_get_reader(str(junk_folder)) is None
    assert napari_get_reader([str(text), str(text)]) is None
    assert napari_get_reader(12345) is None  # type: ignore[arg-type]  # never raises


def test_export_folder_gives_first_case_only(small_export):
    layers = read(small_export)
    case = open_export(small_export, cache=False).cases[0]
    assert case.status is CaseStatus.READY
    assert len(layers) == 2 * len(case.pairs)  # the first case only, not all 3 patients
    names = [kw["name"] for _, kw, _ in layers]
    assert names[0] == f"Baseline {case.baseline.date_text} · {case.pairs[0].label}"
    assert names[1] == f"Follow-up {case.followup.date_text} · {case.pairs[0].label}"
    assert [kw["visible"] for _, kw, _ in layers] == [True, True] + [False] * (len(layers) - 2)
    window = load_series(case.pairs[0].baseline.files).window
    low, high = layers[0][1]["contrast_limits"]
    assert ((low + high) / 2, high - low) == pytest.approx(window)


def test_reader_indexes_through_the_header_cache(tmp_path, small_export):
    import shutil

    export = shutil.copytree(small_export, tmp_path / "export")
    assert read(export)
    # the project database beside the export now holds every header: the CLI reads none again
    assert open_export(export).index.headers_read == 0


def test_no_patient_identity_in_layers(small_export):
    truth = read_truth(small_export)
    layers = read(small_export)
    text = repr([(kw["name"], kw["metadata"]) for _, kw, _ in layers])
    for value in [*truth["patient_id"], *truth["patient_name"]]:
        assert str(value) not in text
    meta = layers[0][1]["metadata"]["spondy"]
    assert meta["side"] == "baseline" and meta["plane"] == "sagittal"
    assert "files" not in meta


def test_single_file(tmp_path):
    files, values = write_series(tmp_path / "s", orientation=AXIAL, slices=4)
    first = sorted(files, key=lambda p: str(p))[0]
    layers = read(first)
    data, kwargs, _ = layers[0]
    assert data.shape == (1, *values.shape[1:])


def test_dicom_without_images_is_notified(tmp_path, notifications):
    folder = tmp_path / "sr"
    folder.mkdir()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.save_as(folder / "report.dcm", enforce_file_format=True)
    layers = read(folder)  # the header says DICOM: accepted, then reported
    assert layers == [(None,)]  # napari's "read, nothing to add"
    assert notifications and notifications[0][0] == "error"
    assert "no DICOM images" in notifications[0][1]
