"""The reading room in a real napari viewer (runs under Xvfb: pytest-xvfb starts it)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from spondy_napari import ReadingRoomWidget, reading_room_for
from spondy_napari.reading_room.keys import ACTIONS
from spondy_napari.reading_room.room import NO_READER

from spondy_annotate.synthetic.export import read_truth

pytestmark = pytest.mark.gui
TIMEOUT_MS = 30_000


def press(viewer, key: str) -> None:
    """Press and release ``key`` through napari's key dispatch (as from the canvas)."""
    handler = viewer.window._qt_viewer._key_map_handler
    handler.press_key(key)
    handler.release_key(key)


@pytest.fixture
def opened(make_napari_viewer, qtbot, small_export):
    """A viewer with the reading room docked and the small export's first case on screen.

    Without automatic alignment: these tests see the reader's offsets alone.
    """
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer, align=False)
    viewer.window.add_dock_widget(widget, name="Reading room")
    widget.open_folder(str(small_export))
    room = widget.room
    qtbot.waitUntil(lambda: room.current_case is not None, timeout=TIMEOUT_MS)
    return SimpleNamespace(viewer=viewer, widget=widget, room=room, qtbot=qtbot)


def wait_cached(qtbot, room, index: int) -> None:
    refs = [r for p in room.cases[index].pairs for r in (p.baseline, p.followup) if r]
    qtbot.waitUntil(lambda: all(room.cache.is_cached(r) for r in refs), timeout=TIMEOUT_MS)


def test_pair_side_by_side(opened):
    viewer, room = opened.viewer, opened.room
    case = room.current_case
    assert room.case_index == 0 and len(viewer.layers) == 2
    baseline, followup = room.layers["baseline"], room.layers["followup"]
    assert list(viewer.layers) == [baseline, followup]
    # one napari window, grid of one row and two columns: baseline left, follow-up right
    grid = viewer.canvas.grid
    assert grid.enabled and grid.shape == (1, 2) and grid.stride == 1
    assert grid.position(viewer.layers.index(baseline), viewer.layers) == (0, 0)
    assert grid.position(viewer.layers.index(followup), viewer.layers) == (0, 1)
    # labelled with the timepoint, study date and sequence, the same sequence on both sides
    label = case.pairs[0].label
    assert baseline.name == f"Baseline {case.baseline.date_text} · {label}"
    assert followup.name.startswith(f"Follow-up {case.followup.date_text} (+")
    assert followup.name.endswith(f" · {label}")
    # the names are on the images: each at the top left of its own half of the canvas
    titles = opened.widget.canvas_labels.titles
    half = viewer.window._qt_viewer.canvas.native.width() / 2
    for side, layer in (("baseline", baseline), ("followup", followup)):
        assert (
            titles[side].isVisibleTo(titles[side].parentWidget())
            and titles[side].text() == layer.name
        )
    assert titles["baseline"].geometry().right() < half < titles["followup"].x()
    # scale in mm: the volumes' spacing
    for side in ("baseline", "followup"):
        prepared = room.prepared[side]
        assert tuple(room.layers[side].scale) == pytest.approx(prepared.volume.spacing)
        assert room.layers[side].contrast_limits == pytest.approx(
            [
                prepared.window[0] - prepared.window[1] / 2,
                prepared.window[0] + prepared.window[1] / 2,
            ]
        )
    assert reading_room_for(viewer) is room


def test_slices_scroll_together(opened):
    viewer, room = opened.viewer, opened.room
    b0, _ = room.displayed_slice("baseline")
    viewer.dims.set_current_step(0, viewer.dims.current_step[0] + 2)  # scroll two stops
    b1, b1_mm = room.displayed_slice("baseline")
    assert b1 == b0 + 2  # one stop of the slider is one baseline slice
    assert viewer.dims.point[0] == pytest.approx(b1_mm)
    press(viewer, "Down")
    assert room.displayed_slice("baseline")[0] == b1 - 1
    # the follow-up shows its slice nearest the same position (in mm), and napari draws it
    point = viewer.dims.point[0]
    layer = room.layers["followup"]
    index, position = room.displayed_slice("followup")
    assert abs(position - point) <= layer.scale[0] / 2 + 1e-6
    np.testing.assert_array_equal(layer._slice.image.raw, np.asarray(layer.data[index]))


