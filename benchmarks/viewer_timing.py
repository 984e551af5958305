"""Reading room timing: first rendered case after opening an export, and case switches.

Generates a 20-patient synthetic export (256x256, 15 slices, sagittal T1/T2/STIR; about 230 MB
in a temporary folder) unless one is given, opens it in the reading room as a radiologist would
(indexing in a worker), and prints:

* time to first rendered case: from ``open_folder`` to the first canvas draw showing case 1
  (indexing, loading both sides, napari's first draw);
* case switch with prefetch: ``N`` pressed -> next case drawn, once the background loader has
  the next case in memory (the normal rhythm of reading);
* case switch without prefetch (cache emptied first), and sequence cycling (``S``);
* resident memory while switching through every case (bounded: the volume cache has a size
  limit, so memory must not grow with the number of cases visited).

Targets (under Xvfb with Mesa's software OpenGL): first case < 1.5 s, switch < 150 ms.
Prints figures, asserts nothing. Run it headless with::

    xvfb-run -a .venv/bin/python benchmarks/viewer_timing.py [EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PATIENTS = 20
SWITCHES = 10


def _generate(folder: Path) -> None:
    from spondy_annotate.synthetic.export import generate_export

    t0 = time.perf_counter()
    generate_export(folder, patients=PATIENTS, seed=1)
    print(f"generated {PATIENTS} patients in {time.perf_counter() - t0:.1f} s: {folder}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", nargs="?", help="an export folder (default: generate one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spondy-bench-") as tmp:
        folder = Path(args.export) if args.export else Path(tmp) / "export"
        if not args.export:
            _generate(folder)
        return run(folder)


def run(folder: Path) -> int:
    import napari
    from qtpy.QtWidgets import QApplication
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget

    viewer = napari.Viewer(title="benchmark")
    viewer.window.resize(1600, 900)
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reading room")
    room = widget.room
    for _ in range(3):
        QApplication.processEvents()
    draws: list[float] = []
    # napari has no public draw event; the vispy canvas's is what tells a frame reached the screen
    canvas = viewer.window._qt_viewer.canvas._scene_canvas
    canvas.events.draw.connect(lambda event: draws.append(time.perf_counter()), position="last")
    keys = viewer.window._qt_viewer._key_map_handler

    def until(condition, timeout: float = 60.0) -> None:
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError("benchmark step timed out")
            QApplication.processEvents()
            time.sleep(0.002)  # an idle event loop, not a busy one competing for the GIL

    def drawn_after(t0: float) -> float:
        until(lambda: any(t > t0 for t in draws))
        return next(t for t in draws if t > t0) - t0

    def next_case_cached() -> bool:
        index = room._neighbour(+1)
        return index is None or all(
            room.cache.is_cached(r)
            for p in room.cases[index].pairs
            for r in (p.baseline, p.followup)
            if r is not None
        )

    shown: list[float] = []
    room.events.case.connect(lambda event: shown.append(time.perf_counter()))
    room.events.pair.connect(lambda event: shown.append(time.perf_counter()))

    def drawn(t0: float) -> float:
        """Seconds from ``t0`` to the first draw after the reading room changed its layers."""
        until(lambda: any(t > t0 for t in shown))
        changed = next(t for t in shown if t > t0)
        return changed - t0 + drawn_after(changed)

    def press(key: str) -> float:
        t0 = time.perf_counter()
        keys.press_key(key)
        keys.release_key(key)
        return drawn(t0)

    t0 = time.perf_counter()
    widget.open_folder(str(folder))
    first = drawn(t0)
    print(
        f"{len(room.cases)} cases; first case drawn {first * 1000:.0f} ms after open   "
        "target < 1500 ms"
    )

    switches = []
    for _ in range(SWITCHES):
        until(next_case_cached)
        switches.append(press("N"))
    print(
        f"case switch with prefetch: median {statistics.median(switches) * 1000:.0f} ms, "
        f"max {max(switches) * 1000:.0f} ms over {len(switches)}   target < 150 ms"
    )

    cycles = []
    for _ in range(3):
        until(lambda: not room.cache.busy())
        cycles.append(press("S"))
    print(f"sequence cycle (S): median {statistics.median(cycles) * 1000:.0f} ms")

    cold = []
    for _ in range(3):
        until(lambda: not room.cache.busy())
        room.cache.clear()
        t0 = time.perf_counter()
        keys.press_key("N")
        keys.release_key("N")
        cold.append(drawn(t0))
    print(
        f"case switch without prefetch (loaded from disk): median "
        f"{statistics.median(cold) * 1000:.0f} ms"
    )
    # Memory while reading through every case: it must not grow with the cases visited.
    until(lambda: not room.cache.busy())
    room.request_case(room.ready_indices()[0])
    rss = []
    for _ in range(len(room.ready_indices()) - 1):
        until(lambda: not room.cache.busy())
        keys.press_key("N")
        keys.release_key("N")
        until(lambda: not room.cache.busy())
        rss.append(_rss_mb())
    quarter = max(len(rss) // 4, 1)
    print(
        f"memory through {len(rss)} case switches: RSS {rss[0]:.0f} MB after the first, "
        f"peak {max(rss):.0f} MB, last {rss[-1]:.0f} MB; growth over the last "
        f"{len(rss) - quarter} switches {rss[-1] - rss[quarter - 1]:+.0f} MB"
    )
    viewer.close()
    return 0


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    sys.exit(main())
