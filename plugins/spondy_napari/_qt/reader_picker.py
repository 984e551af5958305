"""The reader picker: who reads, and blinded how, asked before any image or date is shown.

A small dialog the grading panel opens when an export has been opened and before its first case
is drawn (:meth:`~spondy_napari._qt.grading_panel.GradingPanel.ask_reader`). Under a reader study
the reader picks their name from the study's list (arrows, then Return), and the blinding and
case order shown are the study's, disabled ("set by the study"). Without a study the reader
types their name; the two ticks, *Hide study dates* and *Random case order*, start as that
reader left them last time (kept per reader in the project database) and are chosen in the
same step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spondy_napari.grading.reader_choice import ReaderChoice, ReaderOptions

if TYPE_CHECKING:
    from qtpy.QtGui import QShowEvent

#: What the disabled ticks say under a study.
SET_BY_STUDY = "set by the study"


class ReaderPicker(QDialog):
    """Who reads (and, without a study, the blinding), before the first case is shown.

    Parameters
    ----------
    options : ReaderOptions
        The study (its names and blinding) or the readers' stored blinding.
    parent : QWidget, optional
        The dialog's parent (the grading panel).

    Attributes
    ----------
    names : QListWidget or None
        The study's readers and adjudicators (under a study).
    name_edit : QLineEdit or None
        The reader's name (without a study).
    hide_dates, random_order : QCheckBox
        The blinding; disabled under a study.
    """

    def __init__(self, options: ReaderOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = options
        self.setWindowTitle("Who is reading?")
        self.setModal(True)
        self.names: QListWidget | None = None
        self.name_edit: QLineEdit | None = None
        self.hide_dates = QCheckBox("Hide study dates")
        self.random_order = QCheckBox("Random case order")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        start = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert isinstance(start, QPushButton)
        start.setText("Start reading")
        start.setDefault(True)
        self.start = start
        layout = QVBoxLayout(self)
        study = options.study
        if study is not None:
            layout.addWidget(QLabel("<b>Choose your name</b> (arrows, then Return)"))
            self.names = QListWidget()
            for name in options.names:
                role = " — adjudicator" if options.is_adjudicator(name) else ""
                self.names.addItem(name + role)
            self.names.setCurrentRow(0)
            self.names.setStyleSheet("font-size: 15px;")
            rows = max(self.names.count(), 1)
            self.names.setFixedHeight(
                rows * (self.names.sizeHintForRow(0) + 6) + 2 * self.names.frameWidth() + 8
            )
            self.names.itemActivated.connect(lambda _item: self.accept())
            self.names.currentRowChanged.connect(lambda _row: self._show_blinding())
            layout.addWidget(self.names)
            for box in (self.hide_dates, self.random_order):
                box.setEnabled(False)
                box.setToolTip("The study sets the blinding and the case order")
            note = QLabel(f"Blinding and case order: {SET_BY_STUDY}; lab values are never shown.")
            note.setWordWrap(True)
            layout.addWidget(self.hide_dates)
            layout.addWidget(self.random_order)
            layout.addWidget(note)
        else:
            layout.addWidget(QLabel("<b>Your initials or user name</b>, then Return"))
            self.name_edit = QLineEdit()
            self.name_edit.setPlaceholderText("e.g. AB")
            if options.names:
                self.name_edit.setCompleter(QCompleter(list(options.names), self.name_edit))
            self.name_edit.textChanged.connect(lambda _text: self._show_blinding())
            layout.addWidget(self.name_edit)
            note = QLabel(
                "Blinding, before any image is shown (kept for you in the project database); "
                "lab values are never shown while grading."
            )
            note.setWordWrap(True)
            layout.addWidget(note)
            layout.addWidget(self.hide_dates)
            layout.addWidget(self.random_order)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._show_blinding()

    def showEvent(self, event: QShowEvent | None) -> None:  # noqa: N802 (Qt name)
        """The keyboard goes to the names (or the name box) at once."""
        super().showEvent(event)
        self.activateWindow()
        (self.names or self.name_edit or self).setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def reader(self) -> str:
        """The name chosen or typed so far."""
        if self.names is not None:
            row = self.names.currentRow()
            names = self.options.names
            return names[row] if 0 <= row < len(names) else ""
        return self.name_edit.text().strip() if self.name_edit is not None else ""

    def _show_blinding(self) -> None:
        """The ticks show the study's blinding, or the last one of a reader typed in full."""
        name = self.reader()
        if self.options.study is not None or name in self.options.stored:
            blinding = self.options.blinding(name)
            self.hide_dates.setChecked(blinding.hide_dates)
            self.random_order.setChecked(blinding.case_order_seed is not None)
        self.start.setEnabled(bool(name))

    def choice(self) -> ReaderChoice:
        """The reader's choice as the controller takes it."""
        return self.options.choose(
            self.reader(),
            hide_dates=self.hide_dates.isChecked(),
            random_order=self.random_order.isChecked(),
        )

    def accept(self) -> None:
        """Close with the choice, once a name is given."""
        if self.reader():
            super().accept()
