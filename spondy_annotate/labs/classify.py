"""The lab classification (Ahn et al. 2020): resolved, resolving or aggravated course.

Examples
--------
>>> classify_change(80.0, 12.0, 5.0)
(<LabClass.RESOLVING: 1>, False)
>>> classes = classify_labs(link, ClassificationSettings(crp_normal=5.0))  # doctest: +SKIP
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spondy_annotate.labs.link import LinkResult

__all__ = [
    "CLASS_COLUMNS",
    "ClassificationSettings",
    "LabClass",
    "classify_change",
    "classify_labs",
]


class LabClass(enum.IntEnum):
    """Course of a lab value from baseline to follow-up (Ahn et al. 2020); the value is its code."""

    RESOLVED = 0
    """The follow-up value is within the normal range (at or below the upper normal limit)."""

    RESOLVING = 1
    """The follow-up value is lower than at baseline but still above the normal limit."""

    AGGRAVATED = 2
    """The follow-up value is above the normal limit and not lower than at baseline."""

    @property
    def label(self) -> str:
        """Lower-case name used in tables (``resolved``, ``resolving``, ``aggravated``)."""
        return self.name.lower()


@dataclass(frozen=True)
class ClassificationSettings:
    """Thresholds and edge-case rule of the lab classification.

    Attributes
    ----------
    crp_normal
        Upper normal limit of CRP in mg/L (inclusive).
    esr_normal
        Upper normal limit of ESR in mm/h (inclusive).
    unchanged_as
        Class of a follow-up value equal to the baseline value and above normal:
        ``AGGRAVATED`` (default; "not lower than baseline") or ``RESOLVING``.
    """

    crp_normal: float = 5.0
    esr_normal: float = 20.0
    unchanged_as: LabClass = LabClass.AGGRAVATED

    def __post_init__(self) -> None:
        if self.unchanged_as is LabClass.RESOLVED:
            raise ValueError("unchanged_as must be AGGRAVATED or RESOLVING")
        if self.crp_normal < 0 or self.esr_normal < 0:
            raise ValueError("normal limits must be >= 0")

    def normal_limit(self, test: str) -> float:
        """Upper normal limit of ``test`` in its canonical unit."""
        return {"CRP": self.crp_normal, "ESR": self.esr_normal}[test]


def classify_change(
    baseline: float,
    followup: float,
    normal_limit: float,
    unchanged_as: LabClass = LabClass.AGGRAVATED,
) -> tuple[LabClass, bool]:
    """Classify one baseline/follow-up pair.

    Returns
    -------
    tuple of LabClass and bool
        The class and whether the pair is the *unchanged* edge case (follow-up equal to
        baseline and above normal), which is placed by ``unchanged_as``.

    Examples
    --------
    >>> classify_change(80.0, 5.0, 5.0)
    (<LabClass.RESOLVED: 0>, False)
    >>> classify_change(80.0, 80.0, 5.0)
    (<LabClass.AGGRAVATED: 2>, True)
    """
    if followup <= normal_limit:
        return LabClass.RESOLVED, False
    if followup < baseline:
        return LabClass.RESOLVING, False
    if followup == baseline:
        return unchanged_as, True
    return LabClass.AGGRAVATED, False


#: Columns of the :func:`classify_labs` table, in order.
CLASS_COLUMNS = (
    "case_id", "test", "baseline_value", "followup_value", "unit",
    "baseline_offset_days", "followup_offset_days", "baseline_draw_date", "followup_draw_date",
    "lab_class", "lab_code", "unchanged", "baseline_normal", "baseline_censored",
    "followup_censored",
)  # fmt: skip


def classify_labs(link: LinkResult, settings: ClassificationSettings | None = None) -> pd.DataFrame:
    """Classify every case and test that has both a baseline and a follow-up draw.

    Returns
    -------
    pandas.DataFrame
        Columns ``case_id, test, baseline_value, followup_value, unit, baseline_offset_days,
        followup_offset_days, baseline_draw_date, followup_draw_date, lab_class`` (label),
        ``lab_code`` (0 resolved < 1 resolving < 2 aggravated), ``unchanged`` (the edge case)
        ``baseline_normal`` (already normal at baseline, still classed resolved) and
        ``baseline_censored``, ``followup_censored`` (``<``/``>`` when the value was written as
        ``<L``/``>L`` and taken as its limit ``L``; a follow-up ``<L`` with ``L`` at or below
        the normal limit is resolved, with ``L`` above it conservatively not).
    """
    settings = settings or ClassificationSettings()
    keep = ["case_id", "test", "value", "unit", "offset_days", "draw_date", "censored"]
    base = link.draws.loc[link.draws["timepoint"] == "baseline", keep]
    follow = link.draws.loc[link.draws["timepoint"] == "followup", keep]
    pairs = base.merge(follow, on=["case_id", "test"], suffixes=("_b", "_f"), sort=False)
    rows: list[dict[str, Any]] = []
    for row in pairs.itertuples(index=False):
        limit = settings.normal_limit(str(row.test))
        lab_class, unchanged = classify_change(
            float(row.value_b), float(row.value_f), limit, settings.unchanged_as
        )
        rows.append(
            {
                "case_id": row.case_id,
                "test": row.test,
                "baseline_value": float(row.value_b),
                "followup_value": float(row.value_f),
                "unit": row.unit_b,
                "baseline_offset_days": int(row.offset_days_b),
                "followup_offset_days": int(row.offset_days_f),
                "baseline_draw_date": row.draw_date_b,
                "followup_draw_date": row.draw_date_f,
                "lab_class": lab_class.label,
                "lab_code": int(lab_class),
                "unchanged": unchanged,
                "baseline_normal": float(row.value_b) <= limit,
                "baseline_censored": row.censored_b,
                "followup_censored": row.censored_f,
            }
        )
    return pd.DataFrame.from_records(rows, columns=list(CLASS_COLUMNS))
