"""spondy_annotate against SimpleITK and plain pydicom, on the same files, in one run.

Generates (or reuses) a large synthetic export and prints, side by side with ratios:

* indexing a fresh copy of the export, whole process (start-up and imports included):
  ``spondy-annotate index --json`` vs plain ``pydicom.dcmread(stop_before_pixels=True)`` of every
  file vs SimpleITK's GDCM series scan per folder, with reading each file's first 2 KiB as the
  floor, and the same index with its headers read in one process;
* re-opening the unchanged export (index cache) with ``--json``, ``--csv`` and the table, and
  after a few files changed; and the viewer's re-open (``open_export`` in process, as the napari
  plugin calls it);
* loading one 30-slice series: spondy_annotate vs SimpleITK ``ImageSeriesReader.Execute`` vs plain
  pydicom, with reading the files' bytes as the floor;
* the viewer's time to the first case and case-switch time, and memory while switching through
  20 cases (``viewer_timing.py``, under Xvfb when there is no display).

Usage: ``python benchmarks/run_benchmarks.py [--patients 50] [--size 384] [--work DIR]``.
Timings are best-of-N wall-clock seconds; nothing is asserted.
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

HERE = Path(__file__).resolve().parent
PY = sys.executable
CLI = [PY, "-m", "spondy_annotate"]

FLOOR = """
import os, sys
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        with open(os.path.join(d, f), 'rb') as fp:
            fp.read(2048)
"""
PLAIN_PYDICOM = """
import os, sys, pydicom
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        try:
            pydicom.dcmread(os.path.join(d, f), stop_before_pixels=True)
        except Exception:
            pass
"""
SITK_SCAN = """
import os, sys, SimpleITK as sitk
for d, _, fs in os.walk(sys.argv[1]):
    if fs:
        for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(d):
            sitk.ImageSeriesReader.GetGDCMSeriesFileNames(d, uid)
"""

ONE_PROCESS = """
import sys
from spondy_annotate.dicom.index import index_folder
index_folder(sys.argv[1], cache=sys.argv[2], workers=1)
"""

START_UP = """
from spondy_annotate.cli import build_parser
import spondy_annotate.cli.index_cmd, spondy_annotate.cases.open
build_parser()
"""


def timed(cmd: list[str], repeat: int, before=None) -> float:
    """Best wall-clock time of ``cmd`` (a whole process) over ``repeat`` runs."""
    return timed_rounds({"": (cmd, before)}, repeat)[""]


def timed_rounds(commands: dict, repeat: int) -> dict[str, float]:
    """Best wall-clock time of each ``{name: (cmd, before)}`` over ``repeat`` rounds, each round
    running every command once in turn, so that work elsewhere on the machine falls on all of
    them alike (``before``, if not None, runs untimed before each run of its command)."""
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(repeat):
        for name, (cmd, before) in commands.items():
            if before:
                before()
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def best_of(fn, repeat: int) -> float:
    """Best in-process time of ``fn()``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, seconds: float, ours: float | None = None) -> None:
    ratio = f"{seconds / ours:6.2f}x" if ours else "       "
    print(f"  {label:56} {seconds * 1000:10.1f} ms  {ratio}")


def make_export(work: Path, patients: int, size: int, slices: int) -> Path:
    from spondy_annotate.synthetic.export import generate_export

    export = work / f"export_{patients}p_{size}px_{slices}sl"
    if (export / "truth.csv").exists():
        return export
    shutil.rmtree(export, ignore_errors=True)
    print(f"generating {patients} patients x 2 studies x 4 series x {slices} slices "
          f"of {size}x{size} in {export} ...", flush=True)
    start = time.perf_counter()
    generate_export(export, patients=patients, rows=size, columns=size, slices=slices,
                    axial=True, seed=1)
    print(f"  generated in {time.perf_counter() - start:.0f} s", flush=True)
    return export


def fresh_copy(export: Path, work: Path) -> Path:
    """A copy of ``export`` that no project database has seen (new paths, new mtimes)."""
    copy = work / f"{export.name}_copy"
    shutil.rmtree(copy, ignore_errors=True)
    for p in copy.parent.glob(f"{copy.name}.spondy.sqlite*"):
        p.unlink()
    shutil.copytree(export, copy)
    return copy


