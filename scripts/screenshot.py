"""Save the README's screenshots of the reading room, with the docks and without them.

Opens ``sample_dicoms/`` (the committed synthetic export) in the reading room as
``spondy-annotate open`` does on a first launch (the window maximised), shows the first case
and saves the whole window to ``docs/reading_room.png``; then hides the docks (F11) and saves
``docs/reading_room_collapsed.png``. Prints how tall each fitted image is on screen. Needs a
display; headless, on a 1920x1080 screen::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=str(ROOT / "sample_dicoms"), help="export to open")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder of the two PNGs")
    parser.add_argument("--case", type=int, default=1, help="case number (1-based)")
    args = parser.parse_args(argv)
    from spondy_napari._app import launch
    from spondy_napari._qt.screenshot import save_screenshot

    viewer, widget = launch(reader="AB")
    try:
        widget.open_folder(args.folder, case=args.case - 1, wait=True)
        out = Path(args.out)
        for name, docks in (("reading_room.png", True), ("reading_room_collapsed.png", False)):
            if not docks:
                widget.toggle_docks()
            path = save_screenshot(viewer, out / name)
            height = widget.room.view.image_height_px()
            window = viewer.window._qt_window
            print(
                f"{path}: window {window.width()}x{window.height()}, fitted image "
                f"{height:.0f} px tall ({'docks shown' if docks else 'docks hidden'})"
            )
        return 0
    finally:
        viewer.close()


if __name__ == "__main__":
    sys.exit(main())
