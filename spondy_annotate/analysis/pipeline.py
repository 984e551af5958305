"""The one analysis pipeline behind ``spondy-annotate analyze`` and the napari Analysis dock.

:func:`run_analysis` reads the gradings and the lab files, runs the analysis, draws the figures,
writes the report folder when asked and returns all of it as an :class:`AnalysisRun`. It needs
no GUI, so the dock runs it in a worker thread. Rejected lab rows do not stop it: they come
back in :attr:`AnalysisRun.lab_problems`.

Examples
--------
>>> run = run_analysis("export.spondy.sqlite", ["labs.csv"], out="results")  # doctest: +SKIP
>>> print(run.summary)                                                       # doctest: +SKIP
>>> run.report.html                                                          # doctest: +SKIP
PosixPath('results/report.html')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from spondy_annotate.analysis.agreement import agreement_figures, agreement_table
from spondy_annotate.analysis.analyze import analyze
from spondy_annotate.analysis.figures import make_figures
from spondy_annotate.analysis.gradings import GradingsSource, load_gradings, prepare_gradings
from spondy_annotate.analysis.provenance import Provenance, collect_provenance
from spondy_annotate.analysis.report_files import (
    ReportFiles,
    check_report_folder,
    write_report,
)
from spondy_annotate.analysis.results import AnalysisResult, AnalysisSettings
from spondy_annotate.analysis.summary import format_summary
from spondy_annotate.errors import SpondyError
from spondy_annotate.labs.read import LabColumns, LabProblem, read_labs

logger = logging.getLogger(__name__)

__all__ = ["AnalysisRun", "run_analysis"]


@dataclass(frozen=True)
class AnalysisRun:
    """Everything one :func:`run_analysis` produced.

    Attributes
    ----------
    result
        The tables of the analysis.
    lab_problems
        Rejected lab rows or cells, in file order (``str(problem)`` is ``file:line: column: reason``).
    summary
        :func:`~spondy_annotate.analysis.summary.format_summary` text.
    figures
        PNG bytes by file name (:func:`~spondy_annotate.analysis.figures.make_figures`);
        empty when neither figures nor a report were asked for.
    report
        The files written, or None without ``out``.
    provenance
        Input files with their SHA-256, reading options, command line, time, software.
    agreement
        Agreement between and within readers per item and variable
        (:func:`~spondy_annotate.analysis.agreement.agreement_table`).
    """

    result: AnalysisResult
    lab_problems: tuple[LabProblem, ...]
    summary: str
    figures: dict[str, bytes]
    report: ReportFiles | None
    provenance: Provenance
    agreement: pd.DataFrame


def run_analysis(
    gradings: GradingsSource,
    labs: Sequence[str | os.PathLike[str]],
    *,
    settings: AnalysisSettings | None = None,
    lab_columns: LabColumns | None = None,
    lab_date_format: str | None = None,
    gradings_date_format: str | None = None,
    database: bool | None = None,
    out: str | os.PathLike[str] | None = None,
    include_identifiers: bool = False,
    figures: bool = True,
    command: str | None = None,
    mm_tolerance: float = 1.0,
) -> AnalysisRun:
    """Read the gradings and lab files, analyse, draw the figures and write the report.

    Parameters
    ----------
    gradings
        A grading database, a gradings table with identifiers (``.csv``, ``.xlsx``,
        ``.parquet``) or a table already read (see
        :func:`~spondy_annotate.analysis.gradings.load_gradings`).
    labs
        One or more lab files (:func:`~spondy_annotate.labs.read.read_labs`).
    settings
        Link window, classification, bootstrap, kappa weights, primary reader; the paper's
        defaults when None.
    lab_columns
        Column mapping of the lab files (long form with default names when None).
    lab_date_format
        ``strptime`` format of the lab dates (``YYYY-MM-DD`` or ``YYYYMMDD`` when None).
    gradings_date_format
        ``strptime`` format of the MRI dates of a gradings table given as text (see
        :func:`~spondy_annotate.analysis.gradings.load_gradings`).
    database
        For a ``gradings`` path: True a grading database, False a gradings table, None by the
        file name.
    out
        Folder for the CSV tables, figures and ``report.html``; nothing is written when None.
    include_identifiers
        Put patient IDs and dates into the per-case CSV tables of ``out``.
    figures
        Draw the figures when no report is written (a report always draws them, also as SVG).
    command
        The command line that started the run, for the provenance.
    mm_tolerance
        Disc heights (mm) of two readers within this count as agreeing (percentage agreement).

    Returns
    -------
    AnalysisRun

    Raises
    ------
    SpondyError
        No lab file; unreadable gradings or lab files; an unreadable MRI date; a follow-up
        MRI not after its baseline; nothing to analyse; an unknown primary reader; the report
        not writable. Each with a one-line message naming the file, row or case.
    """
    if not labs:
        raise SpondyError("no lab file given")
    if out is not None:
        check_report_folder(out)
    lab_columns = lab_columns or LabColumns()
    options = {
        "lab columns": lab_columns.describe(),
        "lab date format": lab_date_format or "YYYY-MM-DD or YYYYMMDD",
        "gradings date format": gradings_date_format or "YYYY-MM-DD or YYYYMMDD",
    }
    provenance = collect_provenance(gradings, labs, options=options, command=command)
    table = load_gradings(gradings, database=database, date_format=gradings_date_format)
    lab_import = read_labs(list(labs), lab_columns, date_format=lab_date_format)
    result = analyze(table, lab_import.values, settings)
    s = result.settings
    readings, _ = prepare_gradings(table)
    agreement = agreement_table(
        readings, confidence=s.confidence, n_boot=s.bootstrap, seed=s.seed,
        mm_tolerance=mm_tolerance,
    )  # fmt: skip
    problems = tuple(lab_import.problems)
    drawn: dict[str, bytes] = {}
    if figures or out is not None:
        drawn = make_figures(result, svg=out is not None)
        drawn |= agreement_figures(readings, confidence=s.confidence, svg=out is not None)
    report = None
    if out is not None:
        report = write_report(
            result,
            out,
            include_identifiers=include_identifiers,
            lab_problems=problems,
            figures=drawn,
            provenance=provenance,
            agreement=agreement,
        )
    logger.info("analysis done: %d lab rows rejected", len(problems))
    return AnalysisRun(
        result=result,
        lab_problems=problems,
        summary=format_summary(result, lab_problems=problems, agreement=agreement),
        figures={name: data for name, data in drawn.items() if name.endswith(".png")},
        report=report,
        provenance=provenance,
        agreement=agreement,
    )
