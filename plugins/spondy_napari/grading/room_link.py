"""Connecting the reading room to a grading session: pseudonyms, states, offsets, order.

:func:`link_session` fills the reading room's hooks from the core's
:class:`~spondy_annotate.grading.session.GradingSession`: each readable case is listed by its
pseudonym (``C-7F3A91``; the session registers it once), the state column shows the reader's
progress under the rubric, the follow-up offset the reader sets is saved as view state and
restored next time (whenever the reader gives their name: before or after the first case is on
screen), and the worklist takes the reader's order.

Which cases a reader is shown, and in which order, is a :class:`Worklist`:
:class:`ReaderWorklist` for a reader (under a study: their assigned cases in the study's order;
otherwise the session's order, seeded when blinded) and
:class:`~spondy_napari.grading.adjudication.AdjudicationQueue` for an adjudicator. Cases a reader
does not read stay in the room (so that indices stay valid) after the listed ones, in a state of
:data:`UNLISTED_STATES` that the worklist does not show.

A study's other readings of a case are listed as the case again, a :class:`StudyReading`
(:class:`~spondy_napari.grading.model.Reading`):

* its first pass (``first_pass_per_timepoint``), before the reader's assigned cases: each MRI
  alone (``C-7F3A91 (baseline alone)``), in the study's random order; the reading room does not
  show the other MRI (:attr:`~spondy_napari.reading_room.room.ReadingRoom.hidden_side`), nor
  any date;
* its repeat reads, after them, in the study's repeat order, once due
  (:func:`~spondy_annotate.grading.progress.repeats_due`: the wash-out has passed since the
  first reading was finished): ``C-7F3A91 (repeat)``, in the state :data:`REPEAT_DUE` until the
  reader starts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from spondy_annotate.cases.pairing import Case
from spondy_annotate.grading.progress import repeats_due
from spondy_annotate.grading.readings import ReadKind, reading_label
from spondy_annotate.grading.rubric import GradingStatus, Timepoint
from spondy_annotate.grading.session import OFFSET_KEY, ViewState, case_key
from spondy_napari.grading.model import PAIR_READING, Reading
from spondy_napari.reading_room.room import NOT_STARTED

if TYPE_CHECKING:
    from spondy_annotate.grading.session import GradingSession
    from spondy_annotate.grading.study import Study
    from spondy_napari.reading_room.room import ReadingRoom

#: State of a case the study does not assign to the reader (not listed).
NOT_ASSIGNED = "not assigned"
#: State of a case without an open disagreement, for the adjudicator (not listed).
NOT_QUEUED = "not in the queue"
#: States of cases the worklist does not list.
UNLISTED_STATES = frozenset({NOT_ASSIGNED, NOT_QUEUED})
#: State of a repeat read that is due and not started.
REPEAT_DUE = "repeat due"


@dataclass(frozen=True)
class StudyReading(Case):
    """A case listed again for another reading than the pair (a repeat, one MRI alone).

    Never equal to the case itself, so that the worklist holds both entries.
    """

    reading: Reading = PAIR_READING

    @classmethod
    def of(cls, case: Case, reading: Reading) -> StudyReading:
        """``case`` listed for ``reading``."""
        return cls(**{f.name: getattr(case, f.name) for f in fields(Case)}, reading=reading)


def reading_of(case: Case) -> Reading:
    """The reading a worklist entry is for (a plain case: the pair)."""
    return case.reading if isinstance(case, StudyReading) else PAIR_READING


def hidden_side(case: Case) -> str | None:
    """The MRI the reading room does not show for a worklist entry (one MRI read alone)."""
    timepoint = reading_of(case).timepoint
    if timepoint is None:
        return None
    return Timepoint.FOLLOWUP.value if timepoint is Timepoint.BASELINE else Timepoint.BASELINE.value


class Worklist(Protocol):
    """Which cases a reader is shown, in which order, and in which state."""

    def order(self, cases: list[Case]) -> list[Case]:
        """The cases in worklist order: the listed ones first, then the others."""

    def state(self, case_id: str, reading: Reading = PAIR_READING) -> str:
        """The state of a registered case's ``reading`` (one of :data:`UNLISTED_STATES`: not
        listed)."""


def listed_first(listed: Sequence[Case], cases: Sequence[Case]) -> list[Case]:
    """``listed`` in its order, then the other ``cases`` in the export's order."""
    chosen = {id(c) for c in listed}
    return [*listed, *sorted((c for c in cases if id(c) not in chosen), key=case_key)]


