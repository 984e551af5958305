"""Key presses needed to grade one case of the default rubric in the grading panel.

Opens a small synthetic export in the reading room with the grading panel docked, grades the
first case from its truth table by pressing keys on napari's canvas (``QTest.keyClick``), draws
the two disc-height lines with the mouse tool (not counted: they are drags on the image), checks
that the case is saved as done and that the next case opened, and prints the count and the
sequence. Target: at most 10 key presses. Run it headless with::

    xvfb-run -a .venv/bin/python benchmarks/keypresses.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

TARGET = 10


def main() -> int:
    import napari
    from qtpy.QtTest import QTest
    from qtpy.QtWidgets import QApplication
    from spondy_napari._qt.grading_panel import GradingPanel
    from spondy_napari._qt.reading_room_dock import ReadingRoomWidget
    from spondy_napari.grading.keys import level_keys

    from spondy_annotate.grading.rubric_toml import default_rubric
    from spondy_annotate.synthetic.export import disc_endpoints, generate_export, read_truth

    def wait(condition, what: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise SystemExit(f"timed out waiting for {what}")
            QApplication.processEvents()
            time.sleep(0.005)

    with tempfile.TemporaryDirectory(prefix="spondy-keys-") as tmp:
        folder = Path(tmp) / "export"
        generate_export(folder, patients=2, seed=3, rows=64, columns=64, slices=7)
        viewer = napari.Viewer(title="key press benchmark", show=True)
        widget = ReadingRoomWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Reading room")
        panel = GradingPanel(viewer, room=widget.room, reader="benchmark")
        viewer.window.add_dock_widget(panel, name="Grading", area="left")
        room, canvas = widget.room, viewer.window._qt_viewer.canvas.native
        grading = panel.controller
        widget.open_folder(str(folder))
        wait(lambda: grading.grading is not None, "the first case")
        first, case_id = room.case_index, grading.grading.case_id
        truth = read_truth(folder).set_index("patient_id").loc[room.current_case.patient_id]

        sequence: list[str] = []

        def key(k: str, why: str) -> None:
            field = grading.grading.current
            QTest.keyClick(canvas, k)
            sequence.append(f"{k:>6}  {field:<36} {why}")

        def line(side: str) -> None:
            tool = grading.tool
            a, b = (tool.to_world(side, p) for p in disc_endpoints(truth, side))
            assert tool.armed, "the line tool should be armed on an empty disc-height field"
            tool.click(side, a)
            tool.click(side, b)
            sequence.append(
                f"{'(drag)':>6}  disc_height.{side}_mm{'':<15} mouse: line on the {side} image"
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
        key(change[truth["disc_height_change"]], truth["disc_height_change"])

        wait(lambda: room.case_index not in (None, first), "the next case")
        status = grading.session.status(case_id).value if grading.session else "?"
        presses = sum(1 for s in sequence if not s.lstrip().startswith("(drag)"))
        print("\n".join(sequence))
        print(f"\ncase {case_id}: {status}; next case opened: {room.current_label}")
        print(
            f"key presses: {presses} (target <= {TARGET}; plus 2 disc-height lines drawn with the mouse)"
        )
        print("optional: y / ? confidence (1 key, from any field), note (Tab + text)")
        viewer.close()
        return 0 if presses <= TARGET and status == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
