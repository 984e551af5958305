"""The gradings the analysis takes: where they are read from, how they are checked and coded.

:func:`load_gradings` takes them, with identifiers, from a grading database
(:func:`~spondy_annotate.grading.export.gradings_table`) or from a gradings table file
(:func:`~spondy_annotate.grading.export.read_gradings`, the one typed reader);
:func:`prepare_gradings` checks them and codes the change: one row per case x reader x item.
Case IDs are kept exactly as given (the store's pseudonyms), never replaced.

Examples
--------
>>> table = load_gradings("export.spondy.sqlite")                     # doctest: +SKIP
>>> coded, notes = prepare_gradings(table)                            # doctest: +SKIP
>>> coded[["case_id", "reader", "item", "change", "mri_code"]]        # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TypeAlias

import pandas as pd

from spondy_annotate._dates import is_missing, parse_date
from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.export import gradings_table, read_gradings
from spondy_annotate.grading.pseudonym import PREFIX
from spondy_annotate.grading.rubric import Change
from spondy_annotate.projectdb.location import is_project_db

__all__ = [
    "MEASURE_COLUMNS",
    "REQUIRED_COLUMNS",
    "GradingsSource",
    "check_gradings",
    "load_gradings",
    "prepare_gradings",
]

#: Gradings from a file of this name, a database, or a table already read.
GradingsSource: TypeAlias = str | os.PathLike[str] | pd.DataFrame
#: Columns the analysis needs: a gradings table with identifiers has them.
REQUIRED_COLUMNS = ("case_id", "patient_id", "item", "change", "baseline_date", "followup_date")
#: Change labels meaning "not judged"; such gradings are left out and counted.
_NOT_JUDGED = {"", "na", "n/a", "nan", "none", "not assessable", "not_assessable", "not assessed"}
_DATE_COLUMNS = ("baseline_date", "followup_date")
#: Grades and disc heights kept for the measured analysis (NaN when the table has none).
MEASURE_COLUMNS = (
    "baseline_grade", "followup_grade", "baseline_disc_height_mm", "followup_disc_height_mm",
)  # fmt: skip
_CHANGE_CODES = {change.value: change.code for change in Change}
#: A pseudonym of the store (:func:`~spondy_annotate.grading.pseudonym.case_pseudonym`).
_PSEUDONYM = re.compile(re.escape(PREFIX) + r"[0-9A-F]{2,64}")


def load_gradings(
    source: GradingsSource, *, database: bool | None = None, date_format: str | None = None
) -> pd.DataFrame:
    """The gradings with identifiers, from a grading database, a gradings table or a DataFrame.

    Parameters
    ----------
    source
        A grading database, a gradings table (``.csv``, ``.xlsx``, ``.parquet``, made with
        identifiers) or a table already read.
    database
        For a path: True reads it as a grading database, False as a gradings table; None
        decides by the name (:func:`~spondy_annotate.projectdb.location.is_project_db`).
    date_format
        ``strptime`` format of the MRI dates, when they are text
        other than ``YYYY-MM-DD`` or ``YYYYMMDD`` (e.g. ``%d.%m.%Y``).

    Raises
    ------
    SpondyError
        The database or file is missing or unreadable (``StoreError``, ``ExportError``), the
        table lacks a column of :data:`REQUIRED_COLUMNS` (the message names the file), or an
        MRI date cannot be read (naming the data row).
    """
    if isinstance(source, pd.DataFrame):
        check_gradings(source, "gradings")
        dates = {c: _study_dates(source[c], date_format, "gradings") for c in _DATE_COLUMNS}
        return source.assign(**dates)
    if database if database is not None else is_project_db(source):
        return gradings_table(source, include_identifiers=True)
    path = Path(source)
    table = read_gradings(path, date_format=date_format)
    check_gradings(table, str(path))
    return table


def check_gradings(table: pd.DataFrame, name: str) -> None:
    """Raise :class:`SpondyError` naming ``name`` when ``table`` lacks a required column."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise SpondyError(
            f"{name}: gradings lack column(s) {', '.join(missing)} (an export made with "
            "identifiers has them)"
        )


