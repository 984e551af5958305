"""The follow-up offset: per case, the shift that lines the follow-up up with the baseline.

Baseline and follow-up are different visits (different frames of reference), so the same vertebra
sits at different scanner coordinates. The reader sets the shift once per case, in patient (LPS)
mm: one follow-up slice at a time (Shift-Up/Down) or by Shift-clicking the same landmark on both
sides. Here is the bookkeeping (offsets by case, landmark clicks) and the arithmetic between
patient mm, world mm and slices; :class:`~spondy_napari.reading_room.room.ReadingRoom` applies
the result to the follow-up layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from spondy_annotate.cases.pairing import Case
from spondy_annotate.grading.session import CaseKey, case_key
from spondy_napari.display.layer_data import PreparedVolume

#: ``provider(case) -> (x, y, z) | None``: a stored offset (the grading session's view state).
OffsetProvider = Callable[[Case], Sequence[float] | None]


class OffsetMemory:
    """The offsets of this session by case (:func:`~spondy_annotate.grading.session.case_key`);
    a stored one is asked once per case."""

    def __init__(self) -> None:
        self._offsets: dict[CaseKey, np.ndarray] = {}

    def recall(self, case: Case, provider: OffsetProvider | None) -> None:
        """Take ``case``'s stored offset from ``provider`` unless one is known already."""
        key = case_key(case)
        if key not in self._offsets:
            stored = provider(case) if provider is not None else None
            self._offsets[key] = np.zeros(3) if stored is None else np.asarray(stored, float)

    def get(self, case: Case | None) -> np.ndarray:
        """The offset of ``case`` (zero when none is set)."""
        if case is None:
            return np.zeros(3)
        return self._offsets.get(case_key(case), np.zeros(3)).copy()

    def set(self, case: Case, offset: npt.ArrayLike) -> np.ndarray:
        """Set and return ``case``'s offset (patient LPS mm)."""
        value = np.asarray(offset, dtype=float).reshape(3)
        self._offsets[case_key(case)] = value
        return value.copy()

    def clear(self) -> None:
        """Forget every offset (another export)."""
        self._offsets.clear()


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
