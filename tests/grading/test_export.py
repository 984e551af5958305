"""Export: tidy columns, de-identification, round trips, atomic writes and the command line."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from spondy_annotate import cli
from spondy_annotate._csv import neutralise_cell, restore_cell
from spondy_annotate.errors import ExportError, StoreError
from spondy_annotate.grading.export import (
    EXPORT_COLUMNS,
    FORMATS,
    export_gradings,
    gradings_table,
    read_gradings,
    write_gradings,
)
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.rubric_toml import default_rubric, load_rubric
from spondy_annotate.grading.store import Store

SPEC_COLUMNS = [
    "case_id", "reader", "item", "level", "baseline_grade", "followup_grade", "change",
    "baseline_disc_height_mm", "followup_disc_height_mm", "interval_days", "confidence", "note",
    "answered_at", "rubric_name", "rubric_version",
]  # fmt: skip
PATIENTS = ("SMITH^JOHN-77123", "PAT-99881")
UIDS = ("1.2.826.0.1.3680043.8.498.11", "1.2.826.0.1.3680043.8.498.12",
        "1.2.826.0.1.3680043.8.498.21", "1.2.826.0.1.3680043.8.498.22")  # fmt: skip
DATES = ("2019-03-05", "2019-04-16", "2018-11-20", "2019-01-08")
NOTE = '=HYPERLINK("x"), "quoted", ü\nNA second line'


def date_forms(iso: str) -> list[str]:
    y, m, d = iso.split("-")
    return [iso, f"{y}{m}{d}", f"{d}.{m}.{y}", f"{m}/{d}/{y}", f"{y}/{m}/{d}"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two cases; reader A grades case 1 completely (changing a mind once), reader B partly."""
    path = tmp_path / "gradings.sqlite"
    rubric = default_rubric()
    with Store(path) as store:
        c1 = store.register_case(PATIENTS[0], UIDS[0], DATES[0], UIDS[1], DATES[1])
        c2 = store.register_case(PATIENTS[1], UIDS[2], DATES[2], UIDS[3], DATES[3])
        a = store.start_session("A", rubric=rubric)
        b = store.start_session("B", rubric=rubric)
        answers = {
            "level": "L4-L5",
            "marrow_edema.baseline": 3,
            "marrow_edema.followup": 2,
            "marrow_edema.change": "unchanged",
            "paravertebral_inflammation.baseline": 2,
            "paravertebral_inflammation.followup": 0,
            "paravertebral_inflammation.change": "improved",
            "disc_height.baseline_mm": Measurement.from_points((0, 0, 0), (0, 0, 9.5)),
            "disc_height.baseline": 0,
            "disc_height.followup_mm": Measurement.from_points((0, 0, 0), (0, 3, 4)),
            "disc_height.followup": 1,
            "disc_height.change": "aggravated",
            "confidence": "uncertain",
            "note": NOTE,
        }
        for key, value in answers.items():
            store.record_answer(a, c1, key, value)
        store.record_answer(a, c1, "marrow_edema.change", "improved")  # change of mind
        store.record_answer(b, c2, "level", "L2-L3")
        store.record_answer(b, c2, "marrow_edema.baseline", 1)
        store.register_case("UNGRADED", "9.1", None, "9.2", None)  # no answers: no rows
    return path


@pytest.fixture
def table(db: Path) -> pd.DataFrame:
    return gradings_table(db)


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    with Store(db) as s:
        yield s


