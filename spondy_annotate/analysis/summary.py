"""The analysis in words: the terminal summary, the methods paragraph and number formats.

Cases appear by ``case_id`` only; nothing here holds a patient ID or a date.

Examples
--------
>>> print(format_summary(result))                                      # doctest: +SKIP
>>> number_text(0.4812), p_text(0.0004)
('0.48', '<0.001')
"""

from __future__ import annotations

import math
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spondy_annotate.analysis.paper import PAPER_CLASS_COUNTS, PAPER_RHO
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.grading.rubric import Change
from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.read import LabProblem

__all__ = ["format_summary", "methods_text", "number_text", "p_text", "software_versions"]

#: Unlinked cases and rejected lab rows listed in the summary; the rest are counted.
_MAX_LISTED = 20
#: Packages whose versions the methods state.
_PACKAGES = ("spondy-annotate", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib")


def format_summary(result: AnalysisResult, *, lab_problems: Sequence[LabProblem] = ()) -> str:
    """Plain-text summary: class counts, correlations, kappa, unlinked cases, rejected lab rows.

    Lab rows are named by file name and line (the message never holds the patient ID).
    """
    s = result.settings
    c = s.classification
    lines = [
        f"Cases: {len(result.dataset['case_id'].unique())}; readers: "
        + ", ".join(f"{r} (primary)" if r == result.primary_reader else r for r in result.readers),
        "",
        f"Lab classes (normal: CRP <= {c.crp_normal:g} mg/L, ESR <= {c.esr_normal:g} mm/h; "
        f"unchanged counted as {c.unchanged_as.label})",
        f"Lab draws linked within {s.window}",
    ]
    counts = result.class_counts
    lines += _table(
        ["test", *(c.label for c in LabClass), "unchanged", "no class", "paper"],
        [
            [
                r.test,
                r.resolved,
                r.resolving,
                r.aggravated,
                r.unchanged,
                r.missing,
                "/".join(map(str, PAPER_CLASS_COUNTS.get(r.test, ()))) or "-",
            ]
            for r in counts.itertuples()
        ],
    )
    level = f"{s.confidence:.0%}"
    for primary in (True, False):
        part = result.correlations[result.correlations["primary"] == primary]
        if part.empty:
            continue
        who = f"primary reader {result.primary_reader}" if primary else "other readers"
        lines += ["", f"Spearman rho, lab class vs MRI change ({who})"]
        lines += _table(
            ["reader", "test", "item", "n", "rho", f"{level} CI", "p", "paper rho"],
            [
                [
                    r.reader,
                    r.test,
                    r.item,
                    r.n,
                    number_text(r.rho),
                    _ci_text(r.ci_low, r.ci_high),
                    p_text(r.p),
                    number_text(PAPER_RHO.get((r.test, r.item), math.nan)),
                ]
                for r in part.itertuples()
            ],
        )
    if not result.kappa.empty:
        lines += ["", f"Inter-reader agreement on MRI change (Cohen's kappa, {s.kappa_weights})"]
        lines += _table(
            ["item", "readers", "n", "kappa", "agreement"],
            [
                [
                    r.item,
                    f"{r.reader_a} / {r.reader_b}",
                    r.n,
                    number_text(r.kappa),
                    _percent_text(r.agreement),
                ]
                for r in result.kappa.itertuples()
            ],
        )
    unchanged = result.labs[result.labs["unchanged"]]
    if not unchanged.empty:
        lines += ["", f"Unchanged lab value above normal (counted as {c.unchanged_as.label}):"]
        lines += [f"  {r.test}: case {r.case_id}" for r in unchanged.itertuples()]
    missing = result.link.missing
    if not missing.empty:
        lines += ["", f"No usable lab value ({len(missing)}):"]
        lines += [
            f"  case {r.case_id} {r.test} {r.timepoint}: {r.reason}"
            for r in missing.head(_MAX_LISTED).itertuples()
        ]
        if len(missing) > _MAX_LISTED:
            lines.append(f"  ... and {len(missing) - _MAX_LISTED} more (unlinked_labs.csv)")
    if result.notes:
        lines += ["", "Notes:", *(f"  {note}" for note in result.notes)]
    if lab_problems:
        lines += ["", f"{len(lab_problems)} lab row(s) or cell(s) rejected:"]
        lines += [
            f"  {Path(p.file).name}:{p.line}: {p.message}" for p in lab_problems[:_MAX_LISTED]
        ]
        if len(lab_problems) > _MAX_LISTED:
            lines.append(f"  ... and {len(lab_problems) - _MAX_LISTED} more (lab_problems.csv)")
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(h) for h in headers], *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(_looks_numeric(row[i]) for row in cells[1:]) and len(cells) > 1
        for i in range(len(headers))
    ]
    return [
        "  ".join(
            (v.rjust(w) if num else v.ljust(w))
            for v, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[<>]?-?[\d.]+%?|-", text))


def number_text(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, ``-`` when it is NaN."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def p_text(value: float) -> str:
    """A p-value with three decimals, ``<0.001`` below that, ``-`` when it is NaN."""
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci_text(low: float, high: float) -> str:
    return "-" if math.isnan(low) else f"[{low:.2f}, {high:.2f}]"


def _percent_text(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages the analysis depends on."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"python": platform.python_version()} | {name: _version(name) for name in _PACKAGES}


def methods_text(result: AnalysisResult) -> str:
    """The methods paragraph, with every setting that changes the result."""
    s, c, w = result.settings, result.settings.classification, result.settings.window
    versions = ", ".join(f"{k} {v}" for k, v in software_versions().items())
    codes = ", ".join(f"{change.value} = {change.code}" for change in Change)
    classes = ", ".join(f"{lab_class.label} = {int(lab_class)}" for lab_class in LabClass)
    readers = (
        f"{len(result.readers)} readers ({', '.join(result.readers)}); the main result uses "
        f"{result.primary_reader}"
        + (
            " (chosen by the user)"
            if s.primary_reader
            else " (the reader with the most judged gradings)"
        )
        + ", and the other readers are reported separately"
        if len(result.readers) > 1
        else f"one reader ({result.primary_reader})"
    )
    boot = (
        f"a percentile bootstrap {s.confidence:.0%} confidence interval from {s.bootstrap} "
        f"resamples of the cases (numpy default_rng, seed {s.seed}; resamples in which either "
        "variable was constant were left out)"
        if s.bootstrap
        else "no confidence interval (bootstrap switched off)"
    )
    return (
        f"For each case, the CRP and ESR value nearest to each MRI date was taken from the lab "
        f"files, within {w.before_days} days before to {w.after_days} days after the MRI (both "
        "ends included; at equal distance the draw before the MRI was used; a draw served one "
        "MRI only). CRP was converted to mg/L (mg/dL x 10). The course from baseline to "
        f"follow-up was classed as resolved (follow-up within normal: CRP <= {c.crp_normal:g} "
        f"mg/L, ESR <= {c.esr_normal:g} mm/h), resolving (lower than baseline but above normal) "
        "or aggravated (not lower than baseline); a follow-up value equal to the baseline value "
        f"and above normal was counted as {c.unchanged_as.label}. The reader's judgement of each "
        f"MRI item was coded {codes}, and the lab class {classes}, so that agreement gives a "
        "positive coefficient. Where a case was graded at several levels, its worst change was "
        "used. Spearman's rank correlation "
        "(average ranks for ties) was computed with scipy.stats.spearmanr, with a two-sided "
        f"p-value from the t distribution with n - 2 degrees of freedom (not adjusted for "
        f"multiple comparisons), and {boot}. There were {readers}. Agreement between readers on "
        f"the MRI change was measured by Cohen's kappa with {s.kappa_weights} weights "
        f"(scikit-learn cohen_kappa_score over the three categories). Software: {versions}."
    )
