"""A patient's lumbar spine at one visit: vertebrae, discs and the lesion, in the body frame.

The body frame is in millimetres with the axes of DICOM patient coordinates (x towards the
patient's left, y posterior, z superior) and its origin at the centre of the L3 vertebral body.
The spine is a chain of vertebral bodies (T10-S4) and discs with a lumbar lordosis; the disc
height along the disc axis at its centre is exactly the height asked for. An affected level
carries bone-marrow edema in the two vertebrae next to it, an infected disc and paravertebral
inflammation graded 0-3 (see :class:`Lesion`); :mod:`spondy_annotate.synthetic.phantom` paints
them.

Examples
--------
>>> from spondy_annotate.synthetic.anatomy import Lesion, build_anatomy
>>> anatomy = build_anatomy(7, Lesion("L4-L5", 2, 1, 6.5))
>>> round(anatomy.disc("L4-L5").height, 1)
6.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spondy_annotate.synthetic.shapes import Cylinder, Frame, Wedge

__all__ = [
    "LEVELS",
    "Anatomy",
    "Disc",
    "Lesion",
    "Vertebra",
    "build_anatomy",
    "normal_disc_height",
]

#: The levels an infection may affect.
LEVELS: tuple[str, ...] = ("L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: Vertebrae from top to bottom: name, body height, AP half-depth, lateral half-width (mm) and
#: tilt of the body's axis from the vertical (degrees, positive: its lower end more posterior).
_VERTEBRAE: tuple[tuple[str, float, float, float, float], ...] = (
    ("T10", 21.0, 12.5, 17.0, -12.0),
    ("T11", 22.0, 13.0, 18.0, -10.0),
    ("T12", 23.0, 14.0, 19.0, -8.0),
    ("L1", 25.0, 15.0, 21.0, -6.0),
    ("L2", 26.0, 16.0, 22.0, -2.0),
    ("L3", 27.0, 17.0, 23.0, 3.0),
    ("L4", 27.0, 17.5, 24.0, 9.0),
    ("L5", 26.0, 17.5, 25.0, 20.0),
    ("S1", 24.0, 16.0, 40.0, 34.0),
    ("S2", 20.0, 12.0, 34.0, 28.0),
    ("S3", 16.0, 9.0, 26.0, 18.0),
    ("S4", 12.0, 7.0, 16.0, 6.0),
)

#: Normal disc heights at the centre (mm); the sacral ones are fused remnants.
_DISC_HEIGHTS: dict[str, float] = {
    "T10-T11": 5.5,
    "T11-T12": 6.0,
    "T12-L1": 7.0,
    "L1-L2": 8.5,
    "L2-L3": 9.5,
    "L3-L4": 10.5,
    "L4-L5": 11.0,
    "L5-S1": 10.0,
    "S1-S2": 2.0,
    "S2-S3": 1.5,
    "S3-S4": 1.2,
}


def normal_disc_height(level: str) -> float:
    """The phantom's normal disc height (mm) at ``level`` (e.g. ``"L4-L5"``)."""
    return _DISC_HEIGHTS[level]


@dataclass(frozen=True)
class Lesion:
    """The state of the infection at one visit.

    Parameters
    ----------
    level
        The affected disc, one of :data:`LEVELS`.
    marrow_edema
        0 none, 1 endplate region only, 2 up to half of the vertebral bodies, 3 more than half.
    paravertebral_inflammation
        0 none, 1 phlegmon/edema, 2 abscess, 3 abscess extending to the epidural space or psoas.
    disc_height_mm
        Height of the affected disc at its centre, along the disc axis.
    size
        Scale of the abscess at this visit (1 is typical).
    """

    level: str
    marrow_edema: int
    paravertebral_inflammation: int
    disc_height_mm: float
    size: float = 1.0

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, not {self.level!r}")
        for grade in (self.marrow_edema, self.paravertebral_inflammation):
            if grade not in (0, 1, 2, 3):
                raise ValueError(f"grades are 0-3, not {grade!r}")
        if not 1.0 <= self.disc_height_mm <= 20.0:
            raise ValueError(f"disc height must be 1-20 mm, not {self.disc_height_mm}")


