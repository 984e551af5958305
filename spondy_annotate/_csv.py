"""CSV cells that a spreadsheet would evaluate, neutralised: the one rule for every CSV output.

A text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken for a
formula by Excel, LibreOffice and Google Sheets (CSV injection). Such a cell is written with a
leading apostrophe (``'=1+1``), which spreadsheets show as text and never run; a cell that
already begins with an apostrophe followed by one of those (``'=x``) gets one more, so that
:func:`restore_cell` gives back exactly what was written. Numbers are left alone (``-3`` in a
numeric column is a number, not text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise_cell", "neutralise_table", "restore_cell"]

#: The first characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def _escaped(text: str) -> bool:
    """Whether ``text`` is a neutralised cell: apostrophes, then a formula start."""
    rest = text.lstrip(_QUOTE)
    return len(rest) < len(text) and rest.startswith(FORMULA_STARTS)


def neutralise_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or _escaped(value)):
        return _QUOTE + value
    return value


def restore_cell(value: Any) -> Any:
    """Undo :func:`neutralise_cell` (for a file read back)."""
    return value[1:] if isinstance(value, str) and _escaped(value) else value


def neutralise_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells are neutralised (numeric columns as they are)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = table.copy()
    for column in out.columns:  # object, "string" and pandas 3's "str" columns hold text
        if is_object_dtype(out[column]) or is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_cell, na_action="ignore")
    return out
