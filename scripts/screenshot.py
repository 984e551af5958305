"""Save the README's screenshots of the reading room, with the docks and without them.

Opens a copy of ``sample_dicoms/`` (the committed synthetic export; the copy keeps the answer
below out of the repository) in the reading room as ``spondy-annotate open`` does on a first
launch (the window maximised), shows the first case once it is aligned, draws its baseline disc
height where the phantom's truth has it (as a reader's drag would) and saves the whole window to
``docs/reading_room.png``; then hides the docks (F11) and saves ``docs/reading_room_collapsed.png``.
Prints how tall each image is on screen. Needs a display; headless, on a 1920x1080 screen::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=str(ROOT / "sample_dicoms"), help="export to open")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder of the two PNGs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spondy-shots-") as tmp:
        folder = Path(tmp) / "sample_dicoms"
        shutil.copytree(args.folder, folder)
        return shoot(folder, Path(args.out))


def shoot(folder: Path, out: Path) -> int:
    """Both screenshots of ``folder``'s first case into ``out``."""
    from spondy_napari._app import launch
    from spondy_napari._qt.grading_panel import GradingPanel
    from spondy_napari._qt.screenshot import save_screenshot, wait_until

    from spondy_annotate.synthetic.export import disc_endpoints, read_truth

    viewer, widget = launch(reader="AB")
    try:
        widget.open_folder(str(folder), wait=True)
        room = widget.room
        wait_until(lambda: room.alignment.source != "pending", 60.0)
        controller = viewer.window._qt_window.findChild(GradingPanel).controller
        truth = read_truth(folder).set_index("patient_id").loc[room.current_case.patient_id]
        a, b = (controller.tool.to_world("baseline", p) for p in disc_endpoints(truth, "baseline"))
        room.set_current_side("baseline")
        room.grid.go_to(int(np.round(room.layers["baseline"].world_to_data(a)[0])))
        controller.start_measure("disc_height")
        controller.answer("disc_height.baseline_mm", controller.tool.measure("baseline", a, b))
        controller.show_lines()
        for name, docks in (("reading_room.png", True), ("reading_room_collapsed.png", False)):
            if not docks:
                widget.toggle_docks()
            wait_until(lambda: False, 1.0)  # the docks laid out, the view refitted
            path = save_screenshot(viewer, out / name)
            zoom = viewer.scene.camera.zoom
            heights = {
                side: round((np.ptp(layer.extent.world[:, -2]) + abs(layer.scale[-2])) * zoom)
                for side, layer in room.layers.items()
            }
            window = viewer.window._qt_window
            print(
                f"{path}: window {window.width()}x{window.height()}, images {heights} px tall "
                f"({'docks shown' if docks else 'docks hidden'}; {room.alignment.text})"
            )
        return 0
    finally:
        viewer.close()


if __name__ == "__main__":
    sys.exit(main())