def test_nudge_offset_is_kept_for_the_case(opened):
    viewer, room, qtbot = opened.viewer, opened.room, opened.qtbot
    spacing = room.layers["followup"].scale[0]
    b0, _ = room.displayed_slice("baseline")
    f0, f0_mm = room.displayed_slice("followup")
    press(viewer, "Shift-Up")
    b1, _ = room.displayed_slice("baseline")
    f1, f1_mm = room.displayed_slice("followup")
    assert b1 == b0  # the baseline stays
    assert f1 == f0 + 1  # the follow-up moves one slice
    assert f1_mm - f0_mm == pytest.approx(spacing)  # ... which is one slice spacing in mm
    assert np.linalg.norm(room.offset) == pytest.approx(spacing)
    assert room.offset_slices() == pytest.approx(1.0)
    kept = room.offset
    press(viewer, "N")
    qtbot.waitUntil(lambda: room.case_index == 1, timeout=TIMEOUT_MS)
    assert np.allclose(room.offset, 0)  # another case, its own offset
    press(viewer, "Shift-N")
    qtbot.waitUntil(lambda: room.case_index == 0, timeout=TIMEOUT_MS)
    np.testing.assert_allclose(room.offset, kept)
    b2, _ = room.displayed_slice("baseline")
    f2, _ = room.displayed_slice("followup")
    assert f2 - b2 == f1 - b1
    press(viewer, "Shift-Home")
    assert np.allclose(room.offset, 0)


def test_offset_hooks(opened):
    room = opened.room
    seen = []
    room.events.offset.connect(lambda e: seen.append((e.case.patient_id, tuple(e.offset))))
    room.nudge(-1)
    assert seen and seen[-1][0] == room.current_case.patient_id
    assert np.linalg.norm(seen[-1][1]) == pytest.approx(room.layers["followup"].scale[0])
    # a stored offset is asked for the first time a case is shown
    room.offset_provider = lambda case: (0.0, 0.0, 7.5)
    room.show_case(2)
    np.testing.assert_allclose(room.offset, (0.0, 0.0, 7.5))
    translate = np.asarray(room.layers["followup"].translate)
    base = np.asarray(room.prepared["followup"].geometry.translate)
    np.testing.assert_allclose(
        translate - base, room.prepared["followup"].geometry.patient_to_world((0, 0, 7.5))
    )


def assert_slices_shown(room) -> None:
    """Each side's layer shows (napari's slice) its volume's slice at the slider."""
    for side, layer in room.layers.items():
        shown = np.asarray(layer._slice.image.raw)  # what napari hands to the canvas
        assert np.array_equal(shown, room.prepared[side].data[room.slice_index[side]]), side


def test_switch_reuses_layers_and_next_case_is_prefetched(opened):
    viewer, room, qtbot = opened.viewer, opened.room, opened.qtbot
    wait_cached(qtbot, room, 1)  # prefetched in the background while case 1 is read
    before = {side: (layer, layer.data) for side, layer in room.layers.items()}
    press(viewer, "N")
    assert room.case_index == 1  # at once: nothing to wait for
    assert len(viewer.layers) == 2
    case = room.current_case
    for side, (layer, data) in before.items():
        assert room.layers[side] is layer  # the same layer object...
        assert layer.data is not data  # ... with the next case's volume in it
        assert layer.data is room.prepared[side].data
    assert room.layers["baseline"].name.startswith(f"Baseline {case.baseline.date_text}")
    assert_slices_shown(room)
    wait_cached(qtbot, room, 2)


def test_sequence_key_cycles_both_sides(opened):
    viewer, room, qtbot = opened.viewer, opened.room, opened.qtbot
    labels = [p.label for p in room.current_case.pairs]
    assert len(labels) >= 2
    wait_cached(qtbot, room, 0)
    press(viewer, "S")
    qtbot.waitUntil(lambda: room.pair_index == 1, timeout=TIMEOUT_MS)
    for layer in room.layers.values():
        assert layer.name.endswith(f"· {labels[1]}")
    assert opened.widget.sequence.currentText() == labels[1]
    assert_slices_shown(room)  # the same geometry and slice: the layers are refreshed anyway
    press(viewer, "Shift-S")
    assert room.pair_index == 0
    assert_slices_shown(room)


