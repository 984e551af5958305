"""The grading panel: the current case's rubric, answered from the keyboard, saved at once.

The panel sits beside the reading room and only wires Qt to its
:class:`~spondy_napari.grading.controller.GradingController` (which opens the grading session,
loads and saves the answers and moves on): when an export opens, before its first case is
shown, it asks who reads (:class:`~spondy_napari._qt.reader_picker.ReaderPicker`: the study's
list, or a name and the blinding; ``reader=`` or ``$SPONDY_READER`` skip that), draws one row
per rubric field, turns key presses on the images or on the panel into key names
(:func:`key_name`) and redraws when the controller says so. For an adjudicator of the study it
shows the disputed fields of the case instead
(:class:`~spondy_napari._qt.adjudication_panel.AdjudicationPanel`).

Blinded reading: no lab value is ever shown here; dates can be hidden and the case order
randomised, chosen before the first image (under a study: the study's, not changeable). *Grading finished: analysis with labs* ends grading in this window first
(:func:`~spondy_napari._qt.blinding.labs_allowed`), then docks the analysis.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.rubric import CASE_ITEM, FieldKind
from spondy_napari._qt.adjudication_panel import AdjudicationPanel
from spondy_napari._qt.blinding import labs_allowed
from spondy_napari._qt.field_rows import STYLE, FieldRow
from spondy_napari._qt.reader_picker import SET_BY_STUDY, ReaderPicker
from spondy_napari._registry import real_viewer
from spondy_napari.grading.controller import GradingController
from spondy_napari.grading.keys import BACKTAB, DELETE, ESCAPE, RETURN, TAB
from spondy_napari.grading.model import save_status
from spondy_napari.grading.reader_choice import Blinding, ReaderChoice
from spondy_napari.reading_room.room import reading_room_for

if TYPE_CHECKING:
    import napari
    from qtpy.QtGui import QKeyEvent

    from spondy_annotate.grading.rubric import Rubric
    from spondy_napari._qt.analysis_dock import AnalysisWidget
    from spondy_napari.grading.model import CaseGrading
    from spondy_napari.reading_room.room import ReadingRoom

logger = logging.getLogger(__name__)

#: Environment variable naming the reader (tests, scripted sessions): no question asked.
READER_ENV = "SPONDY_READER"
#: Milliseconds of slider rest before the slice is saved as view state.
SLICE_SAVE_MS = 800
#: Milliseconds a case is on screen before it is noted as opened (the case to resume).
OPENED_NOTE_MS = 500


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
        self.controller = panel.controller

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        if event is None or event.type() != QEvent.Type.KeyPress:
            return False
        name = key_name(event)  # type: ignore[arg-type]
        return name is not None and self.controller.handle_key(name, repeat=event.isAutoRepeat())  # type: ignore[attr-defined]


class RowsArea(QScrollArea):
    """The rubric's rows, scrolled vertically; as wide as the rows need (in the font they are
    shown in, bold included), beside the scroll bar: no row is ever clipped."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """The rows' minimum width, the scroll bar's and the frame's."""
        hint = super().minimumSizeHint()
        rows = self.widget()
        if rows is not None:
            bar = self.verticalScrollBar().sizeHint().width()
            hint.setWidth(rows.minimumSizeHint().width() + bar + 2 * self.frameWidth())
        return hint


