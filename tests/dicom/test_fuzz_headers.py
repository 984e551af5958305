"""Mutated DICOM (byte flips, truncations, insertions, corrupt lengths and VRs) only ever gives
the project's errors, and the fast header scanner agrees with pydicom whenever it accepts a file.
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
        return {
            "plain": plain,
            "sequence": (Path(tmp) / "seq").read_bytes(),
            "enhanced": (Path(tmp) / "enhanced").read_bytes(),  # the pydicom path
        }


BASES = _base_files()


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every top-level length field, up to the pixel data."""
    out, pos = [], 132
    while pos + 8 <= len(data):
        group, elem, vr = struct.unpack_from("<HH2s", data, pos)
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


LENGTHS = {name: _length_fields(data) for name, data in BASES.items()}
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