@dataclass(frozen=True)
class Vertebra:
    """A vertebral body: its frame (centre at mid-height), height and half-widths."""

    name: str
    frame: Frame
    height: float
    ap: float
    lateral: float

    @property
    def top(self) -> np.ndarray:
        """Centre of the upper endplate."""
        return self.frame.point(0.0, 0.0, self.height / 2)

    @property
    def bottom(self) -> np.ndarray:
        """Centre of the lower endplate."""
        return self.frame.point(0.0, 0.0, -self.height / 2)

    def body(self) -> Cylinder:
        """The body as a solid."""
        return Cylinder(
            self.frame, self.lateral, self.ap, self.height / 2, radius=min(3.0, self.height / 4)
        )


@dataclass(frozen=True)
class Disc:
    """A disc between two vertebrae; ``frame`` is centred on it along the line joining the
    endplate centres, and ``height`` is that distance."""

    name: str
    frame: Frame
    height: float
    upper: Vertebra
    lower: Vertebra

    def solid(self, bulge: float = 1.0) -> Wedge:
        """The whole disc."""
        lat = (self.upper.lateral + self.lower.lateral) / 2 + bulge
        ap = (self.upper.ap + self.lower.ap) / 2 + bulge
        if self.lower.name.startswith("S"):
            lat = self.upper.lateral + bulge
        return Wedge(
            self.frame,
            lat,
            ap,
            tuple(self.upper.bottom.tolist()),
            self.upper.frame.tilt,
            tuple(self.lower.top.tolist()),
            self.lower.frame.tilt,
        )

    def nucleus(self) -> Wedge:
        """The nucleus pulposus: a lens touching both endplates in its middle."""
        whole = self.solid(0.0)
        return Wedge(
            self.frame.moved(v=0.1 * whole.ap),
            0.6 * whole.lateral,
            0.55 * whole.ap,
            whole.top,
            whole.top_tilt,
            whole.bottom,
            whole.bottom_tilt,
            axial=0.62 * self.height,
        )


