"""The analysis in the viewer, after grading: labs versus MRI change, table, figures, report.

A thin front end over the core: :func:`run_analysis` (no Qt; run in a napari thread worker)
reads the gradings (the project database, or a gradings table), reads the lab files, runs
:func:`~spondy_annotate.analysis.analyze`, renders the figures and writes the HTML report with
:func:`~spondy_annotate.report.write_report`. The widget shows the correlations in a table, the
text summary and the figures.

Lab values must not reach a reader who is still grading: when the grading panel is active in this
window the widget asks for confirmation and ends grading (:meth:`GradingPanel.end_grading`)
before it reads any lab file. Errors are one-line notifications; nothing in the database changes.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt
from qtpy.QtGui import QFont, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.errors import SpondyError

if TYPE_CHECKING:
    import napari

    from spondy_annotate.analysis.stats import AnalysisResult
    from spondy_annotate.labs.read import LabProblem

logger = logging.getLogger(__name__)

#: Suffixes read as a grading database (others as a gradings table).
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
#: Columns of the correlation table.
TABLE_COLUMNS = ("reader", "test", "item", "n", "rho", "95% CI", "p")
#: Width of the figures in the dock (pixels).
FIGURE_WIDTH = 440


@dataclass(frozen=True)
class AnalysisOutput:
    """What :func:`run_analysis` hands to the widget."""

    result: AnalysisResult
    summary: str
    figures: dict[str, bytes]
    report: Path | None
    problems: tuple[LabProblem, ...]


def read_gradings_source(path: str | os.PathLike[str]) -> Any:
    """Gradings with identifiers from a grading database or a gradings table (CSV, xlsx)."""
    p = Path(path)
    if p.suffix.lower() in DB_SUFFIXES:
        from spondy_annotate.grading.export import gradings_table

        return gradings_table(p, include_identifiers=True)
    from spondy_annotate.analysis.stats import read_gradings

    return read_gradings(p)


def run_analysis(
    gradings: str | os.PathLike[str],
    labs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    *,
    bootstrap: int = 2000,
    seed: int = 0,
) -> AnalysisOutput:
    """Read, analyse, draw and (with ``out``) write the report; no Qt (runs in a worker).

    Raises
    ------
    SpondyError
        Unreadable gradings or lab files, nothing to analyse, or the report not writable.
    """
    from spondy_annotate.analysis.stats import AnalysisSettings, analyze
    from spondy_annotate.labs.read import read_labs
    from spondy_annotate.analysis.report import format_summary, make_figures, write_report

    if not labs:
        raise SpondyError("no lab file chosen")
    table = read_gradings_source(gradings)
    lab_import = read_labs(list(labs))
    result = analyze(table, lab_import.values, AnalysisSettings(bootstrap=bootstrap, seed=seed))
    summary = format_summary(result, lab_problems=lab_import.problems)
    report = None
    if out is not None:
        try:
            report = write_report(result, out, lab_problems=lab_import.problems).html
        except OSError as exc:
            raise SpondyError(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    return AnalysisOutput(result, summary, make_figures(result), report, tuple(lab_import.problems))


class AnalysisWidget(QWidget):
    """Dock widget: choose gradings, lab files and a report folder; run; see the results.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (its grading panel, if any, is ended before labs are read).
    db : path, optional
        The grading database or gradings table (default: the reading room's project database).
    """

    def __init__(self, napari_viewer: napari.Viewer, *, db: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.gradings: Path | None = Path(db) if db is not None else self._default_db()
        self.labs: list[Path] = []
        self.out: Path | None = None
        self.output: AnalysisOutput | None = None
        self.worker: Any = None

        self.gradings_label = QLabel()
        self.labs_label = QLabel("none")
        self.out_label = QLabel("none (no report written)")
        for label in (self.gradings_label, self.labs_label, self.out_label):
            label.setWordWrap(True)
        choose_db = QPushButton("…")
        choose_db.setToolTip("A grading database (.sqlite) or a gradings table (CSV, .xlsx)")
        choose_labs = QPushButton("…")
        choose_labs.setToolTip("CSV or Excel lab files: patient_id, date, test, value, unit")
        choose_out = QPushButton("…")
        self.bootstrap = QSpinBox()
        self.bootstrap.setRange(0, 100_000)
        self.bootstrap.setValue(2000)
        self.bootstrap.setToolTip("Bootstrap resamples for the 95 % CI of rho (0: none)")
        self.run_button = QPushButton("Run analysis")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.verticalHeader()
        if header is not None:
            header.setVisible(False)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setFont(QFont("monospace", 9))
        self.summary.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.figures = QWidget()
        self.figures_layout = QVBoxLayout(self.figures)
        figure_scroll = QScrollArea()
        figure_scroll.setWidgetResizable(True)
        figure_scroll.setWidget(self.figures)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Correlations")
        self.tabs.addTab(figure_scroll, "Figures")
        self.tabs.addTab(self.summary, "Summary")

        form = QFormLayout()
        for text, label, button in (
            ("Gradings", self.gradings_label, choose_db),
            ("Lab files", self.labs_label, choose_labs),
            ("Report folder", self.out_label, choose_out),
        ):
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(button)
            form.addRow(text, row)
        form.addRow("Bootstrap", self.bootstrap)
        self.setMinimumWidth(FIGURE_WIDTH + 50)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

        choose_db.clicked.connect(self._choose_gradings)
        choose_labs.clicked.connect(self._choose_labs)
        choose_out.clicked.connect(self._choose_out)
        self.run_button.clicked.connect(lambda: self.run(interactive=True))
        self._show_paths()

    # -- choices --------------------------------------------------------------------------------
    def _default_db(self) -> Path | None:
        from spondy_napari._reading_room import reading_room_for

        room = reading_room_for(self.viewer)
        if room is None or room.folder is None:
            return None
        from spondy_annotate.projectdb.location import default_db_path

        path = default_db_path(room.folder)
        return path if path.exists() else None

    def _show_paths(self) -> None:
        def short(p: Path) -> str:
            return f"{p.parent.name}/{p.name}" if p.parent.name else p.name

        for label, text, tip in (
            (self.gradings_label, short(self.gradings) if self.gradings else "none", self.gradings),
            (self.labs_label, ", ".join(p.name for p in self.labs) or "none",
             "\n".join(map(str, self.labs))),
            (self.out_label, short(self.out) if self.out else "none (no report written)", self.out),
        ):
            label.setText(text)
            label.setToolTip(str(tip or ""))

    def _choose_gradings(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Gradings", "", "Grading database or table (*.sqlite *.db *.csv *.xlsx *.parquet)"
        )
        if path:
            self.gradings = Path(path)
            self._show_paths()

    def _choose_labs(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Lab files", "", "Lab tables (*.csv *.tsv *.txt *.xlsx)"
        )
        if paths:
            self.labs = [Path(p) for p in paths]
            self._show_paths()

    def _choose_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for report.html, tables, figures")
        if folder:
            self.out = Path(folder)
            self._show_paths()

    # -- running --------------------------------------------------------------------------------
    def grading_finished(self, confirm: bool | None = None) -> bool:
        """True once no grading is active in this window (ends it, asking unless ``confirm``)."""
        from spondy_napari._grading import grading_panel_for

        panel = grading_panel_for(self.viewer)
        if panel is None or not panel.is_grading:
            return True
        if confirm is None:
            answer = QMessageBox.question(
                self,
                "Grading finished?",
                "The analysis shows lab values. Grading ends in this window first (every answer "
                "is saved). Continue?",
            )
            confirm = answer == QMessageBox.StandardButton.Yes
        if confirm:
            panel.end_grading()
        return bool(confirm)

    def run(
        self,
        *,
        gradings: str | os.PathLike[str] | None = None,
        labs: Sequence[str | os.PathLike[str]] | None = None,
        out: str | os.PathLike[str] | None = None,
        confirm: bool | None = None,
        interactive: bool = False,
    ) -> Any:
        """Run the analysis in a worker; returns the worker, or None when it did not start.

        With ``interactive`` (the Run button) file dialogs ask for what is missing, the report
        folder included (cancel it: no report written); otherwise nothing is asked.
        """
        if self.worker is not None:
            show_info("The analysis is running")
            return None
        if not self.grading_finished(confirm):
            return None
        if gradings is not None:
            self.gradings = Path(gradings)
        if labs is not None:
            self.labs = [Path(p) for p in labs]
        if out is not None:
            self.out = Path(out)
        if interactive:
            if self.gradings is None:
                self._choose_gradings()
            if not self.labs:
                self._choose_labs()
            if self.out is None and self.gradings is not None and self.labs:
                self._choose_out()
        self._show_paths()
        if self.gradings is None or not self.labs:
            show_error("Analysis: choose the gradings and at least one lab file")
            return None
        from napari.qt.threading import create_worker

        self.status.setText("Running…")
        self.run_button.setEnabled(False)
        self.worker = create_worker(
            run_analysis,
            self.gradings,
            list(self.labs),
            self.out,
            bootstrap=self.bootstrap.value(),
            _progress={"desc": "Analysis"},
            _connect={"returned": self._on_done, "errored": self._on_error},
        )
        return self.worker

    def _finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)

    def _on_error(self, exc: BaseException) -> None:
        self._finished()
        if isinstance(exc, SpondyError):
            message = str(exc)
        else:
            logger.debug("analysis failed", exc_info=exc)
            message = f"Analysis failed: {type(exc).__name__}: {exc}"
        self.status.setText(message)
        show_error(message)

    def _on_done(self, output: AnalysisOutput) -> None:
        self._finished()
        self.output = output
        self._fill_table(output.result)
        self.summary.setPlainText(output.summary)
        self._fill_figures(output.figures)
        cases = output.result.dataset["case_id"].nunique()
        text = f"{cases} cases, readers {', '.join(output.result.readers)}"
        if output.report is not None:
            text += f" · report written: {output.report.parent.name}/{output.report.name}"
            self.status.setToolTip(str(output.report))
        self.status.setText(text)
        if output.problems:
            show_warning(f"{len(output.problems)} lab rows rejected (listed in the summary)")

    def _fill_table(self, result: AnalysisResult) -> None:
        corr = result.correlations
        self.table.setRowCount(len(corr))
        for row, r in enumerate(corr.itertuples()):
            ci = "–" if math.isnan(r.ci_low) else f"{r.ci_low:.2f} to {r.ci_high:.2f}"
            p = "–" if math.isnan(r.p) else ("<0.001" if r.p < 0.001 else f"{r.p:.3f}")
            rho = "–" if math.isnan(r.rho) else f"{r.rho:.2f}"
            for col, text in enumerate((r.reader, r.test, r.item, str(r.n), rho, ci, p)):
                item = QTableWidgetItem(str(text))
                if col >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def _fill_figures(self, figures: dict[str, bytes]) -> None:
        while self.figures_layout.count():
            item = self.figures_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for name, png in figures.items():
            pixmap = QPixmap()
            pixmap.loadFromData(png, "PNG")
            label = QLabel()
            label.setObjectName(name)
            label.setPixmap(pixmap.scaledToWidth(FIGURE_WIDTH, Qt.TransformationMode.SmoothTransformation))
            label.setToolTip(name)
            self.figures_layout.addWidget(label)
        self.figures_layout.addStretch(1)

    @property
    def figure_labels(self) -> list[QLabel]:
        """The figures shown."""
        return [w for w in self.figures.findChildren(QLabel) if w.pixmap() is not None and not w.pixmap().isNull()]


__all__ = ["AnalysisOutput", "AnalysisWidget", "read_gradings_source", "run_analysis"]
