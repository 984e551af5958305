"""``spondy-annotate analyze``: correlate the lab course (CRP, ESR) with the graded MRI change."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from spondy_annotate.cli.db_arg import add_db_option
from spondy_annotate.errors import SpondyError
from spondy_annotate.projectdb.url import display_name, is_postgres_url

#: Exit status when the analysis ran but some lab rows were rejected.
EXIT_LAB_ROWS_REJECTED = 3

_EPILOG = """\
lab files:
  long form   columns patient_id, date, test (CRP/ESR), value, unit (CRP mg/L or mg/dL, ESR mm/h)
  wide form   one draw per row; name the columns with --labs-map, e.g.
              --labs-map patient_id=MRN,date=DrawDate,CRP=crp,ESR=esr --crp-unit mg/dL
  dates       YYYY-MM-DD or YYYYMMDD, or --labs-date-format (e.g. %d.%m.%Y)
  censored    <5 or >120 is taken as its limit and flagged (stated in the methods)

gradings table dates: YYYY-MM-DD or YYYYMMDD, or --gradings-date-format; an unreadable date
or a follow-up MRI not after its baseline MRI is an error naming the row or case.

exit status:
  0  analysis done, every lab row used
  1  fatal error (one line on stderr)
  2  bad command line
  3  analysis done, but some lab rows were rejected (printed as file:line: column: reason on stderr)

Terminal output and written files show cases by case ID only. With --include-identifiers,
patient IDs and dates are added to the per-case CSV files (analysis_dataset, lab_classes,
lab_draws, unlinked_labs), never to report.html or the figures.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``analyze`` subcommand."""
    p = subparsers.add_parser(
        "analyze",
        help="correlate lab course (CRP, ESR) with graded MRI change",
        description="Link CRP/ESR values to the baseline and follow-up MRI of each graded case, "
        "class their course (resolved/resolving/aggravated) and correlate it with the readers' "
        "MRI change judgements (Spearman), as in Ahn et al. 2020.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = p.add_mutually_exclusive_group(required=True)
    add_db_option(source)
    source.add_argument(
        "--gradings",
        metavar="FILE",
        help="gradings table with identifiers (.csv, .xlsx or .parquet)",
    )
    p.add_argument(
        "--labs", metavar="FILE", nargs="+", required=True, help="lab file(s), CSV or .xlsx"
    )
    p.add_argument("--labs-map", metavar="SPEC", help="lab column mapping key=column,...")
    p.add_argument("--crp-unit", default="mg/L", help="CRP unit of a wide lab file (mg/L)")
    p.add_argument("--esr-unit", default="mm/h", help="ESR unit of a wide lab file (mm/h)")
    p.add_argument("--labs-date-format", metavar="FMT", help="strptime format of lab dates")
    p.add_argument(
        "--gradings-date-format", metavar="FMT", help="strptime format of gradings table dates"
    )
    p.add_argument("--out", metavar="DIR", help="write CSV tables, figures and report.html here")
    p.add_argument("--window-before", type=_non_negative_int, default=7, metavar="DAYS")
    p.add_argument("--window-after", type=_non_negative_int, default=3, metavar="DAYS")
    p.add_argument("--crp-normal", type=float, default=5.0, metavar="MG_L")
    p.add_argument("--esr-normal", type=float, default=20.0, metavar="MM_H")
    p.add_argument(
        "--unchanged-as",
        choices=("aggravated", "resolving"),
        default="aggravated",
        help="class of a follow-up value equal to baseline and above normal (aggravated)",
    )
    p.add_argument("--bootstrap", type=_non_negative_int, default=2000, metavar="N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kappa-weights", choices=("linear", "quadratic"), default="linear")
    p.add_argument("--primary-reader", metavar="NAME", help="reader of the main result")
    p.add_argument(
        "--include-identifiers",
        action="store_true",
        help="put patient IDs and dates into the per-case CSV files",
    )
    return p


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def command_line(args: argparse.Namespace) -> str:
    """The command with every option spelled out, files by name only (for the provenance).

    Examples
    --------
    >>> ns = argparse.Namespace(db=None, gradings="/data/g.csv", labs=["/data/l.csv"], seed=0)
    >>> command_line(ns)
    'spondy-annotate analyze --gradings g.csv --labs l.csv --seed 0'
    """
    words = ["spondy-annotate", "analyze"]
    for key, value in vars(args).items():
        if key in ("command", "run", "verbose", "out") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if key == "db" and is_postgres_url(value):
            value = shlex.quote(display_name(value))
        elif key in ("db", "gradings"):
            value = Path(value).name
        elif key == "labs":
            value = " ".join(shlex.quote(Path(v).name) for v in value)
        elif value is not True:
            value = shlex.quote(str(value))
        words.append(flag if value is True else f"{flag} {value}")
    return " ".join(words)


def run(args: argparse.Namespace) -> int:
    """Run the analysis; return 0, or 3 when lab rows were rejected."""
    from spondy_annotate.analysis.pipeline import run_analysis
    from spondy_annotate.analysis.results import AnalysisSettings
    from spondy_annotate.labs.classify import ClassificationSettings, LabClass
    from spondy_annotate.labs.link import LinkWindow
    from spondy_annotate.labs.read import LabColumns

    try:
        columns = LabColumns.parse(
            args.labs_map or "", crp_unit=args.crp_unit, esr_unit=args.esr_unit
        )
        settings = AnalysisSettings(
            window=LinkWindow(args.window_before, args.window_after),
            classification=ClassificationSettings(
                crp_normal=args.crp_normal,
                esr_normal=args.esr_normal,
                unchanged_as=LabClass[args.unchanged_as.upper()],
            ),
            bootstrap=args.bootstrap,
            seed=args.seed,
            kappa_weights=args.kappa_weights,
            primary_reader=args.primary_reader,
        )
    except ValueError as exc:
        raise SpondyError(str(exc)) from exc

    gradings: Any = args.db or args.gradings
    if is_postgres_url(gradings):  # a server: its table is read here (there is no file to hash)
        from spondy_annotate.grading.export import gradings_table

        gradings = gradings_table(gradings, include_identifiers=True)
    run = run_analysis(
        gradings,
        args.labs,
        settings=settings,
        lab_columns=columns,
        lab_date_format=args.labs_date_format,
        gradings_date_format=args.gradings_date_format,
        database=args.db is not None,
        out=args.out,
        include_identifiers=args.include_identifiers,
        figures=False,
        command=command_line(args),
    )
    for problem in run.lab_problems:
        print(problem, file=sys.stderr)
    print(run.summary)
    if run.report is not None:
        print(f"\nReport: {run.report.html}")
    return EXIT_LAB_ROWS_REJECTED if run.lab_problems else 0
