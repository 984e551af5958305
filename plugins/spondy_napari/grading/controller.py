"""Grading the reading room's cases, without Qt: what the grading panel does.

The panel (:mod:`spondy_napari._qt.grading_panel`) turns Qt events into calls here and redraws
when :attr:`GradingController.events` say so (napari-animation's split: the widget owns its
model). The controller

* opens the reader's :class:`~spondy_annotate.grading.session.GradingSession` in the export's
  project database (where the room's export was opened) once the reader is known
  (:meth:`GradingController.choose`, before the first case is shown: :mod:`.reader_choice`), and
  links it to the reading room (pseudonyms, states, follow-up offsets, the reader's cases and
  their order: :mod:`.room_link`);
* takes the blinding (hidden dates, case order) from the study, or from the reader's choice
  (kept per reader in the project database); a reader cannot change a study's;
* for an adjudicator of the study, lists the adjudication queue and records the consensus of
  the case on screen (:mod:`.adjudication`);
* loads a case's answers when the room shows it, restores its slice and saves every answer the
  moment it is given (:class:`~.model.Grader`), then moves on; keys typed while the next case
  is still loading are kept, in order, and applied to it once it is shown (Escape drops them);
* lists a study's first pass (each MRI alone) before the reader's assigned cases, and its
  repeat reads once due after them (:mod:`.room_link`); grades a repeat blinded to the first
  reading (the panel starts empty, the answers are stored as the reader's repeat read and never
  change the first reading), and one MRI alone with that MRI's fields only;
* owns the disc-height line tool (:mod:`.line_tool`);
* is the viewer's grading gate (:mod:`spondy_napari._registry`): the analysis ends it before any
  lab value is shown. Blinded reading: no lab value is ever read here; dates can be hidden and the
  case order randomised (both logged with the session).

The reader's progress (:func:`~spondy_annotate.grading.progress.reader_progress`) is
:meth:`GradingController.progress_text`, shown above the worklist.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.events import EmitterGroup, Event
from napari.utils.notifications import show_error, show_info

from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.progress import ReaderProgress, reader_progress
from spondy_annotate.grading.rubric import FieldKind, GradingStatus, Measurement, Rubric
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.session import GradingSession, ViewState
from spondy_annotate.projectdb.location import grading_db
from spondy_napari import _registry
from spondy_napari.grading.adjudication import AdjudicationQueue, CaseAdjudication
from spondy_napari.grading.keys import BACKTAB, ESCAPE, TAB, GradingKeys, KeyCommand, help_rows
from spondy_napari.grading.line_tool import DiscLineTool
from spondy_napari.grading.model import (
    CaseGrading,
    Grader,
    measured_items,
    measurement_field,
    next_open,
)
from spondy_napari.grading.reader_choice import (
    SEED_RANGE,
    Blinding,
    ReaderChoice,
    ReaderOptions,
    reader_options,
)
from spondy_napari.grading.reader_lines import ReaderLines
from spondy_napari.grading.room_link import UNLISTED_STATES, link_session, reading_of
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
    blinding : Blinding, optional
        The reader's blinding (logged with the session); None: the study's, else the one of
        the reader's last session, else none.

    Attributes
    ----------
    grading : CaseGrading or None
        The answers of the case on screen and the field in focus (None: nothing to grade).
    queue : AdjudicationQueue or None
        The adjudication queue, when the reader is an adjudicator of the study.
    adjudication : CaseAdjudication or None
        The adjudicator's case on screen (None: nothing to settle).
    reader_lines : ReaderLines or None
        The study readers' lines of the adjudicator's case on screen (once attached).
    hide_dates, case_order_seed
        The blinding of the session (the study's, when it has one).
    asks_reader : bool
        Whether the reader is asked who they are before a case is shown (the panel asks; off
        for screenshots): until then the worklist lists nothing.
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
        blinding: Blinding | None = None,
    ) -> None:
        self.viewer = viewer
        self.rubric = rubric or default_rubric()
        self.keys = GradingKeys.from_rubric(self.rubric, reserved=reading_room_keys())
        graded = {k.lower() for keys in self.keys.values.values() for k in keys}
        # the reading room's keys that never grade (N, S, ...): they act while a case loads
        self._room_only = reading_room_keys() - graded - set(self.keys.jumps)
        self.reader: str | None = None
        self.blinding = blinding
        self.case_order_seed = blinding.case_order_seed if blinding else None
        self.hide_dates = blinding.hide_dates if blinding else False
        self.session: GradingSession | None = None
        self.grader: Grader | None = None
        self.grading: CaseGrading | None = None
        self.queue: AdjudicationQueue | None = None
        self.adjudication: CaseAdjudication | None = None
        self.reader_lines: ReaderLines | None = None
        self.asks_reader = True
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
        self._db: Path | str | None = None  # of the session: a file or a PostgreSQL URL
        self._case: Any = None  # the room's case whose answers are loaded
        self._resume_case: str | None = None
        self._held: list[str] | None = None  # keys typed while the next case loads
        self._awaited: Any = None  # that case (the room's)
        self._opening = False
        self._unlink: Any = None
        _registry.set_grading_gate(viewer, self)

    # -- set-up ---------------------------------------------------------------------------------
    def attach(self, room: ReadingRoom) -> None:
        """Grade the cases of ``room``."""
        if self.room is room:
            return
        self.room = room
        self.tool = DiscLineTool(room, self._on_line)
        self.reader_lines = ReaderLines(self.tool)
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

    def reader_options(self) -> ReaderOptions | None:
        """What the reader chooses from (None before an export is open); blinds the room first.

        Under a study that hides dates, the room hides them from now on, before anyone has
        said who reads.

        Raises
        ------
        StoreError
            If the project database cannot be read.
        """
        room = self.room
        if room is None or room.db_path is None:
            return None
        options = reader_options(grading_db(room.db_path))
        if options.study is not None and options.study.hide_dates and not room.hide_dates:
            room.set_hide_dates(True)
        return options

    def choose(self, choice: ReaderChoice) -> bool:
        """Take the reader's choice (name and blinding) and start grading; see :meth:`set_reader`."""
        if self.reader is None:
            self.blinding = choice.blinding
        return self.set_reader(choice.reader)

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
        return (self.grader is not None or self.queue is not None) and not self.locked

    @property
    def is_adjudicating(self) -> bool:
        """True when the reader is an adjudicator working through the queue."""
        return self.queue is not None and not self.locked

    @property
    def blinding_fixed(self) -> bool:
        """True when the study sets the blinding and the order (the reader cannot change them)."""
        return self.session is not None and self.session.study is not None

    # -- the session ----------------------------------------------------------------------------
    def _on_cases(self, event: Any = None) -> None:
        room = self.room
        if room is None or room.db_path is None or self.reader is None or self.locked:
            return
        db = grading_db(room.db_path)
        if self._opening or (self.session is not None and self._db == db):
            return  # (hiding the dates below relists the room: that comes back here)
        self._close_session()
        self._db = db
        self._opening = True
        try:
            options = self.reader_options()  # a study hiding dates hides them, whatever comes
            blinding = self.blinding
            if blinding is None and options is not None and options.study is None:
                blinding = options.blinding(self.reader)  # the reader's last session's
            self.session = session = GradingSession.open(
                db,
                reader=self.reader,
                rubric=self.rubric,
                case_order_seed=blinding.case_order_seed if blinding else None,
                hide_dates=blinding.hide_dates if blinding else None,
                settings=SESSION_SETTINGS,
            )
            self._resume_case = session.last_case()
            study = session.study
            if study is not None and self.reader in set(study.adjudicators) - set(study.readers):
                self.queue = AdjudicationQueue(session)
        except (SpondyError, OSError, ValueError) as exc:
            show_error(f"Grading database: {exc}")
            self._close_session()
            return
        finally:
            self._opening = False
        self.hide_dates, self.case_order_seed = session.hide_dates, session.case_order_seed
        if room.hide_dates != self.hide_dates:
            room.set_hide_dates(self.hide_dates)
        if self.queue is None:
            self.grader = Grader(session)
        self._unlink = link_session(room, session, self.queue)
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
                listed = room.state(index) not in UNLISTED_STATES  # e.g. no longer queued
                if listed and index != room.case_index and room.is_openable(index):
                    room.request_case(index)
                return

    def _close_session(self) -> None:
        if self._unlink is not None:
            self._unlink()
        self._unlink = None
        if self.session is not None:
            self.session.close()
        self.session = self.grader = self.grading = None
        self.queue = self.adjudication = None
        self._held = self._awaited = None
        self._db = None

    # -- blinding -------------------------------------------------------------------------------
    def set_hide_dates(self, hide: bool) -> None:
        """Hide or show study dates; logged as a new session (refused under a study)."""
        if self.blinding_fixed:
            self.events.message(value="The study sets the blinding")
            return
        self.hide_dates = bool(hide)
        if self.room is not None:
            self.room.set_hide_dates(self.hide_dates)
        if self.session is not None:
            self.session.set_blinding(
                hide_dates=self.hide_dates, case_order_seed=self.case_order_seed
            )

    def set_random_order(self, on: bool) -> None:
        """Randomise the worklist with a new seed (or back to the export's order); logged.

        Refused under a study.
        """
        if self.blinding_fixed:
            self.events.message(value="The study sets the case order")
            return
        self.case_order_seed = secrets.randbelow(SEED_RANGE) if on else None
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
        self.grading = self.adjudication = None
        room, session, grader, queue = self.room, self.session, self.grader, self.queue
        case = self._case = room.current_case if room is not None else None
        held = self._take_held(case)
        state = ViewState()
        if case is not None and session is not None and (grader or queue) is not None:
            try:
                case_id = session.register(case)
                if case_id is not None:
                    state = session.view_state(case_id)
                    if queue is not None:
                        self.adjudication = CaseAdjudication(queue, case_id)
                    elif grader is not None:
                        self.grading = grader.load(case_id, reading_of(case))
            except SpondyError as exc:
                show_error(f"Grading database: {exc}")
        if self.reader_lines is not None and session is not None:
            adjudicated = self.adjudication.case_id if self.adjudication else None
            self.reader_lines.load(session, adjudicated)
        if room is not None and self.adjudication is not None:
            if state.slice_index is not None:
                room.grid.go_to(state.slice_index)
            self.events.case()
            self.events.changed()
            self._replay(held)
            return
        if room is None or self.grading is None:
            if self.tool is not None:
                self.tool.clear()
            self.events.changed()
            return
        if state.slice_index is not None:
            room.grid.go_to(state.slice_index)
        if self.tool is not None:
            self.tool.warm()
        self.focus_field(self.grading.current)
        self.events.case()
        self._replay(held)

    def _take_held(self, case: Any) -> list[str]:
        """The keys kept for ``case`` (another case opened: they are dropped, and said so)."""
        held, awaited = self._held or [], self._awaited
        self._held = self._awaited = None
        if held and case is not awaited:
            self.events.message(value=f"{len(held)} key(s) typed while a case loaded: dropped")
            return []
        return held

    def _replay(self, held: list[str]) -> None:
        """Apply the keys typed while this case loaded, in order."""
        for name in held:
            self.handle_key(name)

    def note_opened(self) -> None:
        """Stamp the case on screen as the reader's last opened (what the next session resumes).

        Not done in the case switch itself: the write waits for the disk (a few ms), and the
        grading panel calls this once the case has been on screen a moment.
        """
        shown, session = self.grading or self.adjudication, self.session
        if shown is None or session is None:
            return
        try:
            session.note_opened(shown.case_id)
        except SpondyError as exc:
            logger.warning("opening not noted: %s", exc)

    def save_slice(self) -> None:
        """Save the slice on screen as the case's view state (resumed there next time)."""
        room, session = self.room, self.session
        shown = self.grading or self.adjudication
        if room is None or shown is None or session is None:
            return
        index = room.grid.current_index()
        if index is None:
            return
        try:
            session.save_view_state(shown.case_id, ViewState(slice_index=int(index)))
        except SpondyError as exc:
            logger.warning("slice not saved: %s", exc)

    # -- answering ------------------------------------------------------------------------------
    def handle_key(self, name: str, *, repeat: bool = False) -> bool:
        """Act on a key (see :mod:`.keys`); True when it was used.

        While the next case loads, its keys are kept for it (the reading room's keys act).
        """
        if self._held is not None and self.is_grading:
            return self._hold(name, repeat=repeat)
        if self.adjudication is not None and self.is_adjudicating:
            return self._adjudication_key(name, repeat=repeat)
        grading = self.grading
        if grading is None or not self.is_grading:
            return False
        command = self.keys.resolve(name, grading.field, suggestion=grading.suggestion())
        if command is None or (command.kind == "cancel" and not (self.tool and self.tool.armed)):
            return False
        if not repeat:
            self.execute(command)
        return True

    def _hold(self, name: str, *, repeat: bool) -> bool:
        """Keep a key for the case being loaded; Escape drops the keys kept."""
        held = self._held
        if held is None or name.lower() in self._room_only:
            return False
        if name == ESCAPE:
            self._held = self._awaited = None
            self.events.message(value=f"{len(held)} key(s) typed while the case loaded: dropped")
        elif not repeat:
            held.append(name)
        return True

    def execute(self, command: KeyCommand) -> None:
        """Carry out a key's command."""
        grading = self.grading
        if grading is None:
            return
        if command.kind == "answer" and command.field is not None:
            self.answer(command.field, command.value, advance=command.advance)
        elif command.kind == "goto" and command.field is not None:
            asked = grading.asked(command.field)
            if asked is None:
                self.events.message(value=f"Not asked when reading {grading.title}")
            else:
                self.focus_field(asked)
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
            try:
                self.room.refresh_states()
            except SpondyError as exc:  # e.g. the server went away; the answer is kept
                show_error(str(exc))
        self.events.answered()
        if outcome.completed:
            show_info(f"{grading.title}: all required fields answered")
            self.relist_repeats()
            self.events.changed()
            self.next_case()
            return True
        if self.rubric.field(key).kind is FieldKind.MEASUREMENT:
            self.show_lines()
        self.focus_field(grading.current)
        return True

    def relist_repeats(self) -> None:
        """Relist the worklist when the study has repeat reads (one may have become due); the
        case on screen stays."""
        room, session = self.room, self.session
        study = session.study if session is not None else None
        if room is None or room.case_order is None or study is None or not study.repeat_share:
            return
        room.set_case_order(room.case_order)

    def next_case(self) -> int | None:
        """Open the next case of the worklist that is not done (wrapping); until it is shown,
        grading keys are kept for it."""
        room = self.room
        if room is None:
            return None
        finished = {GradingStatus.DONE.value, *UNLISTED_STATES}
        index = next_open(
            room.ready_indices(), room.case_index, lambda i: room.state(i) in finished
        )
        if index is None:
            show_info("Every case of the worklist is graded")
            return None
        if room.request_case(index) and room.case_index != index:  # loading
            self._held, self._awaited = [], room.cases[index]
            self.events.message(value="Opening the next case: keys typed now are kept for it")
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
        """Arm the line tool for ``item``; the focus goes to its field on the active side (one
        MRI read alone: that MRI's)."""
        grading, room = self.grading, self.room
        if grading is None or room is None or self.tool is None or not self.is_grading:
            return
        timepoint = grading.reading.timepoint
        side = room.current_side if timepoint is None else timepoint.value
        grading.current = measurement_field(self.rubric, item, side)
        self.tool.arm(item)
        self.events.changed()

    def _on_line(self, item: str, side: str, measurement: Measurement) -> None:
        self.answer(measurement_field(self.rubric, item, side), measurement)

    def show_lines(self, event: Any = None) -> None:
        """Draw the saved lines of the measurement in focus (else the first measured item),
        and for an adjudicator the readers' lines.

        Nothing while the room fills in another case (its answers are loaded next).
        """
        if self.room is not None and self.room.current_case is not self._case:
            return
        if self.reader_lines is not None:
            self.reader_lines.draw()
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

    # -- adjudication ---------------------------------------------------------------------------
    def _adjudication_key(self, name: str, *, repeat: bool) -> bool:
        """The adjudicator's keys: Tab / Shift-Tab move, the field's answer keys settle it."""
        adjudication = self.adjudication
        if adjudication is None:
            return False
        if name in (TAB, BACKTAB):
            if not repeat:
                adjudication.step(+1 if name == TAB else -1)
                self.events.changed()
            return True
        found, value = adjudication.value_of_key(self.keys, name)
        if found and not repeat and adjudication.current is not None:
            self.settle(adjudication.current, value)
        return found

    def settle(self, key: str, value: AnswerValue) -> bool:
        """Record the consensus of a disputed field of the case on screen; then move on.

        When the case has no dispute left, it leaves the worklist and the next queued case
        opens.
        """
        adjudication, room = self.adjudication, self.room
        if adjudication is None or room is None or not self.is_adjudicating:
            return False
        try:
            adjudication.settle(key, value)
        except (SpondyError, ValueError, KeyError) as exc:
            show_error(f"Not saved: {exc}")
            return False
        room.refresh_states()
        self.events.answered()
        self.events.changed()
        if adjudication.done:
            show_info(f"{adjudication.case_id}: every disagreement settled")
            self.next_case()
        return True

    # -- progress -------------------------------------------------------------------------------
    def progress(self) -> ReaderProgress | None:
        """The reader's progress (None before a session): the study's, else over the worklist."""
        session, room = self.session, self.room
        if session is None or room is None or self.queue is not None:
            return None
        study = session.study
        if study is not None and session.reader in study.readers:
            return reader_progress(session.store, study, session.reader, self.rubric)
        ids = [i for c in room.cases if (i := session.register(c)) is not None]
        counts = dict.fromkeys(GradingStatus, 0)
        for status in session.statuses(ids).values():
            counts[status] += 1
        return ReaderProgress(
            reader=session.reader,
            assigned=len(ids),
            done=counts[GradingStatus.DONE],
            in_progress=counts[GradingStatus.PARTLY],
            not_started=counts[GradingStatus.NOT_STARTED],
            repeats=0,
            repeats_due=0,
            repeats_done=0,
        )

    def progress_text(self) -> str:
        """What the worklist's header says about the reader's progress."""
        if self.reader is None:
            return "Choose your name to see your cases"
        if self.queue is not None:
            n, cases = len(self.queue), len(self.queue.by_case)
            return (
                f"{self.reader} (adjudicator): {n} disagreement{'s' * (n != 1)} in {cases} "
                f"case{'s' * (cases != 1)} to settle"
            )
        progress = self.progress()
        if progress is None:
            return f"Reader {self.reader}"
        first = (
            f"first pass {progress.first_pass_done} of {progress.first_pass} done · "
            if progress.first_pass
            else ""
        )
        repeats = (
            f" · {progress.repeats_done} of {progress.repeats} repeats done"
            if progress.repeats
            else ""
        )
        return (
            f"{progress.reader}: {first}{progress.assigned} assigned · {progress.done} done · "
            f"{progress.in_progress} in progress · {progress.repeats_due} repeats due{repeats}"
        )

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
        if self.reader_lines is not None:
            self.reader_lines.close()
        if self.tool is not None:
            self.tool.close()
        self._close_session()
