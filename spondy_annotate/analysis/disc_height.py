"""Disc height as measured, and how each reader's change judgements agree with their grades.

The readers measure the disc height in mm on both MRIs (the export's
``baseline_disc_height_mm``, ``followup_disc_height_mm``). Per case and reader the change is
``followup - baseline`` in mm and in % of the baseline; a loss of height is negative. Each
change is correlated with the lab class (code 0 resolved < 1 resolving < 2 aggravated) by the
same Spearman analysis as the graded items, so a *negative* rho means that a worse lab course
goes with more loss of height.

The consistency table compares each reader's change judgement with their own two grades (every
rubric grade rises with severity): a higher follow-up grade means aggravated, a lower one
improved, an equal one unchanged.

Examples
--------
>>> disc_height_table(result.dataset)                                  # doctest: +SKIP
>>> consistency_table(result.dataset)                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from spondy_annotate.analysis.paper import order_items
from spondy_annotate.grading.rubric import Change

__all__ = ["CONSISTENCY_COLUMNS", "MEASURES", "consistency_table", "disc_height_table"]

#: The measured changes correlated with the lab class, by column of :func:`disc_height_table`.
MEASURES = ("disc_height_change_mm", "disc_height_change_pct")
#: Columns of :func:`consistency_table`.
CONSISTENCY_COLUMNS = (
    "reader", "item", "n", "consistent", "consistent_pct", "changed_equal_grades",
    "unchanged_different_grades", "opposite_direction",
)  # fmt: skip


def disc_height_table(dataset: pd.DataFrame, tests: Sequence[str]) -> pd.DataFrame:
    """One row per case and reader with both disc heights measured.

    Returns
    -------
    pandas.DataFrame
        ``case_id, reader, baseline_mm, followup_mm, disc_height_change_mm,
        disc_height_change_pct`` and per test ``<T>_code`` (the lab class code; NA when the
        case has none).
    """
    columns = ["case_id", "reader", "baseline_mm", "followup_mm", *MEASURES]
    columns += [f"{test}_code" for test in tests]
    measured = dataset.dropna(subset=["baseline_disc_height_mm", "followup_disc_height_mm"])
    measured = measured.drop_duplicates(["case_id", "reader"])
    base = measured["baseline_disc_height_mm"].to_numpy(float)
    follow = measured["followup_disc_height_mm"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(base > 0, 100 * (follow - base) / np.where(base > 0, base, 1), np.nan)
    table = measured.assign(
        baseline_mm=base,
        followup_mm=follow,
        disc_height_change_mm=follow - base,
        disc_height_change_pct=pct,
    )
    return table[columns].reset_index(drop=True)


def consistency_table(dataset: pd.DataFrame) -> pd.DataFrame:
    """Per reader and item: how often the change judgement follows the reader's two grades.

    Returns
    -------
    pandas.DataFrame
        :data:`CONSISTENCY_COLUMNS`: gradings with both grades (``n``), those whose judgement
        matches the grades (``consistent``, and in %), a change judged with equal grades, no
        change judged with different grades, and the opposite direction. Empty when the table
        has no grades.
    """
    graded = dataset.dropna(subset=["baseline_grade", "followup_grade"])
    rows: list[dict[str, Any]] = []
    for reader in sorted(graded["reader"].unique()):
        for item in order_items(graded.loc[graded["reader"] == reader, "item"]):
            part = graded[(graded["reader"] == reader) & (graded["item"] == item)]
            step = np.sign(part["followup_grade"] - part["baseline_grade"]).astype(int)
            implied = step.map(
                {-1: Change.IMPROVED.code, 0: Change.UNCHANGED.code, 1: Change.AGGRAVATED.code}
            )
            judged = part["mri_code"]
            unchanged = Change.UNCHANGED.code
            consistent = int((judged == implied).sum())
            rows.append(
                {
                    "reader": reader,
                    "item": item,
                    "n": len(part),
                    "consistent": consistent,
                    "consistent_pct": 100 * consistent / len(part),
                    "changed_equal_grades": int(((judged != unchanged) & (step == 0)).sum()),
                    "unchanged_different_grades": int(((judged == unchanged) & (step != 0)).sum()),
                    "opposite_direction": int(
                        ((judged != unchanged) & (step != 0) & (judged != implied)).sum()
                    ),
                }
            )
    return pd.DataFrame(rows, columns=list(CONSISTENCY_COLUMNS))