def test_columns_and_rows(table: pd.DataFrame, store: Store) -> None:
    assert list(table.columns) == SPEC_COLUMNS
    assert (
        list(EXPORT_COLUMNS)
        == SPEC_COLUMNS[:1] + ["patient_id", "baseline_date", "followup_date"] + SPEC_COLUMNS[1:]
    )
    assert len(table) == 6  # 2 (case, reader) pairs x 3 items; the ungraded case has none
    c1 = store.register_case(PATIENTS[0], UIDS[0], None, UIDS[1], None)
    a = table[(table.case_id == c1) & (table.reader == "A")].set_index("item")
    assert list(a.index) == ["marrow_edema", "paravertebral_inflammation", "disc_height"]
    me = a.loc["marrow_edema"]
    assert (me.baseline_grade, me.followup_grade, me.change) == (3, 2, "improved")  # latest
    assert a.loc["disc_height", "followup_grade"] == 1
    assert a.loc["disc_height", "change"] == "aggravated"
    assert (a.level == "L4-L5").all() and (a.interval_days == 42).all()
    assert a.baseline_disc_height_mm.tolist() == [9.5] * 3
    assert a.followup_disc_height_mm.tolist() == pytest.approx([5.0] * 3)
    assert (a.confidence == "uncertain").all() and (a.note == NOTE).all()
    assert (a.rubric_name == "ahn2020").all() and (a.rubric_version == "1.0").all()
    assert a.answered_at.dt.tz is not None and a.answered_at.notna().all()
    b = table[table.reader == "B"].set_index("item")
    assert b.loc["marrow_edema", "baseline_grade"] == 1
    assert b.loc["paravertebral_inflammation"].isna()[["baseline_grade", "change"]].all()
    assert pd.isna(b.loc["paravertebral_inflammation", "answered_at"])
    assert (b.interval_days == 49).all()


def test_dtypes(table: pd.DataFrame) -> None:
    assert str(table.baseline_grade.dtype) == "Int64"
    assert str(table.interval_days.dtype) == "Int64"
    assert table.baseline_disc_height_mm.dtype == "float64"
    assert str(table.answered_at.dtype) == "datetime64[ns, UTC]"
    assert isinstance(table.case_id.dtype, pd.StringDtype)


def test_identifiers_only_with_flag(db: Path) -> None:
    full = gradings_table(db, include_identifiers=True)
    assert list(full.columns[:4]) == ["case_id", "patient_id", "baseline_date", "followup_date"]
    assert set(full.patient_id) == set(PATIENTS)
    assert str(full.baseline_date.dtype) == "datetime64[ns]"
    row = full[full.patient_id == PATIENTS[0]].iloc[0]
    assert row.baseline_date == pd.Timestamp(DATES[0])
    assert row.followup_date == pd.Timestamp(DATES[1])


def test_reader_filter(db: Path) -> None:
    assert set(gradings_table(db, readers=["B"]).reader) == {"B"}
    assert gradings_table(db, readers=["nobody"]).empty


