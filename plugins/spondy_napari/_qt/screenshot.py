"""Saving the viewer's window as a PNG (the README's screenshots, ``open --screenshot``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtWidgets import QApplication

from spondy_annotate.errors import SpondyError

if TYPE_CHECKING:
    import napari


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Let Qt run until ``condition()`` holds or ``timeout_s`` passes; True if it held."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    return True


def save_screenshot(viewer: napari.Viewer, path: str | os.PathLike[str]) -> Path:
    """Let the window lay out and draw, then save it (the whole window, docks included)."""
    from napari.utils.io import imsave

    for _ in range(5):
        QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    image = viewer.screenshot(canvas_only=False, flash=False)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        imsave(str(out), image)
    except OSError as exc:
        raise SpondyError(f"{out}: cannot save the screenshot ({exc.strerror or exc})") from None
    return out
