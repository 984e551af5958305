"""The key help overlay (F1): a translucent table drawn over napari's canvas.

napari's canvas text overlays cannot show a readable table in grid mode (no alignment, and the
background box is misplaced outside a grid cell), so the help is a mouse-transparent Qt label laid
over the viewer's central widget; it is part of ``viewer.screenshot(canvas_only=False)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QLabel, QMainWindow, QWidget

from spondy_napari.reading_room.keys import ACTIONS, NAPARI_KEYS

STYLE = (
    "QLabel { background-color: rgba(20, 20, 20, 225); color: #f0f0f0; padding: 12px;"
    " border: 1px solid #707070; border-radius: 6px; font-size: 13px; }"
)
MARGIN = 16


def help_html(sections: Mapping[str, Sequence[tuple[str, str]]]) -> str:
    """The help as HTML tables: the reading room's keys, napari's, then ``sections``.

    ``sections`` are more tables, ``{title: [(keys, what they do), ...]}`` (the grading panel's
    keys: the room's ``help_sections``).
    """

    def rows(pairs: Sequence[tuple[str, str]]) -> str:
        return "".join(
            f"<tr><td style='padding-right:14px'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
            for k, v in pairs
        )

    html = (
        "<b>Reading room keys</b> <span style='color:#a0a0a0'>(F1 or H closes)</span>"
        f"<table>{rows([(a.label, a.help) for a in ACTIONS])}</table>"
        "<br><b>Mouse and napari</b>"
        f"<table>{rows(list(NAPARI_KEYS))}</table>"
    )
    return html + "".join(
        f"<br><b>{escape(title)}</b><table>{rows(pairs)}</table>"
        for title, pairs in sections.items()
    )


class HelpOverlay(QLabel):
    """The help table over the top-left of the viewer's central widget (hidden until shown).

    ``sections`` is read each time the help is shown (the grading panel may add to it).
    """

    def __init__(self, parent: QWidget, sections: Mapping[str, Sequence[tuple[str, str]]]) -> None:
        super().__init__(parent)
        self.sections = sections
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(help_html(sections))
        self.setStyleSheet(STYLE)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()
        parent.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if event is not None and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.adjustSize()
        self.move(MARGIN, MARGIN)

    def set_shown(self, shown: bool) -> None:
        """Show (on top) or hide."""
        if shown:
            self.setText(help_html(self.sections))  # sections may have been added since
            self._place()
            self.raise_()
            self.show()
        else:
            self.hide()


def overlay_parent(widget: QWidget) -> QWidget | None:
    """The central widget of the main window ``widget`` is docked in (None before docking)."""
    window = widget.window()
    if isinstance(window, QMainWindow) and window.centralWidget() is not None:
        return window.centralWidget()
    return None
