"""Fixtures of the napari front-end tests that the suite's ``conftest.py`` does not hold.

The synthetic exports (``small_export``, ``mixed_export``) come from ``conftest.py`` (generated
once per run); here are a folder of junk files and the plugin's notifications, captured.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def junk_folder(tmp_path: Path) -> Path:
    """Files that are not DICOM: text, an empty file, a JPEG header, a macOS .DS_Store."""
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "README.TXT").write_text("not an image\n")
    (folder / "empty").write_bytes(b"")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 200)
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    return folder


@pytest.fixture
def notifications(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Messages the plugin shows in napari's notification area, as ``(level, text)``."""
    import spondy_napari._qt.reading_room_dock as dock
    import spondy_napari._reader as reader
    import spondy_napari.reading_room.loading as loading
    import spondy_napari.reading_room.room as room

    shown: list[tuple[str, str]] = []
    for module in (reader, room, loading, dock):
        for level in ("show_error", "show_warning", "show_info"):
            if hasattr(module, level):
                monkeypatch.setattr(
                    module, level, lambda text, level=level: shown.append((level[5:], str(text)))
                )
    return shown
