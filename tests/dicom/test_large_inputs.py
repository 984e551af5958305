"""Large inputs: 20,000 files index in bounded memory, an oversized series loads lazily, a
corrupt length never makes a reader allocate what the file cannot hold, junk is told from its
first bytes and a deflate bomb stops at the inflate limit."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import AXIAL, write_enhanced, write_series
from guards import deadline

from spondy_annotate.dicom import pixels as pixels_module
from spondy_annotate.dicom import volume as volume_module
from spondy_annotate.dicom._deflate import MAX_INFLATED_BYTES
from spondy_annotate.dicom.headers import NotAnImage, read_header
from spondy_annotate.dicom.volume import LAZY_THRESHOLD_BYTES, load_series
from spondy_annotate.errors import SeriesLoadError

da = pytest.importorskip("dask.array")

SERIES, SLICES = 200, 100  # 20,000 files
MAX_RSS_MB = 500

INDEX_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from spondy_annotate.dicom.index import index_folder
result = index_folder(sys.argv[1])
table = result.series
print(json.dumps({
    "seconds": time.perf_counter() - start,
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking (pytest) process
    "max_rss_mb": int(next(l.split()[1] for l in open("/proc/self/status")
                           if l.startswith("VmHWM:"))) / 1024,
    "series": len(table),
    "images": sorted(set(table.num_images)),
    "volumes": sorted(set(table.volumes)),
    "spacing": sorted(set(table.slice_spacing)),
    "skipped": len(result.skipped),
}))
"""


def make_export(root: Path) -> None:
    """Write SERIES x SLICES tiny files by patching one template's UIDs and position in place."""
    template, _ = write_series(
        root / "template",
        slices=1,
        shape=(2, 2),
        orientation=AXIAL,
        series_uid="1.2.826.0.1.3680043.8.498.2.922222222222",
        positions=[("0.0", "0.0", "77777.77")],
        extra={"SOPInstanceUID": "1.2.826.0.1.3680043.8.498.1.911111111111"},
    )
    ds = pydicom.dcmread(template[0])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(template[0], enforce_file_format=True)
    data = template[0].read_bytes()
    template[0].unlink()
    (root / "template").rmdir()
    assert data.count(b"911111111111") == 2 and data.count(b"922222222222") == 1
    for s in range(SERIES):
        folder = root / f"S{s:03d}"
        folder.mkdir()
        series = data.replace(b"922222222222", b"9%011d" % s)
        for k in range(SLICES):
            one = series.replace(b"911111111111", b"9%011d" % (s * SLICES + k))
            (folder / f"IM{k:05d}").write_bytes(one.replace(b"77777.77", b"%08.2f" % (4.0 * k)))


