"""Mutated DICOM (byte flips, truncations, insertions, corrupt lengths and VRs; deflated and RLE
files too) only ever gives the project's errors, and the fast header scanner agrees with pydicom
whenever it accepts a file, whatever the values' padding (spaces, NULs, multi-values).
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from unittest import mock

import pydicom
import pytest
from dicom_factory import write_enhanced, write_series
from guards import deadline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spondy_annotate.dicom import headers as dicom_headers
from spondy_annotate.dicom._fastscan import scan_header
from spondy_annotate.dicom.headers import NotAnImage, read_header
from spondy_annotate.dicom.records import HeaderRecord
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.errors import SpondyError

#: ``SPONDY_FUZZ_EXAMPLES=20000`` fuzzes longer, with fresh random examples.
LONG_RUN = int(os.environ.get("SPONDY_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=LONG_RUN or 200,
    deadline=None,
    derandomize=not LONG_RUN,  # CI runs the same examples every time: failures reproduce
    suppress_health_check=[HealthCheck.too_slow],
)


def _base_files() -> dict[str, bytes]:
    """Valid files to mutate: a classic slice, one with a nested undefined-length sequence, and
    an Enhanced MR file (functional groups: read by pydicom)."""
    with tempfile.TemporaryDirectory() as tmp:
        files, _ = write_series(Path(tmp) / "s", slices=1, shape=(4, 3))
        plain = files[0].read_bytes()
        ds = pydicom.dcmread(files[0])
        item, inner = pydicom.Dataset(), pydicom.Dataset()
        inner.CodeMeaning = "nested"
        item.CodeValue = "X"
        item.ConceptNameCodeSequence = [inner]
        ds.ProcedureCodeSequence = [item]
        ds["ProcedureCodeSequence"].is_undefined_length = True
        ds.ProcedureCodeSequence[0].is_undefined_length_sequence_item = True
        ds.save_as(Path(tmp) / "seq")
        write_enhanced(Path(tmp) / "enhanced", frames=3, shape=(4, 3))
        ds = pydicom.dcmread(files[0])
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
        ds.save_as(Path(tmp) / "deflated", enforce_file_format=True)
        ds = pydicom.dcmread(files[0])
        ds.compress(pydicom.uid.RLELossless)
        ds.save_as(Path(tmp) / "rle")
        return {
            "plain": plain,
            "sequence": (Path(tmp) / "seq").read_bytes(),
            "enhanced": (Path(tmp) / "enhanced").read_bytes(),  # the pydicom path
            "deflated": (Path(tmp) / "deflated").read_bytes(),  # inflated, bounded
            "rle": (Path(tmp) / "rle").read_bytes(),  # a compressed pixel decoder
        }


BASES = _base_files()


def _length_fields(data: bytes, meta_only: bool = False) -> list[tuple[int, int]]:
    """(offset, size) of every top-level length field, up to the pixel data (or the end of the
    file meta information: a deflated data set is not elements but a deflate stream)."""
    out, pos = [], 132
    while pos + 8 <= len(data):
        group, elem, vr = struct.unpack_from("<HH2s", data, pos)
        if meta_only and group != 2:
            break
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            (length,) = struct.unpack_from("<I", data, pos + 8)
            out.append((pos + 8, 4))
            if (group, elem) == (0x7FE0, 0x0010):
                break
            pos += 12 + (0 if length == 0xFFFFFFFF else length)
            if length == 0xFFFFFFFF:  # undefined: find the sequence delimiter
                pos = data.index(b"\xfe\xff\xdd\xe0", pos) + 8
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            out.append((pos + 6, 2))
            pos += 8 + length
    return out


LENGTHS = {name: _length_fields(data, name == "deflated") for name, data in BASES.items()}
VRS = [b"US", b"UL", b"DS", b"IS", b"UI", b"OB", b"SQ", b"UN", b"UT", b"XX", b"\x00\x00", b"ds"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid file changed by one to three mutations."""
    name = draw(st.sampled_from(sorted(BASES)))
    data = bytearray(BASES[name])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length", "vr"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "length":
            offset, size = draw(st.sampled_from(LENGTHS[name]))
            top = 0xFFFF if size == 2 else 0xFFFFFFFF
            value = draw(
                st.one_of(st.sampled_from([0, 1, top, top - 1, top // 2]), st.integers(0, top))
            )
            data[offset : offset + size] = value.to_bytes(size, "little")
        elif kind == "vr":
            offset, size = draw(st.sampled_from(LENGTHS[name]))
            vr_at = offset - 2 if size == 2 else offset - 4
            data[vr_at : vr_at + 2] = draw(st.sampled_from(VRS))
    return bytes(data)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "mutant.dcm"


def outcome(path: Path) -> HeaderRecord | str:
    """read_header's record, or "skip" (it may only ever raise NotAnImage)."""
    try:
        return read_header(path)
    except NotAnImage as exc:
        reason = str(exc)
        assert reason and "\n" not in reason
        return "skip"


@FUZZ
@given(data=mutated())
def test_mutants_give_only_project_errors_and_agree(scratch, data):
    scratch.write_bytes(data)
    with deadline():
        fast = outcome(scratch)
        with mock.patch.object(dicom_headers, "scan_header", lambda fp: None):
            slow = outcome(scratch)  # the same file through pydicom alone
        with open(scratch, "rb") as fp:
            accepted = scan_header(fp) is not None
        if accepted:
            assert fast == slow
        try:
            volume = load_series([scratch])
        except SpondyError as exc:
            assert str(scratch) in str(exc) and "\n" not in str(exc)
        else:
            assert volume.array.ndim == 3 and volume.array.size > 0


#: Tags of the plain file whose values the index reads, by VR: text, decimal, integer, UID.
VALUE_TAGS = {
    0x00100020: "LO",  # PatientID
    0x0008103E: "LO",  # SeriesDescription
    0x00080060: "CS",  # Modality
    0x00080008: "CS",  # ImageType
    0x00080020: "DA",  # StudyDate
    0x00280030: "DS",  # PixelSpacing
    0x00200032: "DS",  # ImagePositionPatient
    0x00180050: "DS",  # SliceThickness
    0x00180080: "DS",  # RepetitionTime
    0x00200011: "IS",  # SeriesNumber
    0x00200013: "IS",  # InstanceNumber
    0x0020000D: "UI",  # StudyInstanceUID
}
#: Values as scanners write them, and as PS3.5 allows them padded: leading and trailing spaces,
#: NULs, several values with spaces around the backslash.
VALUE_ATOMS = ["0.5", "-12.25", "1e2", "+3", "7", "0", "1.2.840.10008", "AB", "T2 SAG", "^"]


def _with_value(data: bytes, tag: int, raw: bytes) -> bytes:
    """``data`` with the value of the top-level short-VR element ``tag`` replaced by ``raw``."""
    for offset, size in LENGTHS["plain"]:
        start = offset - 6
        group, elem = struct.unpack_from("<HH", data, start)
        if (group << 16 | elem) == tag and size == 2:
            (length,) = struct.unpack_from("<H", data, offset)
            end = offset + 2 + length
            return data[:offset] + struct.pack("<H", len(raw)) + raw + data[end:]
    raise KeyError(f"{tag:08X}")


@st.composite
def padded_values(draw: st.DrawFn) -> tuple[int, bytes]:
    tag = draw(st.sampled_from(sorted(VALUE_TAGS)))
    pad = st.sampled_from(["", " ", "  ", "\x00", " \x00", "\x00\x00"])
    parts = draw(st.lists(st.sampled_from(VALUE_ATOMS), min_size=1, max_size=3))
    values = [draw(pad) + part + draw(pad) for part in parts]
    text = "\\".join(values)
    if draw(st.booleans()) and len(text) % 2:  # PS3.5: padded to an even length
        text += " " if VALUE_TAGS[tag] != "UI" else "\x00"
    return tag, text.encode("latin-1")


@FUZZ
@given(change=padded_values())
def test_value_parsing_agrees_with_pydicom(scratch, change):
    tag, raw = change
    scratch.write_bytes(_with_value(BASES["plain"], tag, raw))
    with open(scratch, "rb") as fp:
        assert scan_header(fp) is not None  # the fast path reads every such value
    fast = outcome(scratch)
    with mock.patch.object(dicom_headers, "scan_header", lambda fp: None):
        slow = outcome(scratch)
    assert fast == slow


def test_padded_multi_values_are_read_as_values(scratch):
    """The cases pydicom and the scanner used to disagree on, and what PS3.5 makes of them."""
    plain = BASES["plain"]
    cases = {
        0x00280030: (b"0.5 \\ 0.25", "pixel_spacing", (0.5, 0.25)),
        0x00180050: (b"3.5\x00\x00", "slice_thickness", 3.5),
        0x00100020: (b" AB \\ CD ", "patient_id", "AB\\CD"),
        0x0020000D: (b"1.2.3\x00", "study_instance_uid", "1.2.3"),
        0x00200011: (b" 12 ", "series_number", 12),
    }
    for tag, (raw, field, expected) in cases.items():
        scratch.write_bytes(_with_value(plain, tag, raw))
        assert getattr(read_header(scratch), field) == expected, field


def test_fuzzing_reaches_the_fast_path(scratch):
    """The comparison above is not vacuous: most mild mutants still take the fast path."""
    accepted = 0
    for i in range(0, len(BASES["plain"]), 7):
        data = bytearray(BASES["plain"])
        data[i] ^= 0x01
        scratch.write_bytes(bytes(data))
        with open(scratch, "rb") as fp:
            accepted += scan_header(fp) is not None
    assert accepted > len(BASES["plain"]) // 7 // 2
