"""Linking lab draws to the MRI dates of each case: the nearest draw within a window.

Examples
--------
>>> labs = read_labs("labs.csv")                                                   # doctest: +SKIP
>>> link = link_labs(cases, labs.values, LinkWindow(before_days=7, after_days=3))  # doctest: +SKIP
>>> link.missing[["case_id", "test", "timepoint", "reason"]]                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from spondy_annotate._dates import parse_date

__all__ = ["DRAW_COLUMNS", "LinkResult", "LinkWindow", "link_labs"]


@dataclass(frozen=True)
class LinkWindow:
    """Days around an MRI date in which a lab draw counts for it.

    A draw ``offset`` days after the MRI (negative: before) is usable when
    ``-before_days <= offset <= after_days``; both ends are included.
    """

    before_days: int = 7
    after_days: int = 3

    def __post_init__(self) -> None:
        if self.before_days < 0 or self.after_days < 0:
            raise ValueError("link window days must be >= 0")

    def contains(self, offset_days: int) -> bool:
        """True when a draw ``offset_days`` after the MRI is in the window."""
        return -self.before_days <= offset_days <= self.after_days

    def __str__(self) -> str:
        return f"{self.before_days} days before to {self.after_days} days after the MRI"


@dataclass(frozen=True)
class LinkResult:
    """The draws chosen for each case, and what could not be linked.

    Attributes
    ----------
    draws
        One row per case x test x timepoint with a usable draw: ``case_id, test, timepoint``
        (``baseline``/``followup``), ``mri_date, draw_date, offset_days, value, unit,
        censored, file, line``.
    missing
        One row per case x test x timepoint without one: ``case_id, test, timepoint, reason``
        (the reason gives offsets, never dates or patient IDs).
    window
        The window used.
    """

    draws: pd.DataFrame
    missing: pd.DataFrame
    window: LinkWindow


_TIMEPOINTS = ("baseline", "followup")
#: Columns of :attr:`LinkResult.draws`, in order.
DRAW_COLUMNS = (
    "case_id", "test", "timepoint", "mri_date", "draw_date", "offset_days", "value", "unit",
    "censored", "file", "line",
)  # fmt: skip


def link_labs(
    cases: pd.DataFrame,
    values: pd.DataFrame,
    window: LinkWindow | None = None,
    *,
    tests: Sequence[str] = ("CRP", "ESR"),
) -> LinkResult:
    """Choose, for each case, test and MRI date, the lab draw nearest to the MRI.

    Parameters
    ----------
    cases
        One row per case: ``case_id, patient_id, baseline_date, followup_date`` (dates as
        anything :func:`~spondy_annotate._dates.parse_date` reads; a missing date makes the case unlinkable).
    values
        :attr:`~spondy_annotate.labs.read.LabImport.values` (``censored`` may be left out).
    window
        Draws outside it are not used (default 7 days before to 3 days after).
    tests
        Tests to link.

    Returns
    -------
    LinkResult

    Notes
    -----
    The nearest draw is the one with the smallest ``|offset|``; at equal distance the draw
    *before* the MRI wins (the value known when the scan was read). A draw is used for one
    timepoint only: the baseline is linked first and the follow-up takes the nearest remaining
    draw, which matters only when the two windows overlap.
    """
    window = window or LinkWindow()
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in values.to_dict("records"):
        by_key.setdefault((str(record["patient_id"]), str(record["test"])), []).append(record)
    draws: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for case in cases.itertuples(index=False):
        for test in tests:
            group = by_key.get((str(case.patient_id), test))
            used: set[tuple[str, int]] = set()
            for timepoint in _TIMEPOINTS:
                raw_date = getattr(case, f"{timepoint}_date")
                draw, reason = _nearest(group, raw_date, window, used, test, timepoint)
                base = {"case_id": case.case_id, "test": test, "timepoint": timepoint}
                if draw is None:
                    missing.append({**base, "reason": reason})
                else:
                    used.add((draw["file"], draw["line"]))
                    draws.append({**base, **draw})
    return LinkResult(
        draws=pd.DataFrame.from_records(draws, columns=list(DRAW_COLUMNS)),
        missing=pd.DataFrame.from_records(
            missing, columns=["case_id", "test", "timepoint", "reason"]
        ),
        window=window,
    )


def _nearest(
    group: list[dict[str, Any]] | None,
    raw_date: object,
    window: LinkWindow,
    used: set[tuple[str, int]],
    test: str,
    timepoint: str,
) -> tuple[dict[str, Any] | None, str]:
    """Return the chosen draw (or None) and the reason when there is none."""
    label = "follow-up" if timepoint == "followup" else timepoint
    try:
        mri = pd.Timestamp(parse_date(raw_date))
    except ValueError:
        return None, f"{label} MRI date unknown"
    if not group:
        return None, f"no {test} values for this patient"
    chosen: dict[str, Any] | None = None
    best: tuple[int, int, str, int] | None = None
    nearest_outside: int | None = None
    for row in group:
        if (row["file"], row["line"]) in used:
            continue
        offset = (row["date"] - mri).days
        if not window.contains(offset):
            if nearest_outside is None or abs(offset) < abs(nearest_outside):
                nearest_outside = int(offset)
            continue
        rank = (abs(offset), 1 if offset > 0 else 0, str(row["file"]), int(row["line"]))
        if best is None or rank < best:
            best = rank
            chosen = {
                "mri_date": mri,
                "draw_date": row["date"],
                "offset_days": int(offset),
                "value": float(row["value"]),
                "unit": row["unit"],
                "censored": row.get("censored", ""),
                "file": row["file"],
                "line": int(row["line"]),
            }
    if chosen is not None:
        return chosen, ""
    reason = (
        f"no {test} draw within -{window.before_days}..+{window.after_days} days of {label} MRI"
    )
    if nearest_outside is not None:
        reason += f" (nearest at {nearest_outside:+d} days)"
    elif used:
        reason += " other than the baseline draw"
    return None, reason
