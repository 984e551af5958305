"""How indexing grows with the export: time per file and peak memory at 10k, 50k and 100k files.

Builds (or reuses) exports of small DICOM files in ``--work`` (default ``/tmp/spondy_scaling``):
32 x 32 MR slices, 5 per series, 10 series per study, 2 studies per patient, in nested folders
as a PACS writes them, plus a README and an empty file. The files are written from one
template whose UIDs, position and numbers are patched in place, so 100,000 files take seconds.

For each size, ``spondy-annotate index EXPORT --json`` runs as a whole process, first on the
fresh export (no project database yet), then re-opening it unchanged; printed are the wall
time, the time per file and the peak resident memory of the largest process of the run
(``ru_maxrss`` of the child as :func:`os.wait4` reports it: the index process, or a header
worker if one grew larger).

Usage: ``python benchmarks/index_scaling.py [--sizes 10000 50000 100000] [--work DIR]``.
Nothing is asserted; the issue's targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "spondy_annotate"]
SLICES = 5
SERIES_PER_STUDY = 10
STUDIES = 2
SIZE = 32
#: Placeholders in the template (even lengths, as DICOM values are) and their widths.
FIELDS = {
    "patient": ("PAT0000000", "PAT{:07d}"),
    "study": ("1.2.826.0.1.3680043.8.498.10000000000", "1.2.826.0.1.3680043.8.498.1{:010d}"),
    "series": ("1.2.826.0.1.3680043.8.498.20000000000", "1.2.826.0.1.3680043.8.498.2{:010d}"),
    "instance": ("1.2.826.0.1.3680043.8.498.30000000000", "1.2.826.0.1.3680043.8.498.3{:010d}"),
    "series_number": ("7771", "{:04d}"),
    "instance_number": ("8881", "{:04d}"),
    "z": ("0\\0\\0000.00", "0\\0\\{:07.2f}"),
}


def _template() -> tuple[bytes, dict[str, list[int]]]:
    """One file's bytes and the offsets of each placeholder."""
    import io

    import numpy as np
    from pydicom import dcmwrite
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = FIELDS["instance"][0]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = FIELDS["instance"][0]
    ds.StudyDate, ds.StudyTime = "20240115", "101500"
    ds.Modality = "MR"
    ds.StudyDescription = "MRI SPINE"
    ds.SeriesDescription = "SAG T2 TSE"
    ds.PatientName = "SCALING^TEST"
    ds.PatientID = FIELDS["patient"][0]
    ds.ScanningSequence, ds.SequenceVariant = "SE", "SK"
    ds.SliceThickness, ds.RepetitionTime, ds.EchoTime = "4", "3500", "100"
    ds.StudyInstanceUID = FIELDS["study"][0]
    ds.SeriesInstanceUID = FIELDS["series"][0]
    ds.SeriesNumber = FIELDS["series_number"][0]
    ds.InstanceNumber = FIELDS["instance_number"][0]
    ds.ImagePositionPatient = FIELDS["z"][0].split("\\")
    ds.ImageOrientationPatient = ["0", "1", "0", "0", "0", "-1"]
    ds.FrameOfReferenceUID = FIELDS["study"][0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = SIZE
    ds.PixelSpacing = ["0.8", "0.8"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(SIZE * SIZE, dtype="<u2").tobytes()
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    data = buf.getvalue()
    offsets: dict[str, list[int]] = {}
    for name, (placeholder, _) in FIELDS.items():
        raw, start = placeholder.encode(), 0
        while (at := data.find(raw, start)) >= 0:
            offsets.setdefault(name, []).append(at)
            start = at + len(raw)
    return data, offsets


def build_export(folder: Path, files: int) -> Path:
    """Write an export of ``files`` DICOM files (a multiple of 5) into ``folder``, once."""
    done = folder.with_name(folder.name + ".done")
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"writing {files} files in {folder} ...", flush=True)
    start = time.perf_counter()
    data, offsets = _template()
    series_total = files // SLICES
    per_patient = SERIES_PER_STUDY * STUDIES
    for s in range(series_total):
        patient, within = divmod(s, per_patient)
        study = patient * STUDIES + within // SERIES_PER_STUDY
        number = within % SERIES_PER_STUDY + 1
        out = folder / f"P{patient:05d}" / f"ST{study % STUDIES}" / f"SE{number:02d}"
        out.mkdir(parents=True)
        buf = bytearray(data)
        series = {"patient": patient, "study": study, "series": s, "series_number": number}
        for n in range(SLICES):
            values = {**series, "instance": s * SLICES + n, "instance_number": n + 1, "z": 4.0 * n}
            for name, value in values.items():
                text = FIELDS[name][1].format(value).encode()
                for at in offsets[name]:
                    buf[at : at + len(text)] = text
            (out / f"IM{n:04d}").write_bytes(buf)
    (folder / "README.TXT").write_text("scaling benchmark export\n")
    (folder / "EMPTY").write_bytes(b"")
    done.write_text(f"{files}\n")
    print(f"  written in {time.perf_counter() - start:.1f} s", flush=True)
    return folder


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return its wall time (s) and the peak RSS of its largest process (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(
            f"{cmd} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
        )
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "spondy_scaling")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    results = []
    for files in args.sizes:
        export = build_export(args.work / f"export_{files}", files)
        db = Path(tempfile.mkdtemp()) / "project.sqlite"
        cmd = [*CLI, "index", str(export), "--json", "--cache", str(db)]
        fresh, fresh_rss = run_measured(cmd)
        again, again_rss = run_measured(cmd)
        shutil.rmtree(db.parent)
        results.append((files, fresh, fresh_rss, again, again_rss))
    print(
        f"\n{'files':>8} {'fresh':>8} {'per file':>10} {'peak RSS':>9}"
        f" {'re-open':>8} {'per file':>10} {'peak RSS':>9}"
    )
    for files, fresh, fresh_rss, again, again_rss in results:
        print(
            f"{files:8d} {fresh:7.2f}s {fresh / files * 1e6:8.1f}us {fresh_rss:7.0f}MB"
            f" {again:7.2f}s {again / files * 1e6:8.1f}us {again_rss:7.0f}MB"
        )
    first = results[0][1] / results[0][0]
    growth = ", ".join(f"{r[0]}: {r[1] / r[0] / first - 1:+.0%}" for r in results[1:])
    print(
        f"\nfresh index, time per file against the smallest export's: {growth}"
        " (target: at most +20%); peak RSS target: under 400 MB at 100,000 files"
    )


if __name__ == "__main__":
    main()
