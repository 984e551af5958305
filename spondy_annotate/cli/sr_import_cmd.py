"""``spondy-annotate sr-import``: read grading SRs back into a project database."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spondy_annotate.cli.db_arg import DB_HELP, add_db_option


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``sr-import`` subcommand on ``subparsers`` and return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sr-import",
        help="read grading SRs (written by `sr`) into a project database",
        description=(
            "Store the answers of grading SRs as answers of their readers, append-only; "
            "answers equal to the reader's current one are not added again."
        ),
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE_OR_URL",
        help="SR files, or a DICOMweb URL: every SR series it holds (QIDO-RS Modality=SR) is "
        "retrieved and read",
    )
    add_db_option(parser, required=True, help=f"{DB_HELP} (created if missing)")
    parser.add_argument(
        "--rubric",
        metavar="FILE",
        help="the rubric TOML the SRs declare, when it is neither built in nor in --db",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Import the files; return 0 (errors are raised as ``SpondyError``)."""
    from spondy_annotate.grading.rubric_toml import load_rubric
    from spondy_annotate.grading.store import Store
    from spondy_annotate.sr.read import import_reports

    rubric = load_rubric(args.rubric) if args.rubric else None
    files = [path for source in args.files for path in _sr_files(source)]
    with Store(args.db) as store:
        imported = import_reports(files, store, rubric=rubric)
    added = sum(r.answers_added for r in imported)
    cases = len({r.case_id for r in imported})
    print(f"imported {len(imported)} SRs ({cases} cases): {added} answers added to {store.path}")
    return 0


def _sr_files(source: str) -> list[Path]:
    """``source`` as a file, or the SR files retrieved from the DICOMweb service ``source``."""
    from spondy_annotate.dicomweb.auth import is_url

    if not is_url(source):
        return [Path(source)]
    from spondy_annotate.dicomweb.service import SERIES_UID, STUDY_UID, DicomWebService, json_value

    service = DicomWebService(source)
    return [
        path
        for series in service.search_series(Modality="SR")
        for path in service.retrieve_series(
            json_value(series, STUDY_UID), json_value(series, SERIES_UID)
        )
    ]
