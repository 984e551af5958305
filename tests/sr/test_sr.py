"""Gradings as DICOM SR (TID 1500): content, validity (dciodvfy) and the round trip to a new
database through ``sr`` and ``sr-import``."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from sr_fixtures import (
    NOTE,
    comparable,
    dciodvfy_errors,
    dciodvfy_warnings,
    export_images,
    grade,
    run_command,
)

from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.store import Store
from spondy_annotate.sr.codes import SCHEME, code_key, level_code
from spondy_annotate.sr.read import import_reports

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, small_export: Path) -> Path:
    """A project database with two readers' gradings of the small export."""
    db = tmp_path_factory.mktemp("graded") / "project.sqlite"
    grade(db, small_export)
    return db


@pytest.fixture(scope="module")
def reports(
    tmp_path_factory: pytest.TempPathFactory, graded: Path, small_export: Path
) -> list[Path]:
    """The SRs ``sr`` writes of ``graded``."""
    out = tmp_path_factory.mktemp("sr")
    assert (
        run_command(["sr", "--db", str(graded), "--out", str(out), "--dicom", str(small_export)])
        == 0
    )
    return sorted(out.glob("*.dcm"))


def test_one_sr_per_case_and_reader(reports: list[Path]) -> None:
    assert len(reports) == 4  # reader A: 3 cases, reader B: 1
    assert sum("_A_ahn2020" in p.name for p in reports) == 3


def test_round_trip_to_an_empty_database_gives_the_same_gradings_table(
    reports: list[Path], graded: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.sqlite"
    assert run_command(["sr-import", *map(str, reports), "--db", str(fresh)]) == 0
    expected = comparable(graded)
    assert len(expected) == 3 * 3 + 3
    pd.testing.assert_frame_equal(comparable(fresh), expected, check_exact=True)


def test_a_second_import_adds_nothing(reports: list[Path], tmp_path: Path) -> None:
    with Store(tmp_path / "fresh.sqlite") as store:
        first = import_reports(reports, store)
        assert sum(r.answers_added for r in first) > 0
        answers = len(store.history())
        again = import_reports(reports, store)
        assert [r.answers_added for r in again] == [0] * len(reports)
        assert len(store.history()) == answers


def test_measurement_lines_come_back_in_world_mm(
    reports: list[Path], graded: Path, tmp_path: Path
) -> None:
    with Store(tmp_path / "fresh.sqlite") as fresh, Store(graded) as old:
        import_reports(reports, fresh)
        before = {(a.case_id, a.reader, a.key): a.value for a in old.latest_answers()}
        by_case = {c.case_id: (c.patient_id, c.baseline_study_uid) for c in old.cases()}
        after = {
            (
                (c := fresh.case(a.case_id)).patient_id,
                c.baseline_study_uid,
                a.reader,
                a.key,
            ): a.value
            for a in fresh.latest_answers()
        }
    lines = [(k, v) for k, v in before.items() if k[2].endswith("_mm") and v.start is not None]
    assert len(lines) == 6
    for (case_id, reader, key), value in lines:
        back = after[(*by_case[case_id], reader, key)]
        assert back.mm == value.mm
        for p, q in ((back.start, value.start), (back.end, value.end)):
            assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(p, q, strict=True))


def test_sr_carries_the_patient_and_follow_up_study_of_the_images(
    reports: list[Path], small_export: Path
) -> None:
    sr = dcmread(next(p for p in reports if "_A_" in p.name))
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR
    assert sr.Modality == "SR"
    followup_uid = sr.StudyInstanceUID
    image = next(ds for _, ds in export_images(small_export) if ds.StudyInstanceUID == followup_uid)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "StudyDate", "StudyTime", "AccessionNumber", "StudyID"):  # fmt: skip
        assert sr[keyword].value == image[keyword].value, keyword
    current = sr.CurrentRequestedProcedureEvidenceSequence
    other = sr.PertinentOtherEvidenceSequence
    assert [s.StudyInstanceUID for s in current] == [followup_uid]
    assert len(other) == 1 and other[0].StudyInstanceUID != followup_uid
    graded_series = list(current[0].ReferencedSeriesSequence)
    assert len(graded_series) == 3  # the hanging protocol's three sagittal series
    assert all(len(s.ReferencedSOPSequence) == 7 for s in graded_series)


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def _named(items, value: str) -> list:
    """The content items whose concept name has the code value ``value``."""
    return [i for i in items if code_key(i.ConceptNameCodeSequence[0])[1] == value]


