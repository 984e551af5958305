"""No patient names, IDs, birth dates or study dates leak into outputs unless asked for.

An end-to-end run on synthetic data (which carries fake names, IDs and dates): index with the
project database, register and grade the cases, export, analyse the grades against labs with a
report, and log everything at DEBUG. Every file written, every log line and every message on
stdout/stderr is then searched for each patient's identifiers.
"""

import logging
import socket
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from spondy_annotate.cases.pairing import CaseStatus, find_cases
from spondy_annotate.cli import main
from spondy_annotate.dicom.index import index_folder
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Store
from spondy_annotate.synthetic.export import generate_export


def other_date_forms(date: str) -> set[str]:
    """A DICOM date as a lab system might write it (DD.MM.YYYY, MM/DD/YYYY)."""
    year, month, day = date[:4], date[4:6], date[6:]
    return {f"{day}.{month}.{year}", f"{month}/{day}/{year}"}


def identifiers(export: Path) -> set[str]:
    """Every patient's name, ID and birth date, and every study date, in the forms they take
    (and in the forms of a lab file with the wrong date format)."""
    found: set[str] = set()
    for path in export.rglob("*"):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        found |= {str(ds.PatientName), str(ds.PatientName).replace("^", " "), ds.PatientID}
        for date in (ds.PatientBirthDate, ds.StudyDate):
            found |= {date, f"{date[:4]}-{date[4:6]}-{date[6:]}", *other_date_forms(date)}
    return found


def grade_everything(db: Path, export: Path) -> None:
    cases = [c for c in find_cases(index_folder(export).series) if c.status is CaseStatus.READY]
    rubric = default_rubric()
    with Store(db) as store:
        session = store.start_session("reader1", rubric=rubric)
        for n, case in enumerate(cases):
            case_id = store.register_case(
                case.patient_id,
                case.baseline.study_instance_uid,
                case.baseline.date,
                case.followup.study_instance_uid,
                case.followup.date,
            )
            store.record_answer(session, case_id, "level", "L4-L5")
            for item in ("marrow_edema", "paravertebral_inflammation", "disc_height"):
                store.record_answer(session, case_id, f"{item}.baseline", 2)
                store.record_answer(session, case_id, f"{item}.followup", 1 + n % 2)
                store.record_answer(
                    session, case_id, f"{item}.change", ("improved", "unchanged")[n % 2]
                )


def write_labs(export: Path, out: Path) -> None:
    truth = pd.read_csv(export / "truth.csv", dtype=str).dropna(subset=["followup_date"])
    rows = []
    for n, t in enumerate(truth.itertuples()):
        rows += [
            (t.patient_id, t.baseline_date, "CRP", 80 + n, "mg/L"),
            (t.patient_id, t.followup_date, "CRP", (3, 40, 120)[n % 3], "mg/L"),
            (t.patient_id, t.baseline_date, "ESR", 70, "mm/h"),
            (t.patient_id, t.followup_date, "ESR", 15 + 20 * n, "mm/h"),
        ]
    first = truth.iloc[0]
    rows.append((first.patient_id, first.baseline_date, "CRP", -1, "mg/L"))
    rows.append((first.patient_id, "not a date", "XYZ", 1, "mg/L"))
    # rows rejected for what they hold: the MRI dates in another date format, and a shifted
    # row with the patient's name in the date column and the MRI date in the test column
    for date in (first.baseline_date, first.followup_date):
        (day_first, month_first) = sorted(other_date_forms(date.replace("-", "")))
        rows.append((first.patient_id, day_first, "CRP", 12, "mg/L"))
        rows.append((first.patient_id, month_first, "ESR", 30, "mm/h"))
    rows.append((first.patient_id, first.patient_name.replace("^", " "), date, "CRP", 7))
    rows.append((first.patient_id, first.patient_name, "CRP", date, "mg/L"))
    pd.DataFrame(rows, columns=["patient_id", "date", "test", "value", "unit"]).to_csv(
        out, index=False
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deid")
    export = tmp / "export"
    generate_export(export, patients=4, rows=48, columns=48, slices=5, seed=3)
    return tmp, export


@pytest.mark.slow
def test_outputs_carry_no_identifiers(run, capsys, caplog, monkeypatch):
    tmp, export = run
    caplog.set_level(logging.DEBUG)
    attempts = []  # nothing is ever sent over the network

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network use in a test of the offline pipeline")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    db = tmp / "project.sqlite"
    outputs = tmp / "outputs"
    outputs.mkdir()
    grade_everything(db, export)
    labs = tmp / "labs_of_the_patient_by_name" / "labs.csv"  # folders are named after patients
    labs.parent.mkdir()
    write_labs(export, labs)
    for fmt in ("csv", "xlsx", "parquet"):
        assert main(["export", "--db", str(db), "--out", str(outputs / f"gradings.{fmt}")]) == 0
    status = main(
        [
            "analyze",
            "--db",
            str(db),
            "--labs",
            str(labs),
            "--out",
            str(outputs / "report"),
            "--bootstrap",
            "50",
        ]
    )
    assert status == 3  # the two bad lab rows are reported, the analysis still ran
    assert (
        main(["export", "--db", str(tmp / "missing.sqlite"), "--out", str(outputs / "x.csv")]) == 1
    )
    captured = capsys.readouterr()
    texts = {"stdout": captured.out, "stderr": captured.err, "log": caplog.text}
    written = [p for p in outputs.rglob("*") if p.is_file()]
    report = outputs / "report"
    problems = pd.read_csv(report / "lab_problems.csv")
    assert len(problems) == 11 and set(problems["file"]) == {"labs.csv"}  # the name, no folder
    assert "labs.csv:" in (report / "report.html").read_text(encoding="utf-8")
    assert {p.name for p in written} >= {
        "gradings.csv",
        "gradings.xlsx",
        "gradings.parquet",
        "report.html",
        "correlations.csv",
    }
    for path in written:
        texts[str(path)] = path.read_bytes().decode("latin-1")
    secrets = identifiers(export) | {labs.parent.name}  # nor the lab file's folder
    assert any(s.startswith("SYN") for s in secrets) and len(secrets) > 10
    leaks = [(name, s) for name, text in texts.items() for s in secrets if s and s in text]
    assert leaks == []
    assert "labs.csv:" in captured.err  # the bad rows were reported by line, without identifiers
    assert attempts == []


def test_identifiers_only_when_asked(run):
    tmp, export = run
    db = tmp / "project2.sqlite"
    grade_everything(db, export)
    out = tmp / "with_ids.csv"
    assert main(["export", "--db", str(db), "--out", str(out), "--include-identifiers"]) == 0
    text = out.read_text()
    assert "SYN0001" in text
    assert {"patient_id", "baseline_date", "followup_date"} <= set(pd.read_csv(out).columns)