def prepare_gradings(gradings: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Check and code gradings: one row per case x reader x item.

    Parameters
    ----------
    gradings
        At least :data:`REQUIRED_COLUMNS`; ``reader``, ``level`` and ``answered_at`` are used
        when present (without ``reader``, one reader named ``reader``).

    Returns
    -------
    tuple of DataFrame and notes
        Columns ``case_id, patient_id, baseline_date, followup_date, reader, item, change,
        mri_code`` and :data:`MEASURE_COLUMNS` (floats), and what was left out or merged, in
        words.

    Notes
    -----
    Change labels are matched case-insensitively; gradings whose change is empty or "not
    assessable" are left out. Repeated gradings of the same case, reader, item and level keep
    the last (by ``answered_at`` when present); several levels of one case are merged into the
    worst change (highest code). A blank MRI date is missing (the case then has no lab link);
    a date that cannot be read (``YYYY-MM-DD``, ``YYYYMMDD`` or a date cell; see
    :func:`load_gradings` for other formats) is an error, as in the lab files. Case IDs are
    kept as given.

    Raises
    ------
    SpondyError
        Missing columns, an unreadable MRI date (naming the data row), a follow-up MRI not
        after its baseline MRI (naming the case), unknown change labels, a grading without a
        case ID, a case ID used for two patients or date pairs, one patient and date pair under
        two case IDs (gradings of databases with different pseudonym keys: each case would count
        twice), or case IDs (other than the store's pseudonyms) that hold their patient ID or an
        MRI date, which would carry identifiers into every output.
    """
    check_gradings(gradings, "gradings")
    notes: list[str] = []
    g = gradings.copy()
    g["case_id"] = g["case_id"].map(_text)
    g["patient_id"] = g["patient_id"].map(_text)
    for col in _DATE_COLUMNS:
        g[col] = _study_dates(g[col], None, "gradings")
    g["reader"] = g["reader"].map(_text).fillna("unknown") if "reader" in g else "reader"
    g["item"] = g["item"].map(_text)
    change = g["change"].map(lambda v: (_text(v) or "").lower())
    unknown = sorted(set(change) - set(_CHANGE_CODES) - _NOT_JUDGED)
    if unknown:
        raise SpondyError(
            f"gradings: unknown change label(s) {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(_CHANGE_CODES)})"
        )
    for col in MEASURE_COLUMNS:
        g[col] = _numbers(g[col]) if col in g else math.nan
    judged = change.isin(list(_CHANGE_CODES)) & g["item"].notna()
    if (~judged).any():
        notes.append(f"{int((~judged).sum())} grading(s) without a change judgement left out")
    g = g.loc[judged].assign(change=change[judged])
    g["mri_code"] = g["change"].map(_CHANGE_CODES).astype(int)
    _check_case_ids(g)
    _check_intervals(g)
    g = _merge_repeats(g, notes)
    columns = ["case_id", "patient_id", "baseline_date", "followup_date", "reader", "item"]
    return g[[*columns, "change", "mri_code", *MEASURE_COLUMNS]].reset_index(drop=True), tuple(
        notes
    )


def _text(value: object) -> str | None:
    """Stripped text of a cell, or None when empty (None, NaN, pd.NA, blank)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _study_dates(column: pd.Series, date_format: str | None, name: str) -> pd.Series:
    """The MRI dates as days (blank: NaT); an unreadable one raises naming its data row."""
    days: list[pd.Timestamp | None] = []
    for row, value in enumerate(column, start=1):
        if is_missing(value):
            days.append(None)
            continue
        try:
            days.append(pd.Timestamp(parse_date(value, date_format)))
        except ValueError as exc:
            hint = "" if date_format else "; give the format with --gradings-date-format"
            raise SpondyError(f"{name}: data row {row}: {column.name}: {exc}{hint}") from None
    return pd.Series(days, index=column.index, dtype="datetime64[ns]")


def _numbers(column: pd.Series) -> pd.Series:
    """A grade or measurement column as floats (blank: NaN); text that is no number raises."""
    cells = column.astype(object).where(column.notna(), None)
    cells = cells.map(lambda v: None if is_missing(v) else v)
    try:
        return pd.to_numeric(cells).astype(float)
    except (ValueError, TypeError) as exc:
        raise SpondyError(f"gradings: {column.name}: {exc}") from None


def _check_intervals(g: pd.DataFrame) -> None:
    """Raise naming the first case whose follow-up MRI is not after its baseline MRI."""
    days = (g["followup_date"] - g["baseline_date"]).dt.days
    bad = g.loc[days.notna() & (days <= 0), "case_id"]
    if not bad.empty:
        case = bad.iloc[0]
        interval = int(days[bad.index[0]])
        what = "on the same day as" if interval == 0 else f"{-interval} days before"
        more = f" (and {bad.nunique() - 1} more case(s))" if bad.nunique() > 1 else ""
        raise SpondyError(
            f"gradings: case {case}: follow-up MRI {what} the baseline MRI{more}; "
            "baseline and follow-up are swapped or wrongly paired"
        )


def _check_case_ids(g: pd.DataFrame) -> None:
    """Raise unless every grading has a case ID that is one case's, and the only one of its
    case, and holds no identifier."""
    blank = int(g["case_id"].isna().sum())
    if blank:
        raise SpondyError(f"gradings: {blank} grading(s) without a case ID")
    key = ["patient_id", "baseline_date", "followup_date"]
    per_case = g.drop_duplicates(["case_id", *key])
    clash = per_case["case_id"][per_case["case_id"].duplicated()]
    if not clash.empty:
        raise SpondyError(
            f"gradings: {clash.nunique()} case ID(s) belong to more than one patient or date pair"
        )
    dated = per_case.dropna(subset=key).drop_duplicates("case_id")
    split = dated[dated.duplicated(key, keep=False)]
    if not split.empty:
        groups = split.groupby(key, sort=False)["case_id"].agg(sorted)
        ids, more = groups.iloc[0], len(groups) - 1
        raise SpondyError(
            f"gradings: case IDs {', '.join(ids)} are one patient and date pair"
            + (f" (and {more} more patient(s))" if more else "")
            + "; the gradings come from databases with different pseudonym keys: share one key "
            "(spondy-annotate study key export/import) or merge the databases "
            "(spondy-annotate merge)"
        )
    leaks = sum(
        not _PSEUDONYM.fullmatch(case.case_id)
        and _holds_identifier(case.case_id, case.patient_id, case.baseline_date, case.followup_date)
        for case in per_case.itertuples(index=False)
    )
    if leaks:
        raise SpondyError(
            f"gradings: {leaks} case ID(s) hold their patient ID or an MRI date and would "
            "identify the patient in every output; use pseudonymous case IDs (as "
            "`spondy-annotate export` writes them)"
        )


def _holds_identifier(case_id: str, patient_id: str | None, *dates: pd.Timestamp) -> bool:
    """True when a case ID contains its patient ID or one of its dates (as YYYYMMDD or ISO)."""
    if patient_id and patient_id in case_id:
        return True
    digits = case_id.replace("-", "")
    return any(
        not pd.isna(day) and (day.strftime("%Y%m%d") in digits or day.strftime("%y%m%d") in digits)
        for day in dates
    )


def _merge_repeats(g: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    unit = ["case_id", "reader", "item"]
    if "answered_at" in g:
        g = g.sort_values("answered_at", kind="stable")
    levelled = [*unit, "level"] if "level" in g else unit
    last = g.drop_duplicates(levelled, keep="last")
    if len(last) < len(g):
        notes.append(
            f"{len(g) - len(last)} repeated grading(s) of the same case, reader, item and level: "
            "the last was used"
        )
    worst = last.sort_values("mri_code", kind="stable").drop_duplicates(unit, keep="last")
    if len(worst) < len(last):
        notes.append(
            f"{len(last) - len(worst)} grading(s) of further levels merged: each case takes "
            "the worst change over its levels"
        )
    return worst.sort_index()