class ReaderWorklist:
    """A reader's cases: under a study their first pass (one MRI alone), their assigned cases
    in the study's order, then their repeat reads due; else all cases.

    Parameters
    ----------
    session
        The reader's grading session (its study, order and statuses).

    Attributes
    ----------
    assigned
        Case IDs the study assigns to the reader (None: every case).
    others
        The other readings listed: ``(case ID, reading)`` of the first pass and of the repeat
        reads due or started.
    """

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self.assigned: set[str] | None = None
        self.others: set[tuple[str, Reading]] = set()

    def order(self, cases: list[Case]) -> list[Case]:
        """The first pass, the session's order (the study's assigned cases only), the repeat
        reads listed, then the others (entries no longer listed last: one may be on screen)."""
        pairs = [c for c in cases if not isinstance(c, StudyReading)]
        listed = self.session.order(pairs)
        study = self.session.study
        first: list[Case] = []
        repeats: list[Case] = []
        if study is not None and self.session.reader in study.readers:
            by_id = {i: c for c in listed if (i := self.session.register(c)) is not None}
            self.assigned = set(by_id)
            tasks = study.first_pass(self.session.reader, by_id)
            first_pass = [(c, Reading(ReadKind.TIMEPOINT, Timepoint(tp))) for c, tp in tasks]
            again = [(c, Reading(ReadKind.REPEAT)) for c in self._repeats(study, by_id)]
            self.others = {*first_pass, *again}
            first = [StudyReading.of(by_id[c], reading) for c, reading in first_pass]
            repeats = [StudyReading.of(by_id[c], reading) for c, reading in again]
        kept = [c for c in cases if isinstance(c, StudyReading) and c not in (*first, *repeats)]
        return [*listed_first([*first, *listed, *repeats], pairs), *kept]

    def _repeats(self, study: Study, by_id: dict[str, Case]) -> list[str]:
        """The repeat reads to list (due, or started), in the study's repeat order."""
        session = self.session
        due = set(repeats_due(session.store, study, session.reader, session.rubric))
        chosen = study.repeats(session.reader, by_id)
        label = reading_label(session.reader, ReadKind.REPEAT)
        statuses = session.store.case_statuses(label, session.rubric, chosen)
        return [c for c in chosen if c in due or statuses[c] is not GradingStatus.NOT_STARTED]

    def state(self, case_id: str, reading: Reading = PAIR_READING) -> str:
        """ "not started", "partly graded", "done", :data:`REPEAT_DUE` or :data:`NOT_ASSIGNED`."""
        session = self.session
        if reading.kind is ReadKind.PAIR:
            if self.assigned is not None and case_id not in self.assigned:
                return NOT_ASSIGNED
            return session.status(case_id).value
        if (case_id, reading) not in self.others:
            return NOT_ASSIGNED
        label = reading_label(session.reader, reading.kind)
        values = session.store.current_values(case_id, label, session.rubric)
        status = reading.status(session.rubric, values)
        if status is GradingStatus.NOT_STARTED and reading.kind is ReadKind.REPEAT:
            return REPEAT_DUE
        return status.value


def link_session(
    room: ReadingRoom, session: GradingSession, worklist: Worklist | None = None
) -> Callable[[], None]:
    """Use ``session`` for the room's labels, states, offsets and (``worklist``'s) case order.

    Cases that cannot be read side by side are not registered and keep a "Case N" label. The
    worklist is relisted at once (the case shown stays). Returns the function that undoes the
    link (the order stays). Default ``worklist``: a :class:`ReaderWorklist`.
    """
    cases = worklist if worklist is not None else ReaderWorklist(session)

    def label(case: Case, index: int) -> str:
        case_id = session.register(case)
        return f"Case {index + 1}" if case_id is None else reading_of(case).title(case_id)

    def state(case: Case) -> str:
        case_id = session.register(case)
        return NOT_STARTED if case_id is None else cases.state(case_id, reading_of(case))

    def stored_offset(case: Case) -> Sequence[float] | None:
        case_id = session.register(case)
        return None if case_id is None else session.view_state(case_id).followup_offset_mm

    def save_offset(event: Any) -> None:
        case_id = session.register(event.case)
        if case_id is None:
            return
        if event.offset is None:  # the reader dropped their offset: none is stored
            session.store.set_case_state(case_id, session.reader, OFFSET_KEY, None)
            return
        x, y, z = (float(v) for v in event.offset)
        session.save_view_state(case_id, ViewState(followup_offset_mm=(x, y, z)))

    room.label_provider = label
    room.state_provider = state
    room.hidden_side = hidden_side
    room.events.offset.connect(save_offset)
    room.set_offset_provider(stored_offset)  # the case on screen takes its stored offset
    room.set_case_order(cases.order)  # relists the worklist: labels, states, order

    def unlink() -> None:
        room.events.offset.disconnect(save_offset)
        room.label_provider = room.state_provider = room.hidden_side = None
        room.set_offset_provider(None)
        room.case_order = None

    return unlink