def test_window_level_presets_link_and_drag(opened):
    viewer, room = opened.viewer, opened.room
    wl = room.window_level
    dicom = {s: wl.window(s) for s in room.layers}
    press(viewer, "6")  # STIR preset on both sides
    assert wl.preset == "STIR"
    for side, prepared in room.prepared.items():
        low, high = prepared.percentiles[5.0], prepared.percentiles[99.9]
        assert wl.window(side) == pytest.approx(((low + high) / 2, high - low))
        assert wl.window(side) != pytest.approx(dicom[side])
    press(viewer, "3")
    for side in room.layers:
        assert wl.window(side) == pytest.approx(dicom[side])
    press(viewer, "K")  # link: the active side's window goes to both
    assert wl.linked
    wl.set_window("baseline", 400.0, 900.0)
    assert wl.window("followup") == pytest.approx((400.0, 900.0))
    assert "W: 900 L: 400" in opened.widget.readout.text
    # drag mode: left-drag right widens the window, down raises the level
    press(viewer, "W")
    assert wl.drag_mode and not room.layers["baseline"].mouse_pan
    event = SimpleNamespace(
        type="mouse_press",
        button=1,
        pos=(100, 100),
        viewbox=(0, 0),
        modifiers=(),
        position=(0, 0, 0),
    )
    drag = wl.drag(viewer, event)
    next(drag)
    event.type, event.pos = "mouse_move", (160, 130)
    next(drag)
    center, width = wl.window("baseline")
    assert width > 900.0 and center > 400.0
    assert wl.window("followup") == pytest.approx((center, width))  # linked
    press(viewer, "W")
    assert not wl.drag_mode and room.layers["baseline"].mouse_pan


def test_help_overlay_lists_every_key(opened):
    viewer, widget, room = opened.viewer, opened.widget, opened.room
    press(viewer, "F1")
    assert room.help_visible
    overlay = widget.help_overlay
    assert overlay is not None and overlay.isVisibleTo(overlay.parentWidget())
    for action in ACTIONS:
        for key in action.keys:
            assert key in overlay.text()
    press(viewer, "H")
    assert not overlay.isVisibleTo(overlay.parentWidget())


def test_keys_leave_napari_defaults_alone():
    """No reading room key is a key of napari's viewer or of an image layer.

    (Labels, points and shapes layers have keys of their own, e.g. digits for their modes;
    they only apply while such a layer is the active one.)
    """
    from app_model.types import KeyBinding
    from napari.utils.shortcuts import default_shortcuts

    other_layers = (
        "labels",
        "points",
        "shapes",
        "vertex",
        "direct",
        "select_mode",
        "polygon",
        "add_",
        "brush",
        "label_id",
        "vectors",
        "tracks",
        "surface",
        "plane_normal",
    )
    napari_keys = {
        str(kb).lower()
        for name, kbs in default_shortcuts.items()
        if not any(word in name for word in other_layers)
        for kb in kbs
    }
    assert {"left", "right", "v", "c", "1", "2", "space", "ctrl+r"} <= napari_keys
    ours = {str(KeyBinding.from_str(key)).lower() for action in ACTIONS for key in action.keys}
    assert not ours & napari_keys


def test_opening_indexes_through_the_header_cache(
    make_napari_viewer, qtbot, tmp_path, small_export
):
    import shutil

    from spondy_annotate.cases.open import open_export

    export = shutil.copytree(small_export, tmp_path / "export")
    widget = ReadingRoomWidget(make_napari_viewer())
    widget.open_folder(str(export))
    qtbot.waitUntil(lambda: widget.room.current_case is not None, timeout=TIMEOUT_MS)
    assert widget.room.db_path is not None and widget.room.db_path.is_file()
    assert open_export(export).index.headers_read == 0  # re-opening reads no header again


