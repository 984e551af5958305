"""Descriptive tables: the follow-up interval, lab values per class, and the patient flow.

What a reader of the paper checks first: how long after the baseline the follow-up MRI was
(mean +- SD, median, range), what the lab values of each class were at both times (median,
IQR; how many were already normal at baseline), and how many patients reached each step from
graded to analysed.

Examples
--------
>>> interval_table(result.dataset)                                     # doctest: +SKIP
>>> flow_table(result)                                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.link import LinkResult

__all__ = ["FLOW_COLUMNS", "flow_table", "interval_table", "lab_values_table"]

#: Columns of :func:`flow_table`.
FLOW_COLUMNS = ("step", "test", "reader", "item", "cases")


def interval_table(dataset: pd.DataFrame) -> pd.DataFrame:
    """Days from the baseline to the follow-up MRI, one value per case with both dates.

    Returns
    -------
    pandas.DataFrame
        One row: ``n, mean, sd`` (n - 1 denominator), ``median, q1, q3, min, max``.
    """
    days = dataset.drop_duplicates("case_id")["interval_days"].dropna().to_numpy(float)
    return pd.DataFrame([{"measure": "follow-up interval (days)"} | _summary(days)])


def lab_values_table(labs: pd.DataFrame, tests: Sequence[str]) -> pd.DataFrame:
    """Lab values at baseline and follow-up per test and class (median and IQR).

    Parameters
    ----------
    labs
        :attr:`~spondy_annotate.analysis.results.AnalysisResult.labs`.
    tests
        Tests, in order.

    Returns
    -------
    pandas.DataFrame
        Per test and class: ``n``, ``unit``, ``baseline_median, baseline_q1, baseline_q3``,
        the same for ``followup``, and ``baseline_normal`` (cases already within normal at
        baseline: a *resolved* class that says nothing about a fall).
    """
    rows: list[dict[str, Any]] = []
    for test in tests:
        for lab_class in LabClass:
            part = labs[(labs["test"] == test) & (labs["lab_class"] == lab_class.label)]
            row: dict[str, Any] = {"test": test, "lab_class": lab_class.label, "n": len(part)}
            row["unit"] = part["unit"].iloc[0] if len(part) else ""
            for time in ("baseline", "followup"):
                values = part[f"{time}_value"].to_numpy(float)
                stats = _summary(values)
                row |= {f"{time}_{k}": stats[k] for k in ("median", "q1", "q3")}
            row["baseline_normal"] = int(part["baseline_normal"].sum())
            rows.append(row)
    return pd.DataFrame(rows)


def flow_table(
    dataset: pd.DataFrame,
    link: LinkResult,
    correlations: pd.DataFrame,
    tests: Sequence[str],
) -> pd.DataFrame:
    """Patients from graded to analysed, per test, then per reader and item.

    Steps: ``graded`` (cases with a judged grading), ``both MRI dates``, ``baseline <test>
    draw``, ``follow-up <test> draw``, ``classified`` (both draws), then ``analysed`` per
    reader and item (the n of the correlation).

    Returns
    -------
    pandas.DataFrame
        :data:`FLOW_COLUMNS`; ``reader`` and ``item`` are empty for the per-case steps.
    """
    cases = dataset.drop_duplicates("case_id")
    graded = len(cases)
    dated = int(cases["interval_days"].notna().sum())
    rows: list[tuple[str, str, str, str, int]] = []
    draws = link.draws
    for test in tests:
        rows += [("graded", test, "", "", graded), ("both MRI dates", test, "", "", dated)]
        have: dict[str, set[object]] = {}
        for time, label in (("baseline", "baseline"), ("followup", "follow-up")):
            have[time] = set(
                draws.loc[(draws["test"] == test) & (draws["timepoint"] == time), "case_id"]
            )
            rows.append((f"{label} {test} draw", test, "", "", len(have[time])))
        rows.append(("classified", test, "", "", len(have["baseline"] & have["followup"])))
        part = correlations[correlations["test"] == test]
        rows += [("analysed", test, r.reader, r.item, int(r.n)) for r in part.itertuples()]
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def _summary(values: np.ndarray) -> dict[str, float]:
    """n, mean, SD, median, quartiles and range of ``values`` (NaN where undefined)."""
    n = int(values.size)
    if n == 0:
        return {"n": 0} | dict.fromkeys(
            ("mean", "sd", "median", "q1", "q3", "min", "max"), math.nan
        )
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return {
        "n": n,
        "mean": float(values.mean()),
        "sd": float(values.std(ddof=1)) if n > 1 else math.nan,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(values.min()),
        "max": float(values.max()),
    }
