"""Grading in the viewer into a shared PostgreSQL database, chosen in the *Open* dialog.

A real napari viewer under Xvfb and a real PostgreSQL server of this module's own (it is stopped
and started again while the reader grades): the answers go to the server, the header cache stays
in the file beside the export, and an answer given while the server is down is kept locally, said
so in the panel, and reaches the server once it is back.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pg_fixtures
import pytest
from pg_server import PostgresServer, running_postgres
from qtpy.QtCore import Qt

from spondy_annotate.grading.store import Store
from spondy_annotate.projectdb.location import default_db_path

TIMEOUT_MS = 60_000


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresServer]:
    """A server of this test's own; the reader's journal goes to tmp_path."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with running_postgres(pg_fixtures.pg_bin(), fsync=False) as running:
        yield running


@pytest.mark.slow
def test_the_open_dialog_sends_the_gradings_to_postgresql_and_survives_a_restart(
    make_napari_viewer, qtbot, tmp_path: Path, small_export: Path, server: PostgresServer
) -> None:
    from spondy_napari import GradingPanel, ReadingRoomWidget

    export = Path(shutil.copytree(small_export, tmp_path / "export"))
    url = server.create_database("shared")
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reading room")
    panel = GradingPanel(viewer, room=widget.room, reader="AB")
    viewer.window.add_dock_widget(panel, name="Grading", area="left")
    qtbot.keyClicks(widget.grading_db, url)
    widget.open_folder(str(export))
    controller = panel.controller
    qtbot.waitUntil(lambda: controller.grading is not None, timeout=TIMEOUT_MS)
    case_id = controller.grading.case_id
    canvas = viewer.window._qt_viewer.canvas.native

    assert controller.grading.current == "level"
    qtbot.keyClick(canvas, Qt.Key.Key_2)  # the second level
    with Store(url) as store:
        (first,) = store.history(case_id=case_id)
    assert first.reader == "AB" and first.key == "level"
    with Store(default_db_path(export)) as local:  # the header cache's file holds no answer
        assert local.history() == []

    server.stop()
    qtbot.keyClick(canvas, Qt.Key.Key_1)  # marrow edema at baseline, while the server is down
    assert "saved locally, not yet on the server (1 answer)" in panel.progress.text()
    server.start()
    qtbot.keyClick(canvas, Qt.Key.Key_2)  # at follow-up: the journal goes first
    assert "saved locally" not in panel.progress.text()
    with Store(url) as store:
        history = store.history(case_id=case_id)
    assert [(a.key, a.value) for a in history] == [
        ("level", first.value),
        ("marrow_edema.baseline", 1),
        ("marrow_edema.followup", 2),
    ]
