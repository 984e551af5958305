"""The report folder: CSV tables, ``settings.json``, figures (PNG, SVG) and ``report.html``.

Nothing written holds a patient ID or a date unless ``include_identifiers`` is asked for, and
then only the per-case CSV tables do. Every file is written atomically
(:func:`~spondy_annotate._files.atomic_write`).

Examples
--------
>>> files = write_report(result, "out", lab_problems=labs.problems)    # doctest: +SKIP
>>> files.html                                                         # doctest: +SKIP
PosixPath('out/report.html')
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spondy_annotate._csv import neutralise_table
from spondy_annotate._files import atomic_write
from spondy_annotate.analysis.agreement import (
    AGREEMENT_COLUMNS,
    METHODS_TEXT,
    agreement_dictionary,
)
from spondy_annotate.analysis.dictionary import data_dictionary
from spondy_annotate.analysis.figures import make_figures
from spondy_annotate.analysis.permutation import MONTE_CARLO_PERMUTATIONS
from spondy_annotate.analysis.provenance import RNG, Provenance, software_versions
from spondy_annotate.analysis.report_html import render_html
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.stats import CI_METHOD, EXACT_P_BELOW_N
from spondy_annotate.errors import SpondyError
from spondy_annotate.labs.read import LabProblem

logger = logging.getLogger(__name__)

__all__ = ["ReportFiles", "check_report_folder", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    directory: Path
    html: Path
    tables: tuple[Path, ...]
    figures: tuple[Path, ...]


def write_report(
    result: AnalysisResult,
    directory: str | os.PathLike[str],
    *,
    include_identifiers: bool = False,
    lab_problems: Sequence[LabProblem] = (),
    figures: dict[str, bytes] | None = None,
    provenance: Provenance | None = None,
    agreement: pd.DataFrame | None = None,
) -> ReportFiles:
    """Write the CSV tables, figures (PNG and SVG) and ``report.html`` into ``directory``.

    Parameters
    ----------
    result
        From :func:`~spondy_annotate.analysis.analyze.analyze`.
    directory
        Created if needed; existing files of the same names are replaced.
    include_identifiers
        Put patient IDs and dates into ``analysis_dataset.csv``, ``lab_classes.csv``,
        ``lab_draws.csv`` and ``unlinked_labs.csv`` (never into the HTML report or figures).
    lab_problems
        Rejected lab rows, listed in the report and ``lab_problems.csv``.
    figures
        :func:`~spondy_annotate.analysis.figures.make_figures` output when already drawn;
        drawn here (PNG and SVG) when None.
    provenance
        Inputs, options, command and time, written into ``settings.json`` and the methods.
    agreement
        :func:`~spondy_annotate.analysis.agreement.agreement_table`, written as
        ``agreement.csv`` and shown in the report (an empty table when None).

    Returns
    -------
    ReportFiles
        Written tables: ``correlations.csv``, ``class_counts.csv``, ``crosstabs.csv``,
        ``kappa.csv``, ``analysis_dataset.csv``, ``lab_classes.csv``, ``lab_draws.csv`` (which
        row of which lab file was used), ``unlinked_labs.csv``, ``lab_problems.csv``,
        ``interval.csv``, ``lab_values.csv``, ``flow.csv``, ``disc_height.csv``,
        ``disc_height_correlations.csv``, ``grade_consistency.csv``, ``sensitivity.csv``,
        ``agreement.csv``,
        ``data_dictionary.csv`` (type and meaning of every column) and ``settings.json``;
        figures under ``figures/``.

    Raises
    ------
    SpondyError
        ``directory`` is a file, or the folder or a file cannot be written (a full disk): one
        line naming it. A file that failed is never left half-written under its name.
    """
    out = check_report_folder(directory)
    figures = make_figures(result, svg=True) if figures is None else figures
    tables = _tables(result, include_identifiers, lab_problems)
    if agreement is None:
        agreement = pd.DataFrame(columns=list(AGREEMENT_COLUMNS))
    dictionary = pd.concat([data_dictionary(tables), agreement_dictionary()], ignore_index=True)
    tables["agreement.csv"] = agreement
    tables["data_dictionary.csv"] = dictionary
    files = {  # a text cell a spreadsheet would evaluate is written as text (_csv)
        name: neutralise_table(frame).to_csv(index=False).encode("utf-8")
        for name, frame in tables.items()
    }
    settings = _settings_json(result, provenance)
    files["settings.json"] = json.dumps(settings, indent=2).encode("utf-8")
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = exc.filename or out
        raise SpondyError(
            f"{where}: cannot make the report folder ({exc.strerror or exc})"
        ) from None
    written = [_write(out / name, data) for name, data in files.items()]
    figure_paths = [_write(out / "figures" / name, data) for name, data in figures.items()]
    page = render_html(
        result,
        figures,
        lab_problems=lab_problems,
        provenance=provenance,
        dictionary=dictionary,
        agreement=agreement,
    )
    html_path = _write(out / "report.html", page.encode("utf-8"))
    logger.info("wrote report to %s", out)
    return ReportFiles(out, html_path, tuple(written), tuple(figure_paths))


def check_report_folder(directory: str | os.PathLike[str]) -> Path:
    """Return ``directory`` as a path, or raise SpondyError when it is an existing file.

    Called before the analysis too, so that a wrong ``--out`` fails at once.
    """
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise SpondyError(f"{out}: is a file, not a folder (give the report folder)")
    return out


def _write(path: Path, data: bytes) -> Path:
    """Write ``path`` atomically; a failure (a full disk) is a SpondyError naming the file."""
    try:
        return atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise SpondyError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def _tables(
    result: AnalysisResult, include_identifiers: bool, lab_problems: Sequence[LabProblem]
) -> dict[str, pd.DataFrame]:
    """The CSV tables by file name, without identifying columns unless asked."""
    labs, missing, draws = result.labs, result.link.missing, result.link.draws
    if include_identifiers:
        ids = result.dataset.drop_duplicates("case_id")[["case_id", "patient_id"]]
        missing = missing.merge(ids, on="case_id", how="left")
    else:
        labs = labs.drop(columns=[c for c in labs.columns if c.endswith("_date")])
        draws = draws.drop(columns=["mri_date", "draw_date"])
    return {
        "correlations.csv": result.correlations,
        "class_counts.csv": result.class_counts,
        "crosstabs.csv": _crosstabs_long(result),
        "kappa.csv": result.kappa,
        "analysis_dataset.csv": result.export_dataset(include_identifiers=include_identifiers),
        "lab_classes.csv": labs,
        "lab_draws.csv": draws,
        "unlinked_labs.csv": missing,
        "lab_problems.csv": pd.DataFrame(
            [asdict(p) for p in lab_problems], columns=["file", "line", "column", "message"]
        ),
        "interval.csv": result.interval,
        "lab_values.csv": result.lab_values,
        "flow.csv": result.flow,
        "disc_height.csv": result.disc_height,
        "disc_height_correlations.csv": result.disc_height_correlations,
        "grade_consistency.csv": result.grade_consistency,
        "sensitivity.csv": result.sensitivity,
    }


def _settings_json(result: AnalysisResult, provenance: Provenance | None) -> dict[str, Any]:
    s = result.settings
    settings = asdict(s)
    settings["classification"]["unchanged_as"] = s.classification.unchanged_as.label
    settings["tests"] = list(s.tests)
    out: dict[str, Any] = {
        "settings": settings,
        "primary_reader": result.primary_reader,
        "readers": list(result.readers),
        "statistics": {
            "ci_method": CI_METHOD,
            "p_primary": f"permutation p below {EXACT_P_BELOW_N} pairs, else t approximation",
            "p_adjustment": "Holm and Benjamini-Hochberg over each reader's tests x items",
            "monte_carlo_permutations": MONTE_CARLO_PERMUTATIONS,
            "censored_values": "<L and >L taken as L and flagged",
            "agreement": METHODS_TEXT,
        },
        "rng": f"{RNG}, seed {s.seed}",
        "software": provenance.software if provenance else software_versions(),
    }
    if provenance is not None:
        out |= {
            "inputs": [asdict(f) for f in provenance.inputs],
            "options": dict(provenance.options),
            "command": provenance.command,
            "started_at": provenance.started_at,
        }
    return out


def _crosstabs_long(result: AnalysisResult) -> pd.DataFrame:
    rows = [
        {
            "reader": result.primary_reader,
            "test": test,
            "item": item,
            "lab_class": lab_class,
            "mri_change": change,
            "count": int(table.loc[lab_class, change]),
        }
        for (test, item), table in result.crosstabs.items()
        for lab_class in table.index
        for change in table.columns
    ]
    return pd.DataFrame(rows)
