"""A reader's answers to one case, without Qt: field order, auto-advance, saving.

:class:`CaseGrading` is the case on screen (answers and the field in focus); :class:`Grader`
saves an answer through the core's :class:`~spondy_annotate.grading.session.GradingSession` and
moves the focus to the next empty required field. Plain Python over the core's rubric, so it is
tested and benchmarked without a viewer.

A case may be graded in another :class:`Reading` than the pair (a study's repeat read, or one
MRI alone in a study's first pass: :class:`~spondy_annotate.grading.readings.ReadKind`): its
answers are the reader's answers of that kind (stored under their own reader label), so a repeat
starts empty and never changes the reader's first answers, and a single-timepoint reading asks
only that MRI's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spondy_annotate.grading.readings import ReadKind
from spondy_annotate.grading.rubric import (
    Change,
    Field,
    FieldKind,
    GradingStatus,
    ItemType,
    Rubric,
    Timepoint,
)

if TYPE_CHECKING:
    from spondy_annotate.grading.rubric import AnswerValue
    from spondy_annotate.grading.session import GradingSession


def suggested_change(
    rubric: Rubric, values: Mapping[str, AnswerValue], change_key: str
) -> str | None:
    """The change the two grades of an item suggest (lower follow-up grade: improved), if any."""
    f = rubric.field(change_key)
    if f.kind is not FieldKind.CHANGE:
        return None
    before = values.get(f"{f.item}.{Timepoint.BASELINE.value}")
    after = values.get(f"{f.item}.{Timepoint.FOLLOWUP.value}")
    if not isinstance(before, int) or not isinstance(after, int):
        return None
    if after < before:
        return Change.IMPROVED.value
    return Change.AGGRAVATED.value if after > before else Change.UNCHANGED.value


@dataclass(frozen=True)
class Reading:
    """Which reading of a case: its kind, and for a single-timepoint reading the MRI read.

    Examples
    --------
    >>> Reading(ReadKind.TIMEPOINT, Timepoint.FOLLOWUP).title("C-7F3A91")
    'C-7F3A91 (follow-up alone)'
    """

    kind: ReadKind = ReadKind.PAIR
    timepoint: Timepoint | None = None

    def title(self, case_id: str) -> str:
        """How the case read so is called: ``"C-7F3A91"``, ``"C-7F3A91 (repeat)"``."""
        if self.timepoint is not None:
            return f"{case_id} ({TIMEPOINT_NAMES[self.timepoint]} alone)"
        return case_id if self.kind is ReadKind.PAIR else f"{case_id} ({self.kind.value})"

    def fields(self, rubric: Rubric) -> list[Field]:
        """The rubric's fields this reading asks (one MRI alone: that MRI's grades and
        measurements; else all)."""
        if self.timepoint is None:
            return list(rubric.fields)
        return [f for f in rubric.fields if f.timepoint is self.timepoint]

    def status(self, rubric: Rubric, values: Mapping[str, object]) -> GradingStatus:
        """Not started, partly graded or done, over this reading's fields."""
        asked = self.fields(rubric)
        if all(values.get(f.key) is None for f in asked):
            return GradingStatus.NOT_STARTED
        missing = any(f.required and values.get(f.key) is None for f in asked)
        return GradingStatus.PARTLY if missing else GradingStatus.DONE


#: The main reading: both MRIs side by side.
PAIR_READING = Reading()
#: How a single-timepoint reading names its MRI.
TIMEPOINT_NAMES = {Timepoint.BASELINE: "baseline", Timepoint.FOLLOWUP: "follow-up"}


@dataclass
class CaseGrading:
    """One reader's answers to one case in one reading, and the field in focus."""

    rubric: Rubric
    case_id: str
    values: dict[str, AnswerValue]
    current: str = "level"
    reading: Reading = PAIR_READING

    def __post_init__(self) -> None:
        self.values = {k: v for k, v in self.values.items() if v is not None}

    @property
    def title(self) -> str:
        """The case as the reader sees it named (:meth:`Reading.title`)."""
        return self.reading.title(self.case_id)

    @property
    def keys(self) -> list[str]:
        """Keys of the fields this reading asks, in order."""
        return [f.key for f in self.reading.fields(self.rubric)]

    @property
    def field(self) -> Field:
        """The field in focus."""
        return self.rubric.field(self.current)

    @property
    def required(self) -> list[str]:
        """Keys of the required fields this reading asks, in order."""
        return [f.key for f in self.reading.fields(self.rubric) if f.required]

    def asked(self, key: str) -> str | None:
        """``key`` if this reading asks it, else the first field of its item asked (one MRI
        alone: that MRI's), else None."""
        if key in self.keys:
            return key
        item = self.rubric.field(key).item
        return next((k for k in self.keys if self.rubric.field(k).item == item), None)

    def missing(self) -> list[str]:
        """Required fields without an answer."""
        return [k for k in self.required if self.values.get(k) is None]

    @property
    def status(self) -> GradingStatus:
        """Not started, partly graded or done."""
        return self.reading.status(self.rubric, self.values)

    def next_empty(self, after: str | None = None) -> str | None:
        """The first unanswered required field after ``after`` (wrapping), or None."""
        keys = self.keys
        start = keys.index(after) + 1 if after in keys else 0
        for key in keys[start:] + keys[:start]:
            if key in self.missing():
                return key
        return None

    def suggestion(self, key: str | None = None) -> str | None:
        """The suggested change of ``key`` (default: the field in focus)."""
        return suggested_change(self.rubric, self.values, key or self.current)


