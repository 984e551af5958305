"""Header records from DICOM JSON (WADO-RS metadata) equal those the folder index reads from the
files: classic images (the fast path, no pydicom dataset) and Enhanced MR (through pydicom)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest
from dicom_factory import write_enhanced

from spondy_annotate.dicom.headers import NotAnImage, read_header
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.records import HeaderRecord
from spondy_annotate.dicomweb.index import header_from_json

#: What a file has and DICOM JSON has not: its size and time, how it is stored.
FILE_ONLY = {"size", "mtime_ns", "transfer_syntax"}


def fields(record: HeaderRecord) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in FILE_ONLY}


def as_json(path: Path) -> dict[str, dict[str, object]]:
    """The instance as a DICOMweb service sends its metadata (no pixel data)."""
    return pydicom.dcmread(path, stop_before_pixels=True).to_json_dict()


def images(export: Path) -> list[Path]:
    """The image files of ``export``, as its index lists them."""
    index = index_folder(export, cache=None)
    return [Path(f) for series in index.records for f in series.files]


def test_classic_images_give_the_files_records(small_export: Path) -> None:
    files = images(small_export)
    assert len(files) > 50
    for path in files:
        assert fields(header_from_json(as_json(path), str(path))) == fields(read_header(path))


def test_an_enhanced_image_gives_the_files_record(tmp_path: Path) -> None:
    path = tmp_path / "enhanced.dcm"
    write_enhanced(path, frames=6)
    record = header_from_json(as_json(path), str(path))
    assert record.number_of_frames == 6 and len(record.frames) == 6
    assert fields(record) == fields(read_header(path))


def test_an_instance_that_is_not_an_image_is_refused(small_export: Path) -> None:
    path = images(small_export)[0]
    item = as_json(path)
    del item["00280010"]  # Rows
    with pytest.raises(NotAnImage, match="no Rows/Columns"):
        header_from_json(item, str(path))