def file_text(path: Path) -> str:
    """Everything readable in an export file: raw text, the xlsx XML, or parquet values."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8") for n in z.namelist())
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path).metadata or {}
        values = pq.read_table(path).to_pandas().astype(str).to_csv()
        return values + "\n".join(v.decode("utf-8", "replace") for v in meta.values())
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("ext", FORMATS)
def test_deidentified_by_default(db: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"gradings{ext}"
    export_gradings(db, out)
    text = file_text(out)
    for secret in [*PATIENTS, "SMITH", "77123", "99881", *UIDS]:
        assert secret not in text
    for iso in DATES:
        for form in date_forms(iso):
            assert form not in text
    assert "C-" in text and "marrow_edema" in text  # the real content is there


@pytest.mark.parametrize("ext", FORMATS)
def test_identifiers_written_with_flag(db: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"gradings{ext}"
    export_gradings(db, out, include_identifiers=True)
    back = read_gradings(out)
    assert set(back.patient_id) == set(PATIENTS)
    assert set(back.baseline_date.dt.strftime("%Y-%m-%d")) == {DATES[0], DATES[2]}


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("identifiers", [False, True])
def test_round_trip(db: Path, tmp_path: Path, ext: str, identifiers: bool) -> None:
    out = tmp_path / f"gradings{ext}"
    written = export_gradings(db, out, include_identifiers=identifiers)
    back = read_gradings(out)
    pd.testing.assert_frame_equal(back, written)
    assert back.note.dropna().iloc[0] == NOTE  # formula-like text stays text


FORMULAS = ("=1+1", "+41 79 000", "-2+3", "@SUM(A1)", "'=already quoted")


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(tmp_path: Path) -> None:
    """Reader names, notes and patient IDs starting with = + - @ (tab, CR) are written as text
    (a leading apostrophe, as spreadsheets take it), and read back exactly as typed."""
    import csv

    db = tmp_path / "g.sqlite"
    with Store(db) as store:
        for i, text in enumerate(FORMULAS):
            case = store.register_case(text, f"1.2.{i}.1", DATES[0], f"1.2.{i}.2", DATES[1])
            session = store.start_session(text, rubric=default_rubric())
            store.record_answer(session, case, "note", text)
    out = tmp_path / "gradings.csv"
    written = export_gradings(db, out, include_identifiers=True)
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["note"] for row in rows} == {"'" + text for text in FORMULAS}
    assert {row["patient_id"] for row in rows} == {"'" + text for text in FORMULAS}
    assert all(row["reader"].startswith("'") for row in rows)
    assert not [c for row in rows for c in row.values() if c and c[0] in "=+-@\t\r"]
    back = read_gradings(out)
    pd.testing.assert_frame_equal(back, written)
    assert set(back.note) == set(FORMULAS)


@pytest.mark.parametrize("text", [*FORMULAS, "\tx", "\r=x", "''-x", "'s-Hertogenbosch", "ok"])
def test_neutralised_cells_read_back_as_written(text: str) -> None:
    cell = neutralise_cell(text)
    assert restore_cell(cell) == text
    assert cell[0] not in "=+-@\t\r"
    assert cell == text or cell == "'" + text


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_export_round_trips(tmp_path: Path, ext: str) -> None:
    db = tmp_path / "empty.sqlite"
    Store(db).close()
    out = tmp_path / f"empty{ext}"
    written = export_gradings(db, out)
    assert written.empty and list(written.columns) == SPEC_COLUMNS
    pd.testing.assert_frame_equal(read_gradings(out), written, check_index_type=False)


def test_extra_measurement_items_get_columns(tmp_path: Path) -> None:
    text = (
        load_rubric("kowalski2007")
        .text.replace(
            'id = "vertebral_height_loss"', 'id = "vertebral_height"\ntype = "measurement"'
        )
        .replace('name = "kowalski2007"', 'name = "measured"')
    )
    rubric_file = tmp_path / "measured.toml"
    rubric_file.write_text(text, encoding="utf-8")
    db = tmp_path / "m.sqlite"
    with Store(db) as store:
        case = store.register_case("P", "1.1", None, "1.2", None)
        session = store.start_session("A", rubric=load_rubric(rubric_file))
        store.record_answer(session, case, "vertebral_height.followup_mm", 21.0)
    table = gradings_table(db)
    assert "followup_vertebral_height_mm" in table.columns
    assert len(table) == 7 and (table.followup_vertebral_height_mm == 21.0).all()
    out = tmp_path / "m.csv"
    write_gradings(table, out)
    assert read_gradings(out).followup_vertebral_height_mm.dtype == "float64"


# ----------------------------------------------------------------------------- errors, atomicity


def test_unknown_extension(db: Path, tmp_path: Path) -> None:
    for name in ("out.json", "out"):
        with pytest.raises(ExportError, match=r"unknown format .*\.csv, \.xlsx, \.parquet"):
            export_gradings(db, tmp_path / name)
    with pytest.raises(ExportError, match="unknown format"):
        read_gradings(tmp_path / "x.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradings.sqlite"]


def test_missing_db_and_folder(tmp_path: Path, db: Path) -> None:
    with pytest.raises(StoreError, match="no such grading database"):
        export_gradings(tmp_path / "none.sqlite", tmp_path / "x.csv")
    assert not (tmp_path / "none.sqlite").exists()
    with pytest.raises(ExportError, match="does not exist"):
        export_gradings(db, tmp_path / "no" / "x.csv")


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such gradings file"):
        read_gradings(tmp_path / "x.csv")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ExportError, match="missing column.*case_id"):
        read_gradings(other)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(ExportError, match="not a readable parquet"):
        read_gradings(broken)


def test_read_checks_values(tmp_path: Path) -> None:
    """A value of the wrong type is named by column and data row, not guessed."""
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "case_id,item,change,baseline_date\nC-1,me,improved,2019-03-05\n"
        "C-2,me,improved,05/03/2019\n"
    )
    with pytest.raises(
        ExportError,
        match=r"bad\.csv: bad values .*baseline_date in data row 2: "
        r"unparseable date '05/03/2019'",
    ):
        read_gradings(bad)


def test_read_table_made_elsewhere(tmp_path: Path) -> None:
    """A workbook without the export's sheet: its first sheet, date cells, numeric case IDs."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["case_id", "reader", "item", "change", "baseline_date", "baseline_grade", "extra"])
    ws.append([17, "A", "marrow_edema", "improved", dt.datetime(2019, 3, 5), 2, "kept"])
    ws.append(["C-7F3A91", "A", "marrow_edema", "unchanged", "20190416", None, None])
    path = tmp_path / "by_hand.xlsx"
    wb.save(path)
    table = read_gradings(path)
    assert table.case_id.tolist() == ["17", "C-7F3A91"]
    assert table.baseline_date.tolist() == [pd.Timestamp(DATES[0]), pd.Timestamp(DATES[1])]
    assert str(table.baseline_grade.dtype) == "Int64" and table.baseline_grade.tolist()[0] == 2
    assert table.extra.tolist()[0] == "kept"