class GradingPanel(QWidget):
    """Dock widget grading the reading room's current case.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer with the reading room docked.
    room : ReadingRoom, optional
        The reading room (default: the one docked on the viewer; until there is one, the panel
        looks for it every second).
    reader : str, optional
        Who grades; default ``$SPONDY_READER``, else the panel asks when an export opens,
        before its first case is shown (:meth:`ask_reader`).
    rubric : Rubric, optional
        Default: :func:`~spondy_annotate.grading.rubric_toml.default_rubric`.
    case_order_seed : int, optional
        Randomise the case order with this seed (logged with the session).
    hide_dates : bool, optional
        Hide study dates and intervals (blinded reading). With neither this nor
        ``case_order_seed``, the blinding is the study's, else the reader's last one.
    ask_reader : bool
        Ask who reads when an export opens (off: nobody grades until :meth:`ask_reader`;
        for screenshots).

    Attributes
    ----------
    controller : GradingController
        What the panel shows and drives (the answers, the session, the line tool).
    picker : ReaderPicker or None
        The reader picker while it is open.
    adjudication : AdjudicationPanel
        The adjudicator's view (shown instead of the rubric rows for an adjudicator).
    """

    def __init__(
        self,
        napari_viewer: napari.Viewer,
        *,
        room: ReadingRoom | None = None,
        reader: str | None = None,
        rubric: Rubric | None = None,
        case_order_seed: int | None = None,
        hide_dates: bool | None = None,
        ask_reader: bool = True,
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        given = hide_dates is not None or case_order_seed is not None
        self.controller = GradingController(
            napari_viewer,
            rubric=rubric,
            blinding=Blinding(bool(hide_dates), case_order_seed) if given else None,
        )
        self.controller.asks_reader = ask_reader
        self.analysis: AnalysisWidget | None = None
        self.picker: ReaderPicker | None = None
        self._asking = False
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setStyleSheet(STYLE)

        # -- widgets
        self.reader_label = QLabel("")
        self.reader_label.setToolTip("Stored with every answer; asked when an export opens")
        self.reader_button = QPushButton("Choose reader…")
        self.reader_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.reader_button.setToolTip("Who reads (asked before the first case is shown)")
        self.reader_button.clicked.connect(lambda: self.ask_reader())
        self.blinding_note = QLabel("")
        self.blinding_note.setStyleSheet("color: #a0a0a0;")
        self.blinding_note.setVisible(False)
        self.hide_dates = QCheckBox("Hide study dates")
        self.hide_dates.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.random_order = QCheckBox("Random case order")
        self.random_order.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.case_label = QLabel("No case")
        self.case_label.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.case_label.setWordWrap(True)
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #d0d0d0;")
        self.rows: dict[str, FieldRow] = {}
        rows_widget = self._build_rows()
        scroll = RowsArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(rows_widget)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.analysis_button = QPushButton("Grading finished: analysis with labs…")
        self.analysis_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.analysis_button.setToolTip("Ends grading in this window, then shows lab values")
        self.analysis_button.clicked.connect(lambda: self.open_analysis())
        note = self.rows.get("note")
        if note is not None and note.edit is not None:
            note.edit.installEventFilter(self)

        self.adjudication = AdjudicationPanel(self.controller)
        self.adjudication.setVisible(False)
        self._rows_scroll = scroll

        reader_row = QHBoxLayout()
        reader_row.addWidget(QLabel("Reader"))
        reader_row.addWidget(self.reader_label, 1)
        reader_row.addWidget(self.reader_button)
        blind_row = QHBoxLayout()
        blind_row.addWidget(self.hide_dates)
        blind_row.addWidget(self.random_order)
        layout = QVBoxLayout(self)
        layout.addLayout(reader_row)
        layout.addLayout(blind_row)
        layout.addWidget(self.blinding_note)
        layout.addWidget(self.case_label)
        layout.addWidget(self.progress)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.adjudication, 1)
        layout.addWidget(self.hint)
        layout.addWidget(self.analysis_button)

        self._slice_timer = self._delayed(SLICE_SAVE_MS, self.controller.save_slice)
        self._opened_timer = self._delayed(OPENED_NOTE_MS, self.controller.note_opened)
        self._key_filter = _KeyFilter(self)
        self._attach_timer = QTimer(self)  # a child: it stops when the panel goes
        self._attach_timer.setInterval(1000)
        self._attach_timer.timeout.connect(lambda: self.attach(reading_room_for(self.viewer)))

        self.hide_dates.setChecked(bool(hide_dates))
        self.random_order.setChecked(case_order_seed is not None)
        self.hide_dates.toggled.connect(self.controller.set_hide_dates)
        self.random_order.toggled.connect(self.controller.set_random_order)
        events = self.controller.events
        events.changed.connect(self.refresh)
        events.leaving.connect(self._finish_note)
        events.case.connect(self._focus_canvas)
        events.case.connect(lambda e: self._opened_timer.start())
        events.answered.connect(lambda e: self._slice_timer.start())
        events.message.connect(
            lambda e: self.hint.setText(f"<span style='color:#E69F00'>{e.value}</span>")
        )
        events.edit_note.connect(self._edit_note)
        events.opened.connect(self._on_opened)
        events.ended.connect(self._on_ended)
        napari_viewer.dims.events.point.connect(self._on_slice)
        controller = self.controller  # closed with the panel (no reference to the Qt object)
        self.destroyed.connect(lambda *_: controller.close())

        name = reader or os.environ.get(READER_ENV)
        if name:
            self.set_reader(name)
        self.attach(room or reading_room_for(napari_viewer))
        self.refresh()

    # -- set-up ---------------------------------------------------------------------------------
    def _build_rows(self) -> QWidget:
        """One heading (with its grade scale) per item, one row per field."""
        rows_widget = QWidget()
        rows_layout = QVBoxLayout(rows_widget)
        rows_layout.setContentsMargins(0, 0, 0, 0)
        rows_layout.setSpacing(1)
        item_of: str | None = None
        for f in self.controller.rubric.fields:
            if f.item != CASE_ITEM and f.item != item_of:
                item = self.controller.rubric.item(f.item)
                jump = next(
                    (k for k, t in self.controller.keys.jumps.items() if t.split(".")[0] == f.item),
                    None,
                )
                jump = jump or next(
                    (k for k, i in self.controller.keys.measures.items() if i == f.item), None
                )
                heading = QLabel(
                    f"<b>{item.label}</b>"
                    + (f"  <span style='color:#a0a0a0'>({jump})</span>" if jump else "")
                )
                heading.setToolTip(item.description)
                legend = QLabel(self.controller.keys.choices_text(f"{f.item}.baseline"))
                legend.setWordWrap(True)
                legend.setStyleSheet("color: #a0a0a0; padding-left: 10px;")
                legend.setToolTip(item.description)
                rows_layout.addSpacing(4)
                rows_layout.addWidget(heading)
                rows_layout.addWidget(legend)
            item_of = f.item
            title = ""
            if f.item == CASE_ITEM:
                jump = next((k for k, t in self.controller.keys.jumps.items() if t == f.key), None)
                title = f.label + (f" ({jump})" if jump else "")
                rows_layout.addSpacing(4)
            row = FieldRow(f, dict(self.controller.keys.values.get(f.key, {})), title=title)
            row.answered.connect(
                lambda key, value: self.controller.answer(
                    key, value, advance=self.controller.rubric.field(key).kind is not FieldKind.NOTE
                )
            )
            row.focused.connect(self.controller.focus_field)
            row.draw.connect(
                lambda key: self.controller.start_measure(self.controller.rubric.field(key).item)
            )
            self.rows[f.key] = row
            rows_layout.addWidget(row)
        rows_layout.addStretch(1)
        return rows_widget

    def _delayed(self, ms: int, slot: Any) -> QTimer:
        """A timer that runs ``slot`` ``ms`` after its last ``start()`` (a child: it stops when
        the panel goes)."""
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def warm(self) -> None:
        """Prepare the disc-height caliper's drawing now (the window shown and laid out, no case
        yet), so that neither the first case nor the first line waits for napari's shaders."""
        if self.controller.tool is not None:
            self.controller.tool.warm()

    def attach(self, room: ReadingRoom | None) -> None:
        """Grade ``room``'s cases (retried every second until a reading room is docked)."""
        if room is None:
            self._attach_timer.start()
            return
        self._attach_timer.stop()
        if self.controller.room is room:
            return
        canvas = self._canvas()
        if canvas is not None:
            canvas.installEventFilter(self._key_filter)
        else:
            logger.warning("napari's canvas widget not found: grading keys work on the panel only")
        self.controller.attach(room)
        room.events.cases.connect(self._on_room_cases)
        if room.cases:
            QTimer.singleShot(0, self._on_room_cases)

    def _on_room_cases(self, event: Any = None) -> None:
        """An export was opened (or relisted): ask who reads, before its first case is shown."""
        if self.controller.asks_reader:
            self.ask_reader()

    def ask_reader(self) -> bool:
        """Ask who reads (:class:`ReaderPicker`, modal) unless known; True once a reader is set.

        Runs while the room lists a new export and before the reading room shows its first
        case, so that no image and no date is on screen before the reader is known (and, under
        a study hiding dates, none afterwards).
        """
        controller = self.controller
        if controller.reader is not None or self._asking:
            return controller.reader is not None
        self._asking = True
        try:
            try:
                options = controller.reader_options()
            except SpondyError as exc:
                show_error(f"Grading database: {exc}")
                return False
            if options is None:
                return False
            if options.study is not None:
                study = options.study
                self._show_blinding(study.hide_dates, study.random_order, fixed=True)
            self.picker = ReaderPicker(options, self)
            accepted = self.picker.exec() == QDialog.DialogCode.Accepted
            choice = self.picker.choice()
            self.picker.deleteLater()
            self.picker = None
        finally:
            self._asking = False
        return accepted and self.choose(choice)

    def choose(self, choice: ReaderChoice) -> bool:
        """Start grading as the reader chosen (name and blinding)."""
        if not self.controller.choose(choice):
            return False
        self._show_reader()
        self._focus_canvas()  # the keys grade at once
        return True

    def _show_reader(self) -> None:
        controller = self.controller
        self.reader_label.setText(f"<b>{controller.reader}</b>" if controller.reader else "")
        self.reader_label.setToolTip("Reader of this session (restart napari to change)")
        self.reader_button.setVisible(controller.reader is None)
        self._show_blinding(
            controller.hide_dates,
            controller.case_order_seed is not None,
            fixed=controller.blinding_fixed,
        )
        adjudicating = controller.queue is not None
        self.adjudication.setVisible(adjudicating)
        self._rows_scroll.setVisible(not adjudicating)

    def _show_blinding(self, hide_dates: bool, random_order: bool, *, fixed: bool) -> None:
        """The ticks show the blinding; disabled when the study sets it."""
        for box, value in ((self.hide_dates, hide_dates), (self.random_order, random_order)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
            box.setEnabled(not fixed)
            box.setToolTip("The study sets the blinding and the case order" if fixed else "")
        self.blinding_note.setText(f"Blinding and case order: {SET_BY_STUDY}" if fixed else "")
        self.blinding_note.setVisible(fixed)

    def _on_opened(self, event: Any = None) -> None:
        """A session started: show its reader and blinding, then resume the reader's case."""
        self._show_reader()
        QTimer.singleShot(0, self.controller.resume)

    def _canvas(self) -> QWidget | None:
        """napari's canvas widget (private napari attributes; None if they moved)."""
        qt_viewer = getattr(real_viewer(self.viewer).window, "_qt_viewer", None)
        canvas = getattr(getattr(qt_viewer, "canvas", None), "native", None)
        return canvas if isinstance(canvas, QWidget) else None

    def set_reader(self, name: str) -> bool:
        """Set who grades (once per session); False and a message if the name is unusable."""
        if self.controller.reader is not None:
            return self.controller.set_reader(name)  # True for the same name only
        if not self.controller.set_reader(name):
            return False
        self._show_reader()
        self._focus_canvas()
        return True

    # -- Qt around the controller ---------------------------------------------------------------
    def _on_slice(self, event: Any = None) -> None:
        if self.controller.grading is not None:
            self._slice_timer.start()

    def _finish_note(self, event: Any = None) -> None:
        """Another case comes: a note being typed is saved to the case it was typed for."""
        note = self.rows.get("note")
        if note is not None and note.edit is not None and note.edit.hasFocus():
            note.edit.clearFocus()

    def _edit_note(self, event: Any = None) -> None:
        row = self.rows.get("note")
        if row is not None and row.edit is not None:
            row.edit.setFocus(Qt.FocusReason.OtherFocusReason)
            row.edit.selectAll()

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:  # noqa: N802
        """The note box: Return keeps the note, Escape drops the edit, Tab moves on."""
        row = self.rows.get("note")
        if (
            row is None
            or row.edit is None
            or watched is not row.edit
            or event is None
            or event.type() != QEvent.Type.KeyPress
        ):
            return False
        name = key_name(event)  # type: ignore[arg-type]
        if name in (RETURN, ESCAPE, TAB, BACKTAB):
            if name == ESCAPE:
                row.edit.setText(str(row.value or ""))
            else:
                row.edit.clearFocus()  # editingFinished saves the note
            self._focus_canvas()
            if name in (TAB, BACKTAB) and self.controller.grading is not None:
                self.controller.handle_key(name)
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent | None) -> None:  # noqa: N802 (Qt name)
        """Keys pressed while the panel has the focus work as on the images."""
        if event is None:
            return
        name = key_name(event)
        if name is None or not self.controller.handle_key(name, repeat=event.isAutoRepeat()):
            super().keyPressEvent(event)

    def _focus_canvas(self, event: Any = None) -> None:
        canvas = self._canvas()
        if canvas is not None:
            canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- showing --------------------------------------------------------------------------------
    def refresh(self, event: Any = None) -> None:
        """Redraw the panel from the controller."""
        controller = self.controller
        grading, reader, seed = controller.grading, controller.reader, controller.case_order_seed
        if controller.room is None:
            self.case_label.setText("Open the reading room first (Plugins menu)")
        elif reader is None:
            self.case_label.setText("Who reads? Asked when an export opens")
        elif controller.locked:
            self.case_label.setText("Grading ended in this window")
        elif controller.queue is not None:
            self.case_label.setText("Adjudication")
            self.progress.setText(controller.progress_text())
            self.adjudication.refresh()
            self.hint.setText("")
            return
        elif grading is None:
            self.case_label.setText("No case open")
        else:
            self.case_label.setText(grading.title)
        order = f" · random order, seed {seed}" if seed is not None else ""
        if grading is None:
            self.progress.setText(f"Reader {reader}{order}" if reader else "")
            for row in self.rows.values():
                row.set_value(None)
                row.set_state(current=False)
                row.setVisible(True)
            self.hint.setText("")
            return
        required = grading.required
        answered = len(required) - len(grading.missing())
        state = grading.status.value
        pending = controller.session.pending if controller.session is not None else 0
        waiting = (
            f"<br><span style='color:#E69F00'>{save_status(pending)}</span>" if pending else ""
        )
        self.progress.setText(
            f"<b>{answered} of {len(required)}</b> required answered · {state} · reader {reader}"
            f"{order}{waiting}"
        )
        asked = set(grading.keys)  # one MRI alone: its fields only
        for key, row in self.rows.items():
            row.set_value(grading.values.get(key))
            row.set_state(current=key == grading.current)
            row.setVisible(key in asked)
        controller.show_lines()
        self.hint.setText(self._hint_text(grading))

    def _hint_text(self, grading: CaseGrading) -> str:
        f, tool = grading.field, self.controller.tool
        if f.kind is FieldKind.MEASUREMENT:
            what = (
                (
                    "drawing: press on one endplate, release on the other (left image baseline, "
                    "right follow-up); Esc cancels"
                )
                if tool and tool.armed
                else "d or Return: draw the line"
            )
        elif f.kind is FieldKind.NOTE:
            what = "Return: type the note, Return again to keep it"
        else:
            what = self.controller.keys.choices_text(f.key)
        text = f"<b>{f.label}</b>: {what}"
        suggestion = grading.suggestion()
        if f.kind is FieldKind.CHANGE and suggestion:
            text += f"<br>the grades suggest <b>{suggestion}</b> (Return accepts)"
        return (
            text
            + "<br><span style='color:#a0a0a0'>Tab / Shift-Tab field · Del clear · F1 keys</span>"
        )

    # -- analysis -------------------------------------------------------------------------------
    def _on_ended(self, event: Any = None) -> None:
        """Grading ended in this window: the panel goes out of sight."""
        self.refresh()
        dock = self.parentWidget()
        while dock is not None and not hasattr(dock, "setFloating"):
            dock = dock.parentWidget()
        (dock or self).hide()

    def open_analysis(self, *, confirm: bool | None = None) -> AnalysisWidget | None:
        """End grading (asking first, unless ``confirm``), then dock the analysis (lab values)."""
        if not labs_allowed(self, self.viewer, confirm=confirm):
            return None
        from spondy_napari._qt.analysis_dock import AnalysisWidget

        if self.analysis is None:
            session = self.controller.session
            self.analysis = AnalysisWidget(self.viewer, db=session.path if session else None)
            self.viewer.window.add_dock_widget(self.analysis, name="Analysis", area="right")
        return self.analysis


__all__ = ["READER_ENV", "GradingPanel", "key_name"]
