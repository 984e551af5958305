"""One row of the grading panel per rubric field: label, choices, state colours.

Rows never take the keyboard focus (except the note's text box), so that clicking an answer
leaves the keys on the images; they only emit what the reader clicked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QFont, QFontMetrics
from qtpy.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from spondy_annotate.grading.rubric import FieldKind, Measurement, Timepoint

if TYPE_CHECKING:
    from spondy_annotate.grading.rubric import AnswerValue, Field

#: Row colours: the field in focus, an empty required field, an answered one.
STYLE = """
QFrame#row { border-left: 4px solid transparent; border-radius: 3px; }
QFrame#row[state="missing"] { border-left: 4px solid #E69F00; }
QFrame#row[state="current"] { border-left: 4px solid #F0E442;
    background-color: rgba(240, 228, 66, 45); }
QFrame#row[state="current-missing"] { border-left: 4px solid #F0E442;
    background-color: rgba(240, 228, 66, 45); }
QFrame#row QPushButton { padding: 2px 5px; }
QFrame#row QPushButton:checked { background-color: #0072B2; color: white; font-weight: bold; }
"""
#: Text colour of an empty measurement.
EMPTY_COLOUR = "#E69F00"

#: Width of a grade button showing only its key (pixels).
KEY_BUTTON_WIDTH = 30
#: Room beside a button's text for its padding and frame (pixels: ``STYLE`` pads 5 a side).
BUTTON_PADDING = 12
#: Width of the row labels (pixels).
LABEL_WIDTH = 104
#: How a timepoint is named in the row labels.
TIMEPOINT_TITLES = {Timepoint.BASELINE: "Baseline", Timepoint.FOLLOWUP: "Follow-up"}


def bold_text_width(button: QPushButton) -> int:
    """Pixels of ``button``'s text in bold (a checked button's font): it is never clipped."""
    font = QFont(button.font())
    font.setBold(True)
    return QFontMetrics(font).horizontalAdvance(button.text())


def row_title(f: Field) -> str:
    """Short label of a row inside its item group (``"Baseline"``, ``"Baseline mm"``, ...)."""
    if f.kind is FieldKind.MEASUREMENT and f.timepoint is not None:
        return f"{TIMEPOINT_TITLES[f.timepoint]} {f.unit or 'mm'}"
    if f.timepoint is not None:
        return TIMEPOINT_TITLES[f.timepoint]
    if f.kind is FieldKind.CHANGE:
        return "Change"
    return f.label


class FieldRow(QFrame):
    """The widgets of one field.

    Signals
    -------
    answered(str, object)
        Field key and the value clicked (a note is sent when its editing finishes).
    focused(str)
        The reader clicked the row's label.
    draw(str)
        The reader asked to draw the measurement of field key.
    """

    answered = Signal(str, object)
    focused = Signal(str)
    draw = Signal(str)

    def __init__(
        self, f: Field, keys: dict[str, Any], parent: QWidget | None = None, *, title: str = ""
    ) -> None:
        super().__init__(parent)
        self.field = f
        self.setObjectName("row")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.value: AnswerValue = None
        self.label = QLabel(title or row_title(f))
        if title:  # case-level fields: their own label, as long as it needs
            self.label.setMinimumWidth(LABEL_WIDTH)
        else:
            self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setToolTip(f.label + ("" if f.required else " (optional)"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 2, 1)
        layout.setSpacing(3)
        layout.addWidget(self.label)
        self.buttons: dict[Any, QPushButton] = {}
        self.combo: QComboBox | None = None
        self.edit: QLineEdit | None = None
        self.shown: QLabel | None = None
        by_value = {v: k for k, v in keys.items()}
        if f.kind is FieldKind.LEVEL:
            self.combo = QComboBox()
            self.combo.addItem("—", None)
            for c in f.choices:
                key = by_value.get(c.value, "")
                self.combo.addItem(f"{key}  {c.label}" if key else c.label, c.value)
            self.combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.combo.activated.connect(self._combo_chosen)
            layout.addWidget(self.combo, 1)
        elif f.kind is FieldKind.MEASUREMENT:
            self.shown = QLabel()
            button = QPushButton("Draw")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(
                "Draw the line on the image (d): press on one endplate, release on "
                "the other; left image = baseline, right = follow-up"
            )
            button.clicked.connect(lambda: self.draw.emit(f.key))
            layout.addWidget(self.shown, 1)
            layout.addWidget(button)
        elif f.kind is FieldKind.NOTE:
            self.edit = QLineEdit()
            self.edit.setPlaceholderText("optional; Return on this row to type")
            self.edit.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            self.edit.editingFinished.connect(self._note_done)
            layout.addWidget(self.edit, 1)
        else:
            # Grades: key-only buttons (the scale is under the item's heading) and the chosen
            # label beside them; changes and confidence: key and label on the button.
            compact = f.kind is FieldKind.GRADE and all(by_value.get(c.value) for c in f.choices)
            group = QButtonGroup(self)
            group.setExclusive(True)
            for c in f.choices:
                key = by_value.get(c.value, "")
                button = QPushButton(key if compact else f"{key} {c.label}".strip())
                button.setCheckable(True)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                button.setToolTip(f"{c.label}: {c.description}" if c.description else c.label)
                if compact:
                    button.setFixedWidth(KEY_BUTTON_WIDTH)
                else:
                    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                    button.setMinimumWidth(bold_text_width(button) + BUTTON_PADDING)
                button.clicked.connect(lambda _=False, v=c.value: self.answered.emit(f.key, v))
                group.addButton(button)
                self.buttons[c.value] = button
                layout.addWidget(button, 0 if compact else 1)
            if compact:
                self.shown = QLabel()
                layout.addSpacing(4)
                layout.addWidget(self.shown, 1)
            self.group = group
        self.set_state(current=False)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        """A click on the row (not on a button) puts the focus on its field."""
        self.focused.emit(self.field.key)
        super().mousePressEvent(event)

    def _combo_chosen(self, index: int) -> None:
        assert self.combo is not None
        value = self.combo.itemData(index)
        if value is not None:
            self.answered.emit(self.field.key, value)

    def _note_done(self) -> None:
        assert self.edit is not None
        text = self.edit.text().strip()
        if text != (self.value or ""):
            self.answered.emit(self.field.key, text or None)

    def set_value(self, value: AnswerValue) -> None:
        """Show ``value`` (None: empty)."""
        self.value = value
        if self.combo is not None:
            index = self.combo.findData(value) if value is not None else 0
            self.combo.setCurrentIndex(max(index, 0))
        elif self.field.kind is FieldKind.MEASUREMENT and self.shown is not None:
            if isinstance(value, Measurement):
                self.shown.setText(f"<b>{value.mm:.1f} mm</b>")
                self.shown.setStyleSheet("")
            else:
                self.shown.setText("empty: draw on the image")
                self.shown.setStyleSheet(f"color: {EMPTY_COLOUR}")
        elif self.edit is not None:
            if not self.edit.hasFocus():
                self.edit.setText(str(value or ""))
        else:
            self.group.setExclusive(False)
            for v, button in self.buttons.items():
                button.setChecked(value is not None and v == value and type(v) is type(value))
            self.group.setExclusive(True)
            if self.shown is not None:
                chosen = next(
                    (
                        c.label
                        for c in self.field.choices
                        if value is not None and c.value == value and type(c.value) is type(value)
                    ),
                    "",
                )
                self.shown.setText(f"<b>{chosen}</b>" if chosen else "")

    def set_state(self, *, current: bool) -> None:
        """Colour the row: the field in focus, empty and required, or neither."""
        missing = self.field.required and self.value is None
        state = ("current-" if current else "") + ("missing" if missing else "")
        state = state.rstrip("-") or "done"
        if self.property("state") != state:
            self.setProperty("state", state)
            style = self.style()
            if style is not None:
                style.unpolish(self)
                style.polish(self)
        font = self.label.font()
        font.setBold(current)
        self.label.setFont(font)
