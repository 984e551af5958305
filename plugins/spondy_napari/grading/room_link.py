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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from spondy_annotate.grading.session import OFFSET_KEY, ViewState, case_key
from spondy_napari.reading_room.room import NOT_STARTED

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.session import GradingSession
    from spondy_napari.reading_room.room import ReadingRoom

#: State of a case the study does not assign to the reader (not listed).
NOT_ASSIGNED = "not assigned"
#: State of a case without an open disagreement, for the adjudicator (not listed).
NOT_QUEUED = "not in the queue"
#: States of cases the worklist does not list.
UNLISTED_STATES = frozenset({NOT_ASSIGNED, NOT_QUEUED})


class Worklist(Protocol):
    """Which cases a reader is shown, in which order, and in which state."""

    def order(self, cases: list[Case]) -> list[Case]:
        """The cases in worklist order: the listed ones first, then the others."""

    def state(self, case_id: str) -> str:
        """The state of a registered case (one of :data:`UNLISTED_STATES`: not listed)."""


def listed_first(listed: Sequence[Case], cases: Sequence[Case]) -> list[Case]:
    """``listed`` in its order, then the other ``cases`` in the export's order."""
    chosen = {id(c) for c in listed}
    return [*listed, *sorted((c for c in cases if id(c) not in chosen), key=case_key)]


class ReaderWorklist:
    """A reader's cases: under a study their assigned cases in the study's order, else all.

    Parameters
    ----------
    session
        The reader's grading session (its study, order and statuses).
    """

    def __init__(self, session: GradingSession) -> None:
        self.session = session
        self.assigned: set[str] | None = None  # None: every case

    def order(self, cases: list[Case]) -> list[Case]:
        """The session's order (the study's assigned cases only), then the others."""
        listed = self.session.order(cases)
        study = self.session.study
        if study is not None and self.session.reader in study.readers:
            ids = (self.session.register(c) for c in listed)
            self.assigned = {c for c in ids if c is not None}
        return listed_first(listed, cases)

    def state(self, case_id: str) -> str:
        """ "not started", "partly graded", "done", or :data:`NOT_ASSIGNED`."""
        if self.assigned is not None and case_id not in self.assigned:
            return NOT_ASSIGNED
        return self.session.status(case_id).value


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
        return session.register(case) or f"Case {index + 1}"

    def state(case: Case) -> str:
        case_id = session.register(case)
        return NOT_STARTED if case_id is None else cases.state(case_id)

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
    room.events.offset.connect(save_offset)
    room.set_offset_provider(stored_offset)  # the case on screen takes its stored offset
    room.set_case_order(cases.order)  # relists the worklist: labels, states, order

    def unlink() -> None:
        room.events.offset.disconnect(save_offset)
        room.label_provider = room.state_provider = None
        room.set_offset_provider(None)
        room.case_order = None

    return unlink
