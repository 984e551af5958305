"""Helpers shared by the subcommands: progress on a terminal, loading rules and the index."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spondy_annotate.dicom_index import IndexResult


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
        help="matching rules (TOML; default: the built-in spondy_annotate/config/matching.toml)",
    )


def index_with_progress(folder: str, rules_path: str | None) -> IndexResult:
    """Index ``folder`` with the rules file given, showing progress on a terminal."""
    from spondy_annotate.dicom_index import index_folder
    from spondy_annotate.matching import load_rules

    rules = load_rules(rules_path)
    return index_folder(folder, rules=rules, progress=terminal_progress("reading headers"))
