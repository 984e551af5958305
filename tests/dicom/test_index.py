"""Indexing a messy export: right series, every skipped file with its reason, headers only."""

import json
import shutil

import pytest
from dicom_factory import AXIAL, write_enhanced, write_series
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from spondy_annotate.cli import main
from spondy_annotate.dicom.index import SERIES_COLUMNS, index_folder
from spondy_annotate.errors import DicomIndexError


@pytest.fixture
def messy_export(tmp_path):
    """Two patients (2 and 1 studies), several series per folder, junk and broken files."""
    root = tmp_path / "export"
    study_a1, study_a2 = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    write_series(root / "A" / "X1", patient_id="P1", study_uid=study_a1, description="SAG STIR")
    write_series(
        root / "A" / "X1",
        patient_id="P1",
        study_uid=study_a1,
        description="SAG T1 TSE",
        series_number=2,
        tr=550,
        te=10,
        ti=None,
        scanning_sequence="SE",
        seed=1,
    )
    write_series(
        root / "A" / "X2" / "deep",
        patient_id="P1",
        study_uid=study_a2,
        study_date="20240221",
        description="SAG STIR",
        seed=2,
    )
    write_series(
        root / "B",
        patient_id="P2",
        description="AX T2",
        orientation=AXIAL,
        tr=3500,
        te=100,
        ti=None,
        scanning_sequence="SE",
        seed=3,
    )
    write_enhanced(root / "B" / "ENH0001", patient_id="P2", frames=6)
    junk = root / "junk"
    junk.mkdir()
    (junk / "README.TXT").write_text("Exported by PACS\n")
    (junk / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + b"\x00" * 64)
    (junk / "THUMB.JPG").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (junk / "EMPTY").write_bytes(b"")
    good = next((root / "A" / "X1").iterdir()).read_bytes()
    (junk / "TRUNC").write_bytes(good[:300])
    shutil.copy(get_testdata_file("DICOMDIR"), junk / "DICOMDIR")
    return root


def test_messy_export_series_and_skips(messy_export):
    result = index_folder(messy_export)
    table = result.series
    assert list(table.columns) == list(SERIES_COLUMNS)
    assert len(table) == 5
    by_desc = {r.series_description: r for r in table.itertuples()}
    assert by_desc["SAG STIR"].num_images == 5
    assert by_desc["SAG STIR"].orientation == "sagittal"
    assert by_desc["SAG STIR"].sequence == "STIR"
    assert by_desc["SAG T1 TSE"].sequence == "T1"
    assert by_desc["AX T2"].orientation == "axial"
    assert by_desc["AX T2"].sequence == "T2"
    assert by_desc["SAG STIR"].slice_spacing == pytest.approx(4.4)
    assert by_desc["SAG STIR"].pixel_spacing == [0.8, 0.7]
    enhanced = by_desc["AX T2 ENH"]
    assert enhanced.num_images == 6 and len(enhanced.files) == 1
    assert enhanced.slice_spacing == pytest.approx(3.0)
    assert set(table.patient_id) == {"P1", "P2"}
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in result.skipped}
    assert reasons["README.TXT"].startswith("not DICOM")
    assert reasons[".DS_Store"].startswith("not DICOM")
    assert reasons["THUMB.JPG"] == "not DICOM (a JPEG image)"
    assert reasons["EMPTY"] == "empty file (0 bytes)"
    assert reasons["TRUNC"].startswith("truncated DICOM")
    assert reasons["DICOMDIR"].startswith("DICOMDIR")
    assert len(result.skipped) == 6


def test_index_reads_headers_only(messy_export, monkeypatch):
    def refuse(self):
        raise AssertionError("pixel data decoded while indexing")

    monkeypatch.setattr(Dataset, "pixel_array", property(refuse))
    # Corrupt every file's pixel bytes at the end: a header-only read does not notice.
    for path in (messy_export / "B").iterdir():
        if path.is_file():
            data = path.read_bytes()
            path.write_bytes(data[:-20])
    result = index_folder(messy_export)
    assert len(result.series) == 5


def test_duplicate_instances_are_skipped(tmp_path):
    files, _ = write_series(tmp_path / "a")
    (tmp_path / "copy").mkdir()
    shutil.copy(files[0], tmp_path / "copy" / "DUP")
    result = index_folder(tmp_path)
    assert result.series.num_images.tolist() == [5]
    duplicate = str(tmp_path / "copy" / "DUP")
    original = str(files[0])  # a/ comes before copy/ in path order: the copy is skipped
    assert [(s.path, s.reason) for s in result.skipped] == [
        (duplicate, f"duplicate of {original} (same SOPInstanceUID)")
    ]


