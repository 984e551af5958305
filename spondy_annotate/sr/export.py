"""Writing the gradings of a project database as SR files: one per case, reader and rubric.

The store gives each reader's current answers per case; the export the case is graded from
(a folder, or a DICOMweb service indexed into the same series records) gives the graded images.
A case whose studies the export does not hold is reported, not written.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from spondy_annotate._files import atomic_write
from spondy_annotate.cases.pairing import find_cases
from spondy_annotate.errors import CaseSelectionError, SRError
from spondy_annotate.sr.build import CaseGrading, build_report
from spondy_annotate.sr.evidence import HeaderReader, case_images, read_series_headers

if TYPE_CHECKING:
    from spondy_annotate.dicom.records import SeriesRecord
    from spondy_annotate.dicom.rules import MatchingRules
    from spondy_annotate.grading.rubric import AnswerValue, Rubric
    from spondy_annotate.grading.store import Answer, Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredGrading:
    """A reader's current answers to a registered case, as the store holds them."""

    case_id: str
    grading: CaseGrading
    latest_answer_id: int


@dataclass
class WrittenReports:
    """What :func:`write_reports` wrote, and which cases it could not."""

    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def stored_gradings(store: Store, readers: Iterable[str] | None = None) -> list[StoredGrading]:
    """Every (case, reader, rubric) with at least one current answer, by case and reader."""
    groups: dict[tuple[str, str, str], list[Answer]] = {}
    for a in store.latest_answers(readers=readers):
        groups.setdefault((a.case_id, a.reader, a.rubric_name), []).append(a)
    out = []
    for (case_id, reader, rubric_name), answers in groups.items():
        values: dict[str, AnswerValue] = {a.key: a.value for a in answers if a.value is not None}
        if not values:
            continue
        latest = max(answers, key=lambda a: a.answer_id)
        rubric = _rubric(store, rubric_name, latest.rubric_version)
        case = store.case(case_id)
        grading = CaseGrading(
            case.patient_id,
            case.baseline_study_uid,
            case.baseline_date,
            case.followup_study_uid,
            case.followup_date,
            reader,
            rubric,
            values,
        )
        out.append(StoredGrading(case_id, grading, latest.answer_id))
    return out


def _rubric(store: Store, name: str, version: str) -> Rubric:
    rubric = store.stored_rubric(name, version)
    if rubric is None:  # answers are only recorded in sessions, which store their rubric
        raise SRError(f"{store.path}: rubric {name} {version} is not stored")
    return rubric


def report_name(stored: StoredGrading) -> str:
    """The SR's file name: ``<case id>_<reader>_<rubric>.dcm`` (unsafe characters as ``-``)."""
    grading = stored.grading
    text = f"{stored.case_id}_{grading.reader}_{grading.rubric.name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text) + ".dcm"


def write_reports(
    store: Store,
    series: Sequence[SeriesRecord],
    out: str | os.PathLike[str],
    *,
    rules: MatchingRules | None = None,
    readers: Iterable[str] | None = None,
    read: HeaderReader = read_series_headers,
) -> WrittenReports:
    """Write one SR per case, reader and rubric of ``store`` into the folder ``out``.

    Parameters
    ----------
    store : Store
        The project database.
    series : sequence of SeriesRecord
        The index of the export the cases were graded from (:attr:`IndexResult.records
        <spondy_annotate.dicom.index.IndexResult.records>`).
    out : path
        The folder for the SR files (created); a file of the same name is replaced.
    rules : MatchingRules, optional
        The hanging protocol that chose the graded series (default: the built-in one).
    readers : iterable of str, optional
        Only these readers (default: all).
    read : callable
        Reads a series' image headers (default: from its files).

    Returns
    -------
    WrittenReports
        The files written, and the case IDs whose studies ``series`` does not hold.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = WrittenReports()
    for stored in stored_gradings(store, readers):
        grading = stored.grading
        patient = [s for s in series if s.patient_id == grading.patient_id]
        try:
            (case,) = find_cases(
                patient,
                rules=rules,
                choices={
                    grading.patient_id: (grading.baseline_study_uid, grading.followup_study_uid)
                },
            )
        except CaseSelectionError:
            logger.warning("case %s: its studies are not in the export", stored.case_id)
            written.missing.append(stored.case_id)
            continue
        key = f"{stored.case_id}\0{grading.reader}\0{grading.rubric.sha256}\0{stored.latest_answer_id}"
        report = build_report(grading, case_images(case, read), instance_key=key)
        path = folder / report_name(stored)
        atomic_write(path, partial(report.save_as, enforce_file_format=True))
        written.paths.append(path)
    logger.info("wrote %d SRs to %s", len(written.paths), folder)
    return written
