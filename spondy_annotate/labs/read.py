"""Lab files (CRP, ESR): import with row-by-row checks.

A lab file is CSV or Excel (.xlsx), either in *long* form (one value per row, columns
``patient_id, date, test, value, unit``) or in *wide* form (one draw per row, a column per test)
described by a :class:`LabColumns` mapping. Bad rows never stop the import: each one becomes a
:class:`LabProblem` naming the file (by name, not path), line and column and a reason that never
quotes the cell (a rejected cell may hold anything: a date, a name in a shifted column), and the
good rows are used. Only a file that cannot be read at all raises
:class:`~spondy_annotate.errors.LabFileError`. The values are then linked to
the MRI dates (:mod:`spondy_annotate.labs.link`) and classified
(:mod:`spondy_annotate.labs.classify`). One concept, reading a lab file; its length is the
checks each cell gets, one function each.

Examples
--------
>>> labs = read_labs("labs.csv")                                      # doctest: +SKIP
>>> for problem in labs.problems:                                     # doctest: +SKIP
...     print(problem)                        # labs.csv:14: date: unparseable date (expected ...)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from spondy_annotate._dates import is_missing, parse_date
from spondy_annotate.errors import LabFileError

logger = logging.getLogger(__name__)

__all__ = [
    "CANONICAL_UNITS",
    "VALUE_COLUMNS",
    "LabColumns",
    "LabImport",
    "LabProblem",
    "read_labs",
]

#: Unit every value is converted to, per test.
CANONICAL_UNITS: dict[str, str] = {"CRP": "mg/L", "ESR": "mm/h"}

#: Accepted units (lower case, no spaces) and their factor to the canonical unit.
_UNIT_FACTORS: dict[str, dict[str, float]] = {
    "CRP": {"mg/l": 1.0, "mg/dl": 10.0},
    "ESR": {"mm/h": 1.0, "mm/hr": 1.0, "mm/1h": 1.0},
}
_UNIT_HINT = {"CRP": "mg/L or mg/dL", "ESR": "mm/h"}

_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
#: Decimals kept after unit conversion, so that 0.7 mg/dL equals 7 mg/L exactly.
_DECIMALS = 6

#: Columns of :attr:`LabImport.values`, in order.
VALUE_COLUMNS = (
    "patient_id",
    "date",
    "test",
    "value",
    "unit",
    "raw_value",
    "raw_unit",
    "censored",
    "file",
    "line",
)


@dataclass(frozen=True)
class LabProblem:
    """One rejected lab row (or cell): where it is and why, without its content.

    ``str(problem)`` gives ``file:line: column: message`` (``file:line: message`` when the whole
    row is meant). ``file`` is the file's name without its folder (folders and files are often
    named after the patient); ``line`` counts the header as line 1 in a CSV file and is the row
    number in an Excel sheet; ``column`` is the column's name in the header. The message never
    quotes a cell, so problems can go into de-identified outputs (report, CSV tables).

    Examples
    --------
    >>> print(LabProblem("labs.csv", 14, "date", "missing date"))
    labs.csv:14: date: missing date
    """

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: {self.column + ': ' if self.column else ''}"
        return where + self.message


@dataclass(frozen=True)
class LabImport:
    """The outcome of :func:`read_labs`.

    Attributes
    ----------
    values
        One row per accepted value, columns ``patient_id`` (str), ``date`` (datetime64, day),
        ``test`` (``CRP``/``ESR``), ``value`` (float, canonical unit), ``unit`` (canonical unit),
        ``raw_value`` and ``raw_unit`` (as written in the file), ``censored`` (``""``, or
        ``<``/``>`` for a value written as ``<L``/``>L``, taken as ``L``), ``file`` (the file's
        name, without its folder) and ``line``.
    problems
        Every rejected row or cell, in file order.
    """

    values: pd.DataFrame
    problems: list[LabProblem]

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.problems


@dataclass(frozen=True)
class LabColumns:
    """Which columns of a lab file hold what.

    The default is the long form ``patient_id, date, test, value, unit``. Setting ``crp`` and/or
    ``esr`` selects the wide form: one draw per row, the value of each test in its own column and
    the units given here (``crp_unit``, ``esr_unit``). Column names match case-insensitively.

    Examples
    --------
    >>> LabColumns.parse("patient_id=MRN,date=DrawDate,CRP=crp_mg_dl", crp_unit="mg/dL").wide
    True
    """

    patient_id: str = "patient_id"
    date: str = "date"
    test: str = "test"
    value: str = "value"
    unit: str = "unit"
    crp: str | None = None
    esr: str | None = None
    crp_unit: str = "mg/L"
    esr_unit: str = "mm/h"

    def __post_init__(self) -> None:
        for test, unit in (("CRP", self.crp_unit), ("ESR", self.esr_unit)):
            if _unit_key(unit) not in _UNIT_FACTORS[test]:
                raise ValueError(f"unknown {test} unit {unit!r} (expected {_UNIT_HINT[test]})")

    @property
    def wide(self) -> bool:
        """True for the wide form (a column per test)."""
        return self.crp is not None or self.esr is not None

    def describe(self) -> str:
        """The mapping in words, as ``key=column`` items and the units of the wide form.

        Examples
        --------
        >>> LabColumns().describe()
        'long form: patient_id=patient_id, date=date, test=test, value=value, unit=unit'
        """
        if self.wide:
            tests = ", ".join(
                f"{test}={column} ({unit})"
                for test, column, unit in (
                    ("CRP", self.crp, self.crp_unit),
                    ("ESR", self.esr, self.esr_unit),
                )
                if column
            )
            return f"wide form: patient_id={self.patient_id}, date={self.date}, {tests}"
        return (
            f"long form: patient_id={self.patient_id}, date={self.date}, test={self.test}, "
            f"value={self.value}, unit={self.unit}"
        )

    @classmethod
    def parse(cls, spec: str, *, crp_unit: str = "mg/L", esr_unit: str = "mm/h") -> LabColumns:
        """Build a mapping from ``key=column,key=column`` text.

        Keys are ``patient_id``, ``date``, ``test``, ``value``, ``unit`` (long form) and ``CRP``,
        ``ESR`` (wide form), case-insensitive; keys left out keep their default column name.

        Raises
        ------
        ValueError
            On an unknown key, a repeated key, an item without ``=`` or an unknown unit.
        """
        keys = {"patient_id", "date", "test", "value", "unit", "crp", "esr"}
        found: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, column = (s.strip() for s in item.partition("="))
            key = key.lower()
            if not sep or not column:
                raise ValueError(f"lab column mapping item {item!r} is not key=column")
            if key not in keys:
                raise ValueError(
                    f"unknown lab column key {key!r} (expected one of {', '.join(sorted(keys))})"
                )
            if key in found:
                raise ValueError(f"lab column key {key!r} given twice")
            found[key] = column
        return cls(**found, crp_unit=crp_unit, esr_unit=esr_unit)


def read_labs(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    columns: LabColumns | None = None,
    *,
    date_format: str | None = None,
) -> LabImport:
    """Read one or more lab files, checking every row.

    Parameters
    ----------
    paths
        A CSV (``.csv``, ``.tsv``, ``.txt``; delimiter ``,``, ``;`` or tab, detected from the
        header) or Excel (``.xlsx``, first sheet, header in row 1) file, or several of them.
    columns
        Column mapping; the long form with default names when None.
    date_format
        ``strptime`` format of the dates (e.g. ``"%d/%m/%Y"``). By default ``YYYY-MM-DD``
        (a time after it is ignored), ``YYYYMMDD`` and Excel date cells are accepted; other forms
        are rejected rather than guessed, since ``03/04/2020`` is ambiguous.

    Returns
    -------
    LabImport
        The accepted values and the problems. Blank rows are skipped; every other row either
        yields values or is reported. A row repeating an earlier (patient, day, test) is
        rejected: as a duplicate when the value is the same, as a conflict when it differs
        (the earlier row is kept and named in the message).

    Raises
    ------
    LabFileError
        A file is missing, is not CSV/Excel, cannot be parsed, or lacks required columns.
    """
    columns = columns or LabColumns()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records: list[dict[str, Any]] = []
    problems: list[LabProblem] = []
    for source, path in enumerate(paths):
        file_records, file_problems = _read_one(Path(path), columns, date_format)
        records.extend({**record, "_source": source} for record in file_records)
        problems.extend(file_problems)
    records, dup_problems = _reject_duplicates(records)
    problems.extend(dup_problems)
    order = {name: i for i, name in enumerate(dict.fromkeys(Path(p).name for p in paths))}
    problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
    values = pd.DataFrame.from_records(records, columns=list(VALUE_COLUMNS))
    values = values.astype({"value": float, "line": int})
    values["date"] = pd.to_datetime(values["date"])
    values = values.sort_values(["patient_id", "test", "date", "file", "line"], ignore_index=True)
    logger.info("read %d lab values, rejected %d rows or cells", len(values), len(problems))
    return LabImport(values=values, problems=problems)


def _read_one(
    path: Path, columns: LabColumns, date_format: str | None
) -> tuple[list[dict[str, Any]], list[LabProblem]]:
    """Parse one file into value records and problems."""
    header, rows = _read_table(path)
    index = _column_index(path, header, columns)
    records: list[dict[str, Any]] = []
    problems: list[LabProblem] = []
    for line, cells in rows:

        def cell(key: str, cells: list[object] = cells) -> object:
            pos = index[key]
            return cells[pos] if pos < len(cells) else None

        rejected: list[_Rejected] = []
        patient = _parse_patient(cell("patient_id"))
        if patient is None:
            rejected.append(_Rejected("patient_id", "missing patient ID"))
        try:
            day = _parse_day(cell("date"), date_format)
        except _Rejected as exc:
            rejected.append(exc)
            day = None
        entries: list[tuple[object, object, object, str]]
        if columns.wide:
            entries = [
                (test, cell(test.lower()), unit, test.lower())
                for test, unit in (("CRP", columns.crp_unit), ("ESR", columns.esr_unit))
                if test.lower() in index and not is_missing(cell(test.lower()))
            ]
        else:
            entries = [(cell("test"), cell("value"), cell("unit"), "value")]
        parsed: list[dict[str, Any]] = []
        for raw_test, raw_value, raw_unit, value_key in entries:
            entry = _entry_or_rejection(raw_test, raw_value, raw_unit, value_key)
            if isinstance(entry, _Rejected):
                rejected.append(entry)
            else:
                parsed.append({**entry, "_column": header[index[value_key]]})
        problems.extend(
            LabProblem(path.name, line, header[index[r.key]], r.reason) for r in rejected
        )
        if patient is None or day is None:
            continue
        records.extend(
            {**entry, "patient_id": patient, "date": day, "file": path.name, "line": line}
            for entry in parsed
        )
    return records, problems


class _Rejected(ValueError):
    """A rejected cell: the field it is in (a key of the column index) and why, not its value."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


