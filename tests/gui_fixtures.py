"""Fixtures of the napari front-end tests (imported by the test modules; no conftest needed).

Exports come from :func:`spondy_annotate.synthetic.export.generate_export` at a small size (64x64, 7
slices) so that the GUI tests stay quick; single series with exactly known geometry come from
``dicom_factory.write_series``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Small exports: enough pixels to see anatomy, few enough for quick tests.
SMALL = {"rows": 64, "columns": 64, "slices": 7}


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three patients with a baseline and a follow-up study (sagittal T1, T2, STIR; junk files)."""
    from spondy_annotate.synthetic.export import generate_export

    folder = tmp_path_factory.mktemp("gui") / "export"
    generate_export(folder, patients=3, seed=3, **SMALL)
    return folder


@pytest.fixture(scope="session")
def mixed_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two readable patients and one with a single study (incomplete)."""
    from spondy_annotate.synthetic.export import generate_export

    folder = tmp_path_factory.mktemp("gui") / "mixed"
    generate_export(folder, patients=2, single_study_patients=1, seed=5, junk=False, **SMALL)
    return folder


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