@pytest.mark.slow
def test_twenty_thousand_files_index_in_bounded_memory(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    make_export(root)
    assert sum(1 for _ in root.rglob("IM*")) == SERIES * SLICES
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT, str(root)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    print(f"\n20,000 files: {report} (with start-up: {time.perf_counter() - start:.1f} s)")
    assert report["series"] == SERIES and report["skipped"] == 0
    assert report["images"] == [SLICES] and report["volumes"] == [1]
    assert report["spacing"] == [4.0]
    assert report["max_rss_mb"] < MAX_RSS_MB


# --- lazy loading ------------------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch):
    """Every file whose pixels the loader reads, in order."""
    seen: list[str] = []
    original = pixels_module.read_pixels

    def counting(path, header):
        seen.append(Path(path).name)
        return original(path, header)

    monkeypatch.setattr(pixels_module, "read_pixels", counting)
    return seen


def test_lazy_above_threshold_reads_only_computed_slices(tmp_path, monkeypatch, reads):
    files, values = write_series(tmp_path, slices=6, window=None)
    eager = load_series(files, lazy=False)
    reads.clear()
    monkeypatch.setattr(volume_module, "LAZY_THRESHOLD_BYTES", 6 * 12 * 10 * 4 - 1)
    vol = load_series(files)  # automatic: just above the threshold
    assert isinstance(vol.array, da.Array)
    assert vol.array.shape == (6, 12, 10) and vol.array.dtype == np.float32
    middle = reads.copy()
    assert len(middle) == 1  # no DICOM window: the percentiles of the middle slice
    np.testing.assert_array_equal(vol.array[4].compute(), eager.array[4])
    assert len(reads) == 2 and reads[1] not in middle
    np.testing.assert_array_equal(np.asarray(vol.array), eager.array)
    np.testing.assert_array_equal(eager.array, values.astype(np.float32))
    assert vol.spacing == eager.spacing and vol.origin == eager.origin
    np.testing.assert_array_equal(vol.direction, eager.direction)
    assert vol.metadata == eager.metadata
    lo, hi = np.percentile(eager.array[3], [0.5, 99.5])
    assert vol.window == pytest.approx(((lo + hi) / 2, hi - lo))


def test_lazy_with_dicom_window_reads_nothing_up_front(tmp_path, reads):
    files, _ = write_series(tmp_path, slices=5, slope=2.0, intercept=-10.0)
    vol = load_series(files, lazy=True)
    assert reads == []
    assert vol.window == (500.0, 1000.0)
    np.testing.assert_array_equal(vol.array.compute(), load_series(files, lazy=False).array)
    assert len(reads) == 5 + 5


def test_below_threshold_is_eager_and_lazy_false_forces_it(tmp_path, monkeypatch):
    files, _ = write_series(tmp_path, slices=3)
    assert isinstance(load_series(files).array, np.ndarray)
    monkeypatch.setattr(volume_module, "LAZY_THRESHOLD_BYTES", 0)
    assert isinstance(load_series(files, lazy=False).array, np.ndarray)
    assert isinstance(load_series(files).array, da.Array)


@pytest.mark.parametrize("kind", ["enhanced", "monochrome1", "4d"])
def test_lazy_equals_eager(tmp_path, kind):
    stack = None
    if kind == "enhanced":
        write_enhanced(tmp_path / "e", slopes=[1, 2, 3, 4, 5, 6], frame_order=[3, 0, 5, 1, 4, 2])
        files = [tmp_path / "e"]
    elif kind == "monochrome1":
        files, _ = write_series(tmp_path, photometric="MONOCHROME1")
    else:
        uid = pydicom.uid.generate_uid()
        files = []
        for t in range(2):
            files += write_series(
                tmp_path, series_uid=uid, seed=t, extra={"TemporalPositionIdentifier": t + 1}
            )[0]
        stack = 1
    eager = load_series(files, stack=stack, lazy=False)
    vol = load_series(files, stack=stack, lazy=True)
    assert isinstance(vol.array, da.Array)
    np.testing.assert_array_equal(vol.array.compute(), eager.array)
    assert vol.spacing == eager.spacing and vol.origin == eager.origin
    if kind != "enhanced":  # no DICOM window there: lazily, the middle slice's percentiles
        assert vol.window == eager.window


def test_lazy_error_names_the_file_when_the_slice_is_computed(tmp_path):
    files, _ = write_series(tmp_path, orientation=AXIAL, slices=4, shuffle=False)
    files[2].write_bytes(files[2].read_bytes()[:-50])  # header intact, pixels cut
    vol = load_series(files, lazy=True)
    assert vol.array[1].compute().shape == (12, 10)
    with pytest.raises(SeriesLoadError, match="the file ends inside its pixel data") as info:
        vol.array[2].compute()
    assert str(files[2]) in str(info.value)
    with pytest.raises(SeriesLoadError, match="the file ends inside its pixel data"):
        load_series(files, lazy=False)


def oversized_series(folder: Path, slices: int, side: int) -> list[Path]:
    """Files whose headers declare ``side`` x ``side`` 16-bit images, kept sparse on disk."""
    files, _ = write_series(folder, orientation=AXIAL, slices=slices, shape=(2, 1))
    for path in files:
        ds = pydicom.dcmread(path)
        ds.Rows = ds.Columns = side
        ds.save_as(path)
        data = path.read_bytes()
        assert data[-16:-8] == b"\xe0\x7f\x10\x00OW\x00\x00"  # pixel data: the last element
        length = side * side * 2
        path.write_bytes(data[:-8] + struct.pack("<I", length) + data[-4:])
        os.truncate(path, len(data) - 4 + length)  # a hole: no disk space, reads as zeros
    return files


def test_oversized_series_is_lazy_by_default(tmp_path, reads):
    side = 16384  # 512 MiB per slice: 2 slices are 2 GiB of float32
    files = oversized_series(tmp_path, 2, side)
    assert 2 * side * side * 4 > LAZY_THRESHOLD_BYTES
    tracemalloc.start()
    try:
        vol = load_series(files)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(vol.array, da.Array) and vol.array.shape == (2, side, side)
    assert reads == [] and peak < 20 * 2**20


# --- corrupt lengths ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["meta", "data set", "pixel data"])
def test_corrupt_length_never_allocates_gigabytes(tmp_path, where):
    files, _ = write_series(tmp_path, slices=1)
    data = bytearray(files[0].read_bytes())
    if where == "meta":  # (0002,0001) OB: a 4-byte length
        at = data.index(b"\x02\x00\x01\x00OB") + 8
    elif where == "data set":  # (0008,0016) SOP Class UID turned into UT claiming 4 GB
        at = data.index(b"\x08\x00\x16\x00UI")
        data[at + 4 : at + 8] = b"UT\x00\x00"
        at += 8
    else:
        at = data.index(b"\xe0\x7f\x10\x00OW") + 8
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)
    files[0].write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with contextlib.suppress(NotAnImage):
            read_header(files[0])
        with contextlib.suppress(SeriesLoadError):
            load_series(files)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MiB"


