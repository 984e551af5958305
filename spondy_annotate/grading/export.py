"""The gradings as a tidy table: one row per case x reader x item, de-identified by default.

:func:`gradings_table` builds the table from the grading database, :func:`export_gradings`
writes it as CSV, Excel (.xlsx) or Parquet (chosen by the extension, written atomically) and
:func:`read_gradings` is the one reader of such tables: it reads any of them back with the same
dtypes (dates as ``datetime64``, grades as nullable ``Int64``), keeping the case IDs as they are
(the store's pseudonyms), which is what the analysis takes as input.

Case-level values (level, disc height in mm, interval, confidence, note) are repeated on every
item row of the case. Without ``include_identifiers`` the table holds no patient ID, study UID
or study date, only the case pseudonym and the interval in days; free-text notes are exported
as typed, so readers must not write identifiers into them. A text cell that a spreadsheet would
evaluate (``=``, ``+``, ``-``, ``@``...) is written to CSV with a leading apostrophe
(:mod:`spondy_annotate._csv`, undone by :func:`read_gradings`) and to xlsx as a text cell.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spondy_annotate._csv import neutralise_table, restore_cell
from spondy_annotate._dates import is_missing, parse_date
from spondy_annotate._files import atomic_write
from spondy_annotate.errors import ExportError, RubricError
from spondy_annotate.grading.rubric import CASE_ITEM, Measurement, Rubric
from spondy_annotate.grading.rubric_toml import builtin_rubrics, load_rubric
from spondy_annotate.grading.store import Answer, Store

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

logger = logging.getLogger(__name__)

#: Every column of the export, in order, with its meaning (documentation and the xlsx sheet).
EXPORT_COLUMNS: dict[str, str] = {
    "case_id": "Case pseudonym (HMAC of patient ID and study UIDs with the database's secret key).",
    "patient_id": "Patient ID. Only with include_identifiers.",
    "baseline_date": "Date of the baseline MRI. Only with include_identifiers.",
    "followup_date": "Date of the follow-up MRI. Only with include_identifiers.",
    "reader": "Who graded (as entered at the start of the session).",
    "item": "Graded item id of the rubric, e.g. marrow_edema, paravertebral_inflammation, "
    "disc_height.",
    "level": "Affected level, e.g. L4-L5 (case-level, repeated on each item row).",
    "baseline_grade": "Grade of the item on the baseline MRI (integer of the rubric's scale).",
    "followup_grade": "Grade of the item on the follow-up MRI.",
    "change": "Reader's judgement of the item: improved, unchanged or aggravated.",
    "baseline_disc_height_mm": "Disc height measured on the baseline MRI, mm (case-level).",
    "followup_disc_height_mm": "Disc height measured on the follow-up MRI, mm (case-level).",
    "interval_days": "Days from the baseline to the follow-up MRI.",
    "confidence": "Reader's confidence for the case: confident or uncertain (case-level).",
    "note": "Reader's free-text note for the case (case-level).",
    "answered_at": "UTC time of the latest answer to this item's fields.",
    "rubric_name": "Rubric used, e.g. ahn2020.",
    "rubric_version": "Version of the rubric of the reader's latest answer to the case.",
}
#: Columns that identify the patient; absent unless asked for.
IDENTIFIER_COLUMNS = ("patient_id", "baseline_date", "followup_date")
#: Columns every gradings table has (what :func:`read_gradings` requires).
REQUIRED_COLUMNS = ("case_id", "item", "change")
#: Output formats by file extension.
FORMATS = (".csv", ".xlsx", ".parquet")

_MM_COLUMN = re.compile(r"^(baseline|followup)_([a-z][a-z0-9_]*)_mm$")
_SHEET = "gradings"


def _dtypes() -> dict[str, Any]:
    return {
        "case_id": "string",
        "patient_id": "string",
        "baseline_date": "datetime64[ns]",
        "followup_date": "datetime64[ns]",
        "reader": "string",
        "item": "string",
        "level": "string",
        "baseline_grade": "Int64",
        "followup_grade": "Int64",
        "change": "string",
        "baseline_disc_height_mm": "float64",
        "followup_disc_height_mm": "float64",
        "interval_days": "Int64",
        "confidence": "string",
        "note": "string",
        "answered_at": "datetime64[ns, UTC]",
        "rubric_name": "string",
        "rubric_version": "string",
    }


def _columns(include_identifiers: bool, extra_mm: Iterable[str] = ()) -> list[str]:
    cols = [c for c in EXPORT_COLUMNS if include_identifiers or c not in IDENTIFIER_COLUMNS]
    at = cols.index("followup_disc_height_mm") + 1
    return cols[:at] + sorted(extra_mm) + cols[at:]


@contextmanager
def _opened(db: str | os.PathLike[str] | Store) -> Iterator[Store]:
    if isinstance(db, Store):
        yield db
        return
    store = Store(db, create=False)
    try:
        yield store
    finally:
        store.close()


def gradings_table(
    db: str | os.PathLike[str] | Store,
    *,
    include_identifiers: bool = False,
    readers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Return the current gradings as a tidy table.

    Parameters
    ----------
    db
        Path of the grading database (must exist), or an open :class:`~spondy_annotate.store.Store`.
    include_identifiers
        Add ``patient_id``, ``baseline_date`` and ``followup_date`` (identifying data).
    readers
        Only these readers (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per case x reader x item (every item of the rubric once the reader answered
        anything for the case), columns as :data:`EXPORT_COLUMNS`, sorted by case, reader and
        rubric item order. Measurement items other than ``disc_height`` add
        ``baseline_<item>_mm`` / ``followup_<item>_mm`` columns.

    Raises
    ------
    StoreError
        If the database is missing or unusable.
    """
    import pandas as pd

    with _opened(db) as store:
        answers = store.latest_answers(readers=readers)
        cases = {c.case_id: c for c in store.cases()}
        groups: dict[tuple[str, str, str], dict[str, Answer]] = {}
        for a in answers:
            groups.setdefault((a.case_id, a.reader, a.rubric_name), {})[a.key] = a
        rubrics = {name: _rubric(store, name) for name in {k[2] for k in groups}}

    extra_mm = {
        f"{a.field[: -len('_mm')]}_{a.item}_mm"
        for a in answers
        if a.field.endswith("_mm") and a.item != "disc_height"
    }
    rows: list[dict[str, Any]] = []
    for (case_id, reader, rubric_name), by_key in groups.items():
        given = {k: a for k, a in by_key.items() if a.value is not None}
        if not given:
            continue  # every field was cleared again
        case = cases[case_id]
        latest = max(by_key.values(), key=lambda a: a.answer_id)
        rubric = rubrics[rubric_name]
        item_ids = [it.id for it in rubric.items] if rubric else []
        item_ids += sorted({a.item for a in by_key.values()} - set(item_ids) - {CASE_ITEM})
        shared: dict[str, Any] = {
            "case_id": case_id,
            "reader": reader,
            "level": _value(given, "level"),
            "interval_days": case.interval_days,
            "confidence": _value(given, "confidence"),
            "note": _value(given, "note"),
            "rubric_name": rubric_name,
            "rubric_version": latest.rubric_version,
        }
        if include_identifiers:
            shared.update(
                patient_id=case.patient_id,
                baseline_date=case.baseline_date,
                followup_date=case.followup_date,
            )
        for a in given.values():
            if isinstance(a.value, Measurement):
                shared[f"{a.field[: -len('_mm')]}_{a.item}_mm"] = a.value.mm
        for index, item in enumerate(item_ids):
            own = [a for k, a in given.items() if a.item == item]
            rows.append(
                {
                    **shared,
                    "item": item,
                    "baseline_grade": _value(given, f"{item}.baseline"),
                    "followup_grade": _value(given, f"{item}.followup"),
                    "change": _value(given, f"{item}.change"),
                    "answered_at": max((a.answered_at for a in own), default=None),
                    "_order": index,
                }
            )

    columns = _columns(include_identifiers, extra_mm)
    table = pd.DataFrame(rows, columns=[*columns, "_order"])
    table = table.sort_values(["case_id", "reader", "rubric_name", "_order"], kind="stable")
    table = table.drop(columns="_order").reset_index(drop=True)
    return _coerce(table)


