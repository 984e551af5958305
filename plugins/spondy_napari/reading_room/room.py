"""The reading room: one patient's baseline (left) and follow-up (right) side by side.

:class:`ReadingRoom` owns two image layers, shown in napari's grid mode (one row, two columns,
one camera: zoom and pan move both sides). Switching case or sequence puts other volumes into the
same two layers; the volumes come from a :class:`~spondy_napari.display.volume_cache.VolumeCache`
that loads the next case while the current one is read. No Qt here: the dock
(:mod:`spondy_napari._qt.reading_room_dock`) binds the keys (:mod:`.keys`), adds the readout
(:mod:`.readout`) and draws the worklist.

Slices: both sides slice at the same world position, in mm along the plane's normal (see
:mod:`spondy_napari.display.frame`). Baseline and follow-up are different visits (different
frames of reference), so the follow-up carries a per-case *offset* (:mod:`.offsets`).

The controller of the two sides is one concept, hence one module of about 800 lines; the offset
arithmetic, loading, window/level, slice stops, keys and readout have modules of their own.

For the grading panel (a dock of its own beside this one)
--------------------------------------------------------
* find the room: ``reading_room_for(viewer)`` (the dock's ``ReadingRoomWidget.room``);
* what is on screen: ``room.current_case`` (:class:`~spondy_annotate.cases.pairing.Case`),
  ``room.current_label`` (pseudonym), ``room.current_pair`` (the sequence, e.g. "SAG STIR"),
  ``room.current_side`` ("baseline"/"followup": the side last clicked, or toggled with Q),
  ``room.layers["baseline"]`` / ``room.layers["followup"]`` (the two image layers: the same
  objects for the whole session) and ``room.prepared[side].volume`` (geometry, metadata);
* follow it: ``room.events.case``, ``.pair``, ``.side`` (``event.value``);
* the follow-up offset: ``room.offset`` (patient LPS mm); persist the reader's from
  ``room.events.offset`` (``event.case``, ``event.offset``), give stored ones back with
  ``room.set_offset_provider``; ``room.alignment`` says where the offset comes from;
* the worklist: ``room.label_provider`` (pseudonyms), ``room.state_provider`` ("not started",
  "partly graded", "done") and ``room.refresh_states()`` after an answer
  (:func:`spondy_napari.grading.room_link.link_session` wires these to a grading session);
* the key help: ``room.help_sections`` (more sections of the F1 help, for this viewer only);
* move on: ``room.next_case()`` / ``room.previous_case()`` (in the worklist's filtered order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from napari.utils.events import EmitterGroup, Event
from napari.utils.notifications import show_info, show_warning

from spondy_annotate.cases.alignment import Alignment, AlignmentStatus
from spondy_annotate.cases.pairing import Case, CaseStatus, SeriesPair
from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.grading.session import case_key
from spondy_napari import _registry
from spondy_napari.display.frame import SLICE_AXIS_LABELS
from spondy_napari.display.layer_data import (
    SIDE_TITLES,
    SIDES,
    PreparedVolume,
    apply_to_layer,
    blank_like,
    emit_data_events,
    layer_metadata,
    layer_name,
    thumbnails_held,
)
from spondy_napari.display.volume_cache import VolumeCache
from spondy_napari.reading_room import offsets
from spondy_napari.reading_room.auto_align import AutoAlign, Deliver
from spondy_napari.reading_room.loading import LoadRequests
from spondy_napari.reading_room.pydicom_warnings import log_pydicom_warnings
from spondy_napari.reading_room.slice_grid import SliceGrid
from spondy_napari.reading_room.view_fit import ViewFit
from spondy_napari.reading_room.wheel import SliceWheel
from spondy_napari.reading_room.window_level import WindowLevel

if TYPE_CHECKING:
    import napari
    from napari.layers import Image

#: Pixels between the two sides.
GRID_SPACING_PX = 6
#: What a case that has never been opened shows in the worklist's state column.
NOT_STARTED = "not started"
#: A readable case's state while nobody says who reads (progress is per reader).
NO_READER = "–"
#: What the side a worklist entry does not show says (:attr:`ReadingRoom.hidden_side`).
HIDDEN_NOTE = "not shown: one MRI read alone"
#: ``(keys, what they do)`` rows of one section of the key help.
HelpRows = list[tuple[str, str]]


@dataclass(frozen=True)
class AlignmentState:
    """How the follow-up on screen is aligned with the baseline.

    Attributes
    ----------
    source : str
        ``"automatic"`` (registered), ``"manual"`` (the reader's nudge or landmarks),
        ``"pending"`` (a registration is under way) or ``"none"`` (scanner coordinates).
    residual_mm : float or None
        The registration's residual (automatic only).
    reason : str
        Why there is no automatic alignment ("" otherwise).
    """

    source: str
    residual_mm: float | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        """What the readout says."""
        if self.source == "automatic":
            return f"aligned automatically ({self.residual_mm or 0.0:.1f} mm residual)"
        if self.source == "manual":
            return "aligned manually"
        if self.source == "pending":
            return "aligning…"
        return f"not aligned ({self.reason})" if self.reason else "not aligned"


@contextmanager
def dims_changes_held(viewer: napari.Viewer) -> Iterator[None]:
    """Hold the dims' range, point and step events; emit each once at the end.

    napari re-slices every layer (and redraws its sliders) on each of them: a case switch
    changes the range once per layer, then the grid's stops and the slice. Held, the layers are
    sliced once, where the switch ends (on the point's event: the step's, which tells the same,
    does not go to the viewer's ``_update_layers``, a private napari method).
    """
    dims = viewer.dims
    names = ("range", "point", "current_step")
    try:
        with ExitStack() as held:
            for name in names:
                held.enter_context(getattr(dims.events, name).blocker())
            yield
            # napari's sliders, given the new range, set each axis's point to its step's
            # position (the displayed axes' too): put it there now, else that re-slices twice
            dims.point = tuple(
                r.start + s * r.step for r, s in zip(dims.range, dims.current_step, strict=True)
            )
    finally:
        dims.events.range(value=dims.range)
        dims.events.point(value=dims.point)
        update_layers = getattr(_registry.real_viewer(viewer), "_update_layers", None)
        with dims.events.current_step.blocker(update_layers) if update_layers else nullcontext():
            dims.events.current_step(value=dims.current_step)


def reading_room_for(viewer: napari.Viewer) -> ReadingRoom | None:
    """The reading room docked on ``viewer`` (for the grading panel to find it), or None."""
    room = _registry.room_for(viewer)
    return room if isinstance(room, ReadingRoom) else None


class ReadingRoom:
    """Baseline/follow-up side by side in one napari viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer to show the two sides in (grid mode is turned on when a case is shown).
    cache : VolumeCache, optional
        Where volumes come from (default: a new one with two loader threads).
    deliver : callable, optional
        ``deliver(callback)`` runs ``callback`` on the GUI thread (the dock gives Qt's); with
        it, each case is aligned automatically in the background (:mod:`.auto_align`).

    Attributes
    ----------
    cases : list of Case
        The cases of the opened export, in worklist order.
    folder, db_path : str, Path or None
        The export on screen and its project database (the grading goes there).
    layers : dict
        ``{"baseline": Image, "followup": Image}`` once a case has been shown.
    prepared : dict
        The volume on each side (None for a missing or unloadable series).
    events : EmitterGroup
        ``cases`` (a folder was opened), ``case`` (another case is shown; ``value`` is its index),
        ``pair`` (another sequence), ``side`` (the active side), ``offset`` (``case`` and
        ``offset``: the reader's offset in patient mm, None when dropped: persist it),
        ``alignment`` (an automatic alignment came in), ``states`` (states should be re-read), ``help``
        (the key help was toggled), ``request`` (``value`` "open" or "filter": a key asks the dock
        to open a folder or to focus the worklist filter).
    offset_provider : callable, optional
        ``offset_provider(case) -> (x, y, z) | None``: a stored offset of the reader, asked the
        first time a case is shown (set it with :meth:`set_offset_provider`).
    state_provider : callable, optional
        ``state_provider(case) -> str``: "not started", "partly graded" or "done" (without
        one, a readable case's state is :data:`NO_READER`: progress is the reader's).
    label_provider : callable, optional
        ``label_provider(case, index) -> str``: the case's pseudonym (default "Case N").
    case_order : callable, optional
        ``case_order(cases) -> cases``: the worklist order (e.g. a seeded shuffle for blinding),
        applied by :meth:`set_cases` (see :meth:`set_case_order`).
    hidden_side : callable, optional
        ``hidden_side(case) -> "baseline" | "followup" | None``: the MRI not shown for this
        worklist entry (a study's first pass reads each MRI alone): that side stays empty
        (:data:`HIDDEN_NOTE`), is not loaded, and neither side shows a date.
    hide_dates : bool
        Blinded reading: no study dates or intervals on screen (see :meth:`set_hide_dates`).
    help_sections : dict
        More sections of the key help, ``{title: [(keys, what they do), ...]}`` (the grading
        panel adds its keys here): this viewer's help only.
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        *,
        cache: VolumeCache | None = None,
        deliver: Deliver | None = None,
    ) -> None:
        log_pydicom_warnings()  # the index reports odd files; pydicom's warnings go to the log
        self.viewer = viewer
        self.cache = cache or VolumeCache()
        self.loads = LoadRequests(self.cache)
        self.auto_align = (
            None if deliver is None else AutoAlign(self.cache, deliver, self._on_alignment)
        )
        self.events: EmitterGroup = EmitterGroup(
            source=self,
            cases=Event,
            case=Event,
            pair=Event,
            side=Event,
            offset=Event,
            alignment=Event,
            states=Event,
            help=Event,
            request=Event,
        )
        self.cases: list[Case] = []
        self.folder: str | None = None
        self.db_path: Path | None = None
        self._case_index: int | None = None
        self._filling = False
        self.pair_index = 0
        self.current_side = "baseline"
        self.layers: dict[str, Image] = {}
        self.prepared: dict[str, PreparedVolume | None] = {}
        self.navigation: list[int] | None = None
        self.offset_provider: offsets.OffsetProvider | None = None
        self.state_provider: Callable[[Case], str] | None = None
        self.label_provider: Callable[[Case, int], str] | None = None
        self.case_order: Callable[[list[Case]], list[Case]] | None = None
        self.hidden_side: Callable[[Case], str | None] | None = None
        self.hide_dates = False
        self.help_visible = False
        self.help_sections: dict[str, HelpRows] = {}
        self._offsets = offsets.OffsetMemory()
        self._landmark = offsets.LandmarkPair()
        self.window_level: WindowLevel = WindowLevel(self)
        self.grid = SliceGrid(viewer)
        self.view = ViewFit(viewer, lambda: list(self.layers.values()))
        self.wheel = SliceWheel(viewer, self.step_slice)
        viewer.mouse_drag_callbacks.append(self._on_mouse)
        viewer.mouse_drag_callbacks.append(self.window_level.drag)
        viewer.layers.selection.events.active.connect(self._on_active_layer)
        _registry.set_room(viewer, self)

    # -- the export -----------------------------------------------------------------------------
    def set_cases(
        self, cases: Sequence[Case], *, folder: str | None = None, db_path: Path | None = None
    ) -> None:
        """Replace the worklist (forgets the cache and the offsets of the previous export)."""
        self.cache.clear()
        self.cases = self.case_order(list(cases)) if self.case_order else list(cases)
        self.folder = folder
        self.db_path = db_path
        self._case_index = None
        self.navigation = None
        self._offsets.clear()
        if self.auto_align is not None:
            self.auto_align.reset(db_path)
        self.events.cases(value=self.cases)

    def set_case_order(self, order: Callable[[list[Case]], list[Case]] | None) -> None:
        """Use ``order`` for the worklist, now and for later exports; the case shown stays."""
        self.case_order = order
        shown = self.current_case
        if order is not None:
            self.cases = order(self.cases)
        self._case_index = None if shown is None else self.cases.index(shown)
        self.navigation = None
        self.events.cases(value=self.cases)

    def label(self, index: int) -> str:
        """The case's pseudonymous label ("Case N" until the grading store provides one)."""
        if self.label_provider is not None:
            return self.label_provider(self.cases[index], index)
        return f"Case {index + 1}"

    def state(self, index: int) -> str:
        """The case's state for the worklist."""
        case = self.cases[index]
        if case.status is CaseStatus.INCOMPLETE:
            return "incomplete (one study)"
        if case.status is CaseStatus.NEEDS_CHOICE:
            return f"needs choice ({len(case.studies)} studies)"
        if not case.pairs:
            return "no matching series"
        if self.state_provider is not None:
            return self.state_provider(case)
        return NO_READER

    def is_openable(self, index: int) -> bool:
        """True when the case can be shown side by side."""
        case = self.cases[index]
        return case.status is CaseStatus.READY and bool(case.pairs)

    def set_hide_dates(self, hide: bool) -> None:
        """Hide (or show) study dates and intervals: layer names, worklist, metadata."""
        self.hide_dates = bool(hide)
        self.events.cases(value=self.cases)  # the worklist rebuilds its rows
        if self.current_pair is not None:
            self._show_pair(middle=False)

    def refresh_states(self) -> None:
        """Tell the worklist to re-read the states (call after grading changed one)."""
        self.events.states()

    # -- what is on screen ----------------------------------------------------------------------
    @property
    def current_case(self) -> Case | None:
        """The case on screen."""
        return None if self.case_index is None else self.cases[self.case_index]

    @property
    def current_label(self) -> str | None:
        """The label of the case on screen."""
        return None if self.case_index is None else self.label(self.case_index)

    @property
    def current_pair(self) -> SeriesPair | None:
        """The sequence on screen (both sides)."""
        case = self.current_case
        return case.pairs[self.pair_index] if case and case.pairs else None

    @property
    def case_index(self) -> int | None:
        """The index (in :attr:`cases`) of the case on screen, or None."""
        return self._case_index

    @property
    def case_ids(self) -> list[str]:
        """The worklist's case labels, in its order (pseudonyms once grading is linked)."""
        return [self.label(i) for i in range(len(self.cases))]

    @property
    def slice_index(self) -> dict[str, int | None]:
        """The slice (0-based) each side shows, ``{"baseline": 6, "followup": 5}``."""
        return {
            side: (shown[0] if (shown := self.displayed_slice(side)) else None) for side in SIDES
        }

    @property
    def followup_offset_mm(self) -> tuple[float, float, float]:
        """The follow-up's shift on screen (patient LPS mm): manual, automatic or zero."""
        x, y, z = (float(v) for v in self.offset)
        return x, y, z

    @property
    def alignment(self) -> AlignmentState:
        """How the case on screen is aligned (source, residual, why not)."""
        case = self.current_case
        if case is None:
            return AlignmentState("none", reason="no case")
        if self._offsets.is_manual(case):
            return AlignmentState("manual")
        automatic = self._offsets.automatic(case)
        if automatic is None:
            if self.auto_align is None:
                return AlignmentState("none", reason="automatic alignment off")
            return AlignmentState("pending")
        if automatic.status is AlignmentStatus.AUTOMATIC:
            return AlignmentState("automatic", residual_mm=automatic.residual_mm)
        return AlignmentState("none", reason=automatic.message or "registration failed")

    def layer(self, side: str) -> Image | None:
        """The image layer of ``"baseline"`` or ``"followup"``."""
        return self.layers.get(side)

    def set_current_side(self, side: str) -> None:
        """Make ``side`` the active one (its layer is selected)."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, not {side!r}")
        changed = side != self.current_side
        self.current_side = side
        layer = self.layers.get(side)
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.selection.active = layer
        if changed:
            self.events.side(value=side)

    def _on_active_layer(self, event: Any) -> None:
        """Selecting a side's layer (in the layer list or by clicking) makes it the active side."""
        for side, layer in self.layers.items():
            if event.value is layer and side != self.current_side:
                self.set_current_side(side)

    def toggle_side(self) -> None:
        """Switch the active side."""
        self.set_current_side("followup" if self.current_side == "baseline" else "baseline")

    def side_at(self, event: Any) -> str | None:
        """The side under a mouse event (the active side when the grid is off)."""
        if not self.viewer.canvas.grid.enabled:
            return self.current_side
        viewbox = getattr(event, "viewbox", None)
        if viewbox is None:
            return None
        inside = self.viewer.canvas.grid.contents_at(tuple(viewbox), self.viewer.layers)
        for index in inside:
            for side, layer in self.layers.items():
                if self.viewer.layers[index] is layer:
                    return side
        return None

    def displayed_slice(self, side: str) -> tuple[int, float] | None:
        """``(index, position)`` of the slice a side shows, or None when the slider is outside it.

        ``index`` is the layer's slice (as napari picks it: the nearest); ``position`` is that
        slice's centre along the slider axis in mm, in the series' own (scanner) coordinates,
        i.e. without the follow-up offset: one nudge changes it by one slice spacing.
        """
        layer, prepared = self.layers.get(side), self.prepared.get(side)
        if layer is None or prepared is None:
            return None
        point = np.asarray(self.viewer.dims.point, dtype=float)
        index = int(np.round(layer.world_to_data(point)[0]))
        if not 0 <= index < layer.data.shape[0]:
            return None
        geometry = prepared.geometry
        position = geometry.translate[0] + index * geometry.scale[0]
        return index, float(position)

    # -- showing cases --------------------------------------------------------------------------
    def ready_indices(self) -> list[int]:
        """Openable cases in navigation order (the worklist's filter, if any)."""
        order = self.navigation if self.navigation is not None else range(len(self.cases))
        return [i for i in order if 0 <= i < len(self.cases) and self.is_openable(i)]

    def _neighbour(self, step: int) -> int | None:
        ready = self.ready_indices()
        if not ready:
            return None
        if self.case_index not in ready:
            after = [i for i in ready if self.case_index is None or i > self.case_index]
            before = [i for i in ready if self.case_index is not None and i < self.case_index]
            return (after[0] if after else None) if step > 0 else (before[-1] if before else None)
        pos = ready.index(self.case_index) + step
        return ready[pos] if 0 <= pos < len(ready) else None

    def next_case(self) -> int | None:
        """Go to the next openable case (in the worklist's order); return its index."""
        index = self._neighbour(+1)
        if index is None:
            show_info("Last case of the worklist")
            return None
        self.request_case(index)
        return index

    def previous_case(self) -> int | None:
        """Go to the previous openable case; return its index."""
        index = self._neighbour(-1)
        if index is None:
            show_info("First case of the worklist")
            return None
        self.request_case(index)
        return index

    def _pair_for(self, case: Case, label: str | None) -> int:
        labels = [p.label for p in case.pairs]
        return labels.index(label) if label in labels else 0

    def _hidden(self, case: Case | None) -> str | None:
        """The side not shown for ``case`` (:attr:`hidden_side`), if any."""
        return None if case is None or self.hidden_side is None else self.hidden_side(case)

    def _refs(self, pair: SeriesPair, case: Case | None = None) -> dict[str, SeriesRecord | None]:
        """The series each side shows (none on ``case``'s hidden side)."""
        hidden = self._hidden(case)
        refs = {"baseline": pair.baseline, "followup": pair.followup}
        return {side: None if side == hidden else ref for side, ref in refs.items()}

    def request_case(self, index: int, *, pair_label: str | None = None) -> bool:
        """Show a case as soon as its volumes are loaded, without blocking the GUI.

        Returns False (and says why in the viewer) when the case cannot be opened side by side.
        """
        if not self._check_openable(index):
            return False
        case = self.cases[index]
        current = self.current_pair.label if self.current_pair else None
        pair = case.pairs[self._pair_for(case, pair_label or current)]
        self.loads.when_loaded(
            list(self._refs(pair, case).values()),
            lambda: self.show_case(index, pair_label=pair.label),
            f"Loading {self.label(index)}",
        )
        return True

    def _check_openable(self, index: int) -> bool:
        if not 0 <= index < len(self.cases):
            show_warning(f"No case {index + 1} (the worklist has {len(self.cases)})")
            return False
        if not self.is_openable(index):
            show_warning(
                f"{self.label(index)}: {self.state(index)}; it cannot be opened side by side"
            )
            return False
        return True

    def show_case(self, index: int, *, pair_label: str | None = None) -> bool:
        """Show a case now (waits for its volumes if they are not loaded yet)."""
        if not self._check_openable(index):
            return False
        self.loads.supersede()  # a pending request for another case is now stale
        case = self.cases[index]
        current = self.current_pair.label if self.current_pair else None
        self._case_index = index
        self.pair_index = self._pair_for(case, pair_label or current)
        self._landmark.reset()
        self._offsets.recall(case, self.offset_provider)
        self._show_pair(middle=True)  # holds the background work while the case is drawn
        if self.auto_align is not None:
            self.auto_align.request(case, case.pairs[self.pair_index].label, first=True)
        self.prefetch()
        self.viewer.title = f"spondy-annotate — {self.label(index)}"
        self.events.case(value=index)
        return True

    def cycle_pair(self, step: int = 1) -> None:
        """Show the next (or previous) sequence of the hanging protocol on both sides."""
        case = self.current_case
        if case is None or len(case.pairs) < 2:
            return
        index = (self.pair_index + step) % len(case.pairs)
        self.show_pair(index)

    def show_pair(self, index: int) -> None:
        """Show sequence ``index`` of the current case (as soon as it is loaded)."""
        case = self.current_case
        if case is None:
            return
        pair = case.pairs[index]
        case_index = self.case_index

        def show() -> None:
            if self.case_index == case_index:
                self.pair_index = index
                self._show_pair(middle=False)

        refs = self._refs(pair, case)
        self.loads.when_loaded(list(refs.values()), show, f"Loading {pair.label}")

    @property
    def filling(self) -> bool:
        """True while a case or sequence goes into the layers (``events.pair`` follows).

        Views of the whole room (readout, slider labels) skip the dims and window events of
        this moment and redraw once on ``events.pair``.
        """
        return self._filling

    def _show_pair(self, *, middle: bool) -> None:
        self.cache.quiet.hold()  # the CPU is the GUI's while the case is drawn
        self._filling = True
        try:
            self._fill_layers(middle=middle)
        finally:
            self._filling = False
        self.events.pair(value=self.pair_index)

    def _fill_layers(self, *, middle: bool) -> None:
        case, pair = self.current_case, self.current_pair
        assert case is not None and pair is not None
        refs = self._refs(pair, case)
        old_plane, old_point = self._plane(), self.viewer.dims.point
        for ref in refs.values():  # both sides load at once
            if ref is not None:
                self.cache.submit(ref)
        self.prepared = {side: self.loads.fetch(ref) for side, ref in refs.items()}
        self.ensure_layers()
        with thumbnails_held(list(self.layers.values())):
            self._put_in_layers(case, pair, refs, old_plane, old_point, middle=middle)
        self.view.apply()
        self.viewer.update_status_from_cursor()  # the status bar names this case's layer

    def _put_in_layers(
        self,
        case: Case,
        pair: SeriesPair,
        refs: dict[str, SeriesRecord | None],
        old_plane: str | None,
        old_point: tuple[float, ...],
        *,
        middle: bool,
    ) -> None:
        """Each side's volume, name and window into its layer; both sliced once, at the slice
        (the middle one, or where ``old_point`` was if the plane stays ``old_plane``)."""
        hidden = self._hidden(case)
        studies = {"baseline": case.baseline, "followup": case.followup}
        for side in SIDES:
            prepared, ref, study = self.prepared[side], refs[side], studies[side]
            other = self.prepared["followup" if side == "baseline" else "baseline"]
            note = "" if prepared else ("not acquired" if ref is None else "could not be loaded")
            date = study.date_text if study else "?"
            if side == "followup" and case.interval_days is not None:
                date = f"{date} (+{case.interval_days} d)"
            if hidden is not None:  # one MRI alone: no date tells which it is, or the interval
                date, study = "", None
                note = HIDDEN_NOTE if side == hidden else note
            apply_to_layer(
                self.layers[side],
                prepared,
                name=layer_name(side, "" if self.hide_dates else date, pair.label, note=note),
                metadata=layer_metadata(
                    prepared,
                    side=side,
                    date_text="" if self.hide_dates or not study else study.date_text,
                    label=pair.label,
                    case=self.current_label or "",
                ),
                offset_world=self.offset_world() if side == "followup" else None,
                template=other,
                window=(
                    self.window_level.initial_window(prepared, pair.entry.sequence.value)
                    if prepared
                    else None
                ),
            )
        with dims_changes_held(self.viewer):  # each layer sliced once, at the final slice
            emit_data_events(self.viewer, list(self.layers.values()))
            if self.window_level.linked:
                side = self.current_side if self.prepared.get(self.current_side) else "baseline"
                self.window_level.set_window(side, *self.window_level.window(side))
            reference = "baseline" if self.prepared["baseline"] is not None else "followup"
            self.grid.set_reference(self.layers[reference])
            plane = self._plane()
            self.viewer.dims.axis_labels = (SLICE_AXIS_LABELS.get(plane or "", "slice"), "y", "x")
            if middle or len(old_point) < 3 or plane != old_plane:
                self.go_to_middle_slice()
            else:
                self._go_to_position(old_point[0])
        if self.viewer.dims.point == old_point:  # else napari re-sliced every layer just now
            for layer in self.layers.values():
                layer.refresh()

    def _plane(self) -> str | None:
        for prepared in self.prepared.values():
            if prepared is not None:
                return prepared.geometry.plane
        return None

    def ensure_layers(self) -> None:
        """Create the two layers once (baseline in the left cell); later they are reused."""
        if all(self.layers.get(s) in self.viewer.layers for s in SIDES):
            return
        for side in SIDES:
            layer = self.layers.get(side)
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        template = next((p for p in self.prepared.values() if p is not None), None)
        for side in SIDES:
            data, transform = blank_like(template)
            layer = self.viewer.add_image(
                data, name=SIDE_TITLES[side], colormap="gray", **transform
            )
            layer.interpolation2d = "linear"
            layer.events.contrast_limits.connect(self.window_level.on_contrast_limits)
            layer.mouse_pan = not self.window_level.drag_mode
            layer.mouse_zoom = False  # the wheel pages slices (.wheel)
            self.layers[side] = layer
        for position, side in enumerate(SIDES):  # baseline in the left cell, follow-up right
            self.viewer.layers.move(self.viewer.layers.index(self.layers[side]), position)
        grid = self.viewer.canvas.grid
        grid.stride, grid.shape, grid.spacing = 1, (1, 2), GRID_SPACING_PX
        grid.enabled = True
        self.set_current_side(self.current_side)

    # -- slices and the follow-up offset --------------------------------------------------------
    def step_slice(self, step: int) -> None:
        """Move both sides ``step`` reference (baseline) slices."""
        index = self.grid.current_index()
        if index is not None:
            self.grid.go_to(index + step)

    def go_to_middle_slice(self) -> None:
        """Show the reference series' middle slice."""
        reference = self.grid.reference
        if reference is not None:
            self.grid.go_to((reference.data.shape[0] - 1) // 2)

    def _go_to_position(self, position: float) -> None:
        ref = self.grid.reference_step()
        if ref is not None:
            self.grid.go_to(round((position - ref[0]) / ref[1]))

    @property
    def offset(self) -> np.ndarray:
        """The current case's follow-up offset in patient (LPS) mm: manual, automatic or zero."""
        return self._offsets.get(self.current_case, at=self._anchor())

    def _anchor(self) -> np.ndarray | None:
        """The centre of the baseline shown (patient mm): where an automatic offset is exact."""
        prepared = self.prepared.get("baseline")
        if prepared is None:
            return None
        volume = prepared.volume
        centre = [(n - 1) / 2 for n in volume.array.shape]
        return volume.index_to_patient(centre)

    def offset_world(self) -> np.ndarray:
        """The offset in the current follow-up's world frame (added to its ``translate``)."""
        shown = self.prepared.get("followup") or self.prepared.get("baseline")
        return offsets.offset_world(shown, self.offset)

    def offset_slices(self) -> float:
        """The offset along the slice axis, in follow-up slices (+1: one slice further)."""
        return offsets.offset_in_slices(self.prepared.get("followup"), self.offset)

    def set_offset_provider(self, provider: offsets.OffsetProvider | None) -> None:
        """Take the reader's stored offsets from ``provider`` (e.g. once the reader is known).

        Offsets a previous provider gave are forgotten and the case on screen asks the new one;
        offsets the reader set meanwhile stay, and are emitted again (``events.offset``) so
        that the new provider's owner can store them.
        """
        self.offset_provider = provider
        for key, value in self._offsets.forget_recalled():
            case = next((c for c in self.cases if case_key(c) == key), None)
            if case is not None:
                self.events.offset(case=case, offset=value)
        case = self.current_case
        if case is not None:
            self._offsets.recall(case, provider)
            self._apply_offset()
            self.events.alignment(value=self.alignment)

    def set_offset(self, offset: npt.ArrayLike | None, *, case: int | None = None) -> None:
        """Set a case's follow-up offset (patient mm; None: back to automatic); default: current.

        Emits ``events.offset(case=Case, offset=ndarray | None)`` so that it can be persisted.
        """
        index = self.case_index if case is None else case
        if index is None:
            return
        target = self.cases[index]
        value = self._offsets.set(target, offset)
        if index == self.case_index:
            self._apply_offset()
        self.events.offset(case=target, offset=value)

    def _apply_offset(self) -> None:
        """Move the follow-up layer to the current offset; the baseline slice stays."""
        prepared = self.prepared.get("followup")
        if prepared is None or "followup" not in self.layers:
            return
        keep = self.grid.current_index()
        base = np.asarray(prepared.geometry.translate, dtype=float)
        self.layers["followup"].translate = tuple(base + self.offset_world())
        if keep is not None:
            self.grid.go_to(keep)

    def _on_alignment(self, alignment: Alignment) -> None:
        """An automatic alignment came in (GUI thread): it moves the follow-up unless manual."""
        self._offsets.set_automatic(alignment)
        case = self.current_case
        if case is not None and case_key(case) == alignment.key:
            if not self._offsets.is_manual(case):
                self._apply_offset()
            if alignment.status is AlignmentStatus.FAILED:
                show_info(f"{self.current_label}: not aligned automatically ({alignment.message})")
        self.events.alignment(value=self.alignment)

    def nudge(self, slices: int) -> None:
        """Shift the follow-up by whole slices against the baseline (+1: show its next slice)."""
        prepared = self.prepared.get("followup")
        if self.current_case is not None and prepared is not None:
            self.set_offset(offsets.nudged(prepared, self.offset, slices))

    def reset_offset(self) -> None:
        """Drop the reader's offset: back to the automatic alignment (else no offset)."""
        self.set_offset(None)

    def align_landmarks(self, baseline_world: npt.ArrayLike, followup_world: npt.ArrayLike) -> None:
        """Offset the follow-up so that its point ``followup_world`` lands on ``baseline_world``.

        Both points are world positions as clicked (the follow-up's includes the current offset);
        the slider then shows the baseline landmark's slice.
        """
        prepared = self.prepared.get("followup")
        if prepared is not None:
            self.set_offset(offsets.aligned(prepared, self.offset, baseline_world, followup_world))
            self._go_to_position(float(np.asarray(baseline_world, dtype=float)[0]))

    def _on_mouse(self, viewer: Any, event: Any) -> None:
        if event.type != "mouse_press":
            return
        side = self.side_at(event)
        if side is None:
            return
        self.set_current_side(side)
        if "Shift" not in event.modifiers or event.button != 1:
            return
        points = self._landmark.click(side, event.position)
        if points is not None:
            self.align_landmarks(*points)
            return
        other = SIDE_TITLES["followup" if side == "baseline" else "baseline"]
        show_info(
            f"Landmark set on the {SIDE_TITLES[side].lower()}; Shift-click the same point on the {other.lower()}"
        )

    # -- loading ahead --------------------------------------------------------------------------
    def prefetch(self) -> None:
        """Queue the current case's other sequences, then the next case's, then the previous."""
        case = self.current_case
        if case is None:
            return
        order = [
            case.pairs[self.pair_index],
            *(p for p in case.pairs if p is not case.pairs[self.pair_index]),
        ]
        refs: list[SeriesRecord | None] = [r for p in order for r in (p.baseline, p.followup)]
        pinned = [r.series_instance_uid for r in refs if r is not None]
        for step in (+1, -1):
            neighbour = self._neighbour(step)
            if neighbour is not None and neighbour != self.case_index:
                pairs = self.cases[neighbour].pairs
                first = pairs[
                    self._pair_for(self.cases[neighbour], case.pairs[self.pair_index].label)
                ]
                rest = [p for p in pairs if p is not first] if step > 0 else []
                refs += [r for p in (first, *rest) for r in (p.baseline, p.followup)]
        self.cache.pin(pinned)
        self.cache.prefetch(refs)
        if self.auto_align is not None:
            for step in (+1, -1):
                neighbour = self._neighbour(step)
                if neighbour is not None and neighbour != self.case_index:
                    label = case.pairs[self.pair_index].label
                    self.auto_align.request(self.cases[neighbour], label)

    # -- the key help ---------------------------------------------------------------------------
    def toggle_help(self) -> None:
        """Show or hide the key help (the dock draws it; ``events.help`` says which)."""
        self.help_visible = not self.help_visible
        self.events.help(value=self.help_visible)

    # -- teardown -------------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the room's callbacks and stop the loader threads (layers stay)."""
        for func in (self._on_mouse, self.window_level.drag):
            if func in self.viewer.mouse_drag_callbacks:
                self.viewer.mouse_drag_callbacks.remove(func)
        self.viewer.layers.selection.events.active.disconnect(self._on_active_layer)
        self.grid.disconnect()
        self.view.disconnect()
        self.wheel.disconnect()
        self.loads.close()  # first: a registration waiting for a volume stops waiting
        if self.auto_align is not None:
            self.auto_align.close()
        _registry.forget_room(self.viewer, self)