def bench_index(export: Path, work: Path, repeat: int) -> None:
    export = fresh_copy(export, work)
    files = sum(len(f) for _, _, f in os.walk(export))
    print(
        f"\nIndexing a fresh copy of the export, {files} files (whole process, best of "
        f"{repeat} rounds of all five in turn; ratio = peer / spondy_annotate)"
    )
    print(f"load average (1 min) at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    cache = Path(tempfile.mkdtemp()) / "project.sqlite"
    index = [*CLI, "index", str(export), "--cache", str(cache)]

    def drop_cache() -> None:
        for p in cache.parent.glob("project.sqlite*"):
            p.unlink()

    fresh = timed_rounds(
        {
            "ours": ([*index, "--json"], drop_cache),
            "plain": ([PY, "-c", PLAIN_PYDICOM, str(export)], None),
            "sitk": ([PY, "-c", SITK_SCAN, str(export)], None),
            "floor": ([PY, "-c", FLOOR, str(export)], None),
            "serial": ([PY, "-c", ONE_PROCESS, str(export), str(cache)], drop_cache),
        },
        repeat,
    )
    ours, plain, sitk = fresh["ours"], fresh["plain"], fresh["sitk"]
    row("spondy_annotate index --json (fresh)", ours)
    row("plain pydicom dcmread(stop_before_pixels)", plain, ours)
    row("SimpleITK GDCM series scan", sitk, ours)
    row("floor: read first 2 KiB of each file", fresh["floor"], ours)
    row("index_folder(workers=1): headers read in 1 process", fresh["serial"], ours)

    print("\nRe-opening the unchanged export (index cache in the project database)")
    timed([*index, "--json"], 1)
    again = timed([*index, "--json"], repeat)
    row("spondy_annotate index --json (unchanged)", again)
    row("SimpleITK GDCM series scan", sitk, again)
    row("spondy_annotate index --csv (unchanged)", timed([*index, "--csv"], repeat), again)
    row("spondy_annotate index (table, unchanged)", timed(index, repeat), again)
    row("floor: start-up (python, imports, parser)", timed([PY, "-c", START_UP], repeat), again)
    changed = sorted(p for p in export.rglob("*") if p.is_file())[::300]
    now = time.time_ns()
    for n, p in enumerate(changed):
        os.utime(p, ns=(now + n, now + n))  # "modified": new times, same content
    after = timed([*index, "--json"], 1)
    row(f"spondy_annotate index --json ({len(changed)} files changed)", after)
    row("SimpleITK GDCM series scan", sitk, after)
    shutil.rmtree(cache.parent)

    print("\nThe viewer re-opening the unchanged export (in process, as the napari plugin calls it)")
    from spondy_annotate.cases.open import open_export

    open_export(export)  # the project database beside the export, as in the viewer
    viewer = best_of(lambda: open_export(export), repeat)
    row("open_export(folder) (unchanged, in process)", viewer)
    row("spondy_annotate index --json (unchanged, whole process)", again, viewer)
    row("SimpleITK GDCM series scan", sitk, viewer)
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"ratios: fresh index {plain / ours:.2f}x plain pydicom (target >= 3), "
          f"{sitk / ours:.2f}x SimpleITK (target >= 4); re-open --json {sitk / again:.1f}x "
          f"SimpleITK (target >= 30); viewer re-open {viewer * 1000:.0f} ms")


def bench_load(work: Path, size: int, repeat: int) -> None:
    import numpy as np
    import pydicom
    import SimpleITK as sitk

    from spondy_annotate.dicom.index import index_folder
    from spondy_annotate.dicom.volume import load_series

    export = make_export(work, 1, size, 30)
    row0 = next(r for r in index_folder(export, cache=None).rows if r["num_images"] == 30)
    files = row0["files"]
    folder = os.path.dirname(files[0])
    print(f"\nLoading one {len(files)}-slice {size}x{size} series (in process)")

    def plain() -> np.ndarray:
        dss = [pydicom.dcmread(f) for f in files]
        normal = np.cross(*np.reshape(np.asarray(dss[0].ImageOrientationPatient, float), (2, 3)))
        dss.sort(key=lambda d: float(np.dot(normal, np.asarray(d.ImagePositionPatient, float))))
        return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])

    def simpleitk() -> object:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, row0["series_instance_uid"]))
        return reader.Execute()

    def raw() -> None:
        for f in files:
            with open(f, "rb") as fp:
                fp.read()

    ours = best_of(lambda: load_series(files), repeat)
    row("spondy_annotate load_series", ours)
    row("SimpleITK ImageSeriesReader.Execute", best_of(simpleitk, repeat), ours)
    row("plain pydicom (read, sort, stack, rescale)", best_of(plain, repeat), ours)
    row("floor: read the files' bytes", best_of(raw, repeat), ours)
    same = np.allclose(load_series(files).array, sitk.GetArrayFromImage(simpleitk()))
    print(f"  same voxels as SimpleITK: {same}")


def bench_viewer(work: Path) -> None:
    script = HERE / "viewer_timing.py"
    if not script.exists():
        print("\n(viewer timing skipped: benchmarks/viewer_timing.py not found)")
        return
    export = work / "viewer_export_20p"
    if not (export / "truth.csv").exists():
        from spondy_annotate.synthetic.export import generate_export

        shutil.rmtree(export, ignore_errors=True)
        generate_export(export, patients=20, seed=1)
    cmd = [PY, str(script), str(export)]
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", *cmd]
    print("\nViewer (napari under Xvfb when headless)", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True)
    print(out.stdout.rstrip() or out.stderr[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--size", type=int, default=384, help="rows and columns of each slice")
    parser.add_argument("--slices", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "spondy_bench")
    parser.add_argument("--skip-viewer", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import platform

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    export = make_export(args.work, args.patients, args.size, args.slices)
    bench_index(export, args.work, args.repeat)
    bench_load(args.work, args.size, max(args.repeat, 5))
    if not args.skip_viewer:
        bench_viewer(args.work)


if __name__ == "__main__":
    main()
