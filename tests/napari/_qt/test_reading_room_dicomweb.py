"""The reading room on a DICOMweb service: a real napari viewer (Xvfb) and a real Orthanc holding
the small synthetic export. Volumes are retrieved (WADO-RS) in the volume cache's loader threads,
never on the GUI thread, and show the same voxels as the folder's."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from pacs_fixtures import orthanc_small, user_dirs  # noqa: F401 - fixtures
from qtpy.QtCore import Qt
from spondy_napari import ReadingRoomWidget, napari_get_reader, open_reading_room
from spondy_napari.display.layer_data import prepare

from spondy_annotate.cases.alignment_store import load_alignments
from spondy_annotate.cases.open import open_export, service_db_path
from spondy_annotate.dicom.volume import load_series

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.usefixtures("user_dirs")]
TIMEOUT_MS = 60_000


@pytest.fixture
def pacs(make_napari_viewer, orthanc_small, small_export, caplog):  # noqa: F811
    """A viewer, the PACS's URL, the folder's cases (the truth) and ``threads()``: the threads
    that have retrieved series (WADO-RS) so far, as logged."""
    caplog.set_level(logging.INFO, logger="spondy_annotate.dicomweb.service")

    def threads() -> list[str]:
        return [r.threadName for r in caplog.records if r.getMessage().startswith("retrieving")]

    return SimpleNamespace(
        viewer=make_napari_viewer(),
        url=orthanc_small,
        folder_cases=open_export(small_export, cache=False).cases,
        threads=threads,
    )


def assert_shows_the_folders_voxels(room, folder_cases) -> None:
    """The case on screen shows, on each side, the folder's volume of its series."""
    case = room.current_case
    folder_case = next(c for c in folder_cases if c.patient_id == case.patient_id)
    pair = folder_case.pairs[room.pair_index]
    assert pair.label == room.current_pair.label
    for side, series in (("baseline", pair.baseline), ("followup", pair.followup)):
        expected = prepare(load_series(series.files))
        layer = room.layers[side]
        np.testing.assert_array_equal(layer.data, expected.data)
        assert tuple(layer.scale) == pytest.approx(expected.geometry.scale)


def test_the_dock_opens_a_typed_url_and_reads_cases_from_the_pacs(pacs, qtbot) -> None:
    viewer, url = pacs.viewer, pacs.url
    widget = ReadingRoomWidget(viewer, align=False)
    viewer.window.add_dock_widget(widget, name="Reading room")
    qtbot.keyClicks(widget.source, url)
    qtbot.keyClick(widget.source, Qt.Key.Key_Return)
    room = widget.room
    qtbot.waitUntil(lambda: room.current_case is not None, timeout=TIMEOUT_MS)

    assert room.folder == url
    assert room.db_path == service_db_path(url)
    assert widget.folder_label.text().startswith(f"{url}: 3 patients, 3 readable")
    assert_shows_the_folders_voxels(room, pacs.folder_cases)

    # the next case is retrieved in the background while this one is read
    following = room.cases[room.case_index + 1]
    files = [f for p in following.pairs for s in (p.baseline, p.followup) if s for f in s.files]
    qtbot.waitUntil(lambda: all(os.path.isfile(f) for f in files), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not room.cache.busy(), timeout=TIMEOUT_MS)
    handler = viewer.window._qt_viewer._key_map_handler
    handler.press_key("N")
    handler.release_key("N")
    assert room.case_index == 1  # at once: it was prefetched
    assert_shows_the_folders_voxels(room, pacs.folder_cases)

    threads = pacs.threads()
    assert threads and "MainThread" not in threads  # never retrieved on the GUI thread


def test_open_reading_room_on_a_url_aligns_fetched_volumes(pacs, qtbot) -> None:
    room = open_reading_room(pacs.url, viewer=pacs.viewer, reader="AB")
    assert room.current_case is not None  # shown on return
    assert_shows_the_folders_voxels(room, pacs.folder_cases)
    # the automatic alignment registers the retrieved volumes and stores it with the service
    qtbot.waitUntil(lambda: room.alignment.source == "automatic", timeout=TIMEOUT_MS)
    case = room.current_case
    stored = load_alignments(service_db_path(pacs.url))
    key = (case.patient_id, case.baseline.study_instance_uid, case.followup.study_instance_uid)
    assert stored[key].status.value == "automatic"
    assert "MainThread" not in pacs.threads()


def test_an_unreachable_url_is_a_notification(make_napari_viewer, qtbot, notifications) -> None:
    widget = ReadingRoomWidget(make_napari_viewer(), align=False)
    widget.source.setText("http://127.0.0.1:9/dicom-web")
    qtbot.mouseClick(widget.source_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(notifications), timeout=TIMEOUT_MS)
    level, text = notifications[0]
    assert level == "error" and text.startswith("http://127.0.0.1:9/dicom-web: QIDO-RS")
    assert widget.room.current_case is None
    assert widget.folder_label.text() == "No folder open"


def test_napari_opens_a_url_with_the_plugins_reader(pacs, small_export) -> None:
    layers = pacs.viewer.open(pacs.url, plugin="spondy-annotate")
    folder = napari_get_reader(str(small_export))(str(small_export))
    assert [layer.name for layer in layers] == [kwargs["name"] for _, kwargs, _ in folder]
    for layer, (data, _, _) in zip(layers, folder, strict=True):
        np.testing.assert_array_equal(layer.data, data)


def test_the_open_command_takes_a_url(pacs, tmp_path) -> None:
    out = tmp_path / "shot.png"
    # through the core's command line, in a process of its own (it opens its own viewer)
    code = "import sys; from spondy_annotate.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["open", pacs.url, "--screenshot", str(out), "--size", "1200x700"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Case 1" in done.stdout and out.stat().st_size > 0
