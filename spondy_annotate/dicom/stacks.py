"""Turning a series' frames into regular volumes, or saying clearly why they are not one.

A series may hold one regular stack of parallel slices (the common case), several stacks (a
3-plane localizer, a 4D series with time points or echoes, magnitude and phase frames), or an
irregular set (missing slices, uneven spacing, duplicates). :func:`plan_stacks` sorts frames along
the slice normal by ImagePositionPatient (never by InstanceNumber or file name), splits what can be
split and raises :class:`~spondy_annotate.errors.SeriesGeometryError` for what cannot.

Plain Python, no numpy: a series has tens of slices, where numpy's per-call cost dominates, and
the index plans every series of an export without importing numpy.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from spondy_annotate.dicom.records import FrameGeometry, orientation_label
from spondy_annotate.errors import SeriesGeometryError

#: Two positions closer than this along the normal (mm) are the same slice position.
SAME_POSITION_MM = 0.01
#: Allowed deviation of one slice step from the median step: absolute (mm) and relative.
SPACING_TOLERANCE_MM = 0.05
SPACING_TOLERANCE_REL = 0.02
#: Allowed in-plane drift of the slice origins across a stack (mm).
IN_PLANE_TOLERANCE_MM = 0.2
#: Slices of one orientation spread over more than this (mm) are corrupt positions, not anatomy.
MAX_EXTENT_MM = 1e6


@dataclass(frozen=True)
class Stack:
    """One regular volume within a series.

    Attributes
    ----------
    indices : tuple of int
        Indices into the frame list given to :func:`plan_stacks`, sorted along the slice normal.
    orientation : tuple of float
        The stack's ImageOrientationPatient (row, column cosines).
    normal : tuple of float
        Unit slice normal (row x column); slice positions increase along it.
    spacing : float or None
        Distance between slice centres measured from positions (None for a single slice).
    label : str
        A short name of the stack within its series, e.g. ``"sagittal"`` or ``"time point 2"``.
    """

    indices: tuple[int, ...]
    orientation: tuple[float, ...]
    normal: tuple[float, float, float]
    spacing: float | None
    label: str

    @property
    def plane(self) -> str:
        """sagittal, coronal or axial."""
        return orientation_label(self.orientation)


def _orientation_groups(frames: Sequence[FrameGeometry]) -> list[list[int]]:
    if len({frame.orientation for frame in frames}) == 1:  # the common case: one group
        return [list(range(len(frames)))]
    exact: dict[tuple[float, ...], list[int]] = {}
    for i, frame in enumerate(frames):
        exact.setdefault(frame.orientation, []).append(i)
    groups: list[tuple[tuple[float, ...], list[int]]] = []
    for orientation, indices in exact.items():
        for rep, members in groups:
            if _close(orientation, rep):
                members.extend(indices)
                break
        else:
            groups.append((orientation, list(indices)))
    return [sorted(members) for _, members in groups]


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two orientations are the same within 0.001 (as :func:`numpy.allclose` with
    ``atol=1e-3``)."""
    return all(abs(x - y) <= 1e-3 + 1e-5 * abs(y) for x, y in zip(a, b, strict=True))


@lru_cache(maxsize=256)
def _normal(orientation: tuple[float, ...]) -> tuple[float, float, float]:
    """The unit slice normal of an orientation (cached: a whole export shares a few)."""
    rx, ry, rz, cx, cy, cz = orientation
    x, y, z = ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx
    norm = math.sqrt(x * x + y * y + z * z)
    if norm < 1e-6:
        raise SeriesGeometryError("ImageOrientationPatient (0020,0037) has parallel row/column")
    return x / norm, y / norm, z / norm


def _position_ids(distances: list[float]) -> list[int]:
    """Give frames at the same position (within :data:`SAME_POSITION_MM`) the same id."""
    order = sorted(range(len(distances)), key=distances.__getitem__)
    ids = [0] * len(distances)
    current = 0
    for rank, idx in enumerate(order):
        if rank and distances[idx] - distances[order[rank - 1]] > SAME_POSITION_MM:
            current += 1
        ids[idx] = current
    return ids


def _split_repeated(
    members: list[int], frames: Sequence[FrameGeometry], pos_ids: list[int]
) -> list[tuple[list[int], str]]:
    """Split frames that repeat positions into volumes, by the first key that does it cleanly."""
    counts = Counter(pos_ids).values()  # frames per position
    wanted = max(counts)
    n_keys = len(frames[members[0]].split_keys)
    for k in range(n_keys):
        groups: dict[object, list[int]] = defaultdict(list)
        for local, i in enumerate(members):
            groups[frames[i].split_keys[k]].append(local)
        if len(groups) != wanted:
            continue
        if all(len({pos_ids[j] for j in g}) == len(g) for g in groups.values()):
            return [
                ([members[j] for j in g], f"{_KEY_NAMES[k]} {v}" if v not in ("", None) else "")
                for v, g in sorted(groups.items(), key=lambda kv: str(kv[0]))
            ]
    if len(set(counts)) != 1:
        raise SeriesGeometryError(
            f"duplicate slice positions: {sum(c > 1 for c in counts)} of {len(counts)} positions "
            f"are repeated unevenly ({min(counts)} to {wanted} frames)"
        )
    # Same count everywhere (a 4D series without a usable key): the k-th frame at each position,
    # in acquisition order, belongs to volume k.
    by_position: dict[int, list[int]] = defaultdict(list)
    for local in sorted(range(len(members)), key=lambda j: _acquisition_order(frames[members[j]])):
        by_position[pos_ids[local]].append(local)
    return [
        ([members[by_position[p][t]] for p in sorted(by_position)], f"time point {t + 1}")
        for t in range(wanted)
    ]


