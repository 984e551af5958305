"""The grading panel: the current case's rubric, answered from the keyboard, saved at once.

The panel sits beside the reading room (:class:`~spondy_napari._reading_room.ReadingRoom`) and
only wires Qt to :mod:`spondy_napari._grading_model` (keys, field order, auto-advance) and to the
core's :class:`~spondy_annotate.store.Store`:

* the reader types their name once (``reader=`` or ``$SPONDY_READER`` skip that); the project
  database beside the export (:func:`~spondy_annotate.project.default_db_path`) is opened, a
  session is logged and :func:`~spondy_napari._store_link.link_store` gives the worklist its
  pseudonyms, states and saved follow-up offsets; the reader resumes at their last case;
* keys pressed on the images (or on the panel) answer the field in focus and move on; when the
  case is complete the next case that is not done opens;
* every answer is committed before the panel moves on (append-only: a change adds a row);
* blinded reading: no lab value is ever shown here; dates can be hidden and the case order
  randomised (the seed is logged with the session). The analysis (:mod:`spondy_napari._analysis`)
  ends grading in this window before it shows anything.
"""

from __future__ import annotations

import logging
import os
import secrets
import weakref
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.rubric import CASE_ITEM, FieldKind, Measurement, Rubric, default_rubric
from spondy_napari._grading_line import DiscLineTool
from spondy_napari._grading_model import (
    BACKTAB,
    DELETE,
    ESCAPE,
    RETURN,
    TAB,
    CaseGrading,
    Grader,
    GradingKeys,
    KeyCommand,
    help_rows,
    measured_items,
    measurement_field,
    next_open,
    seeded_order,
)
from spondy_napari._grading_rows import STYLE, FieldRow
from spondy_napari._help import EXTRA_SECTIONS
from spondy_napari._keys import ACTIONS
from spondy_napari._reading_room import case_key, reading_room_for

if TYPE_CHECKING:
    import napari
    from qtpy.QtGui import QKeyEvent

    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.rubric import AnswerValue
    from spondy_annotate.grading.store import Session, Store
    from spondy_napari._reading_room import ReadingRoom

logger = logging.getLogger(__name__)

#: Environment variable naming the reader (tests, scripted sessions): no question asked.
READER_ENV = "SPONDY_READER"
#: View-state keys of the store written by the panel.
SLICE_KEY, OPENED_KEY = "slice_index", "opened_at"
#: Title of the grading keys in the F1 help.
HELP_TITLE = "Grading keys (keys on the images or the panel)"
#: Milliseconds of slider rest before the slice is saved as view state.
SLICE_SAVE_MS = 800

_PANELS: dict[int, weakref.ReferenceType[GradingPanel]] = {}


def grading_panel_for(viewer: Any) -> GradingPanel | None:
    """The grading panel of ``viewer``, if one was made."""
    ref = _PANELS.get(id(getattr(viewer, "__wrapped__", viewer)))
    return ref() if ref else None


def reading_room_keys() -> set[str]:
    """The reading room's unmodified keys, lower-case (never taken as jump keys)."""
    return {k.lower() for a in ACTIONS for k in a.keys if "-" not in k}


def key_name(event: QKeyEvent) -> str | None:
    """The grading name of a key event (a character, ``Tab``, ...), or None for other keys."""
    mods = event.modifiers()
    if mods & (
        Qt.KeyboardModifier.ControlModifier
        | Qt.KeyboardModifier.AltModifier
        | Qt.KeyboardModifier.MetaModifier
    ):
        return None
    key = event.key()
    shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
    if key == Qt.Key.Key_Backtab or (key == Qt.Key.Key_Tab and shift):
        return BACKTAB
    special: dict[Any, str] = {
        Qt.Key.Key_Tab: TAB,
        Qt.Key.Key_Return: RETURN,
        Qt.Key.Key_Enter: RETURN,
        Qt.Key.Key_Escape: ESCAPE,
        Qt.Key.Key_Delete: DELETE,
        Qt.Key.Key_Backspace: DELETE,
    }
    if key in special:
        return None if shift and special[key] != TAB else special[key]
    text = event.text()
    return text if len(text) == 1 and text.isprintable() and not text.isspace() else None


