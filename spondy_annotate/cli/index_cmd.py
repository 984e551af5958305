"""``spondy-annotate index DIR``: the series table of a DICOM export."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from spondy_annotate.cli._common import add_index_options, open_with_progress

#: Columns of the human-readable table.
TABLE_COLUMNS = [
    "patient_id",
    "study_date",
    "series_number",
    "series_description",
    "orientation",
    "sequence",
    "num_images",
    "rows",
    "columns",
    "slice_spacing",
    "note",
]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``index``."""
    p = sub.add_parser(
        "index",
        help="list the series of a DICOM export (headers only)",
        description="Index a DICOM export: one row per series, and every skipped file with why.",
    )
    p.add_argument("folder", help="the export folder (searched recursively)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print the series table as CSV")
    fmt.add_argument(
        "--json", action="store_true", help='print {"series": [...], "skipped": [...]}'
    )
    add_index_options(p)
    return p


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value


def run(args: argparse.Namespace) -> int:
    """Index the folder and print the table."""
    from spondy_annotate.dicom.index import SERIES_COLUMNS

    result = open_with_progress(args).index
    if args.json:
        rows = [{k: _cell(v) for k, v in row.items()} for row in result.rows]
        skipped = [{"path": s.path, "reason": s.reason} for s in result.skipped]
        json.dump({"series": rows, "skipped": skipped}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=SERIES_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in result.rows:
            writer.writerow(
                {k: "|".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
            )
        return 0
    table = result.series
    print(table[TABLE_COLUMNS].fillna("").to_string(index=False))
    files = sum(len(f) for f in table["files"])
    print(f"\n{len(table)} series in {files} files; {len(result.skipped)} files skipped")
    if result.skipped:
        print("skipped:")
        for s in result.skipped:
            print(f"  {s.path}: {s.reason}")
    return 0
