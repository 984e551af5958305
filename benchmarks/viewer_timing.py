"""Reading room timing: first case, case switches against napari alone, quitting, memory.

Generates a 20-patient synthetic export (256x256, 15 slices, sagittal T1/T2/STIR; about 230 MB
in a temporary folder) unless one is given, indexes it once (as ``spondy-annotate index`` would:
the header cache, no alignment yet), then opens the reading room as ``spondy-annotate open``
does (grading panel docked, 1920x1080) and prints, from real Qt key presses on napari's canvas:

* first case: from ``open_folder`` (the viewer up) to the first canvas draw showing case 1;
* case switch: ``N`` / ``Shift-N`` pressed -> the next case drawn, once the loader has that case in
  memory (the rhythm of reading), while the neighbours' automatic alignments are computed in the
  background (a fresh export: every case is registered once); p50 / p95 over ``--switches``
  switches, and the same for the switches during which a registration was under way. Two end
  points: the canvas drawn (vispy's draw event), and the window on screen (Qt's update of the
  window that carried the draw has finished: its widgets painted and composed with the canvas,
  which under software OpenGL costs tens of milliseconds more, growing with the canvas);
* the peer, measured in the same run: napari alone putting the same two volumes into two image
  layers of a bare viewer of the same size, to the same two end points (what any viewer must do);
* resident memory through the switches (flat: the volume cache has a size limit);
* quitting: ``viewer.close()`` with the loader and the aligner running.

Prints figures, asserts nothing. Run it headless with::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/viewer_timing.py [EXPORT_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

PATIENTS = 20
SWITCHES = 100
SIZE = (1920, 1080)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export", nargs="?", help="an export folder (default: generate one)")
    parser.add_argument("--switches", type=int, default=SWITCHES, help="case switches timed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spondy-bench-") as tmp:
        folder = Path(args.export) if args.export else Path(tmp) / "export"
        if not args.export:
            from spondy_annotate.synthetic.export import generate_export

            t0 = time.perf_counter()
            generate_export(folder, patients=PATIENTS, seed=1)
            print(f"generated {PATIENTS} patients in {time.perf_counter() - t0:.1f} s: {folder}")
        from spondy_annotate import open_export

        open_export(folder)  # the header cache, as an earlier `index` or session left it
        return run(folder, args.switches)


def percentiles(values: list[float]) -> str:
    """``p50 X ms, p95 Y ms (n)`` of seconds."""
    if not values:
        return "none"
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms ({len(values)})"
    )


def run(folder: Path, switches: int) -> int:
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication
    from spondy_napari._app import launch

    viewer, widget = launch(size=SIZE, reader="benchmark")
    room = widget.room
    canvas = viewer.window._qt_viewer.canvas.native
    for _ in range(5):
        QApplication.processEvents()

    def until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
        end = time.perf_counter() + timeout
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError("benchmark step timed out")
            QApplication.processEvents()
            time.sleep(0.002)  # an idle event loop, not a busy one competing for the GIL

    draws, frames = _draw_times(viewer)
    changed: list[float] = []
    room.events.pair.connect(lambda event: changed.append(time.perf_counter()))

    def drawn(t0: float) -> tuple[float, float]:
        """Seconds from ``t0`` to the first draw after the room changed its layers, and to the
        end of the window update that carried it."""
        until(lambda: any(t > t0 for t in changed))
        shown = next(t for t in changed if t > t0)
        until(lambda: any(t > shown for t in draws))
        draw = next(t for t in draws if t > shown)
        until(lambda: any(t > draw for t in frames))
        return draw - t0, next(t for t in frames if t > draw) - t0

    t0 = time.perf_counter()
    widget.open_folder(str(folder))
    first = drawn(t0)[1]
    print(
        f"{len(room.cases)} cases; first case drawn {first * 1000:.0f} ms after open   target < 1000 ms"
    )

    def cached(index: int | None) -> bool:
        """True when the sequence case ``index`` opens on is in memory."""
        if index is None:
            return True
        case, shown = room.cases[index], room.current_pair
        pair = case.pairs[room._pair_for(case, shown.label if shown else None)]
        return all(room.cache.is_cached(r) for r in (pair.baseline, pair.followup) if r)

    times: list[float] = []
    on_screen: list[float] = []
    aligning: list[float] = []
    rss: list[float] = []
    volumes: list[list[Any]] = []
    step = +1
    for _ in range(switches):
        if room._neighbour(step) is None:
            step = -step  # back along the worklist at either end
        target = room._neighbour(step)
        until(partial(cached, target))
        busy = room.auto_align is not None and room.auto_align.busy
        t0 = time.perf_counter()
        back = Qt.KeyboardModifier.NoModifier if step > 0 else Qt.KeyboardModifier.ShiftModifier
        QTest.keyClick(canvas, Qt.Key.Key_N, back)  # type: ignore[call-overload]  # N: next case, Shift-N: previous
        draw, frame = drawn(t0)
        times.append(draw)
        on_screen.append(frame)
        if busy:
            aligning.append(times[-1])
        rss.append(_rss_mb())
        if len(volumes) < 2:
            volumes.append([room.layers[s].data for s in ("baseline", "followup")])
    print(
        f"case switch, next case prefetched, to the draw: {percentiles(times)}   target p95 < 100 ms"
    )
    print(f"  of which with a registration under way: {percentiles(aligning)}")
    print(f"  to the window on screen: {percentiles(on_screen)}")
    peer, peer_on_screen = _napari_alone(volumes)
    print(
        f"napari alone, the same two volumes into two layers, to the draw: {percentiles(peer)}; "
        f"switch / napari alone (p50): {statistics.median(times) / statistics.median(peer):.2f}"
    )
    print(
        f"  to the window on screen: {percentiles(peer_on_screen)}; switch / napari alone (p50): "
        f"{statistics.median(on_screen) / statistics.median(peer_on_screen):.2f}"
    )
    tenth = max(len(rss) // 10, 1)
    print(
        f"memory through {len(rss)} case switches: RSS {rss[0]:.0f} MB after the first, "
        f"{rss[tenth - 1]:.0f} MB after {tenth}, peak {max(rss):.0f} MB, last {rss[-1]:.0f} MB "
        f"({rss[-1] - rss[tenth - 1]:+.0f} MB over the last {len(rss) - tenth})"
    )
    busy = room.auto_align is not None and room.auto_align.busy
    t0 = time.perf_counter()
    viewer.close()
    print(
        f"quitting (viewer.close(), a registration {'under way' if busy else 'not running'}): "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms   target < 1000 ms"
    )
    return 0


def _draw_times(viewer: object) -> tuple[list[float], list[float]]:
    """Times (perf_counter) at which the viewer's canvas finished a draw, and at which the window
    update carrying that draw finished (the next turn of Qt's event loop)."""
    from qtpy.QtCore import QTimer

    draws: list[float] = []
    frames: list[float] = []

    def on_draw(event: object) -> None:
        draws.append(time.perf_counter())
        QTimer.singleShot(0, lambda: frames.append(time.perf_counter()))

    # napari has no public draw event; the vispy canvas's is what tells a frame was drawn
    canvas = viewer.window._qt_viewer.canvas._scene_canvas  # type: ignore[attr-defined]
    canvas.events.draw.connect(on_draw, position="last")
    return draws, frames


def _napari_alone(volumes: list[list[Any]], rounds: int = 20) -> tuple[list[float], list[float]]:
    """Seconds from replacing two grid layers' data to the draw and to the window on screen, in
    a bare viewer (the peer)."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="napari alone")
    viewer.window.resize(*SIZE)
    layers = [viewer.add_image(v, colormap="gray") for v in volumes[0]]
    viewer.canvas.grid.enabled, viewer.canvas.grid.shape = True, (1, 2)
    draws, frames = _draw_times(viewer)
    for _ in range(10):
        QApplication.processEvents()
    times, on_screen = [], []
    for i in range(rounds):
        pair = volumes[(i + 1) % len(volumes)]
        t0 = time.perf_counter()
        for layer, data in zip(layers, pair, strict=True):
            layer.data = data
        while not any(t > t0 for t in draws) or not any(t > draws[-1] for t in frames):
            QApplication.processEvents()
            time.sleep(0.002)
        draw = next(t for t in draws if t > t0)
        times.append(draw - t0)
        on_screen.append(next(t for t in frames if t > draw) - t0)
    viewer.close()
    return times, on_screen


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


if __name__ == "__main__":
    sys.exit(main())
