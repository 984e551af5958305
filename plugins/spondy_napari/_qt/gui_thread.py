"""Running a callback on the GUI thread from a worker thread (Qt's queued call, via superqt)."""

from __future__ import annotations

from collections.abc import Callable

from superqt.utils import ensure_main_thread


@ensure_main_thread
def call_in_gui_thread(callback: Callable[[], None]) -> None:
    """Run ``callback`` on the GUI thread soon (returns at once, from any thread)."""
    callback()
