"""``spondy-annotate sr``: write the gradings as DICOM SRs (TID 1500), optionally STOW them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from spondy_annotate.cli._common import add_rules_option, terminal_progress
from spondy_annotate.cli.db_arg import add_db_option
from spondy_annotate.projectdb.url import display_name

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``sr`` subcommand on ``subparsers`` and return its parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sr",
        help="write the gradings as DICOM Structured Reports (identifying!)",
        description=(
            "Write one DICOM Comprehensive 3D SR (TID 1500 measurement report) per case, "
            "reader and rubric: grades, change judgements and disc heights with their lines, "
            "referencing the graded images. An SR belongs to the patient's follow-up study and "
            "carries the patient's identity (a clinical result for the PACS, unlike `export`)."
        ),
    )
    add_db_option(parser, required=True)
    parser.add_argument("--out", required=True, type=Path, help="folder for the SR files")
    parser.add_argument(
        "--dicom",
        metavar="DIR_OR_URL",
        help="the export the cases were graded from: a folder or a DICOMweb URL (default: the "
        "folder whose project database file --db is, i.e. --db without .spondy.sqlite)",
    )
    parser.add_argument(
        "--reader",
        action="append",
        metavar="NAME",
        help="only the gradings of this reader (repeat for several)",
    )
    parser.add_argument(
        "--stow",
        metavar="URL",
        help="also send the SRs to this DICOMweb service (STOW-RS; credentials from ~/.netrc "
        "or $SPONDY_DICOMWEB_BASIC / $SPONDY_DICOMWEB_TOKEN)",
    )
    add_rules_option(parser)
    return parser


def export_source(db: Path | str, dicom: str | None) -> str:
    """The export to read the graded images from: ``dicom``, else the folder of the file ``db``."""
    from spondy_annotate.errors import SpondyError
    from spondy_annotate.projectdb.location import SUFFIX

    if dicom:
        return dicom
    if isinstance(db, Path) and db.name.endswith(SUFFIX):
        folder = db.with_name(db.name[: -len(SUFFIX)])
        if folder.is_dir():
            return str(folder)
    raise SpondyError(f"{display_name(db)}: no export folder beside it; give --dicom DIR_OR_URL")


def run(args: argparse.Namespace) -> int:
    """Write (and send) the SRs; return 1 if a case's studies were not in the export."""
    from spondy_annotate.cases.open import open_export
    from spondy_annotate.dicom.rules import load_rules
    from spondy_annotate.grading.store import Store
    from spondy_annotate.sr.evidence import read_series_headers
    from spondy_annotate.sr.export import write_reports

    rules = load_rules(args.rules)
    with Store(args.db, create=False) as store:
        export = open_export(
            export_source(args.db, args.dicom),
            rules=rules,
            cache=args.db if isinstance(args.db, Path) else True,  # the header cache is local
            progress=terminal_progress("reading headers"),
        )
        read = export.service.headers if export.service else read_series_headers
        written = write_reports(
            store, export.index.records, args.out, rules=rules, readers=args.reader, read=read
        )
    print(f"wrote {len(written.paths)} SRs to {args.out}")
    if args.stow and written.paths:
        from pydicom import dcmread

        from spondy_annotate.dicomweb.service import DicomWebService

        service = DicomWebService(args.stow)
        service.store([dcmread(p) for p in written.paths])
        print(f"sent {len(written.paths)} SRs to {service.url}")
    for case_id in written.missing:
        print(f"not written: case {case_id}: its studies are not in {export.source}")
    return 1 if written.missing else 0
