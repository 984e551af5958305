"""``spondy-annotate merge``: merge readers' project databases into one, append-only."""

from __future__ import annotations

import argparse
from typing import Any

from spondy_annotate.cli.db_arg import DB_HELP, add_db_option


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``merge`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "merge",
        help="merge readers' project databases into one (append-only, idempotent)",
        description="Copy every answer (its whole history, reader, time and session), session, "
        "rubric and consensus link of each DB into the target. Cases are matched by patient ID "
        "and study UIDs and filed under the target's case IDs. Merging again adds nothing.",
    )
    add_db_option(parser, "sources", nargs="+", help=f"databases to merge ({DB_HELP})")
    add_db_option(parser, "--into", required=True, help="target (created if missing)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Merge; print what each source added; return 0."""
    from spondy_annotate.grading.merge import merge_databases

    for c in merge_databases(args.sources, args.into):
        print(
            f"{c.source}: {c.cases_added} case(s), {c.sessions_added} session(s), "
            f"{c.answers_added} answer(s) added ({c.answers_present} already there), "
            f"{c.links_added} consensus link(s)"
        )
    return 0
