"""The follow-up offset: per case, the shift that lines the follow-up up with the baseline.

Baseline and follow-up are different visits (different frames of reference), so the same vertebra
sits at different scanner coordinates. The shift, in patient (LPS) mm, comes from one of two
sources: the automatic alignment (a registration computed in the background,
:mod:`spondy_annotate.cases.alignment`), or the reader, who nudges the follow-up one slice at a
time (Shift-Up/Down) or Shift-clicks the same landmark on both sides. The reader's shift
overrides the automatic one and is kept (the grading session stores it as view state); Shift-Home
drops it, back to the automatic one. Here is the bookkeeping (:class:`OffsetMemory`, landmark
clicks) and the arithmetic between patient mm, world mm and slices;
:class:`~spondy_napari.reading_room.room.ReadingRoom` applies the result to the follow-up layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from spondy_annotate.cases.alignment import Alignment, AlignmentStatus
from spondy_annotate.cases.pairing import Case
from spondy_annotate.grading.session import CaseKey, case_key
from spondy_napari.display.layer_data import PreparedVolume

#: ``provider(case) -> (x, y, z) | None``: a stored offset (the grading session's view state).
OffsetProvider = Callable[[Case], Sequence[float] | None]


class OffsetMemory:
    """The offsets of this session by case (:func:`~spondy_annotate.grading.session.case_key`).

    A case's offset is the reader's (set here, or stored and asked from the provider once),
    else its automatic alignment's, else zero.
    """

    def __init__(self) -> None:
        self._manual: dict[CaseKey, np.ndarray] = {}
        self._set_here: set[CaseKey] = set()
        self._asked: set[CaseKey] = set()
        self._automatic: dict[CaseKey, Alignment] = {}

    def recall(self, case: Case, provider: OffsetProvider | None) -> None:
        """Take ``case``'s stored offset from ``provider`` unless asked (or set here) already."""
        key = case_key(case)
        if key in self._asked or key in self._set_here or provider is None:
            return
        self._asked.add(key)
        stored = provider(case)
        if stored is not None:
            self._manual[key] = np.asarray(stored, dtype=float).reshape(3)

    def forget_recalled(self) -> list[tuple[CaseKey, np.ndarray]]:
        """Forget what a provider gave (another one comes); return the offsets set here."""
        for key in self._asked - self._set_here:
            self._manual.pop(key, None)
        self._asked.clear()
        return [(key, self._manual[key].copy()) for key in self._set_here if key in self._manual]

    def get(self, case: Case | None, at: npt.ArrayLike | None = None) -> np.ndarray:
        """The offset of ``case``; an automatic one is exact at patient point ``at``."""
        if case is None:
            return np.zeros(3)
        key = case_key(case)
        if key in self._manual:
            return self._manual[key].copy()
        automatic = self._automatic.get(key)
        if automatic is not None and automatic.status is AlignmentStatus.AUTOMATIC:
            return automatic.offset_at(np.zeros(3) if at is None else at)
        return np.zeros(3)

    def set(self, case: Case, offset: npt.ArrayLike | None) -> np.ndarray | None:
        """Set (None: drop) the reader's offset of ``case`` (patient LPS mm); return it."""
        key = case_key(case)
        self._set_here.add(key)
        if offset is None:
            self._manual.pop(key, None)
            return None
        value = np.asarray(offset, dtype=float).reshape(3)
        self._manual[key] = value
        return value.copy()

    def set_automatic(self, alignment: Alignment) -> None:
        """Keep a case's automatic alignment (or why it failed)."""
        self._automatic[alignment.key] = alignment

    def automatic(self, case: Case | None) -> Alignment | None:
        """The automatic alignment of ``case`` known so far."""
        return None if case is None else self._automatic.get(case_key(case))

    def is_manual(self, case: Case | None) -> bool:
        """True when the reader's offset applies to ``case``."""
        return case is not None and case_key(case) in self._manual

    def clear(self) -> None:
        """Forget every offset (another export)."""
        self._manual.clear()
        self._set_here.clear()
        self._asked.clear()
        self._automatic.clear()


def offset_world(prepared: PreparedVolume | None, offset: npt.ArrayLike) -> np.ndarray:
    """A patient offset in the world frame of ``prepared``'s plane (added to its ``translate``)."""
    if prepared is None:
        return np.zeros(3)
    return prepared.geometry.patient_to_world(np.asarray(offset, dtype=float))


def offset_in_slices(followup: PreparedVolume | None, offset: npt.ArrayLike) -> float:
    """The offset along the slice axis in follow-up slices (+1: one slice further)."""
    if followup is None:
        return 0.0
    return -float(offset_world(followup, offset)[0]) / followup.slice_spacing


def nudged(followup: PreparedVolume, offset: npt.ArrayLike, slices: int) -> np.ndarray:
    """``offset`` moved by whole follow-up slices (+1: the follow-up shows its next slice)."""
    delta_world = np.array([-slices * followup.slice_spacing, 0.0, 0.0])
    return np.asarray(offset, dtype=float) + followup.geometry.world_to_patient(delta_world)


def aligned(
    followup: PreparedVolume,
    offset: npt.ArrayLike,
    baseline_world: npt.ArrayLike,
    followup_world: npt.ArrayLike,
) -> np.ndarray:
    """The offset that puts the follow-up's point ``followup_world`` on ``baseline_world``.

    Both points are world positions as clicked (the follow-up's includes ``offset``).
    """
    delta = np.asarray(baseline_world, dtype=float) - np.asarray(followup_world, dtype=float)
    return np.asarray(offset, dtype=float) + followup.geometry.world_to_patient(delta)


class LandmarkPair:
    """Shift-clicks of one landmark: the first side's point waits for a click on the other."""

    def __init__(self) -> None:
        self.first: tuple[str, np.ndarray] | None = None

    def click(self, side: str, position: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray] | None:
        """Record a click; once both sides are clicked, return ``(baseline, followup)`` points."""
        point = np.asarray(position, dtype=float)
        if self.first is None or self.first[0] == side:
            self.first = (side, point)
            return None
        first_side, first = self.first
        self.first = None
        return (first, point) if first_side == "baseline" else (point, first)

    def reset(self) -> None:
        """Forget a first click (another case)."""
        self.first = None
