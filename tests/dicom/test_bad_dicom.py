"""Bad DICOM never crashes and never hangs: the index skips it with a one-line reason naming the
file and goes on, loading it raises SeriesLoadError/SeriesGeometryError naming the file.

The corpus is made here, from one valid file: truncations, garbage, wrong VRs, missing tags,
absurd values, corrupt lengths, a FIFO, symbolic link loops and unreadable files. Risky calls run
under :func:`deadline` (or in a subprocess with a timeout), so a hang fails instead of blocking.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from dicom_factory import AXIAL, write_series
from guards import deadline

from spondy_annotate.dicom.headers import NotAnImage, read_header
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.volume import load_series
from spondy_annotate.errors import SeriesGeometryError, SeriesLoadError, SpondyError

PREAMBLE = b"\x00" * 128 + b"DICM"


def elements(data: bytes) -> dict[int, tuple[int, bytes, int, int]]:
    """Top-level explicit-VR-LE elements: tag -> (offset, VR, length field size, length)."""
    out, pos = {}, 132
    while pos + 8 <= len(data):
        group, elem, vr = struct.unpack_from("<HH2s", data, pos)
        tag = group << 16 | elem
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            (length,) = struct.unpack_from("<I", data, pos + 8)
            out[tag] = (pos, vr, 4, length)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", data, pos + 6)
            out[tag] = (pos, vr, 2, length)
            pos += 8 + length
        if tag == 0x7FE00010:
            break
    return out


def with_vr(data: bytes, tag: int, vr: bytes) -> bytes:
    """Replace the VR of a short-VR element (same layout: the value is left as it is)."""
    pos = elements(data)[tag][0]
    return data[: pos + 4] + vr + data[pos + 6 :]


def with_length(data: bytes, tag: int, length: int) -> bytes:
    """Overwrite the length field of an element."""
    pos, _, size, _ = elements(data)[tag]
    at = pos + 8 if size == 4 else pos + 6
    return data[:at] + length.to_bytes(size, "little") + data[at + size :]


def rewritten(good: Path, change: Callable[[pydicom.Dataset], object]) -> bytes:
    """The file re-saved by pydicom after ``change(ds)``."""
    ds = pydicom.dcmread(good)
    change(ds)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def delete(*keywords: str) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for k in keywords:
            delattr(ds, k)

    return change


def assign(**values: object) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        for k, v in values.items():
            setattr(ds, k, v)

    return change


def nested_sequences(data: bytes, depth: int) -> bytes:
    """Insert ``depth`` nested undefined-length sequences before the pixel data."""
    seq = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    pos = elements(data)[0x7FE00010][0]
    return data[:pos] + (seq + item) * depth + close * depth + data[pos:]


PIXEL_DATA, ROWS, PIXEL_SPACING, SERIES_DESCRIPTION, META_VERSION = (
    0x7FE00010,
    0x00280010,
    0x00280030,
    0x0008103E,
    0x00020001,
)

# name -> (make the bytes from the good file, index reason prefix or None when indexed,
#          load error class and message fragment, or None when it loads)
CASES: dict[str, tuple[Callable[[Path], bytes], str | None, tuple[type, str] | None]] = {
    "empty": (lambda g: b"", "empty file (0 bytes)", (SeriesLoadError, "not DICOM")),
    "garbage_after_marker": (
        lambda g: PREAMBLE + random.Random(1).randbytes(3000),
        "corrupt DICOM: no file meta information after the 'DICM' marker",
        (SeriesLoadError, ""),
    ),
    "garbage_no_marker": (
        lambda g: random.Random(2).randbytes(3000),
        "not DICOM",
        (SeriesLoadError, ""),
    ),
    "marker_only": (lambda g: PREAMBLE, "truncated DICOM", (SeriesLoadError, "")),
    "rows_vr_ds": (
        lambda g: with_vr(g.read_bytes(), ROWS, b"DS"),
        "not an image (MR Image Storage: no Rows/Columns)",
        (SeriesLoadError, "Rows x Columns is 0 x 10"),
    ),
    "spacing_vr_us": (
        lambda g: with_vr(g.read_bytes(), PIXEL_SPACING, b"US"),
        None,
        (SeriesLoadError, "no usable PixelSpacing (0028,0030)"),
    ),
    "vr_not_letters": (
        lambda g: with_vr(g.read_bytes(), SERIES_DESCRIPTION, b"\x00\x01"),
        "truncated DICOM, or a corrupt element length",
        (SeriesLoadError, "no Rows (0028,0010) or Columns (0028,0011)"),
    ),
    "no_pixel_data": (
        lambda g: rewritten(g, delete("PixelData")),
        "truncated DICOM or no pixel data",
        (SeriesLoadError, "no pixel data (7FE0,0010)"),
    ),
    "no_series_uid": (
        lambda g: rewritten(g, delete("SeriesInstanceUID")),
        "no SeriesInstanceUID (0020,000E)",
        None,
    ),
    "no_pixel_spacing": (
        lambda g: rewritten(g, delete("PixelSpacing")),
        None,
        (SeriesLoadError, "no usable PixelSpacing (0028,0030)"),
    ),
    "rows_past_pixel_data": (
        lambda g: rewritten(g, assign(Rows=1000)),
        None,
        (
            SeriesLoadError,
            "240 bytes, less than Rows x Columns x frames x bytes (1000 x 10 x 1 x 2",
        ),
    ),
    "zero_by_zero": (
        lambda g: rewritten(g, assign(Rows=0, Columns=0)),
        "not an image (MR Image Storage: no Rows/Columns)",
        (SeriesLoadError, "Rows x Columns is 0 x 0"),
    ),
    "zero_spacing": (
        lambda g: rewritten(g, assign(PixelSpacing=[0, 0])),
        None,
        (SeriesLoadError, "PixelSpacing (0028,0030) 0.0\\0.0 is not positive"),
    ),
    "negative_spacing": (
        lambda g: rewritten(g, assign(PixelSpacing=[-0.8, 0.7])),
        None,
        (SeriesLoadError, "is not positive"),
    ),
    "nan_spacing": (
        lambda g: rewritten(g, assign(PixelSpacing=["nan", "nan"])),
        None,
        (SeriesLoadError, "PixelSpacing (0028,0030) nan\\nan is not positive"),
    ),
    "billion_frames": (
        lambda g: rewritten(g, assign(NumberOfFrames=10**9)),
        None,
        (SeriesLoadError, "less than expected"),
    ),
    "negative_frames": (
        lambda g: rewritten(g, assign(NumberOfFrames=-5)),
        None,
        (SeriesLoadError, "Number of Frames"),
    ),
    "meta_length_past_eof": (
        lambda g: with_length(g.read_bytes(), META_VERSION, 0xFFFFFFF0),
        "truncated DICOM",
        (SeriesLoadError, ""),
    ),
    "short_length_past_eof": (
        lambda g: with_length(g.read_bytes(), SERIES_DESCRIPTION, 0xFFFF),
        "truncated DICOM",
        (SeriesLoadError, ""),
    ),
    "pixel_length_past_eof": (
        lambda g: with_length(g.read_bytes(), PIXEL_DATA, 0xFFFFFFF0),
        None,
        None,  # the image is all there: only the length field lies
    ),
    "pixels_cut": (
        lambda g: g.read_bytes()[:-100],
        None,
        (SeriesLoadError, "the file ends inside its pixel data (truncated)"),
    ),
    # Values no scanner writes: refused with a reason, never replaced or turned into inf/NaN.
    "slope_inf": (
        lambda g: rewritten(g, assign(RescaleSlope="inf")),
        None,
        (SeriesLoadError, "RescaleSlope (0028,1053) 'inf' is not a finite number"),
    ),
    "slope_nan": (
        lambda g: rewritten(g, assign(RescaleSlope="nan")),
        None,
        (SeriesLoadError, "RescaleSlope (0028,1053) 'nan' is not a finite number"),
    ),
    "intercept_1e308": (
        lambda g: rewritten(g, assign(RescaleIntercept="1e308")),
        None,
        (SeriesLoadError, "RescaleIntercept (0028,1052) '1e308' is not a finite number"),
    ),
    "rescale_overflows": (
        lambda g: rewritten(g, assign(RescaleSlope="1e37")),
        None,
        (SeriesLoadError, "give voxel values beyond the float32 range"),
    ),
    "negative_thickness": (
        lambda g: rewritten(g, assign(SliceThickness=-4)),
        None,
        (SeriesLoadError, "SliceThickness (0018,0050) -4"),
    ),
    "zero_slice_spacing": (
        lambda g: rewritten(g, assign(SpacingBetweenSlices=0)),
        None,
        (SeriesLoadError, "SpacingBetweenSlices (0018,0088) 0"),
    ),
    "pixel_data_longer": (
        lambda g: rewritten(g, lambda ds: setattr(ds, "PixelData", ds.PixelData + bytes(24))),
        None,
        (SeriesLoadError, "264 bytes, more than Rows x Columns x frames x bytes (12 x 10 x 1 x 2"),
    ),
    "nested_sequences": (
        lambda g: nested_sequences(g.read_bytes(), 5000),
        "corrupt or truncated DICOM header (maximum recursion depth exceeded",
        (SeriesLoadError, "unreadable DICOM (maximum recursion depth exceeded"),
    ),
}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files, _ = write_series(tmp_path_factory.mktemp("good"), slices=3)
    return files[0]


def one_line_about(path: Path, message: str) -> None:
    assert str(path) in message and len(message.splitlines()) == 1 and "Traceback" not in message


@pytest.mark.parametrize("name", CASES)
def test_bad_file_is_skipped_or_indexed_never_raised(tmp_path, good, name):
    make, reason, _ = CASES[name]
    write_series(tmp_path / "fine", slices=2, seed=5)  # the index goes on around the bad file
    bad = tmp_path / name
    bad.write_bytes(make(good))
    with deadline():
        result = index_folder(tmp_path)
    skipped = {s.path: s.reason for s in result.skipped}
    assert len(result.series) >= 1
    if reason is None:
        assert str(bad) not in skipped
        assert str(bad) in result.indexed_files
    else:
        assert skipped[str(bad)].startswith(reason), skipped[str(bad)]
        assert "\n" not in skipped[str(bad)]


@pytest.mark.parametrize("name", CASES)
def test_bad_file_load_raises_project_error_naming_it(tmp_path, good, name):
    make, _, expected = CASES[name]
    bad = tmp_path / name
    bad.write_bytes(make(good))
    with deadline():
        if expected is None:
            assert load_series([bad]).array.shape == (1, 12, 10)
            return
        with pytest.raises(SpondyError) as info:
            load_series([bad])
    kind, fragment = expected
    assert type(info.value) is kind
    assert fragment in str(info.value)
    one_line_about(bad, str(info.value))


def test_truncated_every_37_bytes(tmp_path, good):
    data = good.read_bytes()
    folder = tmp_path / "cut"
    folder.mkdir()
    cuts = {n: folder / f"cut{n:05d}" for n in range(0, len(data), 37)}
    for n, path in cuts.items():
        path.write_bytes(data[:n])
    write_series(tmp_path / "fine", slices=2, seed=5)
    with deadline(30):
        result = index_folder(tmp_path)
    skipped = {s.path: s.reason for s in result.skipped}
    pixels_at = elements(data)[PIXEL_DATA][0] + 12
    for n, path in cuts.items():
        if n >= pixels_at:  # the header is whole: indexed (once: same SOPInstanceUID), refused
            assert str(path) in result.indexed_files or skipped[str(path)].startswith(
                "duplicate of"
            )
        elif n == 0:
            assert skipped[str(path)] == "empty file (0 bytes)"
        elif n < 132:
            assert skipped[str(path)].startswith("not DICOM"), (n, skipped[str(path)])
        else:
            assert skipped[str(path)].startswith(("truncated DICOM", "corrupt")), (
                n,
                skipped[str(path)],
            )
        with deadline(), pytest.raises(SeriesLoadError) as info:
            load_series([path])
        one_line_about(path, str(info.value))


def test_position_nan_in_one_slice_names_that_file(tmp_path):
    files, _ = write_series(tmp_path, orientation=AXIAL, slices=4)
    bad = files[2]
    ds = pydicom.dcmread(bad)
    ds.ImagePositionPatient = ["nan", "nan", "nan"]
    ds.save_as(bad)
    with pytest.raises(SeriesGeometryError, match="ImagePosition") as info:
        load_series(files)
    assert str(bad) in str(info.value)
    row = index_folder(tmp_path).series.iloc[0]
    assert row.num_images == 4 and row.volumes == 0 and row.note


def test_absurd_positions_are_refused(tmp_path):
    positions = [(0.0, 0.0, -1e300), (0.0, 0.0, 0.0), (0.0, 0.0, 1e300)]
    files, _ = write_series(tmp_path, orientation=AXIAL, positions=positions)
    with pytest.raises(SeriesGeometryError, match="out of range"):
        load_series(files)
    assert "out of range" in index_folder(tmp_path).series.note[0]


def test_all_slices_at_one_position(tmp_path):
    files, _ = write_series(tmp_path, orientation=AXIAL, positions=[(0.0, 0.0, 5.0)] * 3)
    with pytest.raises(SeriesGeometryError, match="3 volumes"):
        load_series(files)
    assert load_series(files, stack=1).array.shape == (1, 12, 10)


def test_line_breaks_in_values_stay_out_of_messages(tmp_path):
    files, _ = write_series(tmp_path / "a", slices=1)
    ds = pydicom.dcmread(files[0])
    ds.SOPClassUID = "1\n2.840.10008.5.1.4.1.1.4"
    del ds.Rows
    ds.save_as(files[0])
    with pytest.raises(NotAnImage, match=r"^not an image \(1 2\.840") as info:
        read_header(files[0])
    assert len(str(info.value).splitlines()) == 1
    uid = pydicom.uid.generate_uid()
    files = [
        *write_series(tmp_path / "b", series_uid=uid, extra={"ImageType": "ORIGINAL\r\nM"})[0],
        *write_series(tmp_path / "b", series_uid=uid, extra={"ImageType": "DERIVED"}, seed=2)[0],
    ]
    with pytest.raises(SeriesGeometryError, match="2 volumes") as info:
        load_series(files)
    assert len(str(info.value).splitlines()) == 1


def test_non_latin1_text_goes_to_pydicom(tmp_path):
    files, _ = write_series(
        tmp_path,
        slices=1,
        description="Wirbelsäule T2",
        extra={"SpecificCharacterSet": "ISO_IR 192", "StudyDescription": "脊椎"},
    )
    record = read_header(files[0])
    assert record.series_description == "Wirbelsäule T2"
    assert record.study_description == "脊椎"


# --- not regular files: FIFO, links, folders, permissions -----------------------------------


def test_fifo_is_never_opened(tmp_path):
    write_series(tmp_path / "fine", slices=2)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with deadline(5):
        result = index_folder(tmp_path)
        with pytest.raises(NotAnImage, match=r"not a regular file \(a FIFO\)"):
            read_header(fifo)
        with pytest.raises(SeriesLoadError, match=r"not a regular file \(a FIFO\)") as info:
            load_series([fifo])
    one_line_about(fifo, str(info.value))
    assert {s.path: s.reason for s in result.skipped} == {str(fifo): "not a regular file (a FIFO)"}


def test_symbolic_link_loops(tmp_path):
    files, _ = write_series(tmp_path / "a" / "fine", slices=2)
    (tmp_path / "a" / "again").symlink_to(tmp_path / "a")  # a folder linked into itself
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a" / "self")
    (tmp_path / "a" / "ping").symlink_to(tmp_path / "a" / "pong")
    (tmp_path / "a" / "pong").symlink_to(tmp_path / "a" / "ping")
    (tmp_path / "a" / "gone").symlink_to(tmp_path / "missing")
    with deadline(5):
        result = index_folder(tmp_path)
    assert result.series.num_images.tolist() == [2]
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert reasons == {
        "again": "symbolic link to a folder (not followed)",
        "self": "symbolic link loop",
        "ping": "symbolic link loop",
        "pong": "symbolic link loop",
        "gone": "broken symbolic link",
    }
    with deadline(5), pytest.raises(SeriesLoadError, match="unreadable") as info:
        load_series([tmp_path / "a" / "self"])
    one_line_about(tmp_path / "a" / "self", str(info.value))


def test_folder_given_as_a_file(tmp_path):
    with pytest.raises(NotAnImage, match="unreadable"):
        read_header(tmp_path)
    with pytest.raises(SeriesLoadError, match="unreadable") as info:
        load_series([tmp_path])
    one_line_about(tmp_path, str(info.value))


UNREADABLE_SCRIPT = """
import json, os, sys
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.volume import load_series
folder, fine = sys.argv[1], sys.argv[2]
index_folder(fine)  # warm up: load every module while they can still be read
load_series([os.path.join(fine, f) for f in os.listdir(fine)])
if os.geteuid() == 0:
    try:
        os.setgid(65534)
        os.setuid(65534)  # nobody: chmod 000 now means unreadable
    except PermissionError:
        print(json.dumps({"skip": True}))
        sys.exit()
