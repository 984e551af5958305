"""The key help overlay (F1): a translucent table drawn over napari's canvas.

napari's canvas text overlays cannot show a readable table in grid mode (no alignment, and the
background box is misplaced outside a grid cell), so the help is a mouse-transparent Qt label laid
over the viewer's central widget; it is part of ``viewer.screenshot(canvas_only=False)``.
"""

from __future__ import annotations

from html import escape

from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtWidgets import QLabel, QMainWindow, QWidget

from spondy_napari._keys import ACTIONS, NAPARI_KEYS, KeyAction

STYLE = (
    "QLabel { background-color: rgba(20, 20, 20, 225); color: #f0f0f0; padding: 12px;"
    " border: 1px solid #707070; border-radius: 6px; font-size: 13px; }"
)
MARGIN = 16
#: More help sections, ``{title: [(keys, what they do), ...]}``, shown after napari's keys (the
#: grading panel adds its keys here).
EXTRA_SECTIONS: dict[str, list[tuple[str, str]]] = {}


def help_html(actions: tuple[KeyAction, ...] = ACTIONS) -> str:
    """The help as an HTML table: keys in bold, one action per row."""

    def rows(pairs: list[tuple[str, str]]) -> str:
        return "".join(
            f"<tr><td style='padding-right:14px'><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>"
            for k, v in pairs
        )

    html = (
        "<b>Reading room keys</b> <span style='color:#a0a0a0'>(F1 or H closes)</span>"
        f"<table>{rows([(a.label, a.help) for a in actions])}</table>"
        "<br><b>Mouse and napari</b>"
        f"<table>{rows(list(NAPARI_KEYS))}</table>"
    )
    return html + "".join(
        f"<br><b>{escape(title)}</b><table>{rows(pairs)}</table>"
        for title, pairs in EXTRA_SECTIONS.items()
    )


class HelpOverlay(QLabel):
    """The help table over the top-left of the viewer's central widget (hidden until shown)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(help_html())
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
            self.setText(help_html())  # sections may have been added since
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
