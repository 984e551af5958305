"""``spondy-annotate index DIR``: the series table of a DICOM export."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spondy_annotate._csv import neutralise_cell
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


def _text(value: Any) -> str:
    """A cell of the human-readable table."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _json_lines(items: Iterable[str]) -> str:
    """A JSON array of encoded ``items``, one a line."""
    text = ",\n".join(items)
    return f"[\n{text}\n]" if text else "[]"


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as a text table: a header line, then one line per row, columns right-aligned."""
    cells = [list(columns)] + [[_text(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = (" ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells)
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    """Index the folder and print the table (the cached table, on an unchanged export: neither
    pandas nor numpy is imported, and the JSON is written by the C encoder)."""
    from spondy_annotate.dicom.index import SERIES_COLUMNS

    result = open_with_progress(args).index
    if args.json:  # one series, one skipped file per line
        dumps = json.JSONEncoder(allow_nan=False).encode
        series = _json_lines(dumps({k: _cell(v) for k, v in row.items()}) for row in result.rows)
        skipped = _json_lines(dumps({"path": s.path, "reason": s.reason}) for s in result.skipped)
        sys.stdout.write(f'{{"series": {series},\n"skipped": {skipped}}}\n')
        return 0
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=SERIES_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in result.rows:
            writer.writerow(
                {
                    k: neutralise_cell("|".join(map(str, v)) if isinstance(v, list) else v)
                    for k, v in row.items()
                }
            )
        return 0
    print(format_table(result.rows, TABLE_COLUMNS))
    files = sum(len(row["files"]) for row in result.rows)
    print(f"\n{len(result.rows)} series in {files} files; {len(result.skipped)} files skipped")
    if result.skipped:
        print("skipped:")
        for s in result.skipped:
            print(f"  {s.path}: {s.reason}")
    return 0
