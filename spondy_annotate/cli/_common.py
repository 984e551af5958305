"""Helpers shared by the subcommands: progress on a terminal, loading rules and the index."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spondy_annotate.dicom.index import IndexResult


def terminal_progress(label: str):  # type: ignore[no-untyped-def]
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
        help="matching rules (TOML; default: the built-in spondy_annotate/cases/matching.toml)",
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


def index_with_progress(args: argparse.Namespace) -> IndexResult:
    """Index ``args.folder`` as the index options say, showing progress on a terminal."""
    from spondy_annotate.dicom.index import index_folder
    from spondy_annotate.cases.rules import load_rules
    from spondy_annotate.projectdb.location import default_db_path

    rules = load_rules(args.rules)
    cache = None
    if not args.no_cache and os.path.isdir(args.folder):
        cache = args.cache or default_db_path(args.folder)
    return index_folder(
        args.folder, rules=rules, cache=cache, progress=terminal_progress("reading headers")
    )
