"""``spondy-annotate open DIR``: the reading room (napari) docked on an export.

The plugin (``spondy_napari``, which brings napari and Qt) is imported inside :func:`run` only,
so the rest of the command line and the core never need Qt. With ``--screenshot PNG`` the viewer opens, shows the first case (or
``--case N``), saves a screenshot and exits: the README's demo on a headless machine runs it under
``xvfb-run``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from spondy_annotate.cli._common import add_rules_option
from spondy_annotate.errors import SpondyError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``open``."""
    p = sub.add_parser(
        "open",
        help="read an export side by side in napari (baseline left, follow-up right)",
        description="Open napari with the reading room docked on an export folder: the worklist "
        "of cases and each case's baseline and follow-up MRI side by side. Press F1 in the "
        "viewer for the keys.",
    )
    p.add_argument("folder", help="the export folder (a DICOM CD or PACS export)")
    p.add_argument(
        "--case",
        type=int,
        default=None,
        metavar="N",
        help="open the N-th case of the worklist (1-based; default: the first that can be read)",
    )
    p.add_argument(
        "--screenshot",
        metavar="PNG",
        help="render the case, save the window as PNG and exit (for headless demos: xvfb-run)",
    )
    p.add_argument(
        "--size",
        default="1920x1080",
        metavar="WxH",
        help="window size for --screenshot (default: 1920x1080)",
    )
    add_rules_option(p)
    return p


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SpondyError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1600x900") from None
    return width, height


def run(args: argparse.Namespace) -> int:
    """Open the viewer (and, with ``--screenshot``, save one and exit)."""
    from pathlib import Path

    from spondy_annotate.cases.rules import load_rules

    folder = Path(args.folder)
    if not folder.is_dir():
        raise SpondyError(f"{folder}: no such folder")
    if not _has_display():
        raise SpondyError(
            "no display: run on a desktop, or headless as "
            f"`xvfb-run -a spondy-annotate open {args.folder} --screenshot out.png`"
        )
    rules = load_rules(args.rules) if args.rules else None
    size = _size(args.size)
    case = None if args.case is None else args.case - 1
    if case is not None and case < 0:
        raise SpondyError(f"--case {args.case}: cases are numbered from 1")

    # spondy_napari (the plugin) brings napari and Qt; the core never imports them itself.
    from spondy_napari._app import open_reading_room

    return open_reading_room(
        str(folder),
        case=case,
        screenshot=args.screenshot,
        size=size,
        rules=rules,
    )
