"""The reader's input keeps background work still: keys, wheel and mouse hold the quiet period.

Registrations and loads ahead of need (:mod:`spondy_napari.display.quiet`) share the GIL and the
cores with the GUI. While the reader types answers, pages slices or drags a line, they wait; a
moment after the last input they go on.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QApplication

from spondy_napari.display.quiet import QuietPeriod

#: Seconds of quiet after each input event.
INPUT_QUIET_S = 0.4
#: Input that holds the quiet (a mouse move only with a button down: a drag, not a hover).
INPUT_EVENTS = frozenset({QEvent.Type.KeyPress, QEvent.Type.Wheel, QEvent.Type.MouseButtonPress})


class InputQuiet(QObject):
    """Holds ``quiet`` on every key, wheel or mouse event of the application (while it lives)."""

    def __init__(self, quiet: QuietPeriod, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.quiet = quiet
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if event is None:
            return False
        kind = event.type()
        dragging = kind == QEvent.Type.MouseMove and event.buttons() != Qt.MouseButton.NoButton  # type: ignore[attr-defined]
        if kind in INPUT_EVENTS or dragging:
            self.quiet.hold(INPUT_QUIET_S)
        return False
