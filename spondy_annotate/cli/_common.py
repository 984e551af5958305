"""Helpers shared by the subcommands: progress on a terminal, the index options, opening the export."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spondy_annotate.cases.open import OpenedExport
    from spondy_annotate.dicom.index import ProgressCallback


def terminal_progress(label: str) -> ProgressCallback | None:
    """A ``progress(done, total)`` callback drawing a bar on stderr, or None when not a tty."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show


def add_rules_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--rules FILE`` (the matching config)."""
    parser.add_argument(
        "--rules",
        metavar="FILE",
        help="matching rules (TOML; default: the built-in spondy_annotate/dicom/matching.toml)",
    )


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--rules FILE`` and the index cache options."""
    add_rules_option(parser)
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        metavar="FILE",
        help="keep header records in this SQLite file (default: the project database beside "
        "the export, EXPORT.spondy.sqlite); a re-index reads only new or changed files",
    )
    cache.add_argument("--no-cache", action="store_true", help="read every file's header")


def open_with_progress(
    args: argparse.Namespace, choices: dict[str, tuple[str, str]] | None = None
) -> OpenedExport:
    """Open ``args.folder`` as the index options say, showing progress on a terminal."""
    from spondy_annotate.cases.open import open_export
    from spondy_annotate.dicom.rules import load_rules

    return open_export(
        args.folder,
        rules=load_rules(args.rules),
        cache=False if args.no_cache else (args.cache or True),
        progress=terminal_progress("reading headers"),
        choices=choices,
    )