def _rubric(store: Store, name: str) -> Rubric | None:
    """The rubric ``name`` as stored with the sessions, else the built-in one, else None."""
    rubric = store.stored_rubric(name)
    if rubric is None and name in builtin_rubrics():
        try:
            rubric = load_rubric(name)
        except RubricError:  # pragma: no cover - built-ins are tested
            rubric = None
    return rubric


def _value(given: dict[str, Answer], key: str) -> Any:
    a = given.get(key)
    return None if a is None else a.value


def _coerce(table: pd.DataFrame, date_format: str | None = None) -> pd.DataFrame:
    """Give every known column its dtype (the same after any round trip); study dates written as
    text other than ``YYYY-MM-DD``/``YYYYMMDD`` are read with ``date_format``."""
    import pandas as pd

    out = table.copy()
    dtypes = _dtypes()
    for col in out.columns:
        kind = dtypes.get(col, "float64" if _MM_COLUMN.match(col) else None)
        if kind is None:
            continue
        s = out[col]
        if kind == "string":
            s = s.astype(object).where(s.notna(), None).astype("string")
        elif kind in ("Int64", "float64"):
            s = pd.to_numeric(s.astype(object).where(s.notna(), None)).astype(kind)
        elif kind == "datetime64[ns]":
            s = _study_days(s, date_format).astype(kind)
        else:
            s = _utc_times(s).astype(kind).dt.round("ms")
        out[col] = s
    return out


