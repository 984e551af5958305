"""Fixtures shared by the whole suite; each synthetic input is generated once per run.

The test tree mirrors the packages (``tests/dicom/`` for ``spondy_annotate/dicom/``, ...,
``tests/napari/_qt/`` for ``spondy_napari/_qt/``). This folder is on ``sys.path`` (pytest puts a
root ``conftest.py``'s folder there), so test modules import the helpers beside this file:
``dicom_factory`` (single series with exactly known geometry) and ``guards`` (a deadline).

Marks: ``gui`` needs a napari viewer (pytest-xvfb provides the display); ``slow`` takes more than
about five seconds — ``pytest -m "not slow"`` is the quick loop while editing, CI runs everything.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

#: Small exports: enough pixels to see anatomy, few enough for quick tests.
SMALL = {"rows": 64, "columns": 64, "slices": 7}
#: The user's settings that would send a test's gradings elsewhere (``SPONDY_DB``: a real
#: server) or skip a question the test answers (``SPONDY_READER``).
USER_SETTINGS = ("SPONDY_DB", "SPONDY_READER")


@pytest.fixture(autouse=True)
def _process_settings_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without the user's settings and leaves none of its process-wide ones
    behind: ``open --db`` and the *Open* dialog set ``SPONDY_DB`` for the process, and the
    command line, run in-process by tests, filters the ``pydicom`` logger of its process."""
    for name in USER_SETTINGS:
        monkeypatch.setenv(name, "")
    monkeypatch.setattr(logging.getLogger("pydicom"), "filters", [])


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three patients with a baseline and a follow-up study (sagittal T1, T2, STIR; junk files)."""
    from spondy_annotate.synthetic.export import generate_export

    folder = tmp_path_factory.mktemp("small") / "export"
    generate_export(folder, patients=3, seed=3, **SMALL)
    return folder


@pytest.fixture(scope="session")
def mixed_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two readable patients and one with a single study (incomplete); no junk files."""
    from spondy_annotate.synthetic.export import generate_export

    folder = tmp_path_factory.mktemp("mixed") / "mixed"
    generate_export(folder, patients=2, single_study_patients=1, seed=5, junk=False, **SMALL)
    return folder


@pytest.fixture(scope="session")
def cohort_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The paper-shaped 48-patient cohort: its lab file and its gradings file."""
    from spondy_annotate.synthetic.cohort import write_synthetic_cohort

    return write_synthetic_cohort(tmp_path_factory.mktemp("cohort"), seed=0)


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