@dataclass(frozen=True)
class Anatomy:
    """One patient's phantom at one visit, in the body frame (origin: centre of L3)."""

    vertebrae: tuple[Vertebra, ...]
    discs: tuple[Disc, ...]
    lesion: Lesion
    seed: int
    params: dict[str, float]

    def vertebra(self, name: str) -> Vertebra:
        """The vertebra called ``name`` (e.g. ``"L4"``)."""
        for v in self.vertebrae:
            if v.name == name:
                return v
        raise KeyError(name)

    def disc(self, level: str) -> Disc:
        """The disc at ``level`` (e.g. ``"L4-L5"``)."""
        for d in self.discs:
            if d.name == level:
                return d
        raise KeyError(level)

    def wall(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Knots ``(z, y)`` (z ascending) of the posterior (``"back"``) or anterior (``"front"``)
        wall of the vertebral bodies at the midline."""
        sign = 1.0 if side == "back" else -1.0
        arr = np.array(
            [
                v.frame.point(0.0, sign * v.ap, u)
                for v in self.vertebrae
                for u in (v.height / 2, -v.height / 2)
            ]
        )
        order = np.argsort(arr[:, 2])
        return arr[order, 2], arr[order, 1]


def build_anatomy(anatomy_seed: int, lesion: Lesion) -> Anatomy:
    """Build a patient's spine from a seed (the patient) and the lesion at one visit.

    The seed fixes the patient's size, lordosis, fat and the shape of the lesion; the lesion
    changes grades and the affected disc's height between visits.
    """
    rng = np.random.default_rng(anatomy_seed)
    size = float(rng.uniform(0.92, 1.08))
    lordosis = float(rng.uniform(0.75, 1.25))
    sacral = float(rng.uniform(-6.0, 6.0))
    disc_factor = {name: float(rng.uniform(0.85, 1.1)) for name in _DISC_HEIGHTS}
    params = {
        "size": size,
        "back_depth": float(rng.uniform(82.0, 102.0)),
        "fat_back": float(rng.uniform(10.0, 26.0)),
        "front": float(rng.uniform(150.0, 200.0)),
        "fat_front": float(rng.uniform(15.0, 38.0)),
        "half_width": float(rng.uniform(140.0, 175.0)),
        "conus": float(rng.uniform(-0.3, 0.4)),
        "abscess_x": float(rng.uniform(-10.0, 10.0)),
        "abscess_len": float(rng.uniform(0.9, 1.3)),
        "psoas_side": float(rng.choice([-1.0, 1.0])),
        "phase0": float(rng.uniform(0, 2 * math.pi)),
        "phase1": float(rng.uniform(0, 2 * math.pi)),
        "phase2": float(rng.uniform(0, 2 * math.pi)),
        "phase3": float(rng.uniform(0, 2 * math.pi)),
    }
    for k in range(2):
        params[f"spot{k} x"] = float(rng.uniform(-0.4, 0.4))
        params[f"spot{k} v"] = float(rng.uniform(-0.6, 0.3))
        params[f"spot{k} u"] = float(rng.uniform(-0.25, 0.25))
    for name in _DISC_HEIGHTS:
        lower = name in ("L4-L5", "L5-S1")
        params[f"degeneration {name}"] = float(
            rng.uniform(0.1, 0.7) if lower else rng.uniform(0.0, 0.3)
        )
    params["psoas_abscess"] = float(rng.random() < 0.5)

    tilts = {}
    for name, _h, _b, _a, tilt in _VERTEBRAE:
        tilts[name] = tilt + sacral if name.startswith("S") else tilt * lordosis
    verts: list[Vertebra] = []
    discs: list[Disc] = []
    point = np.zeros(3)
    pending: tuple[str, float, float] | None = None  # disc name, height, tilt
    for i, (name, h, b, a, _tilt) in enumerate(_VERTEBRAE):
        theta = math.radians(tilts[name])
        down = np.array([0.0, math.sin(theta), -math.cos(theta)])
        height = h * size
        center = point + down * height / 2
        vert = Vertebra(name, Frame(tuple(center.tolist()), theta), height, b * size, a * size)
        if pending is not None:
            upper = verts[-1]
            dname, dh, dtheta = pending
            mid = upper.bottom + np.array([0.0, math.sin(dtheta), -math.cos(dtheta)]) * dh / 2
            discs.append(Disc(dname, Frame(tuple(mid.tolist()), dtheta), dh, upper, vert))
        verts.append(vert)
        point = center + down * height / 2
        if i + 1 < len(_VERTEBRAE):
            nxt = _VERTEBRAE[i + 1][0]
            dname = f"{name}-{nxt}"
            dh = _DISC_HEIGHTS[dname] * size * disc_factor[dname]
            if dname == lesion.level:
                dh = lesion.disc_height_mm
            dtheta = math.radians((tilts[name] + tilts[nxt]) / 2)
            point = point + np.array([0.0, math.sin(dtheta), -math.cos(dtheta)]) * dh
            pending = (dname, dh, dtheta)

    # origin at the centre of L3
    l3 = next(v for v in verts if v.name == "L3").frame.center
    shift = -np.asarray(l3)

    def moved(f: Frame) -> Frame:
        return Frame(tuple((np.asarray(f.center) + shift).tolist()), f.tilt)

    verts = [Vertebra(v.name, moved(v.frame), v.height, v.ap, v.lateral) for v in verts]
    by_name = {v.name: v for v in verts}
    discs = [
        Disc(d.name, moved(d.frame), d.height, by_name[d.upper.name], by_name[d.lower.name])
        for d in discs
    ]
    return Anatomy(tuple(verts), tuple(discs), lesion, anatomy_seed, params)
