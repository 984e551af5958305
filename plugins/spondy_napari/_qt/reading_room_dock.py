"""The reading room dock: open an export, the worklist, sequence, window/level and offset controls.

The widget owns its controller (:class:`~spondy_napari.reading_room.room.ReadingRoom`), binds the
room's keys (:mod:`spondy_napari.reading_room.keys`) and adds its readout
(:mod:`spondy_napari.reading_room.readout`); otherwise it only reads its controls and calls the
room. Opening an export (a folder from the folder picker, or a folder or DICOMweb service URL
typed in the source field) is the core's :func:`~spondy_annotate.cases.open.open_export`
(through the project database's header cache), run in a napari thread worker with its progress
bar in the activity dock; problems are shown in napari's notification area. The room's volume
cache then takes each series' files from the opened export
(:meth:`~spondy_annotate.cases.open.OpenedExport.files`): from a service they are retrieved in
the cache's loader threads, never on the GUI thread.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_warning
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from spondy_annotate.cases.open import open_export
from spondy_annotate.dicomweb.auth import is_url
from spondy_annotate.errors import SpondyError
from spondy_annotate.projectdb.location import DB_ENV
from spondy_napari._qt.canvas_labels import CanvasLabels, canvas_widget
from spondy_napari._qt.gui_thread import call_in_gui_thread
from spondy_napari._qt.help_overlay import HelpOverlay, overlay_parent
from spondy_napari._qt.input_quiet import InputQuiet
from spondy_napari._qt.slice_numbers import SliceNumbers
from spondy_napari._qt.worklist import WorklistWidget
from spondy_napari.reading_room.keys import bind_keys, unbind_keys
from spondy_napari.reading_room.room import ReadingRoom
from spondy_napari.reading_room.window_level import PRESETS

if TYPE_CHECKING:
    import napari

    from spondy_annotate.cases.open import OpenedExport
    from spondy_annotate.dicom.rules import MatchingRules

logger = logging.getLogger(__name__)


class ReadingRoomWidget(QWidget):
    """Dock widget of the reading room.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer (napari passes it when the widget is opened from the Plugins menu).
    rules : MatchingRules, optional
        Matching rules for indexing (default: the built-in ones).
    align : bool
        Align each case's follow-up automatically, in the background (default True).

    Attributes
    ----------
    room : ReadingRoom
        The controller; the grading panel talks to it (or finds it with
        :func:`~spondy_napari.reading_room.room.reading_room_for`).
    canvas_labels : CanvasLabels
        The text on the images: each side's title and the readout.
    readout : Readout
        The readout's text (bottom left of the canvas).
    """

    def __init__(
        self,
        napari_viewer: napari.Viewer,
        *,
        rules: MatchingRules | None = None,
        align: bool = True,
    ) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.rules = rules
        self.room = ReadingRoom(napari_viewer, deliver=call_in_gui_thread if align else None)
        self._worker: Any = None
        self._hidden_docks: list[QDockWidget] = []
        # The two sides exist (blank) from the start: napari's one-time set-up of image layers,
        # shaders and glyphs then happens before a folder is opened, not in front of case 1.
        self.room.ensure_layers()
        self.canvas_labels = CanvasLabels(self.room, canvas_widget(napari_viewer))
        self.readout = self.canvas_labels.readout
        self.slice_numbers = SliceNumbers(self.room)
        self.input_quiet = InputQuiet(self.room.cache.quiet, self)
        keys = bind_keys(napari_viewer, self.room)

        self.open_button = QPushButton("Open export folder…")
        self.open_button.setToolTip("Index a DICOM export and list its cases")
        self.source = QLineEdit()
        self.source.setPlaceholderText("or a DICOMweb URL, e.g. http://pacs:8042/dicom-web")
        self.source.setToolTip(
            "A DICOMweb service root (credentials from ~/.netrc or $SPONDY_DICOMWEB_BASIC / "
            "$SPONDY_DICOMWEB_TOKEN, never in the URL) or a folder; Enter opens it"
        )
        self.source_button = QPushButton("Open")
        self.grading_db = QLineEdit(os.environ.get(DB_ENV, ""))
        self.grading_db.setPlaceholderText(
            "gradings: beside the export, or postgresql://user@host/db"
        )
        self.grading_db.setToolTip(
            "Where the gradings go: empty for the file beside the export, or a shared PostgreSQL "
            "database (password from ~/.pgpass or $PGPASSWORD, never typed here); used by the "
            "next Open"
        )
        self.source_button.setToolTip("Open the folder or DICOMweb URL typed on the left")
        self.folder_label = QLabel("No folder open")
        self.folder_label.setWordWrap(True)
        self.worklist = WorklistWidget(self.room, self)
        self.sequence = QComboBox()
        self.sequence.setToolTip("Sequence shown on both sides (S / Shift-S)")
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setToolTip("Window preset for both sides (keys 3-7)")
        self.link = QCheckBox("Link both sides (K)")
        self.drag = QCheckBox("Drag window/level (W)")
        self.offset_label = QLabel("—")
        self.offset_label.setWordWrap(True)
        minus, plus, reset = QPushButton("−1"), QPushButton("+1"), QPushButton("Reset")
        minus.setToolTip("Follow-up one slice back (Shift-Down)")
        plus.setToolTip("Follow-up one slice further (Shift-Up)")
        reset.setToolTip("Drop your offset: back to the automatic alignment (Shift-Home)")
        help_button = QPushButton("Keys (F1)")

        offset_row = QHBoxLayout()
        for button in (minus, plus, reset):
            offset_row.addWidget(button)
        form = QFormLayout()
        form.addRow("Sequence", self.sequence)
        form.addRow("Window", self.preset)
        form.addRow(self.link)
        form.addRow(self.drag)
        form.addRow("Follow-up offset", self.offset_label)
        form.addRow("", offset_row)
        layout = QVBoxLayout(self)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source, 1)
        source_row.addWidget(self.source_button)
        layout.addWidget(self.open_button)
        layout.addLayout(source_row)
        layout.addWidget(self.grading_db)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.worklist, 1)
        layout.addLayout(form)
        layout.addWidget(help_button)

        self.open_button.clicked.connect(self._choose_folder)
        self.source.returnPressed.connect(self._open_typed_source)
        self.source_button.clicked.connect(self._open_typed_source)
        self.worklist.activated.connect(self.room.request_case)
        self.sequence.activated.connect(self.room.show_pair)
        self.preset.activated.connect(
            lambda i: self.room.window_level.apply_preset(self.preset.itemText(i))
        )
        self.link.toggled.connect(self.room.window_level.set_linked)
        self.drag.toggled.connect(self.room.window_level.set_drag_mode)
        minus.clicked.connect(lambda: self.room.nudge(-1))
        plus.clicked.connect(lambda: self.room.nudge(+1))
        reset.clicked.connect(self.room.reset_offset)
        help_button.clicked.connect(self.room.toggle_help)
        self.room.events.case.connect(self._sync_controls)
        self.room.events.pair.connect(self._sync_controls)
        self.room.events.offset.connect(self._sync_controls)
        self.room.events.alignment.connect(self._sync_controls)
        self.room.window_level.on_change.append(self._sync_controls)
        self.room.events.help.connect(self._show_help)
        self.room.events.request.connect(self._on_request)
        self.help_overlay: HelpOverlay | None = None
        room, labels, numbers = self.room, self.canvas_labels, self.slice_numbers

        def close(*_: Any) -> None:  # holds no reference to the Qt object
            unbind_keys(napari_viewer, keys)
            numbers.close()
            labels.close()
            room.close()

        self.destroyed.connect(close)

    # -- opening --------------------------------------------------------------------------------
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a DICOM export folder")
        if folder:
            self.open_folder(folder)

    def _open_typed_source(self) -> None:
        source = self.source.text().strip()
        if source:
            self.open_folder(source)

    def open_folder(self, folder: str, *, case: int | None = None, wait: bool = False) -> None:
        """Open the export ``folder`` (or DICOMweb service URL) and show ``case`` (default: the
        first that can be read).

        With ``wait`` everything happens before returning (scripts, ``--screenshot``) and a
        :class:`~spondy_annotate.errors.SpondyError` is raised; otherwise the export is opened in
        a worker and problems are notified in the viewer.
        """
        name = folder if is_url(folder) else os.path.basename(os.path.normpath(folder))
        db = self.grading_db.text().strip()
        if db:  # read by grading_db() when the reader's session opens
            os.environ[DB_ENV] = db
        else:
            os.environ.pop(DB_ENV, None)
        self.folder_label.setText(f"Reading {name}…")
        if wait:
            self._on_opened(open_export(folder, rules=self.rules), case, wait=True)
            return
        from napari.qt.threading import create_worker

        self._worker = create_worker(
            open_export,
            folder,
            rules=self.rules,
            _progress={"desc": "Reading DICOM headers"},
            _connect={
                "returned": lambda opened: self._on_opened(opened, case),
                "errored": self._on_error,
            },
        )

    def _on_opened(self, opened: OpenedExport, case: int | None, *, wait: bool = False) -> None:
        index, cases = opened.index, opened.cases
        self._worker = None
        self.room.cache.set_files(opened.files)
        self.room.set_cases(cases, folder=opened.source, db_path=opened.db_path)
        self.source.setText(opened.source)
        readable = [i for i in range(len(cases)) if self.room.is_openable(i)]
        self.folder_label.setText(
            f"{opened.name}: {len(cases)} patients, {len(readable)} readable"
            + (f", {len(index.skipped)} files skipped" if index.skipped else "")
        )
        if not readable:
            message = f"{opened.name}: no patient has a baseline and a follow-up study to compare"
            if wait:
                raise SpondyError(message)
            show_warning(message)
            return
        target = readable[0] if case is None else case
        if wait:
            if not self.room.show_case(target):
                raise SpondyError(
                    f"case {target + 1}: {self.room.state(target) if target < len(cases) else 'no such case'}"
                )
            return
        self.room.request_case(target)

    def _on_error(self, exc: BaseException) -> None:
        self._worker = None
        self.folder_label.setText("No folder open")
        if isinstance(exc, SpondyError):
            show_error(str(exc))
        else:
            logger.error("opening the folder failed", exc_info=exc)
            show_error(f"Opening the folder failed: {type(exc).__name__}: {exc}")

    def _on_request(self, event: Any) -> None:
        if event.value == "open":
            self._choose_folder()
        elif event.value == "filter":
            self.worklist.filter.setFocus()
            self.worklist.filter.selectAll()
        elif event.value == "docks":
            self.toggle_docks()

    def toggle_docks(self) -> bool:
        """Hide every dock of the window (the images take it all), or show them again.

        Returns True when the docks are shown afterwards. The canvas keeps the keyboard focus.
        """
        window = self.window()
        if self._hidden_docks:
            for dock in self._hidden_docks:
                dock.setVisible(True)
            self._hidden_docks = []
            shown = True
        else:
            docks = window.findChildren(QDockWidget) if window is not None else []
            self._hidden_docks = [d for d in docks if d.isVisible() and not d.isFloating()]
            for dock in self._hidden_docks:
                dock.setVisible(False)
            shown = False
        canvas_widget(self.viewer).setFocus()
        return shown

    def _show_help(self, event: Any = None) -> None:
        if self.help_overlay is None:
            parent = overlay_parent(self)
            if parent is None:  # not docked: nowhere to draw it
                return
            self.help_overlay = HelpOverlay(parent, self.room.help_sections)
        self.help_overlay.set_shown(self.room.help_visible)

    # -- controls follow the room ---------------------------------------------------------------
    def _sync_controls(self, event: object = None) -> None:
        room = self.room
        case = room.current_case
        labels = [p.label for p in case.pairs] if case else []
        if [self.sequence.itemText(i) for i in range(self.sequence.count())] != labels:
            self.sequence.clear()
            self.sequence.addItems(labels)
        if labels:
            self.sequence.setCurrentIndex(room.pair_index)
        wl = room.window_level
        for box, value in ((self.link, wl.linked), (self.drag, wl.drag_mode)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        pair = room.current_pair
        self.preset.setCurrentText(
            wl.effective_preset(pair.entry.sequence.value) if pair else wl.preset
        )
        if case is None:
            self.offset_label.setText("—")
        else:
            slices = room.offset_slices() + 0.0  # no "-0.0"
            distance = float(np.linalg.norm(room.offset))
            self.offset_label.setText(f"{slices:+.1f} slices ({distance:.1f} mm)")
            self.offset_label.setToolTip(room.alignment.text)