_KEY_NAMES = ("type", "time point", "echo", "acquisition", "time", "instance")


def _acquisition_order(frame: FrameGeometry) -> tuple[str, ...]:
    return tuple(str(k).zfill(12) for k in reversed(frame.split_keys))


def _median(values: list[float]) -> float:
    """The median as :func:`numpy.median` gives it (mean of the middle two for an even count)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _regular_stack(
    members: list[int],
    positions: list[tuple[float, float, float]],
    distances: list[float],
    frames: Sequence[FrameGeometry],
    normal: tuple[float, float, float],
    label: str,
) -> Stack:
    """Sort ``members`` along the normal and check they are evenly spaced and not sheared.

    ``positions`` and ``distances`` (along ``normal``) are those of ``members``, in their order.
    """
    order = sorted(range(len(members)), key=distances.__getitem__)
    members = [members[i] for i in order]
    orientation = frames[members[0]].orientation
    spacing: float | None = None
    where = f" ({label})" if label else ""
    if len(members) > 1:
        dist = [distances[i] for i in order]
        steps = [b - a for a, b in zip(dist, dist[1:], strict=False)]
        spacing = _median(steps)
        tolerance = max(SPACING_TOLERANCE_MM, SPACING_TOLERANCE_REL * spacing)
        bad = [i for i, step in enumerate(steps) if abs(step - spacing) > tolerance]
        if bad:
            i = bad[0]
            kind = "a gap" if steps[i] > 1.5 * spacing else "uneven spacing"
            raise SeriesGeometryError(
                f"{kind} between slices{where}: step {steps[i]:.2f} mm after slice {i + 1} of "
                f"{len(members)} where the others are {spacing:.2f} mm; refusing to stack them"
            )
        nx, ny, nz = normal
        (x0, y0, z0), d0 = positions[order[0]], dist[0]
        shifts = []  # squared in-plane distance of each slice origin from the first one's
        for i, d in zip(order, dist, strict=True):
            x, y, z = positions[i]
            along = d - d0
            dx, dy, dz = x - along * nx - x0, y - along * ny - y0, z - along * nz - z0
            shifts.append(dx * dx + dy * dy + dz * dz)
        drift = math.sqrt(max(shifts))
        if drift > IN_PLANE_TOLERANCE_MM:
            raise SeriesGeometryError(
                f"slices{where} are shifted in-plane by up to {drift:.2f} mm (a sheared stack); "
                "refusing to stack them"
            )
    return Stack(tuple(members), tuple(orientation), normal, spacing, label)


def plan_stacks(frames: Sequence[FrameGeometry]) -> list[Stack]:
    """Sort and split a series' frames into regular stacks.

    Parameters
    ----------
    frames : sequence of FrameGeometry
        Every frame of one series, in any order.

    Returns
    -------
    list of Stack
        One stack per orientation and per repeated volume (time point, echo, frame type).

    Raises
    ------
    SeriesGeometryError
        When frames have no geometry, or a stack has duplicates, gaps, uneven spacing or an
        in-plane shift that cannot be split into regular volumes.
    """
    if not frames:
        raise SeriesGeometryError(
            "no frame has ImagePositionPatient (0020,0032) and ImageOrientationPatient (0020,0037)"
        )
    groups = _orientation_groups(frames)
    stacks: list[Stack] = []
    for members in groups:
        orientation = frames[members[0]].orientation
        normal = _normal(tuple(orientation))
        plane = orientation_label(orientation) if len(groups) > 1 else ""
        nx, ny, nz = normal
        positions = [frames[i].position for i in members]
        distances = [x * nx + y * ny + z * nz for x, y, z in positions]
        if (
            not all(map(math.isfinite, distances))
            or max(distances) - min(distances) > MAX_EXTENT_MM
        ):
            raise SeriesGeometryError(
                "ImagePositionPatient (0020,0032) values are out of range "
                f"(slices spread over more than {MAX_EXTENT_MM:.0f} mm)"
            )
        pos_ids = _position_ids(distances)
        if len(set(pos_ids)) == len(members):
            split = [(list(range(len(members))), "")]
        else:
            local_of = {i: j for j, i in enumerate(members)}
            split = [
                ([local_of[i] for i in part], key_label)
                for part, key_label in _split_repeated(members, frames, pos_ids)
            ]
        for local, key_label in split:
            label = ", ".join(x for x in (plane, key_label) if x)
            stacks.append(
                _regular_stack(
                    [members[j] for j in local],
                    [positions[j] for j in local],
                    [distances[j] for j in local],
                    frames,
                    normal,
                    label,
                )
            )
    return stacks
