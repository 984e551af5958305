"""The worklist: the reader's cases by pseudonymous label, their state, progress and a filter.

Patient names and IDs are never shown: a case is its label ("Case 3", or the grading store's
``C-7F3A91``). Cases that cannot be read side by side (one study, or more than two waiting for a
choice) are listed greyed with that state; clicking one only says why.

When a grading panel works in the viewer, the list is the reader's: nothing until the reader
has said who they are, then their cases in their order (under a reader study their first pass,
each MRI alone, e.g. "C-7F3A91 (baseline alone)" without its interval, the cases assigned to
them, then their repeat reads due, e.g. "C-7F3A91 (repeat)"; for an adjudicator the
adjudication queue: cases in a state of
:data:`~spondy_napari.grading.room_link.UNLISTED_STATES` are not listed), and above it the
reader's progress (:meth:`~spondy_napari.grading.controller.GradingController.progress_text`),
updated as answers come in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QBrush, QColor, QKeySequence, QShortcut
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from spondy_napari._registry import grading_gate_for
from spondy_napari.grading.controller import GradingController
from spondy_napari.grading.room_link import UNLISTED_STATES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from spondy_napari.reading_room.room import ReadingRoom

COLUMNS = ("Case", "State", "Interval", "Seq.")
#: The columns of long text ("C-7F3A91 (baseline alone)", "incomplete (one study)").
WRAPPED = ("Case", "State")
GREY = QColor(128, 128, 128)


class WorklistWidget(QWidget):
    """A filterable table of the reading room's cases; a click or Enter opens one.

    Signals
    -------
    activated(int)
        The index (in ``room.cases``) of the case the reader asked to open.
    """

    activated = Signal(int)

    def __init__(self, room: ReadingRoom, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.room = room
        self.header = QLabel("", self)
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-weight: bold; padding: 2px 0;")
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter cases (label or state)…")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # As wide as the dock, never wider: label and state share what the short columns leave
        # and wrap onto more lines rather than be cut (see fit_text).
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(True)
        vertical, header = self.table.verticalHeader(), self.table.horizontalHeader()
        assert vertical is not None and header is not None
        vertical.setVisible(False)
        stretch, fit = QHeaderView.ResizeMode.Stretch, QHeaderView.ResizeMode.ResizeToContents
        for col, name in enumerate(COLUMNS):
            header.setSectionResizeMode(col, stretch if name in WRAPPED else fit)
        self._fit_rows = QTimer(self)
        self._fit_rows.setSingleShot(True)
        self._fit_rows.timeout.connect(self.table.resizeRowsToContents)
        header.sectionResized.connect(lambda *_: self._fit_rows.start())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)

        self.filter.textChanged.connect(self.apply_filter)
        self.filter.returnPressed.connect(self._open_first_visible)
        self.table.cellClicked.connect(lambda row, _col: self._activate_row(row))
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            shortcut = QShortcut(QKeySequence(key), self.table)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(lambda: self._activate_row(self.table.currentRow()))
        room.events.cases.connect(self.refresh)
        room.events.states.connect(self.refresh_states)
        room.events.case.connect(self._on_case)

    # -- contents -------------------------------------------------------------------------------
    def _grading(self) -> GradingController | None:
        """The grading in the room's viewer, if a grading panel works there."""
        gate = grading_gate_for(self.room.viewer)
        return gate if isinstance(gate, GradingController) else None

    def awaiting_reader(self) -> bool:
        """True while a grading panel waits for the reader's name: nothing is listed yet."""
        grading = self._grading()
        return (
            grading is not None
            and grading.asks_reader
            and grading.reader is None
            and self.room.state_provider is None
        )

    def refresh_header(self) -> None:
        """Show the reader's progress (or that the reader has to say who they are)."""
        grading = self._grading()
        self.header.setText("" if grading is None else grading.progress_text())
        self.header.setVisible(grading is not None)

    def refresh(self, event: object = None) -> None:
        """Rebuild the rows from ``room.cases`` (none while the reader is not known)."""
        room = self.room
        self.refresh_header()
        if self.awaiting_reader():
            self.table.setRowCount(0)
            return
        self.table.setRowCount(len(room.cases))
        for row, case in enumerate(room.cases):
            interval = case.interval_days
            alone = room.hidden_side is not None and room.hidden_side(case) is not None
            values = (
                room.label(row),
                room.state(row),
                "" if interval is None or room.hide_dates or alone else f"{interval} d",
                str(len(case.pairs)) if case.pairs else "",
            )
            openable = room.is_openable(row)
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row)
                if not openable:
                    item.setForeground(QBrush(GREY))
                    item.setToolTip("Cannot be read side by side: " + room.state(row))
                self.table.setItem(row, col, item)
        self.apply_filter()
        self.fit_text()
        if room.case_index is not None:
            self._on_case()

    def refresh_states(self, event: object = None) -> None:
        """Re-read the state column and the progress (after grading)."""
        self.refresh_header()
        changed = []
        for row in range(min(self.table.rowCount(), len(self.room.cases))):
            item = self.table.item(row, 1)
            state = self.room.state(row)
            if item is not None and item.text() != state:
                item.setText(state)
                changed.append(row)
        self.apply_filter()
        if changed:  # after most answers none: no row to measure again
            self.fit_text(changed)

    def fit_text(self, rows: Sequence[int] | None = None) -> None:
        """Keep every cell's text whole: the table no narrower than its short columns and, for
        each wrapped column (they share the rest equally), the longest word of any, beside the
        vertical scroll bar; ``rows`` (default: all) as tall as their wrapped text.

        Rows are fitted here, when the text changes, and once after the columns change: Qt's
        per-row ResizeToContents would measure every row at each cell's change (seconds for a
        thousand cases).
        """
        table = self.table
        header, style, bar = table.horizontalHeader(), table.style(), table.verticalScrollBar()
        assert header is not None and style is not None and bar is not None
        metrics = table.fontMetrics()
        margin = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
        width = 2 * table.frameWidth() + bar.sizeHint().width()
        word = 0
        for col, name in enumerate(COLUMNS):
            if name in WRAPPED:
                items = (table.item(r, col) for r in range(table.rowCount()))
                texts = [item.text() for item in items if item is not None]
                lengths = [metrics.horizontalAdvance(w) + margin for t in texts for w in t.split()]
                word = max([word, header.sectionSizeHint(col), *lengths])
            else:
                width += max(header.sectionSizeHint(col), table.sizeHintForColumn(col))
        table.setMinimumWidth(width + word * len(WRAPPED))
        if rows is None:
            table.resizeRowsToContents()
        for row in rows or ():
            table.resizeRowToContents(row)

    def apply_filter(self, text: str | None = None) -> None:
        """Hide rows matching neither label nor state, and the cases the reader does not read;
        next/previous case follow the rows shown."""
        needle = (self.filter.text() if text is None else text).strip().lower()
        visible = []
        for row in range(self.table.rowCount()):
            cells = [self.table.item(row, c) for c in range(2)]
            state = cells[1].text() if cells[1] is not None else ""
            hay = " ".join(c.text().lower() for c in cells if c is not None)
            hidden = state in UNLISTED_STATES or (bool(needle) and needle not in hay)
            self.table.setRowHidden(row, hidden)
            if not hidden:
                visible.append(row)
        self.room.navigation = visible if len(visible) < self.table.rowCount() else None

    def visible_rows(self) -> list[int]:
        """Rows the filter shows (case indices)."""
        return [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]

    # -- activation -----------------------------------------------------------------------------
    def _activate_row(self, row: int) -> None:
        if 0 <= row < self.table.rowCount():
            self.activated.emit(row)

    def _open_first_visible(self) -> None:
        rows = [r for r in self.visible_rows() if self.room.is_openable(r)]
        if rows:
            self.activated.emit(rows[0])

    def _on_case(self, event: object = None) -> None:
        # After the canvas: the images of the new case are drawn first, then the list follows.
        QTimer.singleShot(0, self._select_current)

    def _select_current(self) -> None:
        index = self.room.case_index
        if index is None or index >= self.table.rowCount():
            return
        self.table.blockSignals(True)
        self.table.selectRow(index)
        self.table.blockSignals(False)
        item = self.table.item(index, 0)
        if item is not None:
            self.table.scrollToItem(item)
