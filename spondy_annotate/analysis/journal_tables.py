"""The report's tables as a journal prints them: readable headers, two decimals, "0.43 to 0.78".

Each function takes a table of :class:`~spondy_annotate.analysis.results.AnalysisResult` and
returns a table of text cells; the HTML report shows them as they are.

Examples
--------
>>> correlation_table(result.correlations, confidence=0.95)           # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from spondy_annotate.analysis.paper import PAPER_CLASS_COUNTS, PAPER_RHO
from spondy_annotate.analysis.summary import ci_text, number_text, p_text
from spondy_annotate.labs.classify import LabClass

__all__ = [
    "class_count_table",
    "consistency_journal_table",
    "correlation_table",
    "crosstab_table",
    "flow_journal_table",
    "interval_journal_table",
    "kappa_table",
    "lab_value_table",
    "sensitivity_journal_table",
]

_Column = tuple[str, Callable[[Any], object]]


def _text_table(frame: pd.DataFrame, columns: Sequence[_Column]) -> pd.DataFrame:
    """One text row per row of ``frame``: (header, cell of a row) per column."""
    rows = [[str(cell(row)) for _, cell in columns] for row in frame.itertuples(index=False)]
    return pd.DataFrame(rows, columns=[header for header, _ in columns])


def _words(name: str) -> str:
    """``paravertebral_inflammation`` -> ``Paravertebral inflammation``."""
    text = str(name).replace("_", " ")
    return text[:1].upper() + text[1:]


def _median_iqr(median: float, q1: float, q3: float) -> str:
    return "-" if math.isnan(median) else f"{median:.2f} ({q1:.2f} to {q3:.2f})"


def correlation_table(correlations: pd.DataFrame, *, confidence: float) -> pd.DataFrame:
    """rho, interval, p (exact below 30 pairs), adjusted p, tau-b, the paper's rho."""
    level = f"{confidence:.0%} CI"
    return _text_table(
        correlations,
        [
            ("Reader", lambda r: r.reader),
            ("Lab test", lambda r: r.test),
            ("MRI item", lambda r: _words(r.item)),
            ("n", lambda r: r.n),
            ("Spearman rho", lambda r: number_text(r.rho)),
            (level, lambda r: ci_text(r.ci_low, r.ci_high)),
            ("p", lambda r: p_text(r.p_primary)),
            ("p method", lambda r: r.p_exact_method if r.p_primary == r.p_exact else "t"),
            ("p (t approx.)", lambda r: p_text(r.p)),
            ("p Holm", lambda r: p_text(r.p_holm)),
            ("p BH", lambda r: p_text(r.p_bh)),
            ("Kendall tau-b", lambda r: number_text(r.kendall_tau_b)),
            (f"tau-b {level}", lambda r: ci_text(r.kendall_low, r.kendall_high)),
            ("Bootstrap CI", lambda r: ci_text(r.boot_low, r.boot_high)),
            ("Ahn et al. rho", lambda r: number_text(PAPER_RHO.get((r.test, r.item), math.nan))),
        ],
    )


def class_count_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Class counts with the paper's."""
    return _text_table(
        counts,
        [
            ("Lab test", lambda r: r.test),
            *((_words(c.label), lambda r, c=c: getattr(r, c.label)) for c in LabClass),
            ("Unchanged above normal", lambda r: r.unchanged),
            ("No class", lambda r: r.missing),
            ("Cases", lambda r: r.cases),
            (
                "Ahn et al. (resolved/resolving/aggravated)",
                lambda r: "/".join(map(str, PAPER_CLASS_COUNTS.get(r.test, ()))) or "-",
            ),
        ],
    )


def crosstab_table(table: pd.DataFrame, test: str) -> pd.DataFrame:
    """A lab class x MRI change count table with a labelled first column and a total."""
    frame = pd.DataFrame(
        [
            [f"{test} {_words(str(label)).lower()}", *map(str, row), str(sum(row))]
            for label, row in zip(table.index, table.to_numpy().tolist(), strict=True)
        ],
        columns=[
            f"{test} class",
            *(f"MRI {_words(str(c)).lower()}" for c in table.columns),
            "Total",
        ],
    )
    return frame