@pytest.mark.parametrize(
    ("ext", "method", "error"),
    [(".csv", "to_csv", OSError("disk full")), (".parquet", "to_parquet", RuntimeError("boom"))],
)
def test_failed_write_leaves_no_partial_file(
    db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ext: str,
    method: str,
    error: Exception,
) -> None:
    out = tmp_path / f"gradings{ext}"
    out.write_text("previous export")

    def half_write(self: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        Path(path).write_text("case_id,rea")  # a partial file ...
        raise error  # ... then the disk fills up

    monkeypatch.setattr(pd.DataFrame, method, half_write)
    with pytest.raises((ExportError, RuntimeError)):
        export_gradings(db, out)
    assert out.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["gradings.sqlite", out.name])


# ----------------------------------------------------------------------------- command line


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``spondy-annotate`` with only this subcommand registered (the others are tested apart)."""
    monkeypatch.setattr(cli, "COMMANDS", ("export",))
    return cli.main


def test_cli_export(
    main: Callable[[list[str]], int], db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "g.xlsx"
    assert main(["export", "--db", str(db), "--out", str(out), "--reader", "A"]) == 0
    assert "wrote 3 rows (1 cases, 1 readers)" in capsys.readouterr().out
    back = read_gradings(out)
    assert set(back.reader) == {"A"} and "patient_id" not in back
    out2 = tmp_path / "g.csv"
    assert main(["export", "--db", str(db), "--out", str(out2), "--include-identifiers"]) == 0
    assert set(read_gradings(out2).patient_id) == set(PATIENTS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--db", "{tmp}/missing.sqlite", "--out", "{tmp}/x.csv"], "no such grading database"),
        (["--db", "{db}", "--out", "{tmp}/x.docx"], "unknown format '.docx'"),
    ],
)
def test_cli_errors_are_one_line(
    main: Callable[[list[str]], int],
    db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    args = [a.format(tmp=tmp_path, db=db) for a in argv]
    assert main(["export", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spondy-annotate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
