"""Indexing an export that is mostly junk: 1 GB of non-DICOM files beside one small series.

Builds (or reuses) ``--work`` (default ``/tmp/spondy_junk``): one 5-slice MR series and
``--megabytes`` (default 1024) of junk in 16 MiB files, a quarter each of zero-filled files, random
bytes, a ``DICM`` preamble followed by zeros, and text; plus one 3 GiB zero-filled file (sparse:
it takes no disk space but reads as 3 GiB of zeros). The index runs as a whole process without a
cache (every header is read); printed are the wall time, the peak resident memory (``VmHWM``)
and the skip reasons, beside the targets of issue 16 (under 5 s, under 300 MB).

Usage: ``python benchmarks/junk_index.py [--megabytes 1024] [--work DIR]``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

FILE_MB = 16
KINDS = ("zeros", "random", "dicm_then_zeros", "text")
INDEX = """
import json, sys, time
start = time.perf_counter()
from spondy_annotate.dicom.index import index_folder
result = index_folder(sys.argv[1])
seconds = time.perf_counter() - start
hwm = next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_mb": int(hwm) / 1024,
                  "series": len(result.rows), "reasons": [s.reason for s in result.skipped]}))
"""


def junk_bytes(kind: str, size: int, seed: int) -> bytes | None:
    """The content of one junk file (None: zero-filled, written as a hole)."""
    import numpy as np

    if kind == "random":
        return np.random.default_rng(seed).bytes(size)
    if kind == "text":
        line = b"Patient exported on CD. See the viewer on this disc for the images.\n"
        return (line * (size // len(line) + 1))[:size]
    if kind == "dicm_then_zeros":
        return b"\0" * 128 + b"DICM"
    return None


def build(work: Path, megabytes: int) -> Path:
    """The export folder (made once; reused while its size matches)."""
    export, done = work / f"export_{megabytes}mb", work / f"export_{megabytes}mb.done"
    if done.exists():
        return export
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from dicom_factory import write_series

    write_series(export / "series", slices=5)
    size = FILE_MB * 2**20
    for i in range(megabytes // FILE_MB):
        kind = KINDS[i % len(KINDS)]
        path = export / "junk" / f"{kind}_{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        content = junk_bytes(kind, size, i)
        path.write_bytes(content or b"")
        os.truncate(path, size)
    big = export / "junk" / "disk_image.img"
    big.write_bytes(b"")
    os.truncate(big, 3 * 2**30)
    done.write_text("")
    return export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024, help="junk to index (MiB)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spondy_junk"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    export = build(args.work, args.megabytes)
    files = sum(1 for p in export.rglob("*") if p.is_file())
    on_disk = sum(p.stat().st_size for p in export.rglob("*") if p.is_file()) / 2**20
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", INDEX, str(export)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    report = json.loads(out.stdout)
    print(f"export: {files} files, {on_disk:,.0f} MiB (junk: {args.megabytes} MiB + a 3 GiB file)")
    print(f"index (in process): {report['seconds']:.2f} s   target < 5 s")
    print(f"whole process (start-up included): {wall:.2f} s")
    print(f"peak RSS: {report['peak_rss_mb']:.0f} MB   target < 300 MB")
    print(f"series: {report['series']}")
    for reason, n in Counter(report["reasons"]).most_common():
        print(f"  {n:4d} x {reason}")


if __name__ == "__main__":
    main()