def kappa_table(kappa: pd.DataFrame) -> pd.DataFrame:
    """Weighted kappa and raw agreement per item and pair of readers."""
    return _text_table(
        kappa,
        [
            ("MRI item", lambda r: _words(r.item)),
            ("Readers", lambda r: f"{r.reader_a} / {r.reader_b}"),
            ("n", lambda r: r.n),
            ("Weighted kappa", lambda r: number_text(r.kappa)),
            ("Weights", lambda r: r.weights),
            ("Agreement", lambda r: "-" if math.isnan(r.agreement) else f"{r.agreement:.0%}"),
        ],
    )


def interval_journal_table(interval: pd.DataFrame) -> pd.DataFrame:
    """The follow-up interval: mean +- SD, median (IQR), range."""
    return _text_table(
        interval,
        [
            ("Measure", lambda r: _words(r.measure)),
            ("n", lambda r: r.n),
            ("Mean +- SD", lambda r: f"{number_text(r.mean)} +- {number_text(r.sd)}"),
            ("Median (IQR)", lambda r: _median_iqr(r.median, r.q1, r.q3)),
            ("Range", lambda r: ci_text(r.min, r.max)),
        ],
    )


def lab_value_table(values: pd.DataFrame) -> pd.DataFrame:
    """Lab values per class at both times, median (IQR), and the baseline-normal cases."""
    return _text_table(
        values,
        [
            ("Lab test", lambda r: f"{r.test} ({r.unit})" if r.unit else r.test),
            ("Class", lambda r: _words(r.lab_class)),
            ("n", lambda r: r.n),
            (
                "Baseline, median (IQR)",
                lambda r: _median_iqr(r.baseline_median, r.baseline_q1, r.baseline_q3),
            ),
            (
                "Follow-up, median (IQR)",
                lambda r: _median_iqr(r.followup_median, r.followup_q1, r.followup_q3),
            ),
            ("Normal at baseline", lambda r: r.baseline_normal),
        ],
    )


def flow_journal_table(flow: pd.DataFrame) -> pd.DataFrame:
    """The patient flow, one row per step."""
    return _text_table(
        flow,
        [
            ("Step", lambda r: _words(r.step)),
            ("Lab test", lambda r: r.test),
            ("Reader", lambda r: r.reader or "-"),
            ("MRI item", lambda r: _words(r.item) if r.item else "-"),
            ("Cases", lambda r: r.cases),
        ],
    )


def consistency_journal_table(consistency: pd.DataFrame) -> pd.DataFrame:
    """Change judgements against the reader's own grades."""
    return _text_table(
        consistency,
        [
            ("Reader", lambda r: r.reader),
            ("MRI item", lambda r: _words(r.item)),
            ("n", lambda r: r.n),
            ("Consistent", lambda r: f"{r.consistent} ({r.consistent_pct:.0f}%)"),
            ("Change judged, equal grades", lambda r: r.changed_equal_grades),
            ("Unchanged judged, grades differ", lambda r: r.unchanged_different_grades),
            ("Opposite direction", lambda r: r.opposite_direction),
        ],
    )


def sensitivity_journal_table(sensitivity: pd.DataFrame, *, confidence: float) -> pd.DataFrame:
    """The sensitivity analyses, the main analysis marked."""
    return _text_table(
        sensitivity,
        [
            ("Setting", lambda r: _words(r.setting)),
            ("Value", lambda r: f"{r.value} (main)" if r.main else r.value),
            ("Lab test", lambda r: r.test),
            ("MRI item", lambda r: _words(r.item)),
            ("n", lambda r: r.n),
            ("Spearman rho", lambda r: number_text(r.rho)),
            (f"{confidence:.0%} CI", lambda r: ci_text(r.ci_low, r.ci_high)),
            ("p", lambda r: p_text(r.p_primary)),
        ],
    )
