"""Reading grading SRs back: a TID 1500 document -> one reader's answers to one case -> the store.

:func:`read_report` understands what :func:`~spondy_annotate.sr.build.build_report` writes
(any conforming writer that uses the same codes would do): the case from the SR's patient and
study (the follow-up) and its other evidence study (the baseline), the study dates from the
image library, the reader from the observer context, and the answers from the two measurement
groups. :func:`import_reports` stores them, append-only, as answers of their reader.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from spondy_annotate._dates import parse_date
from spondy_annotate.errors import RubricError, SRError
from spondy_annotate.grading.rubric import Measurement
from spondy_annotate.grading.rubric_toml import builtin_rubrics, load_rubric
from spondy_annotate.sr.build import CaseGrading
from spondy_annotate.sr.codes import (
    NOTE,
    TIMEPOINT_TYPES,
    RubricCodes,
    code_key,
    declared_rubric,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from spondy_annotate.grading.rubric import AnswerValue, Rubric
    from spondy_annotate.grading.store import Store

logger = logging.getLogger(__name__)

#: Finds the rubric an SR declares: ``(name, version) -> Rubric``.
RubricFinder = Callable[[str, str], "Rubric"]

_COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
_LOGIN_NAME = Code("128774", "DCM", "Person Observer's Login Name")
_TIMEPOINTS = {code_key(code): tp for tp, code in TIMEPOINT_TYPES.items()}


def _items(item: Dataset) -> Iterator[Dataset]:
    yield from item.get("ContentSequence", [])


def _named(item: Dataset, concept: Any) -> Iterator[Dataset]:
    """The children of ``item`` whose concept name is ``concept``."""
    key = code_key(concept)
    for child in _items(item):
        names = child.get("ConceptNameCodeSequence")
        if names and code_key(names[0]) == key:
            yield child


def _one(item: Dataset, concept: Any) -> Dataset | None:
    return next(_named(item, concept), None)


def _reader(root: Dataset) -> str:
    login = _one(root, _LOGIN_NAME)
    if login is not None and login.get("TextValue"):
        return str(login.TextValue)
    name = _one(root, codes.DCM.PersonObserverName)
    if name is None or not name.get("PersonName"):
        raise SRError("no person observer (the reader) in the observation context")
    return str(name.PersonName).rstrip("^")


def _evidence_studies(ds: Dataset) -> dict[str, str]:
    """SOP Instance UID -> Study Instance UID of every referenced image."""
    out: dict[str, str] = {}
    for keyword in ("CurrentRequestedProcedureEvidenceSequence", "PertinentOtherEvidenceSequence"):
        for study in ds.get(keyword, []):
            for series in study.get("ReferencedSeriesSequence", []):
                for sop in series.get("ReferencedSOPSequence", []):
                    out[str(sop.ReferencedSOPInstanceUID)] = str(study.StudyInstanceUID)
    return out


def _study_dates(root: Dataset, studies: dict[str, str]) -> dict[str, dt.date]:
    """Study Instance UID -> the Study Date of its image library group."""
    out: dict[str, dt.date] = {}
    for library in _named(root, codes.DCM.ImageLibrary):
        for group in _named(library, codes.DCM.ImageLibraryGroup):
            date = _one(group, codes.DCM.StudyDate)
            images = [c for c in _items(group) if c.get("ValueType") == "IMAGE"]
            if date is None or not images:
                continue
            sop = str(images[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
            if sop in studies:
                out[studies[sop]] = parse_date(str(date.Date))
    return out


def _point(data: list[float], start: int) -> tuple[float, float, float]:
    return float(data[start]), float(data[start + 1]), float(data[start + 2])


def _measurement(item: Dataset) -> Measurement:
    value = item.MeasuredValueSequence[0]
    mm = float(value.get("FloatingPointValue", value.NumericValue))
    for child in _items(item):
        data = child.get("GraphicData")
        if child.get("ValueType") == "SCOORD3D" and data is not None and len(data) == 6:
            return Measurement(mm, _point(data, 0), _point(data, 3))
    return Measurement(mm)


def _group_values(group: Dataset, codes_: RubricCodes) -> dict[str, AnswerValue]:
    """The answers one measurement group holds."""
    kind = _one(group, codes.DCM.TimePointType)
    if kind is None or code_key(kind.ConceptCodeSequence[0]) not in _TIMEPOINTS:
        raise SRError("a measurement group has no baseline or post-treatment time point type")
    timepoint = _TIMEPOINTS[code_key(kind.ConceptCodeSequence[0])]
    values: dict[str, AnswerValue] = {}
    site = _one(group, codes.SCT.FindingSite)
    if site is not None:
        values["level"] = codes_.level(site.ConceptCodeSequence[0])
    for item in _items(group):
        if item.get("RelationshipType") != "CONTAINS":
            continue
        concept = item.ConceptNameCodeSequence[0]
        if item.ValueType == "CODE":
            field = codes_.coded_field(concept, timepoint)
            values[field.key] = codes_.answer(field, item.ConceptCodeSequence[0])
        elif item.ValueType == "NUM":
            values[codes_.measurement_field(concept, timepoint).key] = _measurement(item)
        elif item.ValueType == "TEXT" and code_key(concept) == code_key(NOTE):
            values["note"] = str(item.TextValue)
    return values


def read_report(ds: Dataset, find_rubric: RubricFinder) -> CaseGrading:
    """The case and answers of a grading SR.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A Comprehensive 3D SR written by :func:`~spondy_annotate.sr.build.build_report`.
    find_rubric : callable
        ``(name, version) -> Rubric``: the rubric the SR declares.

    Raises
    ------
    SRError
        If it is not such an SR or uses codes its rubric does not know.
    """
    if ds.get("SOPClassUID") != _COMPREHENSIVE_3D_SR or "ContentSequence" not in ds:
        raise SRError("not a Comprehensive 3D SR")
    rubric = find_rubric(*declared_rubric(ds))
    codes_ = RubricCodes(rubric)
    followup_uid = str(ds.StudyInstanceUID)
    studies = _evidence_studies(ds)
    others = sorted(set(studies.values()) - {followup_uid})
    if len(others) != 1:
        raise SRError(f"expected the evidence to hold one baseline study, found {len(others)}")
    dates = _study_dates(ds, studies)
    values: dict[str, AnswerValue] = {}
    measurements = next(_named(ds, codes.DCM.ImagingMeasurements), None)
    if measurements is None:
        raise SRError("no Imaging Measurements container")
    for group in _named(measurements, codes.DCM.MeasurementGroup):
        values.update(_group_values(group, codes_))
    return CaseGrading(
        patient_id=str(ds.PatientID),
        baseline_study_uid=others[0],
        baseline_date=dates.get(others[0]),
        followup_study_uid=followup_uid,
        followup_date=dates.get(followup_uid)
        or (parse_date(ds.StudyDate) if ds.get("StudyDate") else None),
        reader=_reader(ds),
        rubric=rubric,
        values=values,
    )


@dataclass(frozen=True)
class ImportedReport:
    """What :func:`import_reports` did with one SR file."""

    path: Path
    case_id: str
    reader: str
    answers_added: int


def rubric_finder(store: Store, extra: Rubric | None = None) -> RubricFinder:
    """Find a declared rubric: ``extra``, else as stored with the sessions, else a built-in one.

    The version must match: grades are only comparable under the rubric that defined them.
    """

    def find(name: str, version: str) -> Rubric:
        if extra is not None and (extra.name, extra.version) == (name, version):
            return extra
        rubric = store.stored_rubric(name, version)
        if rubric is None and name in builtin_rubrics():
            try:
                builtin = load_rubric(name)
            except RubricError:  # pragma: no cover - built-ins are tested
                builtin = None
            if builtin is not None and builtin.version == version:
                rubric = builtin
        if rubric is None:
            raise SRError(f"rubric {name} {version} is neither stored nor built in (give --rubric)")
        return rubric

    return find


def import_reports(
    paths: Iterable[str | os.PathLike[str]], store: Store, *, rubric: Rubric | None = None
) -> list[ImportedReport]:
    """Store the answers of grading SRs, append-only, as answers of their readers.

    Each file is read and its case registered, then its answers are recorded in a session of
    its reader (settings name the SR), except those equal to the reader's current answer: a
    second import adds nothing.

    Raises
    ------
    SRError
        Naming the file, if it is not readable or not a grading SR; the files before it are
        stored.
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    find = rubric_finder(store, rubric)
    done: list[ImportedReport] = []
    for path in map(Path, paths):
        try:
            ds = dcmread(path)
            grading = read_report(ds, find)
        except (OSError, InvalidDicomError) as exc:
            raise SRError(f"{path}: not a readable DICOM file ({exc})") from None
        except SRError as exc:
            raise SRError(f"{path}: {exc}") from None
        case_id = store.register_case(
            grading.patient_id,
            grading.baseline_study_uid,
            grading.baseline_date,
            grading.followup_study_uid,
            grading.followup_date,
        )
        current = store.current_values(case_id, grading.reader, grading.rubric)
        new = {k: v for k, v in grading.values.items() if current.get(k) != v}
        if new:
            session = store.start_session(
                grading.reader,
                rubric=grading.rubric,
                settings={"imported_from": "DICOM SR", "sop_instance_uid": str(ds.SOPInstanceUID)},
            )
            for key, value in new.items():
                store.record_answer(session, case_id, key, value)
        logger.info("%s: %d answers of %s to case %s", path, len(new), grading.reader, case_id)
        done.append(ImportedReport(path, case_id, grading.reader, len(new)))
    return done