def _parse_day(value: object, date_format: str | None) -> dt.date:
    """The day of a date cell, or :class:`_Rejected` without the cell's text."""
    if is_missing(value):
        raise _Rejected("date", "missing date")
    try:
        return parse_date(value, date_format)
    except ValueError:
        expected = f"format {date_format!r}" if date_format else "YYYY-MM-DD or YYYYMMDD"
        raise _Rejected("date", f"unparseable date (expected {expected})") from None


def _entry_or_rejection(
    test: object, value: object, unit: object, value_key: str
) -> dict[str, Any] | _Rejected:
    """Return the record fields of one (test, value, unit) triple, or why it is rejected."""
    try:
        return _parse_entry(test, value, unit, value_key)
    except _Rejected as exc:
        return exc


def _parse_entry(test: object, value: object, unit: object, value_key: str) -> dict[str, Any]:
    """Check one (test, value, unit) triple; return the record fields or raise _Rejected.

    ``value_key`` is the field of the value: ``value`` (long form) or the test (wide form).
    """
    test_name = "" if is_missing(test) else str(test).strip().upper()
    if test_name not in _UNIT_FACTORS:
        shown = "missing test" if not test_name else "unknown test"
        raise _Rejected("test", f"{shown} (expected CRP or ESR)")
    try:
        number, censored = _parse_number(value, test_name)
    except ValueError as exc:
        raise _Rejected(value_key, str(exc)) from None
    factor = None if is_missing(unit) else _UNIT_FACTORS[test_name].get(_unit_key(str(unit)))
    if factor is None:  # the wide form's units are checked by LabColumns
        shown = "missing unit" if is_missing(unit) else "unknown unit"
        raise _Rejected("unit", f"{shown} for {test_name} (expected {_UNIT_HINT[test_name]})")
    return {
        "test": test_name,
        "value": round(number * factor, _DECIMALS),
        "unit": CANONICAL_UNITS[test_name],
        "raw_value": str(value).strip(),
        "raw_unit": str(unit).strip(),
        "censored": censored,
    }