def test_worklist_shows_labels_not_patients(opened, small_export):
    widget = opened.widget
    table = widget.worklist.table
    cells = [
        table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount())
    ]
    assert [table.item(r, 0).text() for r in range(3)] == ["Case 1", "Case 2", "Case 3"]
    # nobody said who reads: progress is the reader's, so no state yet (not "not started")
    assert [table.item(r, 1).text() for r in range(3)] == [NO_READER] * 3
    truth = read_truth(small_export)
    for value in [*truth["patient_id"], *truth["patient_name"]]:
        assert all(str(value) not in cell for cell in cells)
    # the filter narrows the list and next/previous follow it
    widget.worklist.filter.setText("case 3")
    assert widget.worklist.visible_rows() == [2]
    assert opened.room.ready_indices() == [2]
    widget.worklist.filter.setText("")
    assert widget.worklist.visible_rows() == [0, 1, 2]
    # a state from the store
    opened.room.state_provider = lambda case: "done"
    opened.room.refresh_states()
    assert table.item(1, 1).text() == "done"


def test_incomplete_case_is_listed_but_not_opened(
    make_napari_viewer, qtbot, mixed_export, notifications
):
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.open_folder(str(mixed_export))
    room = widget.room
    qtbot.waitUntil(lambda: room.current_case is not None, timeout=TIMEOUT_MS)
    states = [room.state(i) for i in range(len(room.cases))]
    assert states.count(NO_READER) == 2 and states[2].startswith("incomplete")
    assert widget.worklist.table.item(2, 1).text().startswith("incomplete")
    assert room.request_case(2) is False
    assert any(level == "warning" and "cannot be opened" in text for level, text in notifications)
    press(viewer, "N")
    qtbot.waitUntil(lambda: room.case_index == 1, timeout=TIMEOUT_MS)
    press(viewer, "N")  # the incomplete case is skipped: this was the last readable one
    assert room.case_index == 1


@pytest.mark.parametrize("kind", ["junk", "missing"])
def test_bad_folder_is_a_notification(make_napari_viewer, qtbot, junk_folder, notifications, kind):
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget)
    folder = junk_folder if kind == "junk" else junk_folder / "nowhere"
    widget.open_folder(str(folder))
    qtbot.waitUntil(lambda: bool(notifications), timeout=TIMEOUT_MS)
    level, text = notifications[0]
    assert level == "error"
    assert ("no DICOM images" in text) if kind == "junk" else ("no such folder" in text)
    assert widget.room.current_case is None


def test_landmarks_align_the_follow_up(opened):
    viewer, room = opened.viewer, opened.room
    base_point = np.array([viewer.dims.point[0], 10.0, 20.0])
    follow_point = np.array([viewer.dims.point[0], 13.0, 15.0])
    click = SimpleNamespace(type="mouse_press", button=1, modifiers=("Shift",))
    room._on_mouse(viewer, SimpleNamespace(**vars(click), viewbox=(0, 0), position=base_point))
    assert room.current_side == "baseline"
    before = np.asarray(room.layers["followup"].translate)
    room._on_mouse(viewer, SimpleNamespace(**vars(click), viewbox=(0, 1), position=follow_point))
    assert room.current_side == "followup"
    moved = np.asarray(room.layers["followup"].translate) - before
    np.testing.assert_allclose(moved, base_point - follow_point, atol=1e-9)


def test_widget_contribution_opens_from_the_plugin_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("spondy-annotate", "Reading room")
    assert isinstance(widget, ReadingRoomWidget)
    assert reading_room_for(viewer) is widget.room
    assert [layer.name for layer in viewer.layers] == ["Baseline", "Follow-up"]


@pytest.mark.slow
def test_cli_screenshot(tmp_path, small_export):
    out = tmp_path / "shot.png"
    # through the core's command line: `open` is the plugin's, found by its entry point
    code = "import sys; from spondy_annotate.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [
        "open",
        str(small_export),
        "--screenshot",
        str(out),
        "--case",
        "2",
        "--size",
        "1200x700",
    ]
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    assert "Case 2 (aligned automatically (" in done.stdout  # it waited for the alignment
    import imageio.v3 as iio

    image = iio.imread(out)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image[..., :3].std() > 10  # not a blank window


