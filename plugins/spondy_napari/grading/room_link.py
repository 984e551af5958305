"""Connecting the reading room to a grading session: pseudonyms, states, offsets, order.

:func:`link_session` fills the reading room's hooks from the core's
:class:`~spondy_annotate.grading.session.GradingSession`: each readable case is listed by its
pseudonym (``C-7F3A91``; the session registers it once), the state column shows the reader's
progress under the rubric, the follow-up offset the reader sets is saved as view state and
restored next time (whenever the reader gives their name: before or after the first case is on
screen), and the worklist takes the session's order (seeded when blinded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from spondy_annotate.grading.session import OFFSET_KEY, ViewState
from spondy_napari.reading_room.room import NOT_STARTED

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.session import GradingSession
    from spondy_napari.reading_room.room import ReadingRoom


def link_session(room: ReadingRoom, session: GradingSession) -> Callable[[], None]:
    """Use ``session`` for the room's labels, states, offsets and case order.

    Cases that cannot be read side by side are not registered and keep a "Case N" label. The
    worklist is relisted at once (the case shown stays). Returns the function that undoes the
    link (the order stays).
    """

    def label(case: Case, index: int) -> str:
        return session.register(case) or f"Case {index + 1}"

    def state(case: Case) -> str:
        case_id = session.register(case)
        return NOT_STARTED if case_id is None else session.status(case_id).value

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
    room.set_case_order(session.order)  # relists the worklist: labels, states, order

    def unlink() -> None:
        room.events.offset.disconnect(save_offset)
        room.label_provider = room.state_provider = None
        room.set_offset_provider(None)
        room.case_order = None

    return unlink