def _parse_number(value: object, test: str) -> tuple[float, str]:
    """Return a finite, non-negative number and its censoring (``""``, ``<`` or ``>``).

    A censored value ``<L`` (below the detection limit) or ``>L`` (above the measuring range)
    is taken as its limit ``L`` and flagged; ``<=``/``>=`` read the same.

    Raises
    ------
    ValueError
        Missing, unparseable, infinite or negative values.
    """
    unparseable = f"unparseable {test} value (expected a number, <L or >L)"
    if is_missing(value):
        raise ValueError(f"missing {test} value")
    if isinstance(value, bool):
        raise ValueError(unparseable)
    censored = ""
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        digits = text
        if text[:1] in "<>":
            censored = text[0]
            digits = text[1:].removeprefix("=").strip()
        if not _NUMBER.fullmatch(digits):
            raise ValueError(unparseable)
        number = float(digits)
    if not math.isfinite(number):
        raise ValueError(unparseable)
    if number < 0:
        raise ValueError(f"negative {test} value")
    return number, censored


def _parse_patient(value: object) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _unit_key(unit: str) -> str:
    return "".join(unit.split()).lower()


def _reject_duplicates(
    records: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[LabProblem]]:
    """Keep the first value per (patient, day, test); report the others (without the values)."""
    first: dict[tuple[str, dt.date, str], dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    problems: list[LabProblem] = []
    for rec in records:
        key = (rec["patient_id"], rec["date"], rec["test"])
        earlier = first.get(key)
        if earlier is None:
            first[key] = rec
            kept.append(rec)
            continue
        where = (
            f"line {earlier['line']}"
            if earlier["_source"] == rec["_source"]
            else f"{earlier['file']}:{earlier['line']}"
        )
        if earlier["value"] == rec["value"]:
            message = f"duplicate of {where} (same patient, date, test and value)"
        else:
            message = (
                f"{rec['test']} conflicts with {where} (same patient and date, another value); "
                f"{where} is used"
            )
        problems.append(LabProblem(rec["file"], rec["line"], rec["_column"], message))
    return kept, problems


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[object]]]]:
    """Return the header and the numbered non-blank rows of a CSV or Excel file."""
    if not path.exists():
        raise LabFileError(f"{path}: no such file")
    if path.is_dir():
        raise LabFileError(f"{path}: is a directory, not a lab file")
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        rows = list(_csv_rows(path))
    elif suffix in _EXCEL_SUFFIXES:
        rows = list(_excel_rows(path))
    else:
        raise LabFileError(f"{path}: not a CSV or Excel (.xlsx) file")
    if not rows or rows[0][0] != 1:
        raise LabFileError(f"{path}: no header in line 1")
    header = ["" if c is None else str(c).strip() for c in rows[0][1]]
    return header, rows[1:]


