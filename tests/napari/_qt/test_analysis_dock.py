"""The analysis dock: labs versus MRI change in the viewer, only after grading has ended."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from spondy_napari._qt.analysis_dock import AnalysisWidget

pytestmark = pytest.mark.gui
TIMEOUT_MS = 60_000


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    import spondy_napari._qt.analysis_dock as analysis

    shown: list[tuple[str, str]] = []
    for level in ("show_error", "show_warning", "show_info"):
        monkeypatch.setattr(analysis, level, lambda text, level=level: shown.append((level, text)))
    return shown


def test_options_form_gives_the_analysis_settings(make_napari_viewer, cohort_files):
    from spondy_annotate.analysis.results import AnalysisSettings
    from spondy_annotate.labs.classify import LabClass

    widget = AnalysisWidget(make_napari_viewer(), db=cohort_files[1])
    assert widget.options() == AnalysisSettings()  # the paper's defaults
    widget.options.tests.value = ["CRP"]
    widget.options.unchanged_as.value = "resolving"
    widget.options.primary_reader.value = " reader1 "
    settings = widget.options()
    assert settings.tests == ("CRP",) and settings.primary_reader == "reader1"
    assert settings.classification.unchanged_as is LabClass.RESOLVING


def test_bad_option_is_a_notification(make_napari_viewer, cohort_files, notices):
    widget = AnalysisWidget(make_napari_viewer(), db=cohort_files[1])
    widget.options.tests.value = []
    assert widget.run(labs=[cohort_files[0]]) is None
    assert notices == [("show_error", "Analysis: choose at least one lab test")]


@pytest.mark.slow
def test_analysis_shows_table_and_figures(
    make_napari_viewer, qtbot, cohort_files, tmp_path, notices
):
    labs, gradings = cohort_files
    viewer = make_napari_viewer()
    widget = AnalysisWidget(viewer, db=gradings)
    viewer.window.add_dock_widget(widget, name="Analysis")
    widget.options.bootstrap.value = 50
    worker = widget.run(labs=[labs], out=tmp_path / "report")
    assert worker is not None
    qtbot.waitUntil(lambda: widget.output is not None, timeout=TIMEOUT_MS)
    assert widget.table.rowCount() == len(widget.output.result.correlations) > 0
    assert {widget.table.item(r, 1).text() for r in range(widget.table.rowCount())} == {
        "CRP",
        "ESR",
    }
    assert len(widget.figure_labels) >= 1
    assert "Spearman" in widget.summary.toPlainText()
    assert (tmp_path / "report" / "report.html").is_file()
    assert widget.output.result.settings.bootstrap == 50  # the form's value reached the analysis
    assert not [n for n in notices if n[0] == "show_error"]


def test_bad_lab_file_is_a_notification(make_napari_viewer, qtbot, cohort_files, tmp_path, notices):
    _, gradings = cohort_files
    bad = tmp_path / "labs.csv"
    bad.write_text("this is not,a lab table\n1,2\n")
    widget = AnalysisWidget(make_napari_viewer(), db=gradings)
    widget.run(labs=[bad])
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    errors = [text for level, text in notices if level == "show_error"]
    assert len(errors) == 1 and "labs.csv" in errors[0] and "\n" not in errors[0]
    assert widget.output is None and widget.run_button.isEnabled()


def test_analysis_ends_grading_first(
    make_napari_viewer, qtbot, small_export, tmp_path, cohort_files
):
    from spondy_napari import GradingPanel, ReadingRoomWidget

    export = Path(shutil.copytree(small_export, tmp_path / "export"))
    viewer = make_napari_viewer()
    room_widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(room_widget, name="Reading room")
    panel = GradingPanel(viewer, room=room_widget.room, reader="r1")
    viewer.window.add_dock_widget(panel, name="Grading", area="left")
    room_widget.open_folder(str(export))
    grading = panel.controller
    qtbot.waitUntil(lambda: grading.grading is not None, timeout=TIMEOUT_MS)
    assert grading.handle_key("4")

    assert panel.open_analysis(confirm=False) is None  # not confirmed: still grading
    assert grading.is_grading
    widget = AnalysisWidget(viewer)
    assert widget.gradings == grading.session.path  # the project database by default
    assert widget.run(labs=[cohort_files[0]], confirm=False) is None and grading.is_grading

    analysis = panel.open_analysis(confirm=True)
    assert isinstance(analysis, AnalysisWidget) and not grading.is_grading
    assert not grading.handle_key("2")  # no more answers in this window
    assert not panel.isVisible()
    assert grading.grading.values == {"level": "L4-L5"}  # saved before; nothing after
