"""The per-case dataset of the analysis: each grading beside its case's lab course."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["build_dataset"]


def build_dataset(g: pd.DataFrame, labs: pd.DataFrame, tests: Sequence[str]) -> pd.DataFrame:
    """The prepared gradings with the interval and, per test, the case's lab course.

    Parameters
    ----------
    g
        :func:`~spondy_annotate.analysis.gradings.prepare_gradings` output.
    labs
        :func:`~spondy_annotate.labs.classify.classify_labs` output.
    tests
        Tests, in order.

    Returns
    -------
    pandas.DataFrame
        One row per case x reader x item (see
        :attr:`~spondy_annotate.analysis.results.AnalysisResult.dataset`).
    """
    data = g.copy()
    data["interval_days"] = (data["followup_date"] - data["baseline_date"]).dt.days
    fields = {
        "baseline_value": "baseline",
        "followup_value": "followup",
        "baseline_offset_days": "baseline_offset_days",
        "followup_offset_days": "followup_offset_days",
        "lab_class": "class",
        "lab_code": "code",
        "unchanged": "unchanged",
        "baseline_draw_date": "baseline_draw_date",
        "followup_draw_date": "followup_draw_date",
    }
    for test in tests:
        part = labs.loc[labs["test"] == test, ["case_id", *fields]]
        part = part.rename(columns={k: f"{test}_{v}" for k, v in fields.items()})
        data = data.merge(part, on="case_id", how="left")
        data[f"{test}_code"] = data[f"{test}_code"].astype("Int64")
    return data.reset_index(drop=True)
