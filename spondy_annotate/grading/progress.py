"""Progress of a reader study: per reader assigned, done, in progress, repeats due, first pass;
the adjudication queue.

Examples
--------
>>> status = study_status(store, rubric)                               # doctest: +SKIP
>>> status.readers[0].done, status.queue                               # doctest: +SKIP
(12, 3)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from spondy_annotate.grading.adjudication import disagreements
from spondy_annotate.grading.readings import ReadKind, reading_label
from spondy_annotate.grading.rubric import GradingStatus, Rubric, Timepoint
from spondy_annotate.grading.store import Store
from spondy_annotate.grading.study import Study, StudyError

__all__ = [
    "ReaderProgress",
    "StudyStatus",
    "reader_progress",
    "repeats_due",
    "study_status",
    "timepoint_done",
]


@dataclass(frozen=True)
class ReaderProgress:
    """One reader's progress: counts of their assigned cases, repeat reads and first pass (one
    MRI alone: two per case when the study asks for it)."""

    reader: str
    assigned: int
    done: int
    in_progress: int
    not_started: int
    repeats: int
    repeats_due: int
    repeats_done: int
    first_pass: int = 0
    first_pass_done: int = 0


@dataclass(frozen=True)
class StudyStatus:
    """Every reader's progress, the disagreements found and the adjudication queue's length."""

    readers: tuple[ReaderProgress, ...]
    disagreements: int
    queue: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``study status --json``)."""
        return {
            "readers": [asdict(r) for r in self.readers],
            "disagreements": self.disagreements,
            "adjudication_queue": self.queue,
        }


def repeats_due(
    store: Store, study: Study, reader: str, rubric: Rubric, *, now: dt.datetime | None = None
) -> list[str]:
    """Cases whose repeat read is due: first read finished ``washout_days`` ago, not repeated.

    In the study's repeat order.
    """
    case_ids = [c.case_id for c in store.cases()]
    repeats = study.repeats(reader, case_ids)
    if not repeats:
        return []
    first = store.case_statuses(reader, rubric, repeats)
    again = store.case_statuses(reading_label(reader, ReadKind.REPEAT), rubric, repeats)
    finished: dict[str, str] = {}
    for a in store.latest_answers(readers=[reader], rubric_name=rubric.name):
        finished[a.case_id] = max(finished.get(a.case_id, ""), a.answered_at)
    limit = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=study.washout_days)
    return [
        c
        for c in repeats
        if first[c] is GradingStatus.DONE
        and again[c] is not GradingStatus.DONE
        and dt.datetime.fromisoformat(finished[c]) <= limit
    ]


def timepoint_done(rubric: Rubric, values: Mapping[str, object], timepoint: Timepoint) -> bool:
    """Whether ``values`` answer every required field of one MRI read alone (``timepoint``)."""
    return all(
        values.get(f.key) is not None
        for f in rubric.fields
        if f.required and f.timepoint is timepoint
    )


def reader_progress(
    store: Store, study: Study, reader: str, rubric: Rubric, *, now: dt.datetime | None = None
) -> ReaderProgress:
    """The progress of one reader of the study."""
    case_ids = [c.case_id for c in store.cases()]
    assigned = study.assigned(reader, case_ids)
    statuses = store.case_statuses(reader, rubric, assigned)
    counts = {s: sum(v is s for v in statuses.values()) for s in GradingStatus}
    repeats = study.repeats(reader, case_ids)
    again = store.case_statuses(reading_label(reader, ReadKind.REPEAT), rubric, repeats)
    first_pass = study.first_pass(reader, case_ids)
    alone: dict[str, dict[str, object]] = {}
    if first_pass:
        label = reading_label(reader, ReadKind.TIMEPOINT)
        for a in store.latest_answers(readers=[label], rubric_name=rubric.name):
            alone.setdefault(a.case_id, {})[a.key] = a.value
    return ReaderProgress(
        reader=reader,
        assigned=len(assigned),
        done=counts[GradingStatus.DONE],
        in_progress=counts[GradingStatus.PARTLY],
        not_started=counts[GradingStatus.NOT_STARTED],
        repeats=len(repeats),
        repeats_due=len(repeats_due(store, study, reader, rubric, now=now)),
        repeats_done=sum(v is GradingStatus.DONE for v in again.values()),
        first_pass=len(first_pass),
        first_pass_done=sum(
            timepoint_done(rubric, alone.get(c, {}), Timepoint(tp)) for c, tp in first_pass
        ),
    )


def study_status(store: Store, rubric: Rubric, *, now: dt.datetime | None = None) -> StudyStatus:
    """The progress of the database's study.

    Raises
    ------
    StudyError
        If the database has no study.
    """
    study = store.study()
    if study is None:
        raise StudyError(f"{store.path}: no study (spondy-annotate study create)")
    found = disagreements(store, study, rubric)
    return StudyStatus(
        readers=tuple(reader_progress(store, study, r, rubric, now=now) for r in study.readers),
        disagreements=len(found),
        queue=sum(not d.settled for d in found),
    )