def test_grading_session_gives_labels_states_and_keeps_offsets(opened, tmp_path):
    from spondy_napari.grading.room_link import link_session

    from spondy_annotate.grading.session import OFFSET_KEY, GradingSession

    room, table = opened.room, opened.widget.worklist.table
    with GradingSession.open(tmp_path / "gradings.sqlite", reader="reader1") as session:
        unlink = link_session(room, session)
        labels = [table.item(r, 0).text() for r in range(table.rowCount())]
        assert all(label.startswith("C-") for label in labels)  # pseudonyms, never patient IDs
        assert len(set(labels)) == 3 and room.current_label in labels
        assert [table.item(r, 1).text() for r in range(3)] == ["not started"] * 3
        room.nudge(+1)
        kept = room.offset
        stored = session.store.get_case_state(room.current_label, "reader1")[OFFSET_KEY]
        assert stored == pytest.approx(list(kept))
        shown = room.current_case
        room.set_cases(room.cases)  # a new session: nothing in memory
        room.show_case(room.cases.index(shown))
        np.testing.assert_allclose(room.offset, kept)  # restored from the store
        unlink()
        assert room.label(0) == "Case 1"


def test_blinded_reading_hides_dates(opened):
    room, table = opened.room, opened.widget.worklist.table
    case = room.current_case
    room.set_hide_dates(True)
    label = case.pairs[0].label
    assert room.layers["baseline"].name == f"Baseline · {label}"
    assert room.layers["followup"].name == f"Follow-up · {label}"
    cells = [
        table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount())
    ]
    assert not any(case.baseline.date_text in cell or cell.endswith(" d") for cell in cells)
    assert room.layers["baseline"].metadata["spondy"]["study_date"] == ""


def test_active_side_follows_clicks_list_and_key(opened):
    viewer, room = opened.viewer, opened.room
    sides = []
    room.events.side.connect(lambda e: sides.append(e.value))
    viewer.layers.selection.active = room.layers["followup"]  # picked in the layer list
    assert room.current_side == "followup"
    press(viewer, "Q")
    assert (
        room.current_side == "baseline"
        and viewer.layers.selection.active is room.layers["baseline"]
    )
    assert sides == ["followup", "baseline"]


def test_missing_series_on_one_side_is_a_labelled_blank(make_napari_viewer, qtbot, tmp_path):
    from dicom_factory import SAGITTAL, write_series

    common = {"patient_id": "P9", "orientation": SAGITTAL, "slices": 5, "shape": (16, 12)}
    base, follow = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    write_series(
        tmp_path / "a", study_uid=base, study_date="20240110", description="SAG STIR", **common
    )
    write_series(
        tmp_path / "b",
        study_uid=base,
        study_date="20240110",
        description="SAG T2 TSE",
        ti=None,
        scanning_sequence="SE",
        series_number=2,
        **common,
    )
    write_series(
        tmp_path / "c", study_uid=follow, study_date="20240221", description="SAG STIR", **common
    )
    viewer = make_napari_viewer()
    widget = ReadingRoomWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.open_folder(str(tmp_path))
    room = widget.room
    qtbot.waitUntil(lambda: room.current_case is not None, timeout=TIMEOUT_MS)
    assert [p.label for p in room.current_case.pairs] == ["SAG STIR", "SAG T2"]
    press(viewer, "S")
    qtbot.waitUntil(lambda: room.pair_index == 1, timeout=TIMEOUT_MS)
    followup = room.layers["followup"]
    assert followup.name == "Follow-up 2024-02-21 (+42 d) · SAG T2 — not acquired"
    assert room.prepared["followup"] is None
    assert followup.data.shape == room.layers["baseline"].data.shape and not np.any(followup.data)
    assert "slice" in widget.readout.text
    room.nudge(+1)  # nothing to nudge: no error


def test_keys_ask_the_dock_to_open_and_filter(opened, monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: asked.append(a) or "")
    requests = []
    opened.room.events.request.connect(lambda e: requests.append(e.value))
    press(opened.viewer, "F2")
    press(opened.viewer, "Control-F")
    assert requests == ["open", "filter"] and len(asked) == 1
