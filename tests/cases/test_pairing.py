"""Cases: baseline/follow-up pairing, explicit choices, incomplete patients, series matching."""

import pytest
from dicom_factory import write_series
from dicom_factory import write_study as study

from spondy_annotate.cases.pairing import CaseStatus, find_cases
from spondy_annotate.cli import main
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.dicom.rules import load_rules
from spondy_annotate.errors import CaseSelectionError, ConfigError


@pytest.fixture
def export(tmp_path):
    root = tmp_path / "export"
    # follow-up written first: order on disk must not matter
    study(root, "P1", "20240301", "1.2.3.12", seed=10)
    study(root, "P1", "20240115", "1.2.3.11", seed=20, sequences=("SAG STIR", "SAG T1", "AX T2"))
    study(root, "P2", "20240201", "1.2.3.21")
    for n, date in enumerate(("20230101", "20230301", "20230601")):
        study(root, "P3", date, f"1.2.3.3{n}", seed=30 + n)
    return index_folder(root)


def test_pairs_baseline_followup_and_flags_others(export):
    cases = {c.patient_id: c for c in find_cases(export.series)}
    p1 = cases["P1"]
    assert p1.status is CaseStatus.READY
    assert p1.baseline.study_instance_uid == "1.2.3.11"
    assert p1.followup.study_instance_uid == "1.2.3.12"
    assert p1.interval_days == 46
    labels = [p.label for p in p1.pairs]
    assert labels == ["SAG STIR", "SAG T1", "AX T2"]  # hanging protocol order
    assert p1.pairs[2].baseline.series_description == "AX T2" and p1.pairs[2].followup is None
    assert p1.pairs[0].baseline.series_description == "SAG STIR"
    assert cases["P2"].status is CaseStatus.INCOMPLETE
    assert cases["P3"].status is CaseStatus.NEEDS_CHOICE and cases["P3"].baseline is None


def test_records_and_the_dataframe_give_the_same_cases(export):
    # a one-slice series without SeriesNumber: None in the rows, NaN in the DataFrame
    write_series(
        export.root / "P2" / "20240201",
        patient_id="P2",
        study_uid="1.2.3.21",
        study_date="20240201",
        description="LOCALIZER",
        slices=1,
        extra={"SeriesNumber": None},
    )
    index = index_folder(export.root)
    assert index.series["series_number"].isna().any()
    assert find_cases(index.records) == find_cases(index.series)
    n, record = next((n, r) for n, r in enumerate(index.records) if r.series_number is None)
    assert record == SeriesRecord.from_row(index.series.iloc[n])
    assert record.slice_spacing is None and record.series_description == "LOCALIZER"
    assert isinstance(record.files, tuple) and len(record.files) == 1


def test_study_dates_empty_or_invalid_sort_last(tmp_path):
    root = tmp_path / "e"
    study(root, "P1", "20240301", "1.2.3.12")
    study(root, "P1", "", "1.2.3.13", seed=5)
    study(root, "P1", "2024-01-15", "1.2.3.11", seed=9)  # ISO text: read as a date
    (case,) = find_cases(index_folder(root).records)
    assert [s.date_text for s in case.studies] == ["2024-01-15", "2024-03-01", "unknown date"]
    assert case.status is CaseStatus.NEEDS_CHOICE


def test_one_sided_pairs_are_kept(tmp_path):
    root = tmp_path / "e"
    study(root, "P1", "20240115", "1.2.3.11", sequences=("SAG STIR", "AX T2"))
    study(root, "P1", "20240301", "1.2.3.12", sequences=("SAG STIR",))
    (case,) = find_cases(index_folder(root).series)
    assert [p.label for p in case.pairs] == ["SAG STIR", "AX T2"]
    assert case.pairs[1].followup is None


def test_explicit_choice_for_more_than_two_studies(export):
    cases = find_cases(export.series, choices={"P3": ("1", "2023-06-01")})
    p3 = next(c for c in cases if c.patient_id == "P3")
    assert p3.status is CaseStatus.READY
    assert p3.baseline.date.isoformat() == "2023-01-01"
    assert p3.followup.study_instance_uid == "1.2.3.32"


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"P3": ("1", "9")}, "no study '9'"),
        ({"P3": ("2", "2")}, "the same study"),
        ({"P3": ("3", "1")}, "before the baseline"),
        ({"NOPE": ("1", "2")}, "no patient 'NOPE'"),
    ],
)
def test_bad_choices(export, choices, message):
    with pytest.raises(CaseSelectionError, match=message):
        find_cases(export.series, choices=choices)


def test_rules_file_changes_the_protocol(export, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[sequence]\nstir = ["STIR"]\nt1 = ["T1"]\nt2 = ["T2"]\n'
        '[[protocol]]\norientation = "sagittal"\nsequence = "T1"\n'
    )
    cases = find_cases(export.series, rules=load_rules(rules))
    p1 = next(c for c in cases if c.patient_id == "P1")
    assert [p.label for p in p1.pairs] == ["SAG T1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[protocol]]\norientation = 'oblique'\nsequence = 'T1'\n", "orientation 'oblique'"),
        ("[[protocol]]\norientation = 'axial'\nsequence = 'T9'\n", "sequence 'T9'"),
        (
            "[sequence]\nt1 = ['(']\n[[protocol]]\norientation='axial'\nsequence='T1'\n",
            "invalid pattern",
        ),
        ("name = \n", "invalid TOML"),
        ("name = 'x'\n", "no \\[\\[protocol\\]\\] entries"),
    ],
)
def test_bad_rules_files(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_cases_cli(export, capsys):
    root = str(export.root)
    assert main(["cases", root]) == 0
    out = capsys.readouterr().out
    assert "patient P1: ready" in out and "patient P2: incomplete" in out
    assert "patient P3: needs choice" in out and "--choose P3=1,2" in out
    assert main(["cases", root, "--choose", "P3=1,3"]) == 0
    assert "patient P3: ready" in capsys.readouterr().out
    assert main(["cases", root, "--choose", "P3"]) == 1
    err = capsys.readouterr().err
    assert "expected PATIENT=BASELINE,FOLLOWUP" in err and "Traceback" not in err