def _csv_rows(path: Path) -> Iterator[tuple[int, list[object]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not UTF-8; reading it as Windows-1252", path)
        text = raw.decode("cp1252", errors="replace")
    if "\0" in text:
        raise LabFileError(f"{path}: binary data, not a CSV file")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    try:
        for cells in reader:
            start, previous = previous + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, list(cells)
    except csv.Error as exc:
        raise LabFileError(f"{path}:{reader.line_num}: cannot parse CSV ({exc})") from exc


def _excel_rows(path: Path) -> Iterator[tuple[int, list[object]]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise LabFileError(f"{path}: cannot read as an Excel .xlsx file ({exc})") from exc
    try:
        if not book.worksheets:
            raise LabFileError(f"{path}: the workbook has no sheet")
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if any(not is_missing(c) for c in cells):
                yield number, list(cells)
    finally:
        book.close()


def _column_index(path: Path, header: list[str], columns: LabColumns) -> dict[str, int]:
    """Map each needed field to its column position, or raise LabFileError."""
    lowered: dict[str, int] = {}
    for position, name in enumerate(header):
        lowered.setdefault(name.lower(), position)
    wanted: dict[str, str] = {"patient_id": columns.patient_id, "date": columns.date}
    if columns.wide:
        wanted |= {k: v for k, v in (("crp", columns.crp), ("esr", columns.esr)) if v}
    else:
        wanted |= {"test": columns.test, "value": columns.value, "unit": columns.unit}
    index: dict[str, int] = {}
    missing: list[str] = []
    for key, name in wanted.items():
        pos: int | None = header.index(name) if name in header else lowered.get(name.lower())
        if pos is None:
            missing.append(name)
        else:
            index[key] = pos
    if missing:
        form = "wide" if columns.wide else "long"
        raise LabFileError(
            f"{path}: missing column(s) {', '.join(missing)} for the {form} lab form "
            f"(header: {', '.join(h for h in header if h) or 'empty'})"
        )
    return index