def test_content_uses_standard_codes_and_declares_the_private_scheme(reports: list[Path]) -> None:
    sr = dcmread(next(p for p in reports if "_A_" in p.name))
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    (scheme,) = sr.CodingSchemeIdentificationSequence
    assert (scheme.CodingSchemeDesignator, scheme.CodingSchemeVersion) == (SCHEME, "1.0")
    assert scheme.CodingSchemeName.endswith("ahn2020")
    items = list(_walk(sr.ContentSequence))
    sites = [i.ConceptCodeSequence[0] for i in _named(items, "363698007")]
    assert len(sites) == 2 and {s.CodingSchemeDesignator for s in sites} == {"SCT"}
    tracking = [i.UID for i in _named(items, "112040")]
    assert len(tracking) == 2 and tracking[0] == tracking[1]  # one level, tracked across time
    heights = [i for i in _named(items, "121207") if i.ValueType == "NUM"]
    assert len(heights) == 2
    for height in heights:
        unit = height.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0]
        assert (unit.CodeValue, unit.CodingSchemeDesignator) == ("mm", "UCUM")
        (line,) = [c for c in height.ContentSequence if c.ValueType == "SCOORD3D"]
        assert line.GraphicType == "POLYLINE" and len(line.GraphicData) == 6
        assert line.ReferencedFrameOfReferenceUID
    types = [i.ConceptCodeSequence[0].CodeMeaning for i in _named(items, "126072")]
    assert types == ["Baseline", "Posttreatment"]
    notes = [
        i.TextValue
        for path in reports
        for i in _named(_walk(dcmread(path).ContentSequence), "121106")
    ]
    assert notes == [NOTE]  # UTF-8 text (the SR's character set is ISO_IR 192)
    observer = [i for i in items if i.ValueType == "PNAME"]
    assert observer and str(observer[0].PersonName) == "A^"


def test_the_lines_are_in_the_frame_of_reference_of_their_study(
    reports: list[Path], small_export: Path
) -> None:
    sr = dcmread(next(p for p in reports if "_A_" in p.name))
    frames = {ds.StudyInstanceUID: ds.FrameOfReferenceUID for _, ds in export_images(small_export)}
    lines = [i for i in _walk(sr.ContentSequence) if i.ValueType == "SCOORD3D"]
    studies = [sr.StudyInstanceUID, sr.PertinentOtherEvidenceSequence[0].StudyInstanceUID]
    assert {line.ReferencedFrameOfReferenceUID for line in lines} == {frames[s] for s in studies}


def test_dciodvfy_finds_no_error_in_any_sr(reports: list[Path]) -> None:
    for path in reports:
        assert dciodvfy_errors(path) == [], path.name


def test_dciodvfy_warns_only_of_the_private_coding_scheme(reports: list[Path]) -> None:
    dciodvfy_errors(reports[0])  # skips without dciodvfy
    for path in reports:
        assert dciodvfy_warnings(path) <= {
            f"Warning - Unrecognized defined term <{SCHEME}> for value 1 of attribute "
            "<Coding Scheme Designator>"
        }


def test_level_codes_are_snomed_disc_codes() -> None:
    assert (level_code("L4-L5").value, level_code("L4-L5").scheme_designator) == ("84020006", "SCT")
    assert level_code("L5-S1").value == "715056000"
    assert level_code("T12-L1").meaning == "T12/L1 disc"
    odd = level_code("L6-S1")  # a transitional vertebra: no SNOMED code, a private one
    assert odd.scheme_designator == SCHEME


@pytest.mark.slow
def test_the_export_folder_defaults_to_the_one_beside_the_database(
    graded: Path, small_export: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    shutil.copytree(small_export, export)
    db = tmp_path / "export.spondy.sqlite"
    shutil.copy(graded, db)
    assert (
        run_command(["sr", "--db", str(db), "--out", str(tmp_path / "out"), "--reader", "A"]) == 0
    )
    assert len(list((tmp_path / "out").glob("*.dcm"))) == 3


def test_without_an_export_beside_the_database_it_asks_for_one(
    graded: Path, tmp_path: Path
) -> None:
    with pytest.raises(SpondyError, match="give --dicom"):
        run_command(["sr", "--db", str(graded), "--out", str(tmp_path)])


@pytest.mark.slow
def test_cases_whose_studies_are_not_in_the_export_are_reported(
    graded: Path, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    shutil.copytree(small_export, export)
    with Store(graded) as store:
        gone = store.cases()[0]
    for path, ds in export_images(export):
        if ds.PatientID == gone.patient_id:
            path.unlink()
    out = tmp_path / "out"
    code = run_command(["sr", "--db", str(graded), "--out", str(out), "--dicom", str(export)])
    assert code == 1
    assert f"not written: case {gone.case_id}" in capsys.readouterr().out
    assert not any(gone.case_id in p.name for p in out.glob("*.dcm"))


def test_a_file_that_is_not_a_grading_sr_is_named_in_the_error(
    small_export: Path, tmp_path: Path
) -> None:
    image = export_images(small_export)[0][0]
    with Store(tmp_path / "db.sqlite") as store, pytest.raises(SpondyError, match=image.name):
        import_reports([image], store)
