"""The one strict date parser: every date the project reads (DICOM, lab files, gradings tables)."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["is_missing", "parse_date"]

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T].*)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT, pd.NA and blank text."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (int, float)):
        return value != value  # NaN
    import pandas as pd  # only for NaT, pd.NA and numpy scalars, so that start-up stays light

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def parse_date(value: object, date_format: str | None = None) -> dt.date:
    """Return the calendar day of a date cell.

    Accepts ``datetime``/``date``/``pandas.Timestamp`` objects, ``YYYY-MM-DD`` text (anything
    after the day, such as a time, is ignored), ``YYYYMMDD`` text or integer (the DICOM DA form),
    or text in ``date_format`` when given.

    Raises
    ------
    ValueError
        With a short message saying what was wrong.
    """
    if is_missing(value):
        raise ValueError("missing date")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and float(value).is_integer()
    ):
        value = str(int(value))
    text = str(value).strip()
    try:
        if date_format:
            return dt.datetime.strptime(text, date_format).date()
        if match := _ISO_DATE.fullmatch(text) or _COMPACT_DATE.fullmatch(text):
            return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        pass
    expected = f"format {date_format!r}" if date_format else "YYYY-MM-DD or YYYYMMDD"
    raise ValueError(f"unparseable date {text!r} (expected {expected})")
