"""One row of the grading panel per rubric field: label, choices, state colours.

Rows never take the keyboard focus (except the note's text box), so that clicking an answer
leaves the keys on the images; they only emit what the reader clicked. They are as narrow as
their text allows, measured in the font they are shown in (napari's style sheet sets it after
they are built) and in bold where a focused title or a checked answer turns bold: the docks
stay narrow and the images large, and no text is ever clipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QRect, QSize, Qt, Signal
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
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.grading.rubric import FieldKind, Measurement, Timepoint

if TYPE_CHECKING:
    from collections.abc import Sequence

    from spondy_annotate.grading.rubric import AnswerValue, Field

#: Row colours: the field in focus, an empty required field, an answered one.
STYLE = """
QFrame#row { border-left: 4px solid transparent; border-radius: 3px; }
QFrame#row[state="missing"] { border-left: 4px solid #E69F00; }
QFrame#row[state="current"] { border-left: 4px solid #F0E442;
    background-color: rgba(240, 228, 66, 45); }
QFrame#row[state="current-missing"] { border-left: 4px solid #F0E442;
    background-color: rgba(240, 228, 66, 45); }
QFrame#row QPushButton { padding: 2px 4px; }
QFrame#row QPushButton:checked { background-color: #0072B2; color: white; font-weight: bold; }
"""
#: Text colour of an empty measurement.
EMPTY_COLOUR = "#E69F00"

#: Width of a grade button showing only its key (pixels).
KEY_BUTTON_WIDTH = 28
#: How a timepoint is named in the row labels.
TIMEPOINT_TITLES = {Timepoint.BASELINE: "Baseline", Timepoint.FOLLOWUP: "Follow-up"}


def bold_text_width(widget: QLabel | QPushButton, text: str | None = None) -> int:
    """Pixels of ``text`` (default: ``widget``'s own) in ``widget``'s font made bold."""
    font = QFont(widget.font())
    font.setBold(True)
    return QFontMetrics(font).horizontalAdvance(widget.text() if text is None else text)


def text_width(font: QFont, text: str) -> int:
    """Pixels of ``text`` as a label lays it out (its bounding box, as ``QLabel`` measures)."""
    return QFontMetrics(font).boundingRect(QRect(0, 0, 10_000, 1_000), 0, text).width()


class AnswerButton(QPushButton):
    """A checkable answer, never narrower than its text in bold (the checked button's font)."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """The style's size for the text, widened by what bold adds to it."""
        hint = super().sizeHint()
        extra = bold_text_width(self) - self.fontMetrics().horizontalAdvance(self.text())
        return QSize(hint.width() + max(extra, 0), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """As wide as :meth:`sizeHint`: the text is never clipped."""
        return self.sizeHint()


class RowTitle(QLabel):
    """A row's title, as wide as the widest of its own text and ``aligned`` in bold (the title
    of the field in focus is bold): rows with the same ``aligned`` titles line up."""

    def __init__(self, text: str, aligned: Sequence[str] = ()) -> None:
        super().__init__(text)
        self.aligned = tuple(aligned)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """The label's size (frame, indent, margins), its text the widest title's in bold."""
        hint, bold = super().sizeHint(), QFont(self.font())
        bold.setBold(True)
        widest = max(text_width(bold, t) for t in (self.text(), *self.aligned))
        return QSize(hint.width() - text_width(self.font(), self.text()) + widest, hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """As wide as :meth:`sizeHint`: the bold title is never clipped."""
        return self.sizeHint()


def row_title(f: Field, timepoint: Timepoint | None = None) -> str:
    """Short label of a row inside its item group (``"Baseline"``, ``"Baseline mm"``, ...);
    ``timepoint``: the title the row would have at that timepoint."""
    timepoint = timepoint or f.timepoint
    if f.kind is FieldKind.MEASUREMENT and timepoint is not None:
        return f"{TIMEPOINT_TITLES[timepoint]} {f.unit or 'mm'}"
    if timepoint is not None:
        return TIMEPOINT_TITLES[timepoint]
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
        # the rows of both timepoints line up; the others at least with the grades
        aligned = (
            [row_title(f, tp) for tp in Timepoint]
            if f.timepoint is not None
            else list(TIMEPOINT_TITLES.values())
        )
        self.label = RowTitle(title or row_title(f), aligned)
        self.label.setToolTip(f.label + ("" if f.required else " (optional)"))
        layout = QHBoxLayout()
        layout.setSpacing(3)
        if f.kind is FieldKind.CHANGE:  # the title above the worded answers: they take the width
            outer: QHBoxLayout | QVBoxLayout = QVBoxLayout(self)
            outer.setSpacing(1)
            outer.addWidget(self.label)
            outer.addLayout(layout)
        else:
            outer = layout
            self.setLayout(layout)
            layout.addWidget(self.label)
        outer.setContentsMargins(6, 1, 2, 1)
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
            self.shown.setWordWrap(True)
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
                button = AnswerButton(key if compact else f"{key} {c.label}".strip())
                button.setCheckable(True)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                button.setToolTip(f"{c.label}: {c.description}" if c.description else c.label)
                if compact:
                    button.setFixedWidth(KEY_BUTTON_WIDTH)
                else:
                    button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                button.clicked.connect(lambda _=False, v=c.value: self.answered.emit(f.key, v))
                group.addButton(button)
                self.buttons[c.value] = button
                layout.addWidget(button, 0 if compact else 1)
            if compact:
                self.shown = QLabel()
                self.shown.setWordWrap(True)  # a long grade ("Extended abscess") on two lines
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
                self.shown.setText("empty: draw it")
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
