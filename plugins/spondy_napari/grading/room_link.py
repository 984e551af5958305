"""Connecting the reading room to the grading store: pseudonyms, states and offsets.

:func:`link_store` fills the reading room's hooks from a
:class:`~spondy_annotate.store.Store`: each readable case is registered (idempotent) and listed by
its pseudonym (``C-7F3A91``), the state column shows the reader's progress under the rubric, and
the follow-up offset the reader sets is saved as view state and restored next time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spondy_annotate.cases.pairing import CaseStatus

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.rubric import Rubric
    from spondy_annotate.grading.store import Store
    from spondy_napari._reading_room import ReadingRoom

#: The view-state key of the follow-up offset (patient LPS mm, ``[x, y, z]``).
OFFSET_KEY = "followup_offset_mm"


def link_store(room: ReadingRoom, store: Store, *, reader: str, rubric: Rubric) -> None:
    """Use ``store`` for the room's case labels, worklist states and follow-up offsets.

    Cases that cannot be read side by side are not registered and keep a "Case N" label.
    """
    ids: dict[tuple[str, str, str], str] = {}

    def case_id(case: Case) -> str | None:
        if case.status is not CaseStatus.READY or not case.baseline or not case.followup:
            return None
        key = (case.patient_id, case.baseline.study_instance_uid, case.followup.study_instance_uid)
        if key not in ids:
            ids[key] = store.register_case(
                case.patient_id,
                case.baseline.study_instance_uid,
                case.baseline.date,
                case.followup.study_instance_uid,
                case.followup.date,
            )
        return ids[key]

    def label(case: Case, index: int) -> str:
        return case_id(case) or f"Case {index + 1}"

    def state(case: Case) -> str:
        cid = case_id(case)
        return "not started" if cid is None else store.case_status(cid, reader, rubric).value

    def stored_offset(case: Case) -> Any:
        cid = case_id(case)
        return None if cid is None else store.get_case_state(cid, reader).get(OFFSET_KEY)

    def save_offset(event: Any) -> None:
        cid = case_id(event.case)
        if cid is not None:
            store.set_case_state(cid, reader, OFFSET_KEY, [float(v) for v in event.offset])

    room.label_provider = label
    room.state_provider = state
    room.offset_provider = stored_offset
    room.events.offset.connect(save_offset)
    room.events.cases(value=room.cases)  # relabel what is listed already
