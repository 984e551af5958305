"""``spondy-annotate export``: write the gradings as a de-identified CSV, Excel or Parquet table."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from spondy_annotate.cli.db_arg import add_db_option
from spondy_annotate.projectdb.url import display_name

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``export`` subcommand on ``subparsers`` and return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write the gradings as a table (.csv, .xlsx, .parquet)",
        description=(
            "Write the current gradings, one row per case x reader x item, to a CSV, Excel or "
            "Parquet file (chosen by the extension). De-identified unless "
            "--include-identifiers is given."
        ),
    )
    add_db_option(parser, required=True)
    parser.add_argument(
        "--out", required=True, type=Path, help="output file: .csv, .xlsx or .parquet"
    )
    parser.add_argument(
        "--include-identifiers",
        action="store_true",
        help="add patient_id, baseline_date and followup_date (identifying data!)",
    )
    parser.add_argument(
        "--reader",
        action="append",
        metavar="NAME",
        help="only the gradings of this reader (repeat for several)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Export the gradings; return 0 (errors are raised as ``SpondyError``)."""
    from spondy_annotate.grading.export import export_gradings

    table = export_gradings(
        args.db, args.out, include_identifiers=args.include_identifiers, readers=args.reader
    )
    if table.empty:
        logger.warning(
            "no gradings%s in %s",
            f" of {', '.join(args.reader)}" if args.reader else "",
            display_name(args.db),
        )
    print(
        f"wrote {len(table)} rows ({table['case_id'].nunique()} cases, "
        f"{table['reader'].nunique()} readers) to {args.out}"
    )
    return 0
