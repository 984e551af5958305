"""Grading the reading room's cases, without Qt: what the grading panel does.

The panel (:mod:`spondy_napari._qt.grading_panel`) turns Qt events into calls here and redraws
when :attr:`GradingController.events` say so (napari-animation's split: the widget owns its
model). The controller

* opens the reader's :class:`~spondy_annotate.grading.session.GradingSession` in the export's
  project database (where the room's export was opened) once the reader is known, and links it
  to the reading room
  (pseudonyms, states, follow-up offsets, case order: :mod:`.room_link`);
* loads a case's answers when the room shows it, restores its slice and saves every answer the
  moment it is given (:class:`~.model.Grader`), then moves on;
* owns the disc-height line tool (:mod:`.line_tool`);
* is the viewer's grading gate (:mod:`spondy_napari._registry`): the analysis ends it before any
  lab value is shown. Blinded reading: no lab value is ever read here; dates can be hidden and the
  case order randomised (both logged with the session).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.events import EmitterGroup, Event
from napari.utils.notifications import show_error, show_info

from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.rubric import FieldKind, Measurement, Rubric
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession, ViewState
from spondy_napari import _registry
from spondy_napari.grading.keys import GradingKeys, KeyCommand, help_rows
from spondy_napari.grading.line_tool import DiscLineTool
from spondy_napari.grading.model import (
    CaseGrading,
    Grader,
    measured_items,
    measurement_field,
    next_open,
)
from spondy_napari.grading.room_link import link_session
from spondy_napari.reading_room.keys import ACTIONS

if TYPE_CHECKING:
    import napari

    from spondy_annotate.grading.rubric import AnswerValue
    from spondy_napari.reading_room.room import ReadingRoom

logger = logging.getLogger(__name__)

#: Title of the grading keys in the F1 help.
HELP_TITLE = "Grading keys (keys on the images or the panel)"
#: Logged with every session this front end starts.
SESSION_SETTINGS = {"front_end": "napari grading panel"}


def reading_room_keys() -> set[str]:
    """The reading room's unmodified keys, lower-case (never taken as jump keys)."""
    return {k.lower() for a in ACTIONS for k in a.keys if "-" not in k}


