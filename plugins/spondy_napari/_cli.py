"""``spondy-annotate open DIR|URL``: the reading room (napari) docked on an export.

The plugin contributes this subcommand to the core's command line through the entry point group
``spondy_annotate.cli`` (``pyproject.toml``): the core finds :func:`add_open_command` there and
never imports this package. Importing this module is cheap (no napari, no Qt): napari is imported
by :func:`run` only, after the export has been indexed: a folder that is missing, a file, or
holds no DICOM image, or a DICOMweb URL that does not answer, is a one-line error (exit status 1)
before any window opens. With
``--screenshot PNG`` the viewer opens, shows the first case (or
``--case N``), saves a screenshot and exits: the README's demo on a headless machine runs it under
``xvfb-run``. ``--db`` (a file or a ``postgresql://`` URL) sends the gradings to another
database than the export's own file, as ``$SPONDY_DB`` does
(:func:`~spondy_annotate.projectdb.location.grading_db`); it is checked before any window opens.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from spondy_annotate.cli._common import add_rules_option
from spondy_annotate.cli.db_arg import DB_HELP, add_db_option
from spondy_annotate.errors import SpondyError
from spondy_annotate.projectdb.location import DB_ENV, default_db_path, grading_db


def add_open_command(sub: Any) -> argparse.ArgumentParser:
    """Register ``open`` on the core's subparsers (the ``spondy_annotate.cli`` entry point)."""
    p = sub.add_parser(
        "open",
        help="read an export side by side in napari (baseline left, follow-up right)",
        description="Open napari with the reading room docked on an export folder: the worklist "
        "of cases and each case's baseline and follow-up MRI side by side. Press F1 in the "
        "viewer for the keys.",
    )
    p.add_argument(
        "folder", help="the export folder (a DICOM CD or PACS export), or a DICOMweb service URL"
    )
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
    add_db_option(
        p, help=f"where the gradings go ({DB_HELP}; default: ${DB_ENV}, else beside the export)"
    )
    add_rules_option(p)
    p.set_defaults(run=run)
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
    """Open the viewer (and, with ``--screenshot``, save one and exit).

    The export is indexed first (through the header cache, so the reading room's own opening
    reads it back at once): :class:`~spondy_annotate.errors.SpondyError` when it cannot be read.
    """
    from spondy_annotate.cases.open import open_export
    from spondy_annotate.dicom.rules import load_rules
    from spondy_annotate.dicomweb.auth import is_url
    from spondy_annotate.grading.store import Store

    folder = args.folder if is_url(args.folder) else str(Path(args.folder))
    if not is_url(folder):
        if not Path(folder).exists():
            raise SpondyError(f"{folder}: no such folder")
        if not Path(folder).is_dir():
            raise SpondyError(f"{folder}: not a folder (give the export folder)")
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
    opened = open_export(folder, rules=rules)
    if args.db is not None:  # the viewer reads it where it reads $SPONDY_DB: grading_db()
        os.environ[DB_ENV] = str(args.db)
    if os.environ.get(DB_ENV):  # reachable and usable, else exit 1 before any window
        Store(grading_db(opened.db_path or default_db_path(opened.folder))).close()

    from spondy_napari._app import run_reading_room  # napari and Qt from here on

    return run_reading_room(folder, case=case, screenshot=args.screenshot, size=size, rules=rules)