def _study_days(s: pd.Series, date_format: str | None = None) -> pd.Series:
    """Study dates as days (:func:`~spondy_annotate._dates.parse_date`; blank cells missing).

    Raises
    ------
    ValueError
        Naming the column and the data row (1 = the first row under the header).
    """
    import pandas as pd

    days = [_study_day(value, s.name, row, date_format) for row, value in enumerate(s, start=1)]
    return pd.Series(days, index=s.index, dtype="datetime64[ns]")


def _study_day(
    value: object, column: object, row: int, date_format: str | None = None
) -> pd.Timestamp | None:
    import pandas as pd

    if is_missing(value):
        return None
    try:
        return pd.Timestamp(parse_date(value, date_format))
    except ValueError as exc:
        raise ValueError(f"{column} in data row {row}: {exc}") from None


def _utc_times(s: pd.Series) -> pd.Series:
    import pandas as pd

    values = s.astype(object).where(s.notna(), None)
    if any(isinstance(v, str) for v in values):
        return pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.to_datetime(values, utc=True)


# ---------------------------------------------------------------------------- writing


def export_gradings(
    db: str | os.PathLike[str] | Store,
    out: str | os.PathLike[str],
    *,
    include_identifiers: bool = False,
    readers: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Write :func:`gradings_table` to ``out`` (.csv, .xlsx or .parquet) and return the table.

    The file is written to a temporary file in the same folder, flushed to disk and renamed
    over ``out``, so ``out`` is never a partial file; on failure it is left as it was.

    Raises
    ------
    ExportError
        If the extension is unknown or the file cannot be written.
    StoreError
        If the database is missing or unusable.
    """
    out = Path(out)
    _format(out)
    table = gradings_table(db, include_identifiers=include_identifiers, readers=readers)
    write_gradings(table, out)
    logger.info("wrote %d rows to %s", len(table), out)
    return table


def write_gradings(table: pd.DataFrame, out: str | os.PathLike[str]) -> None:
    """Write a gradings table atomically, in the format given by the extension of ``out``.

    Raises
    ------
    ExportError
        If the extension is unknown, the folder is missing or the file cannot be written.
    """
    out = Path(out)
    writer = _WRITERS[_format(out)]
    if not out.parent.is_dir():
        raise ExportError(f"{out}: folder {out.parent} does not exist")
    try:
        atomic_write(out, lambda tmp: writer(table, tmp))
    except OSError as exc:
        raise ExportError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ExportError(
            f"{path}: unknown format {path.suffix or '(no extension)'!r}; use {', '.join(FORMATS)}"
        )
    return ext


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    text = table.copy()
    for col in ("baseline_date", "followup_date"):
        if col in text:
            text[col] = text[col].dt.strftime("%Y-%m-%d")
    text["answered_at"] = text["answered_at"].map(
        lambda t: t.isoformat(timespec="milliseconds") if t is not None and t == t else None
    )
    neutralise_table(text).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    table.to_parquet(path, index=False, engine="pyarrow")


def _write_xlsx(table: pd.DataFrame, path: Path) -> None:
    import pandas as pd
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook()
    ws = wb.active
    ws.title = _SHEET
    ws.append(list(table.columns))
    formats: dict[int, str] = {}
    cells = table.copy()
    for i, col in enumerate(cells.columns, start=1):
        if col == "answered_at":  # Excel has no time zones: naive UTC (see the column doc)
            cells[col] = cells[col].dt.tz_localize(None)
            formats[i] = "yyyy-mm-dd hh:mm:ss.000"
        elif col in IDENTIFIER_COLUMNS[1:]:
            formats[i] = "yyyy-mm-dd"
    for values in cells.astype(object).itertuples(index=False, name=None):
        row: list[Any] = []
        for v in values:
            if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
                row.append(None)
            elif isinstance(v, pd.Timestamp):
                row.append(v.to_pydatetime())
            elif isinstance(v, str):
                row.append(ILLEGAL_CHARACTERS_RE.sub("", v))
            else:
                row.append(v.item() if hasattr(v, "item") else v)
        ws.append(row)
    for column_cells in ws.iter_cols(min_row=2):
        for cell in column_cells:
            if cell.data_type == "f":  # text such as "=..." stays text, never a formula
                cell.data_type = "s"
            elif cell.column in formats and cell.value is not None:
                cell.number_format = formats[cell.column]
    doc = wb.create_sheet("columns")
    doc.append(["column", "description"])
    for col in table.columns:
        doc.append([col, EXPORT_COLUMNS.get(col, "Measured length of the item, mm.")])
    wb.save(path)


_WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    ".csv": _write_csv,
    ".xlsx": _write_xlsx,
    ".parquet": _write_parquet,
}


# ---------------------------------------------------------------------------- reading


def read_gradings(path: str | os.PathLike[str], *, date_format: str | None = None) -> pd.DataFrame:
    """Read a gradings table: a file written by :func:`export_gradings`, or one made like it.

    The file is ``.csv`` (delimiter ``,``, ``;`` or tab, detected from the header), ``.xlsx``
    (the ``gradings`` sheet, else the first) or ``.parquet``. It needs the columns
    :data:`REQUIRED_COLUMNS`; every column of :data:`EXPORT_COLUMNS` it has gets its type, other
    columns are kept as read. Case IDs are kept exactly as written.

    Returns
    -------
    pandas.DataFrame
        For a file written by :func:`export_gradings`, the same columns and dtypes as
        :func:`gradings_table`: strings as ``string``, grades and ``interval_days`` as ``Int64``,
        mm as ``float64``, study dates as ``datetime64[ns]`` (read by
        :func:`~spondy_annotate._dates.parse_date`: ``YYYY-MM-DD``, ``YYYYMMDD`` or a date cell)
        and ``answered_at`` as ``datetime64[ns, UTC]``.

    Parameters
    ----------
    date_format
        ``strptime`` format of study dates written as text (default ``YYYY-MM-DD`` or
        ``YYYYMMDD``), e.g. ``%m/%d/%Y``.

    Raises
    ------
    ExportError
        If the file is missing, of an unknown format, unreadable, lacks a required column or
        holds a value of the wrong type (named by column and data row).
    """
    import pandas as pd

    path = Path(path)
    ext = _format(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such gradings file")
    try:
        if ext == ".csv":
            table = pd.read_csv(
                path, sep=_csv_delimiter(path), dtype=str, keep_default_na=False,
                na_values=[""], encoding="utf-8-sig",  # also after a re-save by Excel
            )  # fmt: skip
        elif ext == ".xlsx":
            table = _read_xlsx(path)
        else:
            table = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # the readers raise many types for a damaged file
        raise ExportError(f"{path}: not a readable {ext[1:]} gradings file ({exc})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if ext == ".csv":
        table = table.apply(lambda column: column.map(restore_cell, na_action="ignore"))
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ExportError(f"{path}: not a gradings file: missing column(s) {', '.join(missing)}")
    try:
        return _coerce(table, date_format)
    except (ValueError, TypeError) as exc:
        raise ExportError(f"{path}: bad values in a gradings file ({exc})") from None


def _csv_delimiter(path: Path) -> str:
    """The most frequent of ``,``, ``;`` and tab in the header line."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    return max(",;\t", key=header.count)


def _read_xlsx(path: Path) -> pd.DataFrame:
    """The ``gradings`` sheet (the first sheet when there is none), cells as Python objects."""
    import pandas as pd

    with pd.ExcelFile(path, engine="openpyxl") as book:
        sheet = _SHEET if _SHEET in book.sheet_names else 0
        return pd.read_excel(book, sheet_name=sheet, dtype=object)
