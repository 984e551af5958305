"""The grading panel: the current case's rubric, answered from the keyboard, saved at once.

The panel sits beside the reading room and only wires Qt to its
:class:`~spondy_napari.grading.controller.GradingController` (which opens the grading session,
loads and saves the answers and moves on): it asks the reader's name once (``reader=`` or
``$SPONDY_READER`` skip that), draws one row per rubric field, turns key presses on the images or
on the panel into key names (:func:`key_name`) and redraws when the controller says so.

Blinded reading: no lab value is ever shown here; dates can be hidden and the case order
randomised. *Grading finished: analysis with labs* ends grading in this window first
(:func:`~spondy_napari._qt.blinding.labs_allowed`), then docks the analysis.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.grading.rubric import CASE_ITEM, FieldKind
from spondy_napari._qt.blinding import labs_allowed
from spondy_napari._qt.field_rows import STYLE, FieldRow
from spondy_napari._registry import real_viewer
from spondy_napari.grading.controller import GradingController
from spondy_napari.grading.keys import BACKTAB, DELETE, ESCAPE, RETURN, TAB
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
#: Pixels kept for the vertical scroll bar and the dock's frame beside the rows.
SCROLL_BAR_ROOM = 24
#: Milliseconds of slider rest before the slice is saved as view state.
SLICE_SAVE_MS = 800


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
        Who grades; default ``$SPONDY_READER``, else the panel asks (a text box, no dialog).
    rubric : Rubric, optional
        Default: :func:`~spondy_annotate.grading.rubric_toml.default_rubric`.
    case_order_seed : int, optional
        Randomise the case order with this seed (logged with the session).
    hide_dates : bool
        Hide study dates and intervals (blinded reading).

    Attributes
    ----------
    controller : GradingController
        What the panel shows and drives (the answers, the session, the line tool).
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
        self.controller = GradingController(
            napari_viewer, rubric=rubric, case_order_seed=case_order_seed, hide_dates=hide_dates
        )
        self.analysis: AnalysisWidget | None = None
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
        # every choice label readable (in bold too), beside the scroll bar
        self.setMinimumWidth(rows_widget.minimumSizeHint().width() + SCROLL_BAR_ROOM)
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
        self._slice_timer.timeout.connect(self.controller.save_slice)
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
        events.answered.connect(lambda e: self._slice_timer.start())
        events.message.connect(
            lambda e: self.hint.setText(f"<span style='color:#E69F00'>{e.value}</span>")
        )
        events.edit_note.connect(self._edit_note)
        events.opened.connect(lambda e: QTimer.singleShot(0, self.controller.resume))
        events.ended.connect(self._on_ended)
        napari_viewer.dims.events.point.connect(self._on_slice)
        controller = self.controller  # closed with the panel (no reference to the Qt object)
        self.destroyed.connect(lambda *_: controller.close())

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
        self.reader_edit.setText(self.controller.reader or "")
        self.reader_edit.setReadOnly(True)
        self.reader_edit.setToolTip("Reader of this session (restart napari to change)")
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
            self.case_label.setText("Type your initials to start grading")
        elif controller.locked:
            self.case_label.setText("Grading ended in this window")
        elif grading is None:
            self.case_label.setText("No case open")
        else:
            self.case_label.setText(grading.case_id)
        order = f" · random order, seed {seed}" if seed is not None else ""
        if grading is None:
            self.progress.setText(f"Reader {reader}{order}" if reader else "")
            for row in self.rows.values():
                row.set_value(None)
                row.set_state(current=False)
            self.hint.setText("")
            return
        required = grading.required
        answered = len(required) - len(grading.missing())
        state = grading.status.value
        self.progress.setText(
            f"<b>{answered} of {len(required)}</b> required answered · {state} · reader {reader}{order}"
        )
        for key, row in self.rows.items():
            row.set_value(grading.values.get(key))
            row.set_state(current=key == grading.current)
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
