"""A PACS as a source: indexing over DICOMweb, and the first case in the reading room from it.

Generates a synthetic export (default 20 patients x 2 studies x sagittal T1, T2, STIR, 256 x 256
x 15: 120 series, 1,800 images), starts Orthanc with its DICOMweb plugin on 127.0.0.1 (the test
suite's server, :func:`pacs_fixtures.running_orthanc`), stores the export in it, and prints, in
one run on the same files:

* the index (series table and cases, :func:`~spondy_annotate.cases.open.open_export`) from the
  folder, reading every header, and from the folder's header cache; over DICOMweb (QIDO-RS and
  WADO-RS metadata) with an empty cache folder, and with the metadata cached; ratios against
  the folder read without cache;
* the time to the first case on screen in the reading room (from *Open* to the first canvas
  draw showing case 1, indexing included) from the folder, from the PACS with a cold cache (no
  metadata, no instance) and with a warm cache (the first case's instances retrieved before).

Every figure is the best of ``--repeat`` runs. The user cache and data folders point into a
temporary folder: nothing is left in the user's. Asserts nothing. The reading room needs a
display (``--skip-viewer`` leaves it out)::

    xvfb-run -a .venv/bin/python benchmarks/dicomweb.py [--patients 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))


def best_of(
    repeat: int, run: Callable[[], object], before: Callable[[], object] = lambda: None
) -> float:
    """The shortest of ``repeat`` timed calls of ``run`` (``before`` untimed, before each)."""
    times = []
    for _ in range(repeat):
        before()
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


class UserDirs:
    """The user cache and data folders (``XDG_*``), fresh ones on demand, in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        os.environ["XDG_DATA_HOME"] = str(root / "data")

    def fresh_cache(self) -> None:
        """An empty DICOMweb cache folder from now on (a cold cache)."""
        self.count += 1
        os.environ["XDG_CACHE_HOME"] = str(self.root / f"cache{self.count}")


def index_rows(folder: Path, url: str, dirs: UserDirs, repeat: int) -> None:
    from spondy_annotate.cases.open import open_export

    open_export(folder)  # the folder's header cache, for the cached row
    plain = best_of(repeat, lambda: open_export(folder, cache=False))
    cached = best_of(repeat, lambda: open_export(folder))
    cold = best_of(repeat, lambda: open_export(url, cache=False), before=dirs.fresh_cache)
    warm = best_of(repeat, lambda: open_export(url, cache=False))
    opened = open_export(url, cache=False)
    print(
        f"\nindex of {len(opened.cases)} patients, {len(opened.index.rows)} series, "
        f"{opened.index.headers_read} images (best of {repeat})"
    )
    print(f"{'':56} {'time':>8} {'vs folder':>10}")
    for label, seconds in (
        ("folder, every header read (open_export(cache=False))", plain),
        ("folder, header cache (an unchanged export re-opened)", cached),
        ("DICOMweb, cold cache (QIDO-RS + WADO-RS metadata)", cold),
        ("DICOMweb, metadata cached", warm),
    ):
        print(f"{label:56} {seconds:7.2f}s {seconds / plain:9.2f}x")


def first_case_rows(folder: Path, url: str, dirs: UserDirs, repeat: int) -> None:
    import napari
    from qtpy.QtWidgets import QApplication
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget

    viewer = napari.Viewer(title="benchmark")
    viewer.window.resize(1600, 900)
    widget = ReadingRoomWidget(viewer, align=False)
    viewer.window.add_dock_widget(widget, name="Reading room")
    room = widget.room
    shown: list[float] = []
    draws: list[float] = []
    room.events.case.connect(lambda event: shown.append(time.perf_counter()))
    # napari has no public draw event; the vispy canvas's tells that a frame reached the screen
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    canvas.events.draw.connect(lambda event: draws.append(time.perf_counter()), position="last")

    def first_case(source: str) -> None:
        """Open ``source`` and wait until its first case is drawn, then until loading is done."""
        shown.clear()
        widget.open_folder(source)
        while not (shown and any(t > shown[0] for t in draws)):
            QApplication.processEvents()
            time.sleep(0.002)  # an idle event loop, not a busy one competing for the GIL
        while room.cache.busy():  # the prefetch of the next cases: not in the next figure
            QApplication.processEvents()
            time.sleep(0.01)

    first_case(str(folder))  # napari's one-time start-up costs, not in any figure
    rows = (
        ("folder (header cache)", str(folder), lambda: None),
        ("DICOMweb, cold cache (no metadata, no instance)", url, dirs.fresh_cache),
        ("DICOMweb, warm cache (metadata and instances)", url, lambda: None),
    )
    print(f"\nfirst case on screen in the reading room (best of {repeat})")
    print(f"{'':56} {'time':>8} {'vs folder':>10}")
    times: dict[str, float] = {}
    for label, source, before in rows:
        times[label] = best_of(repeat, lambda source=source: first_case(source), before)
        ratio = times[label] / times[rows[0][0]]
        print(f"{label:56} {times[label]:7.2f}s {ratio:9.2f}x")
    viewer.close()


def main(argv: list[str] | None = None) -> int:
    from pacs_fixtures import PLUGIN, orthanc_binary, running_orthanc, upload_folder

    from spondy_annotate.synthetic.export import generate_export

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--size", type=int, default=256, help="rows and columns")
    parser.add_argument("--slices", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-viewer", action="store_true", help="index figures only")
    args = parser.parse_args(argv)
    if orthanc_binary() is None or not PLUGIN.is_file():
        print(
            "Orthanc with its DICOMweb plugin is not installed: scripts/install-system-packages.sh"
        )
        return 1
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="spondy-bench-web-") as tmp:
        work = Path(tmp)
        folder = work / "export"
        t0 = time.perf_counter()
        size = {"rows": args.size, "columns": args.size, "slices": args.slices}
        generate_export(folder, patients=args.patients, seed=1, **size)
        print(f"generated {args.patients} patients in {time.perf_counter() - t0:.1f} s")
        (work / "orthanc").mkdir()
        with running_orthanc(work / "orthanc") as root:
            t0 = time.perf_counter()
            stored = upload_folder(root, folder)
            print(f"stored {stored} instances in Orthanc in {time.perf_counter() - t0:.1f} s")
            url = f"{root}/dicom-web"
            dirs = UserDirs(work)
            dirs.fresh_cache()
            index_rows(folder, url, dirs, args.repeat)
            if not args.skip_viewer:
                first_case_rows(folder, url, dirs, args.repeat)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
