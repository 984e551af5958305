"""The adjudicator's round in the viewer, without Qt: the queue as a worklist, one case settled.

When the reader who opens the viewer is an adjudicator of the study, the worklist is the
adjudication queue (:class:`AdjudicationQueue`: the cases with disagreements not settled yet,
in the queue's order, each with the items in dispute as its state), and the case on screen is a
:class:`CaseAdjudication`: its disputed fields, each reader's answer to them, the field in focus,
and the consensus answers recorded through
:meth:`~spondy_annotate.grading.session.GradingSession.settle` (append-only, reader
``consensus``, linked to the answers they settle). A settled item leaves the queue; a case
whose items are all settled leaves the worklist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from spondy_annotate.grading.readings import CONSENSUS_READER
from spondy_annotate.grading.rubric import FieldKind, Measurement
from spondy_napari.grading.model import PAIR_READING, Reading
from spondy_napari.grading.room_link import NOT_QUEUED, listed_first

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.adjudication import Disagreement
    from spondy_annotate.grading.rubric import AnswerValue, Rubric
    from spondy_annotate.grading.session import GradingSession
    from spondy_annotate.grading.store import Answer
    from spondy_napari.grading.keys import GradingKeys


def answer_text(value: AnswerValue) -> str:
    """An answer as the adjudicator reads it (``"improved"``, ``"2"``, ``"7.4 mm"``)."""
    if isinstance(value, Measurement):
        return f"{value.mm:.1f} mm"
    return "–" if value is None else str(value)


class AdjudicationQueue:
    """The study's adjudication queue as the adjudicator's worklist.

    Parameters
    ----------
    session
        The adjudicator's grading session.
    """

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self.by_case: dict[str, list[Disagreement]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Read the queue again (after a consensus answer)."""
        by_case: dict[str, list[Disagreement]] = {}
        for d in self.session.adjudication_queue():
            by_case.setdefault(d.case_id, []).append(d)
        self.by_case = by_case

    def order(self, cases: list[Case]) -> list[Case]:
        """The queued cases in the queue's order, then the others."""
        ids = {self.session.register(c): c for c in cases}
        return listed_first([ids[c] for c in self.by_case if c in ids], cases)

    def state(self, case_id: str, reading: Reading = PAIR_READING) -> str:
        """``"disputed: marrow_edema, disc_height"``, or :data:`NOT_QUEUED` (also for a reading
        other than the pair: only pair readings are adjudicated)."""
        disputes = self.by_case.get(case_id)
        if not disputes or reading != PAIR_READING:
            return NOT_QUEUED
        return "disputed: " + ", ".join(d.item for d in disputes)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_case.values())


@dataclass(frozen=True)
class DisputedField:
    """One field in dispute: its key, the disagreement it belongs to and the readers' answers."""

    key: str
    disagreement: Disagreement
    answers: tuple[Answer, ...]


class CaseAdjudication:
    """The case on screen for the adjudicator: its disputed fields and the field in focus.

    Parameters
    ----------
    queue
        The queue (refreshed after each consensus answer).
    case_id
        The case.
    """

    def __init__(self, queue: AdjudicationQueue, case_id: str) -> None:
        self.queue = queue
        self.case_id = case_id
        self.fields: list[DisputedField] = []
        self.consensus: dict[str, AnswerValue] = {}
        self.current: str | None = None
        self.reload()

    @property
    def rubric(self) -> Rubric:
        """The session's rubric."""
        return self.queue.session.rubric

    @property
    def readers(self) -> list[str]:
        """The readers with an answer in dispute, in the study's order."""
        study = self.queue.session.study
        found = {a.reader for f in self.fields for a in f.answers}
        order = list(study.readers) if study is not None else sorted(found)
        return [r for r in order if r in found]

    def reload(self) -> None:
        """The case's disputed fields without a consensus yet; the focus stays or goes on."""
        session = self.queue.session
        self.consensus = session.store.current_values(self.case_id, CONSENSUS_READER, self.rubric)
        fields = []
        for d in self.queue.by_case.get(self.case_id, []):
            for key in d.fields:
                if key in self.consensus:
                    continue
                answers = tuple(a for a in d.answers if a.key == key)
                fields.append(DisputedField(key, d, answers))
        self.fields = fields
        keys = [f.key for f in fields]
        if self.current not in keys:
            self.current = keys[0] if keys else None

    def field(self, key: str) -> DisputedField:
        """The disputed field ``key``."""
        return next(f for f in self.fields if f.key == key)

    def options(self, key: str) -> list[tuple[str, AnswerValue]]:
        """``(label, value)`` the consensus of ``key`` can take.

        A grade, change or level: the rubric's choices; a measurement: each reader's line.
        """
        f = self.rubric.field(key)
        if f.kind is FieldKind.MEASUREMENT:
            return [
                (f"{a.reader}: {answer_text(a.value)}", a.value) for a in self.field(key).answers
            ]
        return [(c.label, c.value) for c in f.choices]

    def value_of_key(self, keys: GradingKeys, name: str) -> tuple[bool, AnswerValue]:
        """``(found, value)`` that key ``name`` gives the field in focus.

        The grading keys of the field (``0``-``3``, ``i`` / ``u`` / ``a``, level keys); on a
        measurement ``1``, ``2``, ... take the first, second, ... reader's line.
        """
        key = self.current
        if key is None:
            return False, None
        if self.rubric.field(key).kind is FieldKind.MEASUREMENT:
            options = self.options(key)
            if name.isdigit() and 1 <= int(name) <= len(options):
                return True, options[int(name) - 1][1]
            return False, None
        mapping = keys.values.get(key, {})
        return (name in mapping), mapping.get(name)

    def step(self, step: int) -> None:
        """Move the focus ``step`` disputed fields on (wrapping)."""
        keys = [f.key for f in self.fields]
        if self.current in keys:
            self.current = keys[(keys.index(self.current) + step) % len(keys)]

    def settle(self, key: str, value: AnswerValue) -> list[Answer]:
        """Record ``value`` as the consensus of ``key``; the queue and the fields are re-read.

        Raises
        ------
        StudyError, ValueError, StoreError
            From :meth:`~spondy_annotate.grading.session.GradingSession.settle`.
        """
        stored = self.queue.session.settle(self.field(key).disagreement, {key: value})
        self.queue.refresh()
        self.reload()
        return stored

    @property
    def done(self) -> bool:
        """True when the case has no open dispute left."""
        return not self.fields