result = index_folder(folder)
try:
    load_series([os.path.join(folder, "locked")])
    error = None
except Exception as exc:
    error = type(exc).__name__ + ": " + str(exc)
print(json.dumps({"skipped": {s.path: s.reason for s in result.skipped},
                  "series": len(result.rows), "load": error}))
"""


def test_unreadable_file_and_folder():
    """chmod 000 cannot stop root: as root, the index runs in a subprocess as user nobody."""
    base = Path(tempfile.mkdtemp(prefix="spondy-unreadable-"))  # /tmp: nobody may enter it
    try:
        base.chmod(0o755)
        write_series(base / "fine", slices=2)
        good = next((base / "fine").iterdir())
        (base / "locked").write_bytes(good.read_bytes())
        (base / "closed").mkdir()
        write_series(base / "closed", slices=2, seed=3)
        for p in [base, *base.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        (base / "locked").chmod(0)
        (base / "closed").chmod(0)
        out = subprocess.run(
            [sys.executable, "-c", UNREADABLE_SCRIPT, str(base), str(base / "fine")],
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
    finally:
        for p in (base / "locked", base / "closed"):
            p.chmod(0o755)
        shutil.rmtree(base)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    if report.get("skip"):
        pytest.skip("running as root without the right to switch to user nobody")
    assert report["series"] == 1
    assert report["skipped"] == {
        str(base / "locked"): "unreadable (Permission denied)",
        str(base / "closed"): "folder unreadable (Permission denied)",
    }
    assert report["load"] == f"SeriesLoadError: {base / 'locked'}: unreadable (Permission denied)"


# --- the command line on the whole corpus ------------------------------------------------------


def test_cli_index_on_bad_corpus_exits_0_with_skip_list(tmp_path):
    root = tmp_path / "export"
    write_series(root / "fine", slices=3, seed=7)
    for name, (make, _, _) in CASES.items():
        source, _ = write_series(tmp_path / "sources" / name, slices=1)  # its own UIDs
        (root / name).write_bytes(make(source[0]))
    os.mkfifo(root / "pipe")
    (root / "loop").symlink_to(root)
    (root / "self").symlink_to(root / "self")
    command = [sys.executable, "-m", "spondy_annotate", "index"]
    out = subprocess.run([*command, str(root)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    listed = out.stdout.split("skipped:\n", 1)[1].splitlines()
    expected = {name for name, (_, reason, _) in CASES.items() if reason is not None}
    expected |= {"pipe", "loop", "self"}
    assert {line.strip().split(": ", 1)[0].rsplit("/", 1)[-1] for line in listed} == expected
    assert f"  {root / 'pipe'}: not a regular file (a FIFO)" in listed
    data = json.loads(
        subprocess.run(
            [*command, str(root), "--json"], capture_output=True, text=True, timeout=120
        ).stdout
    )
    assert {Path(s["path"]).name for s in data["skipped"]} == expected
