"""The data dictionary: type and meaning of every column of every CSV table of the report.

:func:`data_dictionary` describes the tables actually written (``data_dictionary.csv`` and a
section of ``report.html``); a column without a description is an error, so that no table
can gain an undocumented column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

__all__ = ["DICTIONARY_COLUMNS", "data_dictionary"]

#: Columns of :func:`data_dictionary`.
DICTIONARY_COLUMNS = ("file", "column", "type", "meaning")

_TEST = "<T>"
#: Meaning of each column, the same in every table unless overridden in :data:`_BY_FILE`.
_MEANINGS: dict[str, str] = {
    "reader": "Reader (as entered at the start of the grading session).",
    "primary": "True for the primary reader, whose result is the main one.",
    "test": "Lab test: CRP or ESR.",
    "item": "MRI item graded (improved/unchanged/aggravated), e.g. marrow_edema.",
    "n": "Number of cases (pairs) in the row.",
    "rho": "Spearman's rank correlation of lab class code and MRI change code.",
    "p": "Two-sided p-value of rho from the t distribution with n - 2 df.",
    "ci_low": "Lower bound of the interval of rho (method in ci_method).",
    "ci_high": "Upper bound of the interval of rho (method in ci_method).",
    "n_boot_valid": "Bootstrap resamples in which rho was defined (others left out).",
    "p_exact": "Two-sided permutation p-value of rho (method in p_exact_method).",
    "p_exact_method": "exact (full enumeration) or monte carlo (100,000 seeded pairings).",
    "p_primary": "The p reported: p_exact when n < 30, else p.",
    "p_holm": "p_primary adjusted by Holm over the reader's tests x items.",
    "p_bh": "p_primary adjusted by Benjamini-Hochberg over the reader's tests x items.",
    "ci_method": "Method of ci_low and ci_high.",
    "boot_low": "Lower bound of the percentile bootstrap interval of rho (comparison only).",
    "boot_high": "Upper bound of the percentile bootstrap interval of rho (comparison only).",
    "kendall_tau_b": "Kendall's tau-b (sensitivity analysis for ordinal data).",
    "kendall_low": "Lower bound of the Fisher-z interval of tau-b (SE sqrt(0.437/(n-4))).",
    "kendall_high": "Upper bound of the Fisher-z interval of tau-b.",
    "kendall_p": "Two-sided p-value of tau-b (scipy.stats.kendalltau).",
    "resolved": "Cases whose follow-up value is within normal.",
    "resolving": "Cases whose follow-up value is lower than baseline but above normal.",
    "aggravated": "Cases whose follow-up value is above normal and not lower than baseline.",
    "unchanged": "Cases (or whether the case) with follow-up equal to baseline above normal.",
    "classified": "Cases with a lab class (both draws linked).",
    "missing": "Cases without a lab class.",
    "cases": "Cases.",
    "lab_class": "Lab course: resolved, resolving or aggravated.",
    "mri_change": "Reader's judgement: improved, unchanged or aggravated.",
    "count": "Number of cases.",
    "reader_a": "First reader of the pair.",
    "reader_b": "Second reader of the pair.",
    "kappa": "Weighted Cohen's kappa of the two readers' change judgements.",
    "weights": "Weights of kappa: linear or quadratic.",
    "agreement": "Proportion of identical judgements.",
    "case_id": "Pseudonymous case ID.",
    "patient_id": "Patient ID (only with --include-identifiers).",
    "baseline_date": "Date of the baseline MRI (only with --include-identifiers).",
    "followup_date": "Date of the follow-up MRI (only with --include-identifiers).",
    "change": "Reader's judgement of the item: improved, unchanged or aggravated.",
    "mri_code": "Change code: improved 0 < unchanged 1 < aggravated 2.",
    "baseline_grade": "Reader's grade of the item on the baseline MRI.",
    "followup_grade": "Reader's grade of the item on the follow-up MRI.",
    "baseline_disc_height_mm": "Disc height measured on the baseline MRI, mm.",
    "followup_disc_height_mm": "Disc height measured on the follow-up MRI, mm.",
    "interval_days": "Days from the baseline to the follow-up MRI.",
    f"{_TEST}_baseline": "Lab value linked to the baseline MRI (canonical unit).",
    f"{_TEST}_followup": "Lab value linked to the follow-up MRI (canonical unit).",
    f"{_TEST}_baseline_offset_days": "Days from the baseline MRI to its lab draw.",
    f"{_TEST}_followup_offset_days": "Days from the follow-up MRI to its lab draw.",
    f"{_TEST}_class": "Lab course of the test: resolved, resolving or aggravated.",
    f"{_TEST}_code": "Lab class code: resolved 0 < resolving 1 < aggravated 2.",
    f"{_TEST}_unchanged": "Follow-up equal to baseline and above normal.",
    f"{_TEST}_baseline_draw_date": "Date of the baseline lab draw (with identifiers only).",
    f"{_TEST}_followup_draw_date": "Date of the follow-up lab draw (with identifiers only).",
    "baseline_value": "Lab value linked to the baseline MRI (canonical unit).",
    "followup_value": "Lab value linked to the follow-up MRI (canonical unit).",
    "unit": "Canonical unit: mg/L (CRP), mm/h (ESR).",
    "baseline_offset_days": "Days from the baseline MRI to its lab draw.",
    "followup_offset_days": "Days from the follow-up MRI to its lab draw.",
    "baseline_draw_date": "Date of the baseline lab draw (with identifiers only).",
    "followup_draw_date": "Date of the follow-up lab draw (with identifiers only).",
    "lab_code": "Lab class code: resolved 0 < resolving 1 < aggravated 2.",
    "baseline_normal": "Whether the baseline value was already within normal.",
    "baseline_censored": "< or > when the baseline value was censored (taken as its limit).",
    "followup_censored": "< or > when the follow-up value was censored (taken as its limit).",
    "timepoint": "baseline or followup.",
    "mri_date": "Date of the MRI (with identifiers only).",
    "draw_date": "Date of the lab draw (with identifiers only).",
    "offset_days": "Days from the MRI to the lab draw (negative: before).",
    "value": "Lab value in the canonical unit.",
    "censored": "< or > when the value was censored (taken as its limit), else empty.",
    "file": "Lab file.",
    "line": "Line (CSV, header = 1) or row (Excel) in the lab file.",
    "reason": "Why no lab value could be linked.",
    "message": "Why the row or cell was rejected.",
    "measure": "What is summarised.",
    "mean": "Mean.",
    "sd": "Standard deviation (n - 1).",
    "median": "Median.",
    "q1": "First quartile.",
    "q3": "Third quartile.",
    "min": "Minimum.",
    "max": "Maximum.",
    "baseline_median": "Median baseline value.",
    "baseline_q1": "First quartile of the baseline values.",
    "baseline_q3": "Third quartile of the baseline values.",
    "followup_median": "Median follow-up value.",
    "followup_q1": "First quartile of the follow-up values.",
    "followup_q3": "Third quartile of the follow-up values.",
    "step": "Step of the patient flow.",
    "baseline_mm": "Disc height on the baseline MRI, mm.",
    "followup_mm": "Disc height on the follow-up MRI, mm.",
    "disc_height_change_mm": "Follow-up minus baseline disc height, mm (loss negative).",
    "disc_height_change_pct": "Disc height change in % of the baseline height.",
    "consistent": "Judgements that follow the two grades (higher: aggravated, ...).",
    "consistent_pct": "consistent in % of n.",
    "changed_equal_grades": "A change judged although both grades are equal.",
    "unchanged_different_grades": "Judged unchanged although the grades differ.",
    "opposite_direction": "Judged against the direction of the grades.",
    "setting": "Setting varied from the main analysis.",
    "main": "True for the main analysis' value.",
    "column": "Column name.",
    "type": "Column type: text, integer, number, boolean or date.",
    "meaning": "What the column holds.",
}
#: Meanings that differ in one file.
_BY_FILE: dict[str, dict[str, str]] = {
    "disc_height_correlations.csv": {
        "item": "Measured change: disc_height_change_mm or disc_height_change_pct.",
        "rho": "Spearman's rho of lab class code and the measured change.",
    },
    "lab_draws.csv": {"file": "Lab file the value was read from."},
    "lab_problems.csv": {
        "file": "Lab file (its name, not its folder).",
        "column": "Column of the lab file (header name).",
    },
    "data_dictionary.csv": {"file": "CSV table of the report."},
    "sensitivity.csv": {"value": "Value of the setting in this variant."},
}


def data_dictionary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Type and meaning of every column of ``tables`` (file name -> table), in order.

    Raises
    ------
    KeyError
        A column has no description (a programming error, caught by the tests).
    """
    rows = [
        (name, str(column), _type(frame[column]), _meaning(name, str(column)))
        for name, frame in tables.items()
        for column in frame.columns
    ]
    rows += [
        ("data_dictionary.csv", column, "text", _meaning("data_dictionary.csv", column))
        for column in DICTIONARY_COLUMNS
    ]
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


def _meaning(file: str, column: str) -> str:
    own = _BY_FILE.get(file, {})
    if column in own:
        return own[column]
    if column in _MEANINGS:
        return _MEANINGS[column]
    generic = re.sub(r"^[A-Z]+_", f"{_TEST}_", column)
    if generic in _MEANINGS:
        return _MEANINGS[generic]
    raise KeyError(f"{file}: column {column!r} has no description in the data dictionary")


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "text"
