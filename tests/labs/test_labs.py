"""Lab import (row checks, line numbers), linking to MRI dates and the lab classification."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from spondy_annotate._dates import parse_date
from spondy_annotate.errors import LabFileError
from spondy_annotate.labs.classify import (
    ClassificationSettings,
    LabClass,
    classify_change,
    classify_labs,
)
from spondy_annotate.labs.link import LinkWindow, link_labs
from spondy_annotate.labs.read import LabColumns, LabProblem, read_labs

HEADER = "patient_id,date,test,value,unit\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ import


def test_good_long_file_converts_mg_dl(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv",
        HEADER
        + "P1,2020-01-02,CRP,12.5,mg/L\n"
        + "P1,20200110,crp,0.7,mg/dL\n"
        + "P1,2020-01-10 08:30,ESR,35,mm/h\n",
    )
    result = read_labs(path)
    assert result.ok and result.problems == []
    v = result.values
    assert list(v["test"]) == ["CRP", "CRP", "ESR"]
    assert list(v["value"]) == [12.5, 7.0, 35.0]  # 0.7 mg/dL is exactly 7 mg/L
    assert list(v["unit"]) == ["mg/L", "mg/L", "mm/h"]
    assert list(v["raw_unit"]) == ["mg/L", "mg/dL", "mm/h"]
    assert list(v["line"]) == [2, 3, 4]
    assert v["date"].dt.date.tolist() == [
        dt.date(2020, 1, 2), dt.date(2020, 1, 10), dt.date(2020, 1, 10)
    ]  # fmt: skip


NUMBER = "(expected a number, <L or >L)"


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("P1,2020-01-02,PCT,1.2,ng/mL", "test", "unknown test (expected CRP or ESR)"),
        ("P1,,CRP,3,mg/L", "date", "missing date"),
        ("P1,02/01/2020,CRP,3,mg/L", "date", "unparseable date (expected YYYY-MM-DD or YYYYMMDD)"),
        ("P1,2020-02-30,CRP,3,mg/L", "date", "unparseable date (expected YYYY-MM-DD or YYYYMMDD)"),
        ("P1,2020-01-02,CRP,high,mg/L", "value", f"unparseable CRP value {NUMBER}"),
        ("P1,2020-01-02,CRP,nan,mg/L", "value", f"unparseable CRP value {NUMBER}"),
        ("P1,2020-01-02,CRP,,mg/L", "value", "missing CRP value"),
        ("P1,2020-01-02,CRP,<x,mg/L", "value", f"unparseable CRP value {NUMBER}"),
        ("P1,2020-01-02,CRP,3,g/L", "unit", "unknown unit for CRP (expected mg/L or mg/dL)"),
        ("P1,2020-01-02,ESR,3,mg/L", "unit", "unknown unit for ESR (expected mm/h)"),
        ("P1,2020-01-02,ESR,30,", "unit", "missing unit for ESR (expected mm/h)"),
        ("P1,2020-01-02,CRP,-0.5,mg/L", "value", "negative CRP value"),
        (",2020-01-02,CRP,3,mg/L", "patient_id", "missing patient ID"),
    ],
)
def test_each_bad_row_kind_is_reported_with_its_line_and_column(
    tmp_path: Path, row: str, column: str, message: str
) -> None:
    good = "P9,2020-03-01,CRP,40,mg/L\n"
    path = write(tmp_path / "labs.csv", HEADER + good + row + "\n" + good.replace("03-01", "03-05"))
    result = read_labs(path)
    assert result.problems == [LabProblem("labs.csv", 3, column, message)]
    assert str(result.problems[0]) == f"labs.csv:3: {column}: {message}"
    # the good rows around it are still used
    assert list(result.values["line"]) == [2, 4]


@pytest.mark.parametrize(
    "row",
    [
        "P1,03/04/2020,CRP,3,mg/L",  # an MRI date in the wrong format
        "P1,Doe^Jane,2020-01-02,CRP,3",  # a shifted row: a name in the date column
        "P1,2020-01-02,Doe^Jane,3,mg/L",
        "P1,2020-01-02,CRP,Doe^Jane,mg/L",
        "P1,2020-01-02,CRP,<Doe^Jane,mg/L",
        "P1,2020-01-02,CRP,3,Doe^Jane",
    ],
)
def test_problems_never_quote_the_rejected_cell(tmp_path: Path, row: str) -> None:
    folder = tmp_path / "Doe_Jane_19700101"  # folders are often named after the patient
    folder.mkdir()
    path = write(folder / "labs.csv", HEADER + row + "\n")
    result = read_labs(path)
    assert result.problems and result.values.empty
    text = "".join(str(p) + repr(p) for p in result.problems)
    for secret in ("Doe", "Jane", "03/04/2020", "1970", "P1"):
        assert secret not in text


def test_duplicates_and_conflicts_keep_the_first_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv",
        HEADER
        + "P1,2020-01-02,CRP,12,mg/L\n"
        + "P1,2020-01-02,CRP,1.2,mg/dL\n"  # same value after conversion: duplicate
        + "P1,2020-01-02,CRP,15,mg/L\n",  # same day, other value: conflict
    )
    result = read_labs(path)
    assert [str(p) for p in result.problems] == [
        "labs.csv:3: value: duplicate of line 2 (same patient, date, test and value)",
        "labs.csv:4: value: CRP conflicts with line 2 (same patient and date, another value); "
        "line 2 is used",
    ]
    assert list(result.values["value"]) == [12.0]


def test_duplicates_across_files_name_the_other_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", HEADER + "P1,2020-01-02,ESR,30,mm/h\n")
    b = write(tmp_path / "b.csv", HEADER + "P2,2020-01-02,ESR,30,mm/h\nP1,2020-01-02,ESR,30,mm/h\n")
    result = read_labs([a, b])
    assert [str(p) for p in result.problems] == [
        "b.csv:3: value: duplicate of a.csv:2 (same patient, date, test and value)"
    ]
    assert len(result.values) == 2
    assert set(result.values["file"]) == {"a.csv", "b.csv"}  # names, never the folders


def test_files_of_the_same_name_in_two_folders_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = write(tmp_path / "x" / "labs.csv", HEADER + "P1,2020-01-02,ESR,30,mm/h\n")
    b = write(tmp_path / "y" / "labs.csv", HEADER + "P1,2020-01-02,ESR,30,mm/h\n")
    result = read_labs([a, b])
    # line 2 of the other file is not "line 2" of this one
    assert [str(p) for p in result.problems] == [
        "labs.csv:2: value: duplicate of labs.csv:2 (same patient, date, test and value)"
    ]


def test_csv_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv",
        HEADER + "\n" + '"P1","2020-01-02","CRP","3","mg/L"\n' + '"P\n2",2020-01-02,CRP,x,mg/L\n'
        "P3,2020-01-02,CRP,-1,mg/L\n",
    )
    result = read_labs(path)
    assert [(p.line, p.message) for p in result.problems] == [
        (4, f"unparseable CRP value {NUMBER}"),
        (6, "negative CRP value"),
    ]
    assert list(result.values["line"]) == [3]


def test_semicolon_csv_with_bom_and_case_insensitive_header(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes("\ufeffPatient_ID;Date;Test;Value;Unit\nP1;2020-01-02;ESR;30;mm/h\n".encode())
    result = read_labs(path)
    assert result.ok and result.values["value"].tolist() == [30.0]


def test_excel_rows_are_numbered_as_in_the_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["patient_id", "date", "test", "value", "unit"])
    sheet.append([1234, dt.datetime(2020, 1, 2, 9, 0), "CRP", 12, "mg/L"])
    sheet.append(["P2", dt.date(2020, 1, 3), "ESR", -4, "mm/h"])
    sheet.append([None, None, None, None, None])
    sheet.append(["P3", "2020-01-04", "CRP", 1.5, "mg/dL"])
    path = tmp_path / "labs.xlsx"
    book.save(path)
    result = read_labs(path)
    assert [str(p) for p in result.problems] == ["labs.xlsx:3: value: negative ESR value"]
    v = result.values
    assert v["patient_id"].tolist() == ["1234", "P3"]  # numeric IDs become text
    assert v["value"].tolist() == [12.0, 15.0]
    assert v["line"].tolist() == [2, 5]
    assert v["date"].dt.date.tolist() == [dt.date(2020, 1, 2), dt.date(2020, 1, 4)]


def test_wide_form_with_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path / "wide.csv",
        "MRN,DrawDate,crp_mg_dl,esr\n"
        "A1,2020-01-02,8.5,70\n"
        "A1,2020-02-02,0.4,\n"  # no ESR drawn: not a problem
        "A2,2020-01-05,abc,40\n",  # bad CRP cell, ESR of the same row still used
    )
    columns = LabColumns.parse(
        "patient_id=MRN,date=DrawDate,CRP=crp_mg_dl,ESR=esr", crp_unit="mg/dL"
    )
    assert columns.wide
    result = read_labs(path, columns)
    assert [str(p) for p in result.problems] == [
        f"wide.csv:4: crp_mg_dl: unparseable CRP value {NUMBER}"
    ]
    v = result.values.sort_values(["patient_id", "date", "test"])
    assert list(zip(v["patient_id"], v["test"], v["value"], strict=True)) == [
        ("A1", "CRP", 85.0),
        ("A1", "ESR", 70.0),
        ("A1", "CRP", 4.0),
        ("A2", "ESR", 40.0),
    ]


def test_long_form_with_renamed_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv",
        "Pat,Datum,Analyse,Wert,Einheit\nP1,2020-01-02,ESR,30,mm/h\nP1,2020-01-03,ESR,31,mm\n",
    )
    columns = LabColumns.parse("patient_id=Pat,date=Datum,test=Analyse,value=Wert,unit=Einheit")
    assert not columns.wide
    result = read_labs(path, columns)
    assert result.values["value"].tolist() == [30.0]
    assert [str(p) for p in result.problems] == [
        "labs.csv:3: Einheit: unknown unit for ESR (expected mm/h)"
    ]


def test_date_format_option(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv", HEADER + "P1,02.01.2020,CRP,3,mg/L\nP1,2020-01-03,CRP,3,mg/L\n"
    )
    result = read_labs(path, date_format="%d.%m.%Y")
    assert result.values["date"].dt.date.tolist() == [dt.date(2020, 1, 2)]
    assert [p.message for p in result.problems] == ["unparseable date (expected format '%d.%m.%Y')"]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("patient=MRN", "unknown lab column key 'patient'"),
        ("CRP", "is not key=column"),
        ("CRP=a,crp=b", "given twice"),
    ],
)
def test_bad_mapping_spec(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        LabColumns.parse(spec)


def test_bad_wide_unit() -> None:
    with pytest.raises(ValueError, match="unknown CRP unit 'g/dL'"):
        LabColumns(crp="crp", crp_unit="g/dL")


def test_unreadable_files_raise_lab_file_error(tmp_path: Path) -> None:
    with pytest.raises(LabFileError, match=r"missing\.csv: no such file"):
        read_labs(tmp_path / "missing.csv")
    with pytest.raises(LabFileError, match=r"labs\.json: not a CSV or Excel"):
        read_labs(write(tmp_path / "labs.json", "{}"))
    with pytest.raises(LabFileError, match=r"cols\.csv: missing column\(s\) unit for the long"):
        read_labs(write(tmp_path / "cols.csv", "patient_id,date,test,value\nP1,2020-01-01,CRP,1\n"))
    with pytest.raises(LabFileError, match=r"wide\.csv: missing column\(s\) crp"):
        read_labs(write(tmp_path / "wide.csv", "patient_id,date\n"), LabColumns(crp="crp"))
    with pytest.raises(LabFileError, match=r"empty\.csv: no header"):
        read_labs(write(tmp_path / "empty.csv", ""))
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(LabFileError, match=r"broken\.xlsx: cannot read as an Excel"):
        read_labs(bad)


def test_parse_date_forms() -> None:
    assert parse_date("20200102") == dt.date(2020, 1, 2)
    assert parse_date(20200102) == dt.date(2020, 1, 2)
    assert parse_date(pd.Timestamp("2020-01-02 13:00")) == dt.date(2020, 1, 2)
    with pytest.raises(ValueError, match="missing date"):
        parse_date(pd.NaT)


# ------------------------------------------------------------------------------ linking

MRI = dt.date(2020, 3, 10)


def values(*draws: tuple[int, float], test: str = "CRP", patient: str = "P1") -> pd.DataFrame:
    """Lab values of one patient at the given day offsets from MRI."""
    return pd.DataFrame(
        {
            "patient_id": patient,
            "date": pd.to_datetime([MRI + dt.timedelta(days=o) for o, _ in draws]),
            "test": test,
            "value": [v for _, v in draws],
            "unit": "mg/L",
            "file": "labs.csv",
            "line": range(2, 2 + len(draws)),
        }
    )


def cases(followup: dt.date = MRI + dt.timedelta(days=60)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": ["c1"],
            "patient_id": ["P1"],
            "baseline_date": [MRI],
            "followup_date": [followup],
        }
    )


def baseline_draw(link_values: pd.DataFrame, window: LinkWindow | None = None) -> pd.Series | None:
    link = link_labs(cases(), link_values, window, tests=["CRP"])
    chosen = link.draws[link.draws["timepoint"] == "baseline"]
    return None if chosen.empty else chosen.iloc[0]


@pytest.mark.parametrize(
    ("offset", "inside"), [(-7, True), (-8, False), (3, True), (4, False), (0, True)]
)
def test_window_edges(offset: int, inside: bool) -> None:
    draw = baseline_draw(values((offset, 50.0)))
    if inside:
        assert draw is not None and draw["offset_days"] == offset and draw["value"] == 50.0
    else:
        assert draw is None


def test_missing_reason_names_the_nearest_draw_outside() -> None:
    link = link_labs(cases(), values((-8, 1.0), (12, 2.0)), tests=["CRP"])
    reasons = dict(zip(link.missing["timepoint"], link.missing["reason"], strict=True))
    assert reasons["baseline"] == (
        "no CRP draw within -7..+3 days of baseline MRI (nearest at -8 days)"
    )
    assert (
        reasons["followup"]
        == "no CRP draw within -7..+3 days of follow-up MRI (nearest at -48 days)"
    )
    other = link_labs(cases(), values((0, 1.0), test="ESR"), tests=["CRP"])
    assert set(other.missing["reason"]) == {"no CRP values for this patient"}


def test_nearest_draw_wins_and_ties_go_to_the_draw_before() -> None:
    nearest = baseline_draw(values((-6, 1.0), (2, 2.0), (-3, 3.0)))
    assert nearest is not None and nearest["value"] == 2.0
    # equal distance before and after: the draw before the MRI is used (documented)
    tie = baseline_draw(values((2, 1.0), (-2, 2.0)))
    assert tie is not None and (tie["value"], tie["offset_days"]) == (2.0, -2)


def test_configurable_window() -> None:
    assert baseline_draw(values((-10, 1.0)), LinkWindow(before_days=14, after_days=0)) is not None
    assert baseline_draw(values((1, 1.0)), LinkWindow(before_days=14, after_days=0)) is None
    with pytest.raises(ValueError):
        LinkWindow(before_days=-1)


def test_a_draw_serves_one_mri_only() -> None:
    close = cases(followup=MRI + dt.timedelta(days=4))
    link = link_labs(close, values((2, 9.0)), tests=["CRP"])
    assert link.draws["timepoint"].tolist() == ["baseline"]
    assert link.missing["reason"].tolist() == [
        "no CRP draw within -7..+3 days of follow-up MRI other than the baseline draw"
    ]


def test_unknown_mri_date_is_reported() -> None:
    no_date = cases().assign(followup_date=[None])
    link = link_labs(no_date, values((0, 1.0)), tests=["CRP"])
    assert link.missing["reason"].tolist() == ["follow-up MRI date unknown"]


# ------------------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("baseline", "followup", "expected", "unchanged"),
    [
        (80.0, 5.0, LabClass.RESOLVED, False),  # at the limit: normal
        (80.0, 0.0, LabClass.RESOLVED, False),
        (4.0, 3.0, LabClass.RESOLVED, False),  # normal at baseline too
        (5.0, 5.0, LabClass.RESOLVED, False),  # equal but normal: resolved, not "unchanged"
        (80.0, 5.01, LabClass.RESOLVING, False),
        (80.0, 79.99, LabClass.RESOLVING, False),
        (80.0, 80.0, LabClass.AGGRAVATED, True),  # unchanged, default rule
        (80.0, 80.01, LabClass.AGGRAVATED, False),
        (4.0, 6.0, LabClass.AGGRAVATED, False),
    ],
)
def test_classify_change_edges(
    baseline: float, followup: float, expected: LabClass, unchanged: bool
) -> None:
    assert classify_change(baseline, followup, 5.0) == (expected, unchanged)


def test_unchanged_placement_is_an_option() -> None:
    assert classify_change(80.0, 80.0, 5.0, LabClass.RESOLVING) == (LabClass.RESOLVING, True)
    assert classify_change(80.0, 81.0, 5.0, LabClass.RESOLVING) == (LabClass.AGGRAVATED, False)
    with pytest.raises(ValueError):
        ClassificationSettings(unchanged_as=LabClass.RESOLVED)


def test_classify_labs_uses_limits_and_converted_units(tmp_path: Path) -> None:
    path = write(
        tmp_path / "labs.csv",
        HEADER
        + "P1,2020-03-10,CRP,70,mg/L\n"
        + "P1,2020-05-09,CRP,7.0,mg/dL\n"  # 70 mg/L: unchanged
        + "P1,2020-03-10,ESR,60,mm/h\n"
        + "P1,2020-05-09,ESR,25,mm/h\n",
    )
    labs = read_labs(path)
    link = link_labs(cases(), labs.values)
    default = classify_labs(link).set_index("test")
    assert default.loc["CRP", "lab_class"] == "aggravated" and default.loc["CRP", "unchanged"]
    assert default.loc["ESR", "lab_class"] == "resolving"
    assert default.loc["ESR", "lab_code"] == 1
    custom = ClassificationSettings(esr_normal=25, unchanged_as=LabClass.RESOLVING)
    other = classify_labs(link, custom).set_index("test")
    assert other.loc["CRP", "lab_class"] == "resolving" and other.loc["CRP", "unchanged"]
    assert other.loc["ESR", "lab_class"] == "resolved"


def test_lab_problem_str() -> None:
    assert str(LabProblem("a.csv", 7, "CRP", "negative CRP value")) == (
        "a.csv:7: CRP: negative CRP value"
    )
    assert str(LabProblem("a.csv", 7, "", "a row")) == "a.csv:7: a row"