class GradingController:
    """A reader grading the cases of the viewer's reading room.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer (the controller becomes its grading gate).
    rubric : Rubric, optional
        Default: :func:`~spondy_annotate.grading.rubric_toml.default_rubric`.
    case_order_seed : int, optional
        Randomise the case order with this seed (logged with the session).
    hide_dates : bool
        Hide study dates and intervals (blinded reading).

    Attributes
    ----------
    grading : CaseGrading or None
        The answers of the case on screen and the field in focus (None: nothing to grade).
    events : EmitterGroup
        ``changed`` (redraw), ``leaving`` (another case comes: finish typing for this one),
        ``case`` (a case's answers are loaded), ``answered``, ``message`` (``value``: why a key
        means nothing here), ``edit_note`` (the note is to be typed), ``opened`` (a session
        started: :meth:`resume` once the first case is shown), ``ended`` (grading ended).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        *,
        rubric: Rubric | None = None,
        case_order_seed: int | None = None,
        hide_dates: bool = False,
    ) -> None:
        self.viewer = viewer
        self.rubric = rubric or default_rubric()
        self.keys = GradingKeys.from_rubric(self.rubric, reserved=reading_room_keys())
        self.reader: str | None = None
        self.case_order_seed = case_order_seed
        self.hide_dates = bool(hide_dates)
        self.session: GradingSession | None = None
        self.grader: Grader | None = None
        self.grading: CaseGrading | None = None
        self.locked = False
        self.room: ReadingRoom | None = None
        self.tool: DiscLineTool | None = None
        self.events: EmitterGroup = EmitterGroup(
            source=self,
            changed=Event,
            leaving=Event,
            case=Event,
            answered=Event,
            message=Event,
            edit_note=Event,
            opened=Event,
            ended=Event,
        )
        self._db: Path | None = None  # of the session
        self._resume_case: str | None = None
        self._unlink: Any = None
        _registry.set_grading_gate(viewer, self)

    # -- set-up ---------------------------------------------------------------------------------
    def attach(self, room: ReadingRoom) -> None:
        """Grade the cases of ``room``."""
        if self.room is room:
            return
        self.room = room
        self.tool = DiscLineTool(room, self._on_line)
        room.help_sections[HELP_TITLE] = help_rows(self.keys, reserved=reading_room_keys())
        room.events.cases.connect(self._on_cases)
        room.events.case.connect(self._on_case)
        room.events.pair.connect(self.show_lines)
        room.events.offset.connect(self.show_lines)
        if self.hide_dates:
            room.set_hide_dates(True)
        if room.cases:
            self._on_cases()
        self.events.changed()

    def set_reader(self, name: str) -> bool:
        """Set who grades (once per session); False and a message if the name is unusable."""
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            show_error(
                "Reader: type your initials or user name (printable, at most 100 characters)"
            )
            return False
        if self.reader is not None:
            return name == self.reader
        self.reader = name
        self._on_cases()
        self.events.changed()
        return True

    @property
    def is_grading(self) -> bool:
        """True while answers can be given (reader known, database open, not ended)."""
        return self.grader is not None and not self.locked

    # -- the session ----------------------------------------------------------------------------
    def _on_cases(self, event: Any = None) -> None:
        room = self.room
        if room is None or room.db_path is None or self.reader is None or self.locked:
            return
        if self.session is not None and self._db == room.db_path:
            return
        self._close_session()
        self._db = room.db_path
        try:
            self.session = GradingSession.open(
                room.db_path,
                reader=self.reader,
                rubric=self.rubric,
                case_order_seed=self.case_order_seed,
                hide_dates=self.hide_dates,
                settings=SESSION_SETTINGS,
            )
            self._resume_case = self.session.last_case()
        except (SpondyError, OSError, ValueError) as exc:
            show_error(f"Grading database: {exc}")
            self._close_session()
            return
        self.grader = Grader(self.session)
        self._unlink = link_session(room, self.session)
        if room.current_case is not None:
            self._on_case()
        self.events.opened()

    def resume(self) -> None:
        """Open the case the reader changed last (once, after the session has opened)."""
        room, last = self.room, self._resume_case
        self._resume_case = None
        if room is None or last is None or self.session is None:
            return
        for index in range(len(room.cases)):
            if room.label(index) == last:
                if index != room.case_index and room.is_openable(index):
                    room.request_case(index)
                return

    def _close_session(self) -> None:
        if self._unlink is not None:
            self._unlink()
        self._unlink = None
        if self.session is not None:
            self.session.close()
        self.session = self.grader = self.grading = None
        self._db = None

    # -- blinding -------------------------------------------------------------------------------
    def set_hide_dates(self, hide: bool) -> None:
        """Hide or show study dates; logged as a new session."""
        self.hide_dates = bool(hide)
        if self.room is not None:
            self.room.set_hide_dates(self.hide_dates)
        if self.session is not None:
            self.session.set_blinding(
                hide_dates=self.hide_dates, case_order_seed=self.case_order_seed
            )

    def set_random_order(self, on: bool) -> None:
        """Randomise the worklist with a new seed (or back to the export's order); logged."""
        self.case_order_seed = secrets.randbelow(1_000_000) if on else None
        if self.session is not None:
            self.session.set_blinding(
                hide_dates=self.hide_dates, case_order_seed=self.case_order_seed
            )
            if self.room is not None:
                self.room.set_case_order(self.session.order)
        self.events.changed()

    # -- the current case -----------------------------------------------------------------------
    def _on_case(self, event: Any = None) -> None:
        self.events.leaving()
        if self.tool is not None:
            self.tool.disarm()
        self.grading = None
        room, session, grader = self.room, self.session, self.grader
        case = room.current_case if room is not None else None
        state = ViewState()
        if case is not None and session is not None and grader is not None:
            try:
                case_id = session.register(case)
                if case_id is not None:
                    state = session.open_case(case_id)
                    self.grading = grader.load(case_id)
            except SpondyError as exc:
                show_error(f"Grading database: {exc}")
        if room is None or self.grading is None:
            if self.tool is not None:
                self.tool.clear()
            self.events.changed()
            return
        if state.slice_index is not None:
            room.grid.go_to(state.slice_index)
        self.focus_field(self.grading.current)
        self.events.case()

    def save_slice(self) -> None:
        """Save the slice on screen as the case's view state (resumed there next time)."""
        room, grading, session = self.room, self.grading, self.session
        if room is None or grading is None or session is None:
            return
        index = room.grid.current_index()
        if index is None:
            return
        try:
            session.save_view_state(grading.case_id, ViewState(slice_index=int(index)))
        except SpondyError as exc:
            logger.warning("slice not saved: %s", exc)

    # -- answering ------------------------------------------------------------------------------
    def handle_key(self, name: str, *, repeat: bool = False) -> bool:
        """Act on a key (see :mod:`.keys`); True when it was used."""
        grading = self.grading
        if grading is None or not self.is_grading:
            return False
        command = self.keys.resolve(name, grading.field, suggestion=grading.suggestion())
        if command is None or (command.kind == "cancel" and not (self.tool and self.tool.armed)):
            return False
        if not repeat:
            self.execute(command)
        return True

    def execute(self, command: KeyCommand) -> None:
        """Carry out a key's command."""
        grading = self.grading
        if grading is None:
            return
        if command.kind == "answer" and command.field is not None:
            self.answer(command.field, command.value, advance=command.advance)
        elif command.kind == "goto" and command.field is not None:
            self.focus_field(command.field)
        elif command.kind == "measure" and command.field is not None:
            self.start_measure(command.field)
        elif command.kind == "clear":
            self.answer(grading.current, None)
        elif command.kind == "edit":
            self.events.edit_note()
        elif command.kind == "cancel" and self.tool is not None:
            self.tool.disarm()
            self.events.changed()
        elif command.kind == "refuse":
            self.events.message(value=command.message)

    def answer(self, key: str, value: AnswerValue, *, advance: bool = True) -> bool:
        """Save an answer of the current case, then move on (next field, or next case)."""
        grading, grader = self.grading, self.grader
        if grading is None or grader is None or not self.is_grading:
            return False
        try:
            outcome = grader.record(grading, key, value, advance=advance)
        except (SpondyError, ValueError, KeyError) as exc:
            show_error(f"Not saved: {exc}")
            return False
        if self.room is not None:
            self.room.refresh_states()
        self.events.answered()
        if outcome.completed:
            show_info(f"{grading.case_id}: all required fields answered")
            self.events.changed()
            self.next_case()
            return True
        if self.rubric.field(key).kind is FieldKind.MEASUREMENT:
            self.show_lines()
        self.focus_field(grading.current)
        return True

    def next_case(self) -> int | None:
        """Open the next case of the worklist that is not done (wrapping)."""
        room = self.room
        if room is None:
            return None
        index = next_open(room.ready_indices(), room.case_index, lambda i: room.state(i) == "done")
        if index is None:
            show_info("Every case of the worklist is graded")
            return None
        room.request_case(index)
        return index

    def focus_field(self, key: str) -> None:
        """Put the focus on field ``key``; an empty measurement arms the line tool."""
        grading = self.grading
        if grading is None:
            self.events.changed()
            return
        grading.current = key
        f = self.rubric.field(key)
        if self.tool is not None:
            if (
                f.kind is FieldKind.MEASUREMENT
                and grading.values.get(key) is None
                and self.is_grading
            ):
                self.tool.arm(f.item)
            elif self.tool.armed:
                self.tool.disarm()
        if f.kind is FieldKind.NOTE and self.is_grading:
            self.events.edit_note()
        self.events.changed()

    def start_measure(self, item: str) -> None:
        """Arm the line tool for ``item``; the focus goes to its field on the active side."""
        grading, room = self.grading, self.room
        if grading is None or room is None or self.tool is None or not self.is_grading:
            return
        grading.current = measurement_field(self.rubric, item, room.current_side)
        self.tool.arm(item)
        self.events.changed()

    def _on_line(self, item: str, side: str, measurement: Measurement) -> None:
        self.answer(measurement_field(self.rubric, item, side), measurement)

    def show_lines(self, event: Any = None) -> None:
        """Draw the saved lines of the measurement in focus (else the first measured item)."""
        if self.tool is None or self.room is None or self.room.current_case is None:
            return
        items = measured_items(self.rubric)
        if not items:
            return
        grading = self.grading
        if grading is not None and grading.field.kind is FieldKind.MEASUREMENT:
            item = grading.field.item
        else:
            item = items[0]
        values = grading.values if grading is not None else {}
        saved = {}
        for side in ("baseline", "followup"):
            value = values.get(measurement_field(self.rubric, item, side))
            saved[side] = value if isinstance(value, Measurement) else None
        self.tool.show(saved)

    # -- the end --------------------------------------------------------------------------------
    def end_grading(self) -> None:
        """Stop grading in this viewer (before lab values are shown); answers stay saved."""
        self.locked = True
        if self.tool is not None:
            self.tool.disarm()
        self.save_slice()
        self.events.ended()

    def close(self) -> None:
        """Stop listening to the mouse and close the project database."""
        if self.tool is not None:
            self.tool.close()
        self._close_session()