# --- junk and deflate bombs ---------------------------------------------------------------------


def sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of ``size`` bytes starting with ``head``, the rest a hole (zeros, no disk space)."""
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def test_junk_is_told_from_its_first_bytes(tmp_path):
    """Zero-filled, random and marker-then-zeros files of 3 GB: skipped at once, in little
    memory (before: 0.3-0.8 s per MB read, and 3 GB of memory)."""
    files, _ = write_series(tmp_path / "good", slices=1)
    data = files[0].read_bytes()
    meta_end = 144 + struct.unpack_from("<I", data, 140)[0]
    pixels_at = data.index(b"\xe0\x7f\x10\x00")
    size = 3 * 2**30
    junk = {
        "zeros": sparse(tmp_path / "zeros.img", b"", size),
        "random": sparse(tmp_path / "random.bin", np.random.default_rng(0).bytes(4096), size),
        "meta_then_zeros": sparse(tmp_path / "meta0", data[:meta_end], size),
        "header_then_zeros": sparse(tmp_path / "head0", data[:pixels_at], size),
    }
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with deadline(20):
            reasons = {}
            for name, path in junk.items():
                with pytest.raises(NotAnImage) as info:
                    read_header(path)
                reasons[name] = str(info.value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2 and peak < 20 * 2**20, reasons
    assert reasons["zeros"].startswith("not DICOM") and reasons["random"].startswith("not DICOM")
    assert reasons["meta_then_zeros"] == "corrupt DICOM: zeros where the data set should begin"
    assert reasons["header_then_zeros"].startswith("corrupt DICOM: a command element (0000,0000)")


def deflate_bomb(path: Path, gigabytes: int) -> Path:
    """A valid deflated header whose pixel data element claims 4 GB: ``gigabytes`` of zeros,
    deflated to about a thousandth of that."""
    import zlib

    files, _ = write_series(path.parent / "src", slices=1)
    ds = pydicom.dcmread(files[0])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    ds.save_as(files[0], enforce_file_format=True)
    data = files[0].read_bytes()
    meta_end = 144 + struct.unpack_from("<I", data, 140)[0]
    plain = zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)
    header = plain[: plain.index(b"\xe0\x7f\x10\x00OW")] + b"\xe0\x7f\x10\x00OW\x00\x00"
    packer = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = packer.compress(header + struct.pack("<I", 0xFFFFFFF0))
    zeros = bytes(2**24)
    body += b"".join(packer.compress(zeros) for _ in range(gigabytes * 64)) + packer.flush()
    path.write_bytes(data[:meta_end] + body)
    return path


def test_deflate_bomb_is_refused_in_bounded_memory(tmp_path):
    """5 MB inflating to 1 GB: the header is read (it ends before the pixel data), loading stops
    at the limit (before: 1 GB and more of memory)."""
    bomb = deflate_bomb(tmp_path / "bomb.dcm", 1)
    assert bomb.stat().st_size < 8 * 2**20
    tracemalloc.start()
    try:
        with deadline(60):
            assert read_header(bomb).transfer_syntax == "1.2.840.10008.1.2.1.99"
            header_peak = tracemalloc.get_traced_memory()[1]
            with pytest.raises(SeriesLoadError) as info:
                load_series([bomb])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{bomb}: the deflated data set inflates to more than {MAX_INFLATED_BYTES:,} bytes, "
        "the limit per file (a deflate bomb?)"
    )
    assert header_peak < 20 * 2**20
    assert peak < 1.5 * MAX_INFLATED_BYTES, f"{peak / 2**20:.0f} MiB"
