"""Answering the reader picker from a test: it is modal, so the answer is typed from a timer.

``answer_picker(qtbot, "AB", Qt.Key.Key_Return)`` before opening an export: once the picker is
up, the text and keys go to its focused widget as real key presses (a callable in the list is
called with the picker instead, and its result recorded). The returned list ends with
``"answered"`` once done.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication
from spondy_napari._qt.reader_picker import ReaderPicker


def answer_picker(qtbot: Any, *typed: Any) -> list[Any]:
    """Type ``typed`` (text, Qt keys or ``check(picker)``) into the picker once it is up."""
    done: list[Any] = []

    def poll() -> None:
        picker = QApplication.activeModalWidget()
        if not isinstance(picker, ReaderPicker):
            QTimer.singleShot(20, poll)
            return
        for what in typed:
            target = picker.focusWidget() or picker
            if callable(what):
                done.append(what(picker))
            elif isinstance(what, str):
                qtbot.keyClicks(target, what)
            else:
                qtbot.keyClick(target, what)
        done.append("answered")

    QTimer.singleShot(0, poll)
    return done
