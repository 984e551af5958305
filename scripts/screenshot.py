"""Save the README's screenshot of the reading room: ``docs/reading_room.png``.

Opens ``sample_dicoms/`` (the committed synthetic export) in the reading room, shows the first
case and saves the whole window. Needs a display; headless::

    xvfb-run -a .venv/bin/python scripts/screenshot.py [--out docs/reading_room.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=str(ROOT / "sample_dicoms"), help="export to open")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reading_room.png"), help="PNG")
    parser.add_argument("--case", type=int, default=1, help="case number (1-based)")
    parser.add_argument("--size", default="1920x1080", help="window size WxH")
    args = parser.parse_args(argv)
    from spondy_napari._app import open_reading_room

    width, height = (int(v) for v in args.size.split("x"))
    return open_reading_room(
        args.folder, case=args.case - 1, screenshot=args.out, size=(width, height)
    )


if __name__ == "__main__":
    sys.exit(main())
