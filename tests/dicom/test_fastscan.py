"""The fast header scanner gives the same record as pydicom, and hands odd files to pydicom."""

import io
import os
from pathlib import Path

import pydicom
import pytest
from dicom_factory import write_enhanced, write_series
from pydicom.data import get_testdata_file

from spondy_annotate.dicom._fastscan import scan_header
from spondy_annotate.dicom.headers import NotAnImage, header_from_dataset

TEST_FILES = Path(get_testdata_file("MR_small.dcm")).parent
REALWORLD = Path(__file__).parents[3] / "shared" / "realworld-dicom"


def both_records(path):
    with open(path, "rb") as fp:
        values = scan_header(fp)
    if values is None:
        return None, None

    def record(source):
        try:
            return header_from_dataset(source, str(path))
        except NotAnImage as exc:
            return str(exc)

    return record(values), record(pydicom.dcmread(path, stop_before_pixels=True))


def candidate_files():
    files = sorted(TEST_FILES.glob("*.dcm"))
    if REALWORLD.is_dir():  # present beside the repository on the developers' machines
        files += sorted(p for p in REALWORLD.rglob("*") if p.is_file())
    return files


def test_fast_path_equals_pydicom_on_real_files():
    compared = 0
    for path in candidate_files():
        fast, slow = both_records(path)
        if fast is None:
            continue
        compared += 1
        assert fast == slow, path
    assert compared >= 8


def test_fast_path_equals_pydicom_on_generated_series(tmp_path):
    files, _ = write_series(tmp_path, extra={"ContrastBolusAgent": "GADOLINIUM"})
    fast, slow = both_records(files[0])
    assert fast is not None and fast == slow
    assert fast.contrast_agent == "GADOLINIUM" and fast.rows == 12


@pytest.mark.parametrize(
    "name",
    ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "no_meta.dcm", "MR_truncated.dcm"],
)
def test_odd_files_go_to_pydicom(name):
    path = get_testdata_file(name)
    with open(path, "rb") as fp:
        data = fp.read()
    if name == "MR_truncated.dcm":
        data = data[:600]  # ends inside the header
    assert scan_header(io.BytesIO(data)) is None


def test_enhanced_goes_to_pydicom(tmp_path):
    write_enhanced(tmp_path / "e")
    with open(tmp_path / "e", "rb") as fp:
        assert scan_header(fp) is None


def test_undefined_length_sequences_are_skipped(tmp_path):
    files, _ = write_series(tmp_path)
    ds = pydicom.dcmread(files[0])
    item = pydicom.Dataset()
    item.CodeValue = "X"
    inner = pydicom.Dataset()
    inner.CodeMeaning = "nested"
    item.ConceptNameCodeSequence = [inner]
    ds.ProcedureCodeSequence = [item, item]
    ds["ProcedureCodeSequence"].is_undefined_length = True
    ds.ProcedureCodeSequence[0].is_undefined_length_sequence_item = True
    out = tmp_path / "undefined.dcm"
    ds.save_as(out)
    fast, slow = both_records(out)
    assert fast is not None and fast == slow
    assert os.path.getsize(out) > 0


def test_tag_table_matches_pydicom_dictionary():
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    from spondy_annotate.dicom._fastscan import WANTED

    for tag, (keyword, vr) in WANTED.items():
        assert tag_for_keyword(keyword) == tag and dictionary_VR(keyword) == vr, keyword


def test_fast_path_does_not_import_pydicom(tmp_path):
    import subprocess
    import sys

    files, _ = write_series(tmp_path)
    code = (
        "import sys; from spondy_annotate.dicom.headers import read_header; "
        f"r = read_header({str(files[0])!r}); assert r.rows == 12; "
        "print('pydicom' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_common_image_classes_are_image_storage():
    from pydicom.uid import UID

    from spondy_annotate.dicom.headers import COMMON_IMAGE_SOP_CLASSES

    assert all("Image Storage" in UID(uid).name for uid in COMMON_IMAGE_SOP_CLASSES)