def test_real_pydicom_files(tmp_path):
    names = ("MR_small.dcm", "CT_small.dcm", "reportsi.dcm", "rtplan.dcm")
    for name in names:
        shutil.copy(get_testdata_file(name), tmp_path / name)
    result = index_folder(tmp_path)
    assert sorted(result.series.modality) == ["CT", "MR"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in result.skipped}
    assert reasons["reportsi.dcm"].startswith("not an image (Basic Text SR")
    assert reasons["rtplan.dcm"].startswith("not an image (RT Plan Storage")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such folder"),
        (lambda p: p, "the folder is empty"),
        (lambda p: (p / "x.txt").write_text("hi") and p, "no DICOM images found"),
    ],
)
def test_bad_folders(tmp_path, make, message, capsys):
    folder = make(tmp_path)
    with pytest.raises(DicomIndexError, match=message):
        index_folder(folder)
    assert main(["index", str(folder)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_json_and_csv(messy_export, capsys):
    assert main(["index", str(messy_export), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = {
        "patient_id",
        "study_instance_uid",
        "study_date",
        "series_instance_uid",
        "series_number",
        "series_description",
        "modality",
        "orientation",
        "num_images",
        "rows",
        "columns",
        "pixel_spacing",
        "slice_spacing",
        "transfer_syntaxes",
        "files",
    }
    assert keys <= set(data["series"][0])
    assert len(data["series"]) == 5 and len(data["skipped"]) == 6
    assert {"path", "reason"} == set(data["skipped"][0])
    assert main(["index", str(messy_export), "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("patient_id,") and len(lines) == 6
    assert main(["index", str(messy_export)]) == 0
    out = capsys.readouterr().out
    assert "5 series in" in out and "6 files skipped" in out and "THUMB.JPG" in out


def test_cache_reads_only_new_or_changed_files(messy_export, tmp_path, monkeypatch):
    from spondy_annotate.dicom import headers as dicom_headers
    from spondy_annotate.dicom import index as dicom_index

    cache = tmp_path / "project.sqlite"
    first = index_folder(messy_export, cache=cache)
    read = []
    original = dicom_headers.read_header
    monkeypatch.setattr(dicom_headers, "read_header", lambda p: read.append(p) or original(p))
    monkeypatch.setattr(dicom_index, "series_rows", lambda *a: pytest.fail("not from snapshot"))
    again = index_folder(messy_export, cache=cache)
    monkeypatch.undo()
    monkeypatch.setattr(dicom_headers, "read_header", lambda p: read.append(p) or original(p))
    assert read == [] and again.headers_read == 0
    assert first.headers_read == len(first.indexed_files) + len(first.skipped)
    assert again.series.drop(columns="files").equals(first.series.drop(columns="files"))
    assert sorted(map(str, again.skipped)) == sorted(map(str, first.skipped))
    # one file changed, one added, one removed
    changed = next(iter(sorted((messy_export / "B").glob("[0-9A-F]*"))))
    changed.write_bytes(changed.read_bytes())  # same content, new mtime
    import os

    os.utime(changed, ns=(1, 1))
    files, _ = write_series(messy_export / "new", patient_id="P9", seed=9)
    (messy_export / "junk" / "README.TXT").unlink()
    third = index_folder(messy_export, cache=cache)
    assert sorted(read) == sorted([str(changed), *map(str, files)])
    assert third.headers_read == len(read)
    assert len(third.series) == 6
    assert not any(s.path.endswith("README.TXT") for s in third.skipped)


def test_an_interrupted_scan_keeps_what_it_read(tmp_path):
    for n in range(3):
        write_series(tmp_path / "export" / f"s{n}", patient_id="P1", slices=80, seed=n)
    cache = tmp_path / "project.sqlite"

    def stop(done, total):
        raise KeyboardInterrupt  # ^C after the first batch of headers

    with pytest.raises(KeyboardInterrupt):
        index_folder(tmp_path / "export", cache=cache, progress=stop, workers=1)
    again = index_folder(tmp_path / "export", cache=cache, workers=1)
    assert again.headers_read == 240 - 100  # the first batch came from the cache
    assert again.rows == index_folder(tmp_path / "export", workers=1).rows


def test_colour_series_is_listed_but_never_paired(tmp_path):
    """An RGB series (a fused or FA map) is indexed with volumes 0 and a note, so the hanging
    protocol never pairs it as a grey sequence."""
    import numpy as np
    import pydicom

    from spondy_annotate.cases.pairing import find_cases

    extra = {"SamplesPerPixel": 3, "PlanarConfiguration": 0, "BitsAllocated": 8,
             "BitsStored": 8, "HighBit": 7}  # fmt: skip
    for study, date in (("1.2.3.1", "20240110"), ("1.2.3.2", "20240301")):
        write_series(tmp_path / study / "grey", study_uid=study, study_date=date)
        files, _ = write_series(
            tmp_path / study / "rgb", study_uid=study, study_date=date, series_number=2,
            description="SAG STIR FA", photometric="RGB", extra=extra,
        )  # fmt: skip
        for path in files:
            ds = pydicom.dcmread(path)
            ds.PixelData = np.zeros((12, 10, 3), dtype=np.uint8).tobytes()
            ds.save_as(path)
    series = index_folder(tmp_path).series
    colour = series[series["series_number"] == 2]
    assert len(colour) == 2 and (colour["volumes"] == 0).all()
    assert colour["note"].str.contains("colour").all()
    (case,) = find_cases(series)
    assert [(p.baseline.series_number, p.followup.series_number) for p in case.pairs] == [(1, 1)]


def test_index_csv_neutralises_formula_cells(tmp_path, capsys):
    """A series description a spreadsheet would evaluate is written as text (leading ')."""
    write_series(tmp_path / "s", description='=HYPERLINK("http://x")', patient_id="@P1")
    assert main(["index", str(tmp_path), "--csv", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "'=HYPERLINK" in out and "'@P1" in out
    assert ",=HYPERLINK" not in out and ",@P1" not in out
