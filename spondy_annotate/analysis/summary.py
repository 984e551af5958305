"""The analysis in words: the terminal summary and the number formats of every table.

Cases appear by ``case_id`` only; nothing here holds a patient ID or a date.

Examples
--------
>>> print(format_summary(result))                                      # doctest: +SKIP
>>> number_text(0.4812), p_text(0.0004)
('0.48', '<0.001')
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from spondy_annotate.analysis.paper import PAPER_CLASS_COUNTS, PAPER_RHO
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.stats import CI_METHOD, EXACT_P_BELOW_N
from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.read import LabProblem

__all__ = [
    "agreement_text_table",
    "ci_text",
    "format_summary",
    "interval_text",
    "number_text",
    "p_text",
]

#: Unlinked cases and rejected lab rows listed in the summary; the rest are counted.
_MAX_LISTED = 20


def format_summary(
    result: AnalysisResult,
    *,
    lab_problems: Sequence[LabProblem] = (),
    agreement: pd.DataFrame | None = None,
) -> str:
    """Plain-text summary: class counts, correlations, agreement, unlinked cases, rejected lab rows.

    Lab rows are named by file name and line (the message never holds the patient ID).
    ``agreement`` is :func:`~spondy_annotate.analysis.agreement.agreement_table`; without it
    the summary shows the weighted kappa of the change judgements.
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
    lines += ["", interval_text(result.interval)]
    level = f"{s.confidence:.0%}"
    for primary in (True, False):
        part = result.correlations[result.correlations["primary"] == primary]
        if part.empty:
            continue
        who = f"primary reader {result.primary_reader}" if primary else "other readers"
        lines += ["", f"Spearman rho, lab class vs MRI change ({who})"]
        lines += _table(
            [
                "reader",
                "test",
                "item",
                "n",
                "rho",
                f"{level} CI",
                "p",
                "p Holm",
                "tau-b",
                "paper rho",
            ],
            [
                [
                    r.reader,
                    r.test,
                    r.item,
                    r.n,
                    number_text(r.rho),
                    ci_text(r.ci_low, r.ci_high),
                    p_text(r.p_primary) + ("*" if r.n < EXACT_P_BELOW_N else ""),
                    p_text(r.p_holm),
                    number_text(r.kendall_tau_b),
                    number_text(PAPER_RHO.get((r.test, r.item), math.nan)),
                ]
                for r in part.itertuples()
            ],
        )
    lines += [
        "",
        f"CI: {CI_METHOD}; p: permutation p (*: exact or Monte Carlo) below {EXACT_P_BELOW_N} "
        "pairs, else t approximation; p Holm: adjusted over the reader's tests x items.",
    ]
    if agreement is not None and not agreement.empty:
        lines += ["", "Agreement between and within readers (estimate, CI, % agreement)"]
        text = agreement_text_table(agreement, confidence=s.confidence)
        lines += _table(list(text.columns), text.to_numpy().tolist())
    elif not result.kappa.empty:
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
        lines += [f"  {p}" for p in lab_problems[:_MAX_LISTED]]
        if len(lab_problems) > _MAX_LISTED:
            lines.append(f"  ... and {len(lab_problems) - _MAX_LISTED} more (lab_problems.csv)")
    return "\n".join(lines)


def agreement_text_table(agreement: pd.DataFrame, *, confidence: float) -> pd.DataFrame:
    """The agreement table in words: one text row per coefficient (report and summary)."""
    rows = [
        [
            r.item,
            r.variable,
            r.scope,
            r.measure,
            r.readers,
            r.n,
            number_text(r.estimate),
            ci_text(r.ci_low, r.ci_high),
            "-" if math.isnan(r.percent_agreement) else f"{r.percent_agreement:.0f}%",
        ]
        for r in agreement.itertuples(index=False)
    ]
    headers = ["item", "variable", "scope", "measure", "readers", "n", "estimate",
               f"{confidence:.0%} CI", "agreement"]  # fmt: skip
    return pd.DataFrame(rows, columns=headers)


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


def interval_text(interval: pd.DataFrame) -> str:
    """The follow-up interval in words: mean +- SD, median, range."""
    row = interval.iloc[0]
    if not row["n"]:
        return "Follow-up interval: no case with both MRI dates"
    return (
        f"Follow-up interval (n = {int(row['n'])}): mean {row['mean']:.2f} +- "
        f"{number_text(row['sd'])} days, median {row['median']:g} "
        f"(IQR {row['q1']:g} to {row['q3']:g}, range {row['min']:g} to {row['max']:g})"
    )


def number_text(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, ``-`` when it is NaN."""
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def p_text(value: float) -> str:
    """A p-value with three decimals, ``<0.001`` below that, ``-`` when it is NaN."""
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def ci_text(low: float, high: float) -> str:
    """An interval as ``0.43 to 0.78``, ``-`` when it is NaN."""
    return "-" if math.isnan(low) else f"{low:.2f} to {high:.2f}"


def _percent_text(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"