#: The save status of an answer the shared server has not got yet (it is in the local journal).
SAVED_LOCALLY = "saved locally, not yet on the server"


@dataclass(frozen=True)
class Outcome:
    """What happened after an answer: ``completed`` when it finished the case just now.

    ``pending`` counts the reader's answers saved locally, not yet on the server (a shared
    PostgreSQL database that cannot be reached; 0 otherwise).
    """

    value: AnswerValue
    completed: bool
    next_field: str
    pending: int = 0

    @property
    def save_status(self) -> str:
        """What the panel says of the answer (:func:`save_status`)."""
        return save_status(self.pending)


def save_status(pending: int) -> str:
    """``"saved"``, or :data:`SAVED_LOCALLY` with the count of answers waiting for the server."""
    if not pending:
        return "saved"
    return f"{SAVED_LOCALLY} ({pending} answer{'s' if pending > 1 else ''})"


class Grader:
    """Saves a reader's answers through their grading session, case by case.

    Parameters
    ----------
    session
        The reader's session: the reader and the rubric of every answer.
    """

    def __init__(self, session: GradingSession) -> None:
        self.session = session

    @property
    def rubric(self) -> Rubric:
        """The session's rubric."""
        return self.session.rubric

    @property
    def reader(self) -> str:
        """Who grades."""
        return self.session.reader

    def load(self, case_id: str, reading: Reading = PAIR_READING) -> CaseGrading:
        """The saved answers of ``case_id`` in ``reading``, focused on its first empty
        required field (a repeat read: the repeat's answers only)."""
        values = self.session.answers(case_id, kind=reading.kind)
        asked = {f.key for f in reading.fields(self.rubric)}
        grading = CaseGrading(
            self.rubric, case_id, {k: v for k, v in values.items() if k in asked}, reading=reading
        )
        grading.current = grading.next_empty() or grading.keys[0]
        return grading

    def record(
        self, grading: CaseGrading, key: str, value: AnswerValue, *, advance: bool = True
    ) -> Outcome:
        """Save one answer (committed before returning) and move the focus.

        After an answer the focus goes to the next empty required field; a case that became
        complete reports ``completed``; with nothing left to fill, the focus stays.

        Raises
        ------
        ValueError
            If ``key`` is not asked in this reading (e.g. a change when one MRI is read alone).
        ValueError, KeyError, StoreError
            From :meth:`GradingSession.record`; nothing was saved and nothing changes.
        """
        if key not in grading.keys:
            raise ValueError(f"{key}: not asked when reading {grading.title}")
        was_complete = grading.status is GradingStatus.DONE
        answer = self.session.record(grading.case_id, key, value, kind=grading.reading.kind)
        if answer.value is None:
            grading.values.pop(key, None)
        else:
            grading.values[key] = answer.value
        completed = not was_complete and grading.status is GradingStatus.DONE
        if advance:
            grading.current = key
            if answer.value is not None:
                grading.current = grading.next_empty(after=key) or key
        return Outcome(answer.value, completed, grading.current, self.session.pending)


def next_open(order: Sequence[int], current: int | None, done: Callable[[int], bool]) -> int | None:
    """The first case after ``current`` in ``order`` that is not done (wrapping), or None."""
    if not order:
        return None
    start = order.index(current) + 1 if current in order else 0
    for index in [*order[start:], *order[:start]]:
        if index != current and not done(index):
            return index
    return None


def measurement_field(rubric: Rubric, item: str, side: str) -> str:
    """The measurement field of ``item`` on ``side`` (``baseline`` or ``followup``)."""
    return rubric.field_for(item, f"{Timepoint(side).value}_mm").key


def measured_items(rubric: Rubric) -> list[str]:
    """Ids of the rubric's measurement items."""
    return [it.id for it in rubric.items if it.type is ItemType.MEASUREMENT]
