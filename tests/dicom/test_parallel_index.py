"""Headers read in worker processes give exactly what one process gives (nothing timed)."""

import os
import shutil
import threading

import pytest
from dicom_factory import write_enhanced, write_series
from pydicom.data import get_testdata_file

from spondy_annotate.dicom.index import HeaderRecord, SkippedFile, index_folder, iter_headers
from spondy_annotate.synthetic.export import generate_export


@pytest.fixture(scope="module")
def junk_export(tmp_path_factory):
    """A synthetic export (with its junk) plus broken files, a DICOMDIR, an Enhanced MR, a
    duplicate and a FIFO, spread so that every worker gets some of each."""
    root = tmp_path_factory.mktemp("parallel") / "export"
    generate_export(root, patients=3, rows=32, columns=32, slices=4, seed=11)
    (root / "enhanced").mkdir()
    write_enhanced(root / "enhanced" / "ENH0001", patient_id="P9", frames=4)
    files, _ = write_series(root / "extra", patient_id="P8", slices=3, seed=4)
    good = files[0].read_bytes()
    for n, folder in enumerate(sorted(p for p in root.rglob("*") if p.is_dir())):
        (folder / f"TRUNC{n}").write_bytes(good[: 200 + 40 * n])
        (folder / f"NOTES{n}.TXT").write_text(f"note {n}\n")
    shutil.copy(get_testdata_file("DICOMDIR"), root / "DICOMDIR")
    shutil.copy(files[1], root / "enhanced" / "DUPLICATE")
    os.mkfifo(root / "pipe")
    return root


def test_parallel_and_serial_scans_are_identical(junk_export):
    serial = index_folder(junk_export, workers=1)
    assert len(serial.rows) == 20 and len(serial.skipped) >= 20
    reasons = {s.reason.split(" (")[0] for s in serial.skipped}
    assert {"empty file", "not DICOM", "not a regular file", "DICOMDIR"} <= reasons
    assert any(s.reason.startswith("duplicate of") for s in serial.skipped)
    assert any(s.reason.startswith("truncated DICOM") for s in serial.skipped)
    for workers in (2, 3):
        parallel = index_folder(junk_export, workers=workers)
        assert parallel.rows == serial.rows
        assert parallel.skipped == serial.skipped  # same files, same reasons, same order
        assert parallel.series.equals(serial.series)
        assert parallel.headers_read == serial.headers_read


def test_parallel_fresh_index_writes_the_same_cache(junk_export, tmp_path):
    serial = index_folder(junk_export, cache=tmp_path / "serial.sqlite", workers=1)
    parallel = index_folder(junk_export, cache=tmp_path / "parallel.sqlite", workers=2)
    assert (parallel.rows, parallel.skipped) == (serial.rows, serial.skipped)
    again = index_folder(junk_export, cache=tmp_path / "parallel.sqlite", workers=2)
    assert again.headers_read == 0
    assert (again.rows, again.skipped) == (serial.rows, serial.skipped)


def _read(paths, workers):
    return [record for batch in iter_headers(paths, workers=workers) for record in batch]


def test_headers_come_in_the_order_of_the_paths(junk_export):
    paths = sorted(os.fspath(p) for p in junk_export.rglob("*") if p.is_file())[::-1]
    serial = _read(paths, workers=1)
    parallel = _read(paths, workers=2)
    assert [r.path for r in parallel] == paths
    assert parallel == serial
    assert {type(r) for r in parallel} == {HeaderRecord, SkippedFile}
    assert len(list(iter_headers(paths, workers=2))) >= 8  # batches: at least 4 per worker


def test_workers_from_a_thread_as_in_the_viewer(junk_export):
    """The viewer indexes in a worker thread: the workers are then started without fork."""
    serial = index_folder(junk_export, workers=1)
    found = []
    thread = threading.Thread(target=lambda: found.append(index_folder(junk_export, workers=2)))
    thread.start()
    thread.join(timeout=120)
    assert found and (found[0].rows, found[0].skipped) == (serial.rows, serial.skipped)


def test_progress_reaches_the_total_in_parallel(junk_export):
    calls = []
    result = index_folder(junk_export, workers=2, progress=lambda *args: calls.append(args))
    files = len(result.indexed_files) + len(result.skipped) - 1  # the FIFO is never read
    assert len(calls) >= 8 and calls[-1] == (files, files)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
