"""Grading one case by keys: how many presses, and how soon each is on screen.

Opens a synthetic export (256x256, 15 slices) in the reading room with the grading panel docked,
as ``spondy-annotate open`` does, and grades the first case from its truth table by key presses
on napari's canvas; the two disc-height lines are drawn with the line tool (mouse drags, not
counted). Prints:

* the key presses needed (target: at most 10) and that the case was saved as done;
* key-to-screen latency: from a key event posted to Qt's queue to the grading panel's row
  repainted showing the answer, p50 / p95, for keys typed while reading (each waits for the
  previous; the first once the case is on screen, the one after a line once the line is) and for
  keys typed right after the auto-advance (posted together with the last key of the case, once
  the next case is loaded ahead: they wait behind the case switch); target 100 ms;
* line-to-screen latency: from the line's last click to the canvas repainted with it (saving
  it and drawing its caliper);
* the peer, measured in the same run: Qt alone, a key posted to a line edit to its repaint
  showing the character, and the ratios.

Run it headless with::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python benchmarks/keypresses.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

TARGET = 10
LATENCY_TARGET_S = 0.100


def percentiles(values: list[float]) -> str:
    """``p50 X ms, p95 Y ms (n)`` of seconds."""
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms ({len(values)})"
    )


def main() -> int:
    from qtpy.QtCore import QEvent, QObject, Qt
    from qtpy.QtGui import QKeyEvent
    from qtpy.QtWidgets import QApplication, QLineEdit
    from spondy_napari._app import launch
    from spondy_napari.grading.keys import level_keys

    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.synthetic.export import disc_endpoints, generate_export, read_truth

    def wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            QApplication.processEvents()
            time.sleep(0.001)

    class Paints(QObject):
        """Times at which watched widgets were painted, each with ``note()`` as it was then."""

        def __init__(self, note: Callable[[], Any] = lambda: None) -> None:
            super().__init__()
            self.note = note
            self.times: list[tuple[float, QObject, Any]] = []

        def watch(self, widget: Any) -> None:
            for w in (widget, *widget.findChildren(QObject)):
                w.installEventFilter(self)

        def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802 (Qt name)
            if event.type() == QEvent.Type.Paint:
                self.times.append((time.perf_counter(), watched, self.note()))
            return False

    def post(widget: Any, key: str) -> float:
        """Post a key press and release to ``widget`` (Qt's queue, as the keyboard does)."""
        code = getattr(Qt.Key, f"Key_{key.upper()}")
        text = key.lower()
        t0 = time.perf_counter()
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            event = QKeyEvent(kind, code, Qt.KeyboardModifier.NoModifier, text)
            QApplication.postEvent(widget, event)
        return t0

    def on_screen(canvas_paints: Paints, t0: float, what: str) -> float:
        """Seconds from ``t0`` to the end of the canvas's first repaint after it (then waits
        until the canvas is still for 100 ms: nothing of it is left for the next key)."""
        end = time.monotonic() + 60.0
        done = None
        while done is None or time.perf_counter() - canvas_paints.times[-1][0] < 0.1:
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            QApplication.processEvents()  # a paint event is handled (drawn) in here
            if done is None and any(t > t0 for t, _, _ in canvas_paints.times):
                done = time.perf_counter() - t0
            time.sleep(0.001)
        return done

    with tempfile.TemporaryDirectory(prefix="spondy-keys-") as tmp:
        folder = Path(tmp) / "export"
        generate_export(folder, patients=3, seed=3)
        viewer, widget = launch(size=(1920, 1080), reader="benchmark")
        room, canvas = widget.room, viewer.window._qt_viewer.canvas.native
        panel = viewer.window.dock_widgets["Grading"]
        grading = panel.controller

        def showing() -> tuple[str | None, dict[str, Any]]:
            """The case graded and what each row shows."""
            g = grading.grading
            return (g.case_id if g else None), {k: r.value for k, r in panel.rows.items()}

        paints = Paints(showing)
        for row in panel.rows.values():
            paints.watch(row)
        canvas_paints = Paints()
        canvas_paints.watch(canvas)
        opened = time.perf_counter()
        widget.open_folder(str(folder))
        wait(lambda: grading.grading is not None, "the first case")
        on_screen(canvas_paints, opened, "the first case on screen")  # the reader looks first
        first, case_id = room.case_index, grading.grading.case_id
        truth_of = read_truth(folder).set_index("patient_id").loc
        assert room.current_case is not None
        truth = truth_of[room.current_case.patient_id]

        def shown(field: str, case: str, t0: float) -> float | None:
            """Seconds from ``t0`` to the first paint of ``field``'s row showing its answer in
            ``case``."""
            row = panel.rows[field]
            hits = [
                t
                for t, w, (graded, values) in paints.times
                if t > t0 and graded == case and values[field] is not None
                and (w is row or row.isAncestorOf(w))
            ]  # fmt: skip
            return hits[0] - t0 if hits else None

        sequence: list[str] = []
        steady: list[float] = []
        lines: list[float] = []

        def key(k: str, why: str) -> None:
            field = grading.grading.current
            paints.times.clear()
            t0 = post(canvas, k)
            wait(lambda: shown(field, case_id, t0) is not None, f"{field} on screen")
            steady.append(shown(field, case_id, t0) or 0.0)
            sequence.append(f"{k:>6}  {field:<36} {why:<22} {steady[-1] * 1000:5.0f} ms")

        def line(side: Literal["baseline", "followup"]) -> None:
            tool = grading.tool
            a, b = (tool.to_world(side, p) for p in disc_endpoints(truth, side))
            assert tool.armed, "the line tool should be armed on an empty disc-height field"
            tool.click(side, a)
            t0 = time.perf_counter()
            tool.click(side, b)
            lines.append(on_screen(canvas_paints, t0, f"the {side} line"))
            sequence.append(
                f"{'(drag)':>6}  disc_height.{side}_mm{'':<15} mouse: line on the {side} image"
                f"   {lines[-1] * 1000:5.0f} ms"
            )

        change = {"improved": "i", "unchanged": "u", "aggravated": "a"}
        levels = {v: k for k, v in level_keys(default_rubric().field("level").choices).items()}
        key(levels[truth["level"]], f"level {truth['level']}")
        for item in ("marrow_edema", "paravertebral_inflammation"):
            for tp in ("baseline", "followup"):
                key(str(int(truth[f"{item}_{tp}"])), "grade")
            key(change[truth[f"{item}_change"]], truth[f"{item}_change"])
        line("baseline")
        key("1", "grade (< 50 % loss)")
        line("followup")
        key("1", "grade (< 50 % loss)")
        # the last key saves the case and moves on; the reader types on without waiting
        following = room._neighbour(+1)
        assert following is not None, "the export has a second case"
        next_case = room.label(following)
        truth2 = truth_of[room.cases[following].patient_id]
        refs = [r for p in room.cases[following].pairs for r in (p.baseline, p.followup) if r]
        # loaded ahead, as in the seconds a reader spends on a case (input holds it off)
        wait(lambda: all(room.cache.is_cached(r) for r in refs), "the next case loaded ahead")
        paints.times.clear()
        post(canvas, change[truth["disc_height_change"]])
        sequence.append(
            f"{change[truth['disc_height_change']]:>6}  disc_height.change{'':<18} {truth['disc_height_change']} (saves, next case)"
        )
        typed = [
            ("level", levels[truth2["level"]]),
            ("marrow_edema.baseline", "2"),
            ("marrow_edema.followup", "1"),
        ]
        posted = [(field, post(canvas, k)) for field, k in typed]
        wait(
            lambda: all(shown(f, next_case, t0) is not None for f, t0 in posted),
            "the keys typed on",
        )
        advancing = [shown(f, next_case, t0) or 0.0 for f, t0 in posted]

        status = grading.session.status(case_id).value if grading.session else "?"
        presses = sum(1 for s in sequence if not s.lstrip().startswith("(drag)"))
        print("\n".join(sequence))
        print(f"\ncase {case_id}: {status}; next case opened: {room.current_label} (was {first})")
        print(
            f"key presses: {presses} (target <= {TARGET}; plus 2 disc-height lines drawn with the mouse)"
        )
        print("optional: y / ? confidence (1 key, from any field), note (Tab + text)")

        edit = QLineEdit()
        edit.show()
        qt_alone: list[float] = []
        edit_paints = Paints()
        edit_paints.watch(edit)
        for k in "abcdefghij":
            edit.setFocus()
            edit_paints.times.clear()
            t0 = post(edit, k)

            def painted(k: str = k, t0: float = t0) -> bool:
                return edit.text().endswith(k) and any(t > t0 for t, _, _ in edit_paints.times)

            wait(painted, "the line edit")
            qt_alone.append(next(t for t, _, _ in edit_paints.times if t > t0) - t0)
        edit.close()
        print(
            f"\nkey to screen while grading: {percentiles(steady)}   target < {LATENCY_TARGET_S * 1000:.0f} ms"
        )
        print(f"key to screen right after the auto-advance: {percentiles(advancing)}")
        print(f"line to screen (last click to the canvas drawn): {percentiles(lines)}")
        print(
            f"Qt alone (a line edit): {percentiles(qt_alone)}; ratios (p50): while grading "
            f"{statistics.median(steady) / statistics.median(qt_alone):.1f}, after the auto-advance "
            f"{statistics.median(advancing) / statistics.median(qt_alone):.1f}"
        )
        viewer.close()
        return 0 if presses <= TARGET and status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