class _KeyFilter(QObject):
    """Gives the panel first go at key presses on napari's canvas (before napari's keymap)."""

    def __init__(self, panel: GradingPanel) -> None:
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        if event is None or event.type() != QEvent.Type.KeyPress:
            return False
        name = key_name(event)  # type: ignore[arg-type]
        return name is not None and self.panel.handle_key(name, repeat=event.isAutoRepeat())  # type: ignore[attr-defined]


class GradingPanel(QWidget):
    """Dock widget grading the reading room's current case.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer with the reading room docked.
    room : ReadingRoom, optional
        The reading room (default: the one docked on the viewer).
    reader : str, optional
        Who grades; default ``$SPONDY_READER``, else the panel asks (a text box, no dialog).
    rubric : Rubric, optional
        Default: :func:`~spondy_annotate.rubric.default_rubric`.
    case_order_seed : int, optional
        Randomise the case order with this seed (logged with the session).
    hide_dates : bool
        Hide study dates and intervals (blinded reading).
    """

    def __init__(
        self,
        napari_viewer: napari.Viewer,
        *,
        room: ReadingRoom | None = None,
        reader: str | None = None,
        rubric: Rubric | None = None,
        case_order_seed: int | None = None,
        hide_dates: bool = False,
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.rubric = rubric or default_rubric()
        self.keys = GradingKeys.from_rubric(self.rubric, reserved=reading_room_keys())
        EXTRA_SECTIONS[HELP_TITLE] = help_rows(self.keys, reserved=reading_room_keys())
        self.reader: str | None = None
        self.case_order_seed = case_order_seed
        self.store: Store | None = None
        self.session: Session | None = None
        self.grader: Grader | None = None
        self.grading: CaseGrading | None = None
        self.locked = False
        self.room: ReadingRoom | None = None
        self.tool: DiscLineTool | None = None
        self.analysis: Any = None
        self._folder: str | None = None
        self._resume_case: str | None = None
        self._unlink: list[Any] = []
        self._ids: dict[tuple[str, str, str], str] = {}
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setStyleSheet(STYLE)

        # -- widgets
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("Your initials, then Return")
        self.reader_edit.setToolTip("Stored with every answer; asked once per session")
        self.reader_edit.returnPressed.connect(lambda: self.set_reader(self.reader_edit.text()))
        self.hide_dates = QCheckBox("Hide study dates")
        self.hide_dates.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.random_order = QCheckBox("Random case order")
        self.random_order.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.case_label = QLabel("No case")
        self.case_label.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #d0d0d0;")
        self.rows: dict[str, FieldRow] = {}
        rows_widget = self._build_rows()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(rows_widget)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(rows_widget.sizeHint().width() + 40)  # every choice label readable
        self.analysis_button = QPushButton("Grading finished: analysis with labs…")
        self.analysis_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.analysis_button.setToolTip("Ends grading in this window, then shows lab values")
        self.analysis_button.clicked.connect(lambda: self.open_analysis())
        note = self.rows.get("note")
        if note is not None and note.edit is not None:
            note.edit.installEventFilter(self)

        reader_row = QHBoxLayout()
        reader_row.addWidget(QLabel("Reader"))
        reader_row.addWidget(self.reader_edit, 1)
        blind_row = QHBoxLayout()
        blind_row.addWidget(self.hide_dates)
        blind_row.addWidget(self.random_order)
        layout = QVBoxLayout(self)
        layout.addLayout(reader_row)
        layout.addLayout(blind_row)
        layout.addWidget(self.case_label)
        layout.addWidget(self.progress)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.hint)
        layout.addWidget(self.analysis_button)

        self._slice_timer = QTimer(self)
        self._slice_timer.setSingleShot(True)
        self._slice_timer.setInterval(SLICE_SAVE_MS)
        self._slice_timer.timeout.connect(self._save_slice)
        self._key_filter = _KeyFilter(self)
        self._attach_timer = QTimer(self)  # a child: it stops when the panel goes
        self._attach_timer.setInterval(1000)
        self._attach_timer.timeout.connect(lambda: self.attach(reading_room_for(self.viewer)))

        self.hide_dates.setChecked(bool(hide_dates))
        self.random_order.setChecked(case_order_seed is not None)
        self.hide_dates.toggled.connect(self.set_hide_dates)
        self.random_order.toggled.connect(self.set_random_order)
        _PANELS[id(getattr(napari_viewer, "__wrapped__", napari_viewer))] = weakref.ref(self)
        self.destroyed.connect(_closer(self))

        self.attach(room or reading_room_for(napari_viewer))
        given = reader or os.environ.get(READER_ENV)
        if given:
            self.set_reader(given)
        else:
            QTimer.singleShot(0, self.reader_edit.setFocus)
        self.refresh()

    # -- set-up ---------------------------------------------------------------------------------
    def _build_rows(self) -> QWidget:
        """One heading (with its grade scale) per item, one row per field."""
        rows_widget = QWidget()
        rows_layout = QVBoxLayout(rows_widget)
        rows_layout.setContentsMargins(0, 0, 0, 0)
        rows_layout.setSpacing(1)
        item_of: str | None = None
        for f in self.rubric.fields:
            if f.item != CASE_ITEM and f.item != item_of:
                item = self.rubric.item(f.item)
                jump = next((k for k, t in self.keys.jumps.items() if t.split(".")[0] == f.item), None)
                jump = jump or next((k for k, i in self.keys.measures.items() if i == f.item), None)
                heading = QLabel(f"<b>{item.label}</b>" + (f"  <span style='color:#a0a0a0'>({jump})</span>" if jump else ""))
                heading.setToolTip(item.description)
                legend = QLabel(self.keys.choices_text(f"{f.item}.baseline"))
                legend.setWordWrap(True)
                legend.setStyleSheet("color: #a0a0a0; padding-left: 10px;")
                legend.setToolTip(item.description)
                rows_layout.addSpacing(4)
                rows_layout.addWidget(heading)
                rows_layout.addWidget(legend)
            item_of = f.item
            title = ""
            if f.item == CASE_ITEM:
                jump = next((k for k, t in self.keys.jumps.items() if t == f.key), None)
                title = f.label + (f" ({jump})" if jump else "")
                rows_layout.addSpacing(4)
            row = FieldRow(f, dict(self.keys.values.get(f.key, {})), title=title)
            row.answered.connect(
                lambda key, value: self.answer(
                    key, value, advance=self.rubric.field(key).kind is not FieldKind.NOTE
                )
            )
            row.focused.connect(self.focus_field)
            row.draw.connect(lambda key: self.start_measure(self.rubric.field(key).item))
            self.rows[f.key] = row
            rows_layout.addWidget(row)
        rows_layout.addStretch(1)
        return rows_widget

    def attach(self, room: ReadingRoom | None) -> None:
        """Work with ``room`` (retried every second until a reading room is docked)."""
        if room is None:
            self._attach_timer.start()
            return
        self._attach_timer.stop()
        if self.room is room:
            return
        self.room = room
        self.tool = DiscLineTool(room, self._on_line)
        room.events.cases.connect(self._on_cases)
        room.events.case.connect(self._on_case)
        room.events.pair.connect(self._show_lines)
        room.events.offset.connect(self._show_lines)
        self.viewer.dims.events.point.connect(self._on_slice)
        if self.hide_dates.isChecked():
            room.set_hide_dates(True)
        if self.case_order_seed is not None:
            self._apply_order()
        canvas = self._canvas()
        if canvas is not None:
            canvas.installEventFilter(self._key_filter)
        else:
            logger.warning("napari's canvas widget not found: grading keys work on the panel only")
        if room.cases:
            self._on_cases()
        self.refresh()

    def _canvas(self) -> QWidget | None:
        """napari's canvas widget (private napari attributes; None if they moved)."""
        qt_viewer = getattr(self.viewer.window, "_qt_viewer", None)
        canvas = getattr(getattr(qt_viewer, "canvas", None), "native", None)
        return canvas if isinstance(canvas, QWidget) else None

    def set_reader(self, name: str) -> bool:
        """Set who grades (once per session); False and a message if the name is unusable."""
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            show_error("Reader: type your initials or user name (printable, at most 100 characters)")
            return False
        if self.reader is not None:
            return name == self.reader
        self.reader = name
        self.reader_edit.setText(name)
        self.reader_edit.setReadOnly(True)
        self.reader_edit.setToolTip("Reader of this session (restart napari to change)")
        self._focus_canvas()
        self._on_cases()
        return True

    @property
    def is_grading(self) -> bool:
        """True while answers can be given (reader known, database open, not ended)."""
        return self.grader is not None and not self.locked

    # -- the database ---------------------------------------------------------------------------
    def _on_cases(self, event: Any = None) -> None:
        room = self.room
        if room is None or room.folder is None or self.reader is None or self.locked:
            return
        if self.store is not None and self._folder == room.folder:
            return
        self._close_store()
        from spondy_annotate.projectdb.location import default_db_path
        from spondy_annotate.grading.store import Store
        from spondy_napari._store_link import link_store

        self._folder = room.folder
        try:
            self.store = Store(default_db_path(room.folder))
            self._start_session()
            self._resume_case = self.store.last_case(self.reader)
        except (SpondyError, OSError, ValueError) as exc:
            show_error(f"Grading database: {exc}")
            self._close_store()
            return
        before = list(room.events.offset.callbacks)
        link_store(room, self.store, reader=self.reader, rubric=self.rubric)  # emits cases again
        self._unlink = [cb for cb in room.events.offset.callbacks if cb not in before]
        if room.current_case is not None:
            self._on_case()
        QTimer.singleShot(0, self._resume)

    def _start_session(self) -> None:
        assert self.store is not None and self.reader is not None
        self.session = self.store.start_session(
            self.reader,
            rubric=self.rubric,
            case_order_seed=self.case_order_seed if self.random_order.isChecked() else None,
            hide_dates=self.hide_dates.isChecked(),
            settings={"front_end": "napari grading panel"},
        )
        self.grader = Grader(self.store, self.session)

    def _resume(self) -> None:
        room, last = self.room, self._resume_case
        self._resume_case = None
        if room is None or last is None or self.store is None:
            return
        for index in range(len(room.cases)):
            if room.label(index) == last:
                if index != room.case_index and room.is_openable(index):
                    room.request_case(index)
                return

    def _close_store(self) -> None:
        room = self.room
        if room is not None:
            for callback in self._unlink:
                room.events.offset.disconnect(callback)
            room.label_provider = room.state_provider = room.offset_provider = None
        self._unlink = []
        self._ids.clear()
        if self.store is not None:
            self.store.close()
        self.store = self.session = self.grader = self.grading = None
        self._folder = None

    def _case_id(self, case: Case) -> str | None:
        if self.store is None or case.baseline is None or case.followup is None:
            return None
        key = case_key(case)
        if key not in self._ids:
            self._ids[key] = self.store.register_case(
                case.patient_id, case.baseline.study_instance_uid, case.baseline.date,
                case.followup.study_instance_uid, case.followup.date,
            )
        return self._ids[key]

    # -- blinding -------------------------------------------------------------------------------
    def set_hide_dates(self, hide: bool) -> None:
        """Hide or show study dates; logged as a new session."""
        if self.room is not None:
            self.room.set_hide_dates(hide)
        if self.store is not None:
            self._start_session()

    def set_random_order(self, on: bool) -> None:
        """Randomise the worklist with a new seed (or back to the export's order); logged."""
        self.case_order_seed = secrets.randbelow(1_000_000) if on else None
        self._apply_order()
        if self.store is not None:
            self._start_session()
        self.refresh()

    def _apply_order(self) -> None:
        room = self.room
        if room is None:
            return
        seed = self.case_order_seed
        room.case_order = None if seed is None else (lambda cases: seeded_order(cases, seed, key=case_key))
        if not room.cases:
            return
        shown = room.current_case
        room.set_cases(room.cases if seed is not None else sorted(room.cases, key=_export_order), folder=room.folder)
        if shown is not None:
            room.request_case(room.cases.index(shown))

    # -- the current case -----------------------------------------------------------------------
    def _on_case(self, event: Any = None) -> None:
        room = self.room
        note = self.rows.get("note")
        if note is not None and note.edit is not None and note.edit.hasFocus():
            note.edit.clearFocus()  # saves a note being typed to the case it was typed for
        if self.tool is not None:
            self.tool.disarm()
        self.grading = None
        case = room.current_case if room is not None else None
        if room is not None and case is not None and self.grader is not None and self.store:
            from spondy_annotate.grading.store import utc_now

            try:
                case_id = self._case_id(case)
                if case_id is not None:
                    state = self.store.get_case_state(case_id, self.grader.reader)
                    self.store.set_case_state(case_id, self.grader.reader, OPENED_KEY, utc_now())
                    self.grading = self.grader.load(case_id)
            except SpondyError as exc:
                show_error(f"Grading database: {exc}")
        if self.grading is None:
            if self.tool is not None:
                self.tool.clear()
            self.refresh()
            return
        assert room is not None
        if isinstance(state.get(SLICE_KEY), int):
            room.grid.go_to(state[SLICE_KEY])
        self.focus_field(self.grading.current)
        self._focus_canvas()

    def _on_slice(self, event: Any = None) -> None:
        if self.grading is not None:
            self._slice_timer.start()

    def _save_slice(self) -> None:
        room, grading = self.room, self.grading
        if room is None or grading is None or self.store is None or self.grader is None:
            return
        index = room.grid.current_index()
        if index is None:
            return
        try:
            self.store.set_case_state(grading.case_id, self.grader.reader, SLICE_KEY, int(index))
        except SpondyError as exc:
            logger.warning("slice not saved: %s", exc)

    # -- answering ------------------------------------------------------------------------------
    def handle_key(self, name: str, *, repeat: bool = False) -> bool:
        """Act on a key (see :mod:`spondy_napari._grading_model`); True when it was used."""
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
            self._edit_note()
        elif command.kind == "cancel" and self.tool is not None:
            self.tool.disarm()
            self.refresh()
        elif command.kind == "refuse":
            self.hint.setText(f"<span style='color:#E69F00'>{command.message}</span>")

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
        self._slice_timer.start()
        if outcome.completed:
            show_info(f"{grading.case_id}: all required fields answered")
            self.refresh()
            self.next_case()
            return True
        if self.rubric.field(key).kind is FieldKind.MEASUREMENT:
            self._show_lines()
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
            self.refresh()
            return
        grading.current = key
        f = self.rubric.field(key)
        if self.tool is not None:
            if f.kind is FieldKind.MEASUREMENT and grading.values.get(key) is None and self.is_grading:
                self.tool.arm(f.item)
            elif self.tool.armed:
                self.tool.disarm()
        if f.kind is FieldKind.NOTE and self.is_grading:
            self._edit_note()
        self.refresh()

    def start_measure(self, item: str) -> None:
        """Arm the line tool for ``item``; the focus goes to its field on the active side."""
        grading, room = self.grading, self.room
        if grading is None or room is None or self.tool is None or not self.is_grading:
            return
        grading.current = measurement_field(self.rubric, item, room.current_side)
        self.tool.arm(item)
        self.refresh()

    def _on_line(self, item: str, side: str, measurement: Measurement) -> None:
        self.answer(measurement_field(self.rubric, item, side), measurement)

    def _edit_note(self) -> None:
        row = self.rows.get("note")
        if row is not None and row.edit is not None:
            row.edit.setFocus(Qt.FocusReason.OtherFocusReason)
            row.edit.selectAll()

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        """The note box: Return keeps the note, Escape drops the edit, Tab moves on."""
        row = self.rows.get("note")
        if row is None or row.edit is None or watched is not row.edit or event is None \
                or event.type() != QEvent.Type.KeyPress:
            return False
        name = key_name(event)  # type: ignore[arg-type]
        if name in (RETURN, ESCAPE, TAB, BACKTAB):
            if name == ESCAPE:
                row.edit.setText(str(row.value or ""))
            else:
                row.edit.clearFocus()  # editingFinished saves the note
            self._focus_canvas()
            if name in (TAB, BACKTAB) and self.grading is not None:
                self.handle_key(name)
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent | None) -> None:  # noqa: N802 (Qt name)
        """Keys pressed while the panel has the focus work as on the images."""
        if event is None:
            return
        name = key_name(event)
        if name is None or not self.handle_key(name, repeat=event.isAutoRepeat()):
            super().keyPressEvent(event)

    def _focus_canvas(self) -> None:
        canvas = self._canvas()
        if canvas is not None:
            canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- showing --------------------------------------------------------------------------------
    def _show_lines(self, event: Any = None) -> None:
        if self.tool is None or self.room is None or self.room.current_case is None:
            return
        items = measured_items(self.rubric)
        grading = self.grading
        if not items:
            return
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

    def refresh(self) -> None:
        """Redraw the panel from the model."""
        grading = self.grading
        if self.room is None:
            self.case_label.setText("Open the reading room first (Plugins menu)")
        elif self.reader is None:
            self.case_label.setText("Type your initials to start grading")
        elif self.locked:
            self.case_label.setText("Grading ended in this window")
        elif grading is None:
            self.case_label.setText("No case open")
        else:
            self.case_label.setText(grading.case_id)
        order = f" · random order, seed {self.case_order_seed}" if self.case_order_seed is not None else ""
        if grading is None:
            self.progress.setText(f"Reader {self.reader}{order}" if self.reader else "")
            for row in self.rows.values():
                row.set_value(None)
                row.set_state(current=False)
            self.hint.setText("")
            return
        required = grading.required
        answered = len(required) - len(grading.missing())
        state = grading.status.value
        self.progress.setText(
            f"<b>{answered} of {len(required)}</b> required answered · {state} · reader {self.reader}{order}"
        )
        for key, row in self.rows.items():
            row.set_value(grading.values.get(key))
            row.set_state(current=key == grading.current)
        self._show_lines()
        self.hint.setText(self._hint_text(grading))

    def _hint_text(self, grading: CaseGrading) -> str:
        f = grading.field
        if f.kind is FieldKind.MEASUREMENT:
            what = ("drawing: press on one endplate, release on the other (left image baseline, "
                    "right follow-up); Esc cancels") if self.tool and self.tool.armed else "d or Return: draw the line"
        elif f.kind is FieldKind.NOTE:
            what = "Return: type the note, Return again to keep it"
        else:
            what = self.keys.choices_text(f.key)
        text = f"<b>{f.label}</b>: {what}"
        suggestion = grading.suggestion()
        if f.kind is FieldKind.CHANGE and suggestion:
            text += f"<br>the grades suggest <b>{suggestion}</b> (Return accepts)"
        return text + "<br><span style='color:#a0a0a0'>Tab / Shift-Tab field · Del clear · F1 keys</span>"

    # -- analysis -------------------------------------------------------------------------------
    def end_grading(self) -> None:
        """Stop grading in this window (before lab values are shown); answers stay saved."""
        self.locked = True
        if self.tool is not None:
            self.tool.disarm()
        self._save_slice()
        self.refresh()
        dock = self.parentWidget()
        while dock is not None and not hasattr(dock, "setFloating"):
            dock = dock.parentWidget()
        (dock or self).hide()

    def open_analysis(self, *, confirm: bool | None = None) -> Any:
        """Ask that grading is finished, end it, then dock the analysis (lab values)."""
        if self.is_grading and confirm is None:
            answer = QMessageBox.question(
                self,
                "Grading finished?",
                "The analysis shows lab values (CRP, ESR). Grading ends in this window so that "
                "no reader sees them while grading; every answer is saved.\n\nEnd grading and "
                "open the analysis?",
            )
            confirm = answer == QMessageBox.StandardButton.Yes
        if self.is_grading and not confirm:
            return None
        self.end_grading()
        from spondy_napari._analysis import AnalysisWidget

        if self.analysis is None:
            db = self.store.path if self.store is not None else None
            self.analysis = AnalysisWidget(self.viewer, db=db)
            self.viewer.window.add_dock_widget(self.analysis, name="Analysis", area="right")
        return self.analysis


def _export_order(case: Case) -> tuple[str, str, str]:
    return case_key(case)


def _closer(panel: GradingPanel) -> Any:
    """Closes the database when the panel goes (holds no reference to the Qt object)."""
    state = panel.__dict__

    def close(*_: Any) -> None:
        tool, store = state.get("tool"), state.get("store")
        if tool is not None:
            tool.close()
        if store is not None:
            store.close()

    return close


__all__ = ["READER_ENV", "GradingPanel", "grading_panel_for", "key_name"]
