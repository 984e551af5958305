"""The reading room's keys: one table used to bind them on the viewer and to print the help.

The room does not bind them itself: its dock does (as napari-animation's widget binds its keys),
so that this table may name the room's methods without the room importing it.

The wheel is the room's too (:mod:`.wheel`): it pages slices, Ctrl-wheel zooms.
Keys are chosen not to clobber napari's own (arrows Left/Right step the slider, Ctrl-R resets
the view, Space holds to pan, V toggles visibility, C auto-contrasts, 1/2 are an image layer's
modes, Ctrl-G toggles the grid); napari's are listed under "napari" in the help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import napari

    from spondy_napari.reading_room.room import ReadingRoom


@dataclass(frozen=True)
class KeyAction:
    """Keys bound to one action of the reading room."""

    keys: tuple[str, ...]
    help: str
    run: Callable[[ReadingRoom], Any]

    @property
    def label(self) -> str:
        """The keys as shown in the help, e.g. ``"N / Shift-N"``."""
        return " / ".join(self.keys)


def _preset(name: str) -> Callable[[ReadingRoom], Any]:
    return lambda room: room.window_level.apply_preset(name)


#: Every key of the reading room, in the order of the help overlay.
ACTIONS: tuple[KeyAction, ...] = (
    KeyAction(("N",), "next case", lambda r: r.next_case()),
    KeyAction(("Shift-N",), "previous case", lambda r: r.previous_case()),
    KeyAction(("S",), "next sequence (both sides)", lambda r: r.cycle_pair(+1)),
    KeyAction(("Shift-S",), "previous sequence", lambda r: r.cycle_pair(-1)),
    KeyAction(("Up", "PageUp"), "next slice (both sides)", lambda r: r.step_slice(+1)),
    KeyAction(("Down", "PageDown"), "previous slice", lambda r: r.step_slice(-1)),
    KeyAction(("Home",), "middle slice", lambda r: r.go_to_middle_slice()),
    KeyAction(("Shift-Up",), "follow-up one slice further (offset)", lambda r: r.nudge(+1)),
    KeyAction(("Shift-Down",), "follow-up one slice back (offset)", lambda r: r.nudge(-1)),
    KeyAction(("Shift-Home",), "reset the follow-up offset", lambda r: r.reset_offset()),
    KeyAction(("Q",), "switch the active side", lambda r: r.toggle_side()),
    KeyAction(
        ("W",),
        "window/level drag mode on/off (left-drag)",
        lambda r: r.window_level.toggle_drag_mode(),
    ),
    KeyAction(("3",), "window: DICOM", _preset("DICOM")),
    KeyAction(("4",), "window: T1 preset", _preset("T1")),
    KeyAction(("5",), "window: T2 preset", _preset("T2")),
    KeyAction(("6",), "window: STIR preset", _preset("STIR")),
    KeyAction(("7",), "window: auto (percentiles)", _preset("Auto")),
    KeyAction(
        ("K",), "link window/level of both sides on/off", lambda r: r.window_level.toggle_linked()
    ),
    KeyAction(
        ("F11",),
        "images full screen: hide/show the docks",
        lambda r: r.events.request(value="docks"),
    ),
    KeyAction(("F2",), "open an export folder…", lambda r: r.events.request(value="open")),
    KeyAction(
        ("Control-F",),
        "find a case: filter the worklist",
        lambda r: r.events.request(value="filter"),
    ),
    KeyAction(("F1", "H"), "show/hide this help", lambda r: r.toggle_help()),
)

#: napari's keys and the mouse as the reading room has them (listed in the help, not bound here).
NAPARI_KEYS: tuple[tuple[str, str], ...] = (
    ("Left / Right", "previous / next slice"),
    ("wheel", "page slices (both sides; one notch, one slice)"),
    ("Ctrl-wheel", "zoom at the cursor (both sides)"),
    ("drag / Space-drag", "pan (both sides)"),
    ("Ctrl-R", "fit the images (zoom and pan are kept across cases)"),
    ("click", "make that side the active one"),
    ("Shift-click", "a landmark; then Shift-click it on the other side: the follow-up is aligned"),
)


def bind_keys(
    viewer: napari.Viewer, room: ReadingRoom, actions: tuple[KeyAction, ...] = ACTIONS
) -> list[str]:
    """Bind every action's keys on ``viewer`` (overwriting earlier reading room bindings)."""
    bound = []
    for action in actions:
        for key in action.keys:
            viewer.bind_key(key, _callback(room, action), overwrite=True)
            bound.append(key)
    return bound


def unbind_keys(viewer: napari.Viewer, keys: list[str]) -> None:
    """Remove bindings made by :func:`bind_keys`."""
    for key in keys:
        viewer.bind_key(key, None, overwrite=True)


def _callback(room: ReadingRoom, action: KeyAction) -> Callable[[Any], None]:
    def callback(viewer: Any) -> None:
        action.run(room)

    callback.__doc__ = action.help.capitalize()
    return callback
