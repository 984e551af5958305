"""A reader's answers to one case, without Qt: field order, auto-advance, saving.

:class:`CaseGrading` is the case on screen (answers and the field in focus); :class:`Grader`
saves an answer through the core's :class:`~spondy_annotate.grading.session.GradingSession` and
moves the focus to the next empty required field. Plain Python over the core's rubric, so it is
tested and benchmarked without a viewer.

A case may be graded in another kind of reading than the pair (a study's repeat read,
:class:`~spondy_annotate.grading.readings.ReadKind`): its answers are the reader's answers of that
kind (stored under their own reader label), so a repeat starts empty and never changes the
reader's first answers.
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


def reading_title(case_id: str, kind: ReadKind) -> str:
    """How a case read in ``kind`` is called: ``"C-7F3A91"``, ``"C-7F3A91 (repeat)"``."""
    return case_id if kind is ReadKind.PAIR else f"{case_id} ({kind.value})"


@dataclass
class CaseGrading:
    """One reader's answers to one case in one kind of reading, and the field in focus."""

    rubric: Rubric
    case_id: str
    values: dict[str, AnswerValue]
    current: str = "level"
    kind: ReadKind = ReadKind.PAIR

    def __post_init__(self) -> None:
        self.values = {k: v for k, v in self.values.items() if v is not None}

    @property
    def title(self) -> str:
        """The case as the reader sees it named (:func:`reading_title`)."""
        return reading_title(self.case_id, self.kind)

    @property
    def field(self) -> Field:
        """The field in focus."""
        return self.rubric.field(self.current)

    @property
    def required(self) -> list[str]:
        """Keys of the required fields, in order."""
        return [f.key for f in self.rubric.fields if f.required]

    def missing(self) -> list[str]:
        """Required fields without an answer."""
        return [k for k in self.required if self.values.get(k) is None]

    @property
    def status(self) -> GradingStatus:
        """Not started, partly graded or done."""
        return self.rubric.status(self.values)

    def next_empty(self, after: str | None = None) -> str | None:
        """The first unanswered required field after ``after`` (wrapping), or None."""
        keys = [f.key for f in self.rubric.fields]
        start = keys.index(after) + 1 if after is not None else 0
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

    def load(self, case_id: str, kind: ReadKind = ReadKind.PAIR) -> CaseGrading:
        """The saved answers of ``case_id`` in reading ``kind``, focused on its first empty
        required field (a repeat read: the repeat's answers only)."""
        values = self.session.answers(case_id, kind=kind)
        grading = CaseGrading(self.rubric, case_id, values, kind=kind)
        grading.current = grading.next_empty() or self.rubric.fields[0].key
        return grading

    def record(
        self, grading: CaseGrading, key: str, value: AnswerValue, *, advance: bool = True
    ) -> Outcome:
        """Save one answer (committed before returning) and move the focus.

        After an answer the focus goes to the next empty required field; a case that became
        complete reports ``completed``; with nothing left to fill, the focus stays.

        Raises
        ------
        ValueError, KeyError, StoreError
            From :meth:`GradingSession.record`; nothing was saved and nothing changes.
        """
        was_complete = self.rubric.is_complete(grading.values)
        answer = self.session.record(grading.case_id, key, value, kind=grading.kind)
        if answer.value is None:
            grading.values.pop(key, None)
        else:
            grading.values[key] = answer.value
        completed = not was_complete and self.rubric.is_complete(grading.values)
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
