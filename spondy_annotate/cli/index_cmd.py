"""``spondy-annotate index DIR``: the series table of a DICOM export."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from spondy_annotate.cli._common import add_rules_option, index_with_progress

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
    add_rules_option(p)
    return p


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def run(args: argparse.Namespace) -> int:
    """Index the folder and print the table."""
    result = index_with_progress(args.folder, args.rules)
    table = result.series
    if args.json:
        records = [{k: _jsonable(v) for k, v in row.items()} for row in table.to_dict("records")]
        skipped = [{"path": s.path, "reason": s.reason} for s in result.skipped]
        json.dump({"series": records, "skipped": skipped}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.csv:
        out = table.copy()
        for col in ("pixel_spacing", "transfer_syntaxes", "files"):
            out[col] = out[col].map(lambda v: "" if v is None else "|".join(map(str, v)))
        out.to_csv(sys.stdout, index=False)
        return 0
    print(table[TABLE_COLUMNS].fillna("").to_string(index=False))
    files = sum(len(f) for f in table["files"])
    print(f"\n{len(table)} series in {files} files; {len(result.skipped)} files skipped")
    if result.skipped:
        print("skipped:")
        for s in result.skipped:
            print(f"  {s.path}: {s.reason}")
    return 0
