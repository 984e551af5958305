"""A synthetic lumbar spine MRI phantom: anatomy as signed-distance shapes, rendered per sequence.

The anatomy lives in a *body frame* in millimetres with the axes of DICOM patient coordinates
(x towards the patient's left, y posterior, z superior) and its origin at the centre of the L3
vertebral body. Every structure is a shape with an approximate signed distance (negative inside);
a volume is painted back to front, each shape blending its tissue's signal in with a
partial-volume edge one pixel wide. The signal of a tissue is a relative value (about 0-1) for
each sequence; see :data:`TISSUES`.

The spine is a chain of vertebral bodies (T10-S4) and discs with a lumbar lordosis; the disc
height along the disc axis at its centre is exactly the height asked for. An affected level
carries bone-marrow edema in the two vertebrae next to it, an infected disc and paravertebral
inflammation graded 0-3 (see :class:`Lesion`).

Examples
--------
>>> import numpy as np
>>> from spondy_annotate.synthetic.phantom import Grid, Lesion, build_anatomy, render
>>> anatomy = build_anatomy(7, Lesion("L4-L5", 2, 1, 6.5))
>>> grid = Grid(np.array([0.0]), np.arange(-60, 60, 2.0), np.arange(-80, 80, 2.0), 2.0)
>>> render(anatomy, grid, ("T1", "STIR"), seed=1).shape
(2, 1, 60, 80)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: The sequences the phantom can render; ``T1FS+C`` is a fat-saturated T1 after gadolinium.
SEQUENCES: tuple[str, ...] = ("T1", "T2", "STIR", "T1FS+C")

#: The levels an infection may affect.
LEVELS: tuple[str, ...] = ("L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: Relative signal of each tissue on T1, T2, STIR and T1FS+C.
TISSUES: dict[str, tuple[float, float, float, float]] = {
    "air": (0.0, 0.0, 0.0, 0.0),
    "fat": (0.95, 0.78, 0.06, 0.10),
    "muscle": (0.36, 0.24, 0.17, 0.28),
    "viscera": (0.42, 0.42, 0.34, 0.42),
    "bowel_fluid": (0.18, 0.85, 0.80, 0.30),
    "bowel_content": (0.55, 0.32, 0.25, 0.55),
    "cortex": (0.05, 0.04, 0.04, 0.04),
    "marrow": (0.72, 0.55, 0.14, 0.20),
    "annulus": (0.32, 0.16, 0.13, 0.18),
    "nucleus": (0.36, 0.88, 0.62, 0.22),
    "csf": (0.12, 1.00, 0.92, 0.07),
    "cord": (0.48, 0.40, 0.33, 0.35),
    "vessel": (0.06, 0.05, 0.05, 0.25),
    "edema": (0.20, 0.80, 0.92, 0.75),
    "infected_disc": (0.20, 0.94, 0.96, 0.55),
    "phlegmon": (0.30, 0.60, 0.72, 0.82),
    "abscess_wall": (0.30, 0.55, 0.62, 0.95),
    "abscess": (0.14, 1.00, 1.00, 0.10),
}

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

#: Psoas radius (mm) beside each vertebra.
_PSOAS_RADIUS: dict[str, float] = {
    "T12": 3.0,
    "L1": 7.0,
    "L2": 11.0,
    "L3": 15.0,
    "L4": 19.0,
    "L5": 21.0,
    "S1": 19.0,
    "S2": 0.5,
}

#: Thickness of the vertebral bodies' cortex and bony endplates (mm).
_CORTEX_MM = 2.0

#: Edema extent from the affected endplate, as a fraction of the vertebral body height.
_EDEMA_EXTENT: dict[int, float] = {0: 0.0, 1: 0.16, 2: 0.42, 3: 0.85}


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
class Grid:
    """Voxel centres of a volume along the body-frame axes (mm, ascending each).

    The volume is indexed ``[x, y, z]``; ``pixel_mm`` is the width of the partial-volume edge.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    pixel_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nx, ny, nz)``."""
        return (len(self.x), len(self.y), len(self.z))


# --------------------------------------------------------------------------- shapes

Array = np.ndarray
Bbox = tuple[np.ndarray, np.ndarray]


def _ellipse_sd(parts: Sequence[Array], semi: Sequence[Array | float]) -> Array:
    """Approximate signed distance to an axis-aligned ellipse/ellipsoid (exact near the edge)."""
    k0: Array | float = 0.0
    k1: Array | float = 0.0
    for p, s in zip(parts, semi, strict=True):
        s = np.maximum(s, 0.05)
        k0 = k0 + (p / s) ** 2
        k1 = k1 + (p / (s * s)) ** 2
    k0 = np.sqrt(k0)
    k1 = np.sqrt(k1)
    smallest = semi[0]
    for s in semi[1:]:
        smallest = np.minimum(smallest, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = k0 * (k0 - 1.0) / k1
    return np.where(k0 < 0.5, (k0 - 1.0) * smallest, edge)


@dataclass(frozen=True)
class Frame:
    """A local frame: ``center`` (x, y, z) and a tilt (radians) of its axis in the sagittal plane.

    Local coordinates are lateral (x), ``v`` (posterior) and ``u`` (superior, along the axis); a
    positive tilt turns the axis so that its lower end is more posterior.
    """

    center: tuple[float, float, float]
    tilt: float

    @property
    def up(self) -> np.ndarray:
        """The axis (superior) as a patient-frame unit vector."""
        return np.array([0.0, -math.sin(self.tilt), math.cos(self.tilt)])

    @property
    def back(self) -> np.ndarray:
        """The posterior direction of the frame as a unit vector."""
        return np.array([0.0, math.cos(self.tilt), math.sin(self.tilt)])

    def local(self, x: Array, y: Array, z: Array) -> tuple[Array, Array, Array]:
        """Return the local ``(lateral, v, u)`` of points."""
        cx, cy, cz = self.center
        s, c = math.sin(self.tilt), math.cos(self.tilt)
        dy, dz = y - cy, z - cz
        return x - cx, c * dy + s * dz, c * dz - s * dy

    def point(self, lateral: float, v: float, u: float) -> np.ndarray:
        """The body-frame point at local ``(lateral, v, u)``."""
        return (
            np.asarray(self.center)
            + lateral * np.array([1.0, 0.0, 0.0])
            + v * self.back
            + u * self.up
        )

    def moved(
        self, lateral: float = 0.0, v: float = 0.0, u: float = 0.0, tilt: float = 0.0
    ) -> Frame:
        """A frame moved in local coordinates and tilted further by ``tilt`` radians."""
        return Frame(tuple(self.point(lateral, v, u).tolist()), self.tilt + tilt)


class Shape:
    """A solid: a bounding box and an approximate signed distance (mm, negative inside)."""

    def bbox(self) -> Bbox:
        """Lower and upper corners (x, y, z) of a box holding the shape."""
        raise NotImplementedError

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        """Signed distance at points given as broadcastable coordinate arrays."""
        raise NotImplementedError


def _sphere_box(center: Sequence[float], radius: float) -> Bbox:
    c = np.asarray(center, dtype=float)
    return c - radius, c + radius


@dataclass(frozen=True, eq=False)
class Ellipsoid(Shape):
    """An ellipsoid with semi-axes (lateral, AP, axial) in ``frame``."""

    frame: Frame
    semi: tuple[float, float, float]

    def bbox(self) -> Bbox:
        return _sphere_box(self.frame.center, max(self.semi))

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        return _ellipse_sd(self.frame.local(x, y, z), self.semi)


@dataclass(frozen=True, eq=False)
class Cylinder(Shape):
    """An elliptic cylinder along the frame's axis with rounded rims (a vertebral body)."""

    frame: Frame
    lateral: float
    ap: float
    half_height: float
    radius: float = 3.0

    def bbox(self) -> Bbox:
        return _sphere_box(
            self.frame.center, math.hypot(max(self.lateral, self.ap), self.half_height)
        )

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        lat, v, u = self.frame.local(x, y, z)
        r = self.radius
        qr = _ellipse_sd((lat, v), (self.lateral, self.ap)) + r
        qu = np.abs(u) - self.half_height + r
        outside = np.hypot(np.maximum(qr, 0.0), np.maximum(qu, 0.0))
        return outside + np.minimum(np.maximum(qr, qu), 0.0) - r


@dataclass(frozen=True, eq=False)
class Box(Shape):
    """A box with half extents (lateral, AP, axial) in ``frame`` and rounded edges."""

    frame: Frame
    half: tuple[float, float, float]
    radius: float = 2.0

    def bbox(self) -> Bbox:
        return _sphere_box(self.frame.center, float(np.linalg.norm(self.half)))

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        r = self.radius
        q = [np.abs(c) - h + r for c, h in zip(self.frame.local(x, y, z), self.half, strict=True)]
        outside = np.sqrt(sum(np.maximum(c, 0.0) ** 2 for c in q))
        return outside + np.minimum(np.maximum(np.maximum(q[0], q[1]), q[2]), 0.0) - r


@dataclass(frozen=True, eq=False)
class Wedge(Shape):
    """A disc: an elliptic cross-section in ``frame`` between two endplate planes.

    The upper plane passes through ``top`` with the normal of ``top_tilt``; the lower one through
    ``bottom`` with that of ``bottom_tilt``. Along the frame's axis the height is
    ``|top - bottom|``.
    """

    frame: Frame
    lateral: float
    ap: float
    top: tuple[float, float, float]
    top_tilt: float
    bottom: tuple[float, float, float]
    bottom_tilt: float
    axial: float | None = None

    def bbox(self) -> Bbox:
        half = math.dist(self.top, self.bottom) / 2 + 0.5 * max(self.lateral, self.ap)
        return _sphere_box(self.frame.center, math.hypot(max(self.lateral, self.ap), half))

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        parts = self.frame.local(x, y, z)
        if self.axial is None:
            d = _ellipse_sd(parts[:2], (self.lateral, self.ap))
        else:
            d = _ellipse_sd(parts, (self.lateral, self.ap, self.axial))
        up_t = Frame(self.top, self.top_tilt).up
        up_b = Frame(self.bottom, self.bottom_tilt).up
        above = (y - self.top[1]) * up_t[1] + (z - self.top[2]) * up_t[2]
        below = -((y - self.bottom[1]) * up_b[1] + (z - self.bottom[2]) * up_b[2])
        return np.maximum(np.maximum(d, above), below)


@dataclass(frozen=True, eq=False)
class Tube(Shape):
    """A tube along z: centre (x, y) and semi-axes given at knots ``z`` (ascending).

    With ``follow`` the AP semi-axis is measured across the tube's own slope (a tube that leans
    forward, like the thecal sac along the sacrum); otherwise the cross-section is horizontal.
    Beyond the first and last knot the tube is closed.
    """

    z: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    lateral: np.ndarray
    ap: np.ndarray
    follow: bool = True
    cos_slope: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.follow and len(self.z) > 1:
            slope = np.gradient(self.cy, self.z)
            cos = np.cos(np.arctan(slope))
        else:
            cos = np.ones_like(self.z)
        object.__setattr__(self, "cos_slope", cos)

    def bbox(self) -> Bbox:
        ap = self.ap / self.cos_slope
        lo = np.array([np.min(self.cx - self.lateral), np.min(self.cy - ap), self.z[0]])
        hi = np.array([np.max(self.cx + self.lateral), np.max(self.cy + ap), self.z[-1]])
        return lo, hi

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        zs = np.asarray(z, dtype=float)

        def at(values: np.ndarray) -> Array:
            return np.interp(zs.ravel(), self.z, values).reshape(zs.shape)

        dx = x - at(self.cx)
        dy = (y - at(self.cy)) * at(self.cos_slope)
        d = _ellipse_sd((dx, dy), (at(self.lateral), at(self.ap)))
        return np.maximum(d, np.maximum(self.z[0] - zs, zs - self.z[-1]))


@dataclass(frozen=True, eq=False)
class Outside(Shape):
    """Everything outside a shape."""

    shape: Shape
    extent: float = 1000.0

    def bbox(self) -> Bbox:
        e = self.extent
        return np.array([-e, -e, -e]), np.array([e, e, e])

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        return -self.shape.sdf(x, y, z)


@dataclass(frozen=True, eq=False)
class Intersection(Shape):
    """The points inside every part."""

    parts: tuple[Shape, ...]

    def bbox(self) -> Bbox:
        boxes = [p.bbox() for p in self.parts]
        return (np.max([b[0] for b in boxes], axis=0), np.min([b[1] for b in boxes], axis=0))

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        d = self.parts[0].sdf(x, y, z)
        for p in self.parts[1:]:
            d = np.maximum(d, p.sdf(x, y, z))
        return d


@dataclass(frozen=True, eq=False)
class Grown(Shape):
    """A shape grown by ``by`` mm (shrunk when negative)."""

    shape: Shape
    by: float

    def bbox(self) -> Bbox:
        lo, hi = self.shape.bbox()
        return lo - max(self.by, 0.0), hi + max(self.by, 0.0)

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        return self.shape.sdf(x, y, z) - self.by


@dataclass(frozen=True, eq=False)
class EndplateBand(Shape):
    """Marrow within a wavy distance of one endplate of a vertebral body (edema)."""

    body: Cylinder
    lower: bool
    depth: float
    phase: tuple[float, float]
    inset: float = _CORTEX_MM

    def bbox(self) -> Bbox:
        return self.body.bbox()

    def sdf(self, x: Array, y: Array, z: Array) -> Array:
        lat, v, u = self.body.frame.local(x, y, z)
        h = self.body.half_height
        from_endplate = (u + h) if self.lower else (h - u)
        wave = (
            1.0 + 0.12 * np.sin(0.22 * v + self.phase[0]) + 0.08 * np.sin(0.3 * lat + self.phase[1])
        )
        return np.maximum(from_endplate - self.depth * wave, self.body.sdf(x, y, z) + self.inset)


# --------------------------------------------------------------------------- anatomy


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


# --------------------------------------------------------------------------- rendering

Paint = tuple[Shape, "str | np.ndarray", float]


def _mix(a: str, b: str, t: float) -> np.ndarray:
    return (1 - t) * np.asarray(TISSUES[a]) + t * np.asarray(TISSUES[b])


def _bone(shape: Shape, cortex_mm: float = 1.3, marrow: float = 1.0) -> list[Paint]:
    inside = _mix("cortex", "marrow", marrow)
    return [(shape, "cortex", 0.0), (Grown(shape, -cortex_mm), inside, 0.0)]


def _body_paints(anatomy: Anatomy, visit_seed: int) -> list[Paint]:
    """Skin, fat, abdomen with bowel, retroperitoneal fat and the muscles."""
    p = anatomy.params
    zb, yb = anatomy.wall("back")
    zf, yf = anatomy.wall("front")
    far = 600.0
    kz = np.concatenate([[-far], zb, [far]])
    back = np.interp(kz, zb, yb)
    front_wall = np.interp(kz, zf, yf)
    y_back = back + p["back_depth"]
    y_front = np.full_like(kz, -p["front"])
    half = np.full_like(kz, p["half_width"])

    def body(inset_back: float, inset_front: float, inset_side: float) -> Tube:
        yb_, yf_ = y_back - inset_back, y_front + inset_front
        return Tube(
            kz, np.zeros_like(kz), (yb_ + yf_) / 2, half - inset_side, (yb_ - yf_) / 2, follow=False
        )

    outer = body(0.0, 0.0, 0.0)
    inner = body(p["fat_back"], p["fat_front"], 25.0)
    # the retroperitoneum wraps the spine; the peritoneal cavity lies in front and beside it
    retro = Tube(
        kz,
        np.zeros_like(kz),
        back + 40.0,
        np.full_like(kz, 105.0),
        (back + 40.0) - (front_wall - 16.0),
        follow=False,
    )
    abdomen = Intersection((body(p["fat_back"] + 10, p["fat_front"] + 10, 35.0), Outside(retro)))
    paints: list[Paint] = [(outer, "fat", 0.0), (inner, "muscle", 0.0), (abdomen, "viscera", 0.0)]
    rng = np.random.default_rng(visit_seed)
    for _ in range(80):
        c = (
            float(rng.uniform(-120, 120)),
            float(rng.uniform(-p["front"] + 30, 20)),
            float(rng.uniform(-220, 180)),
        )
        sx, sv, su = (float(s) for s in rng.uniform(7, 22, size=3))
        kind = rng.choice(["air", "bowel_fluid", "bowel_content", "bowel_content"])
        blob = Ellipsoid(Frame(c, float(rng.uniform(-1, 1))), (sx, sv, su))
        paints.append((Intersection((blob, abdomen)), str(kind), 0.0))
    paints.append((Intersection((retro, inner)), "fat", 0.0))
    for side in (-1.0, 1.0):
        erector = Tube(
            kz,
            np.full_like(kz, side * 26.0),
            back + 43.0,
            np.full_like(kz, 32.0),
            np.full_like(kz, 30.0),
            follow=False,
        )
        paints.append((Intersection((erector, inner)), "muscle", 0.0))
    # psoas
    names = [n for n in _PSOAS_RADIUS if n in {v.name for v in anatomy.vertebrae}]
    verts = [anatomy.vertebra(n) for n in names]
    pz = np.array([v.frame.center[2] for v in verts])[::-1]
    py = np.array([v.frame.center[1] for v in verts])[::-1]
    pr = np.array([_PSOAS_RADIUS[n] for n in names])[::-1] * p["size"]
    pa = np.array([v.lateral for v in verts])[::-1]
    for side in (-1.0, 1.0):
        paints.append(
            (
                Tube(pz, side * (pa + 0.55 * pr), py + 0.15 * pr, pr, pr * 0.9, follow=False),
                "muscle",
                0.0,
            )
        )
        quadratus = np.interp(pz, zb, yb) + 6.0
        paints.append(
            (
                Tube(
                    pz, side * (pa + 42.0), quadratus, 0.8 * pr + 4.0, 0.45 * pr + 4.0, follow=False
                ),
                "muscle",
                0.0,
            )
        )
    return paints


def _vessel_paints(anatomy: Anatomy) -> list[Paint]:
    """Aorta with the iliac arteries, and the inferior vena cava (flow voids)."""
    zf, yf = anatomy.wall("front")
    z_bif = anatomy.vertebra("L4").frame.center[2]
    y_bif = float(np.interp(z_bif, zf, yf)) - 13.0
    top = 600.0
    kz = np.concatenate([[z_bif], zf[zf > z_bif], [top]])
    ky = np.interp(kz, zf, yf) - 13.0
    ones = np.ones_like(kz)
    paints: list[Paint] = [
        (Tube(kz, 12.0 * ones, ky, 10.5 * ones, 10.5 * ones, follow=False), "vessel", 0.0)
    ]
    z_ivc = anatomy.vertebra("L5").frame.center[2]
    kz2 = np.concatenate([[z_ivc], zf[zf > z_ivc], [top]])
    paints.append(
        (
            Tube(
                kz2,
                -16.0 * np.ones_like(kz2),
                np.interp(kz2, zf, yf) - 12.0,
                12.0 * np.ones_like(kz2),
                8.0 * np.ones_like(kz2),
                follow=False,
            ),
            "vessel",
            0.0,
        )
    )
    kz3 = np.array([z_bif - 160.0, z_bif])
    iliacs = [
        Tube(
            kz3,
            np.array([side * 75.0, 12.0]),
            np.array([y_bif - 20.0, y_bif]),
            np.array([7.0, 8.0]),
            np.array([7.0, 8.0]),
            follow=False,
        )
        for side in (-1.0, 1.0)
    ]
    return paints + [(tube, "vessel", 0.0) for tube in iliacs]


def _canal_paints(anatomy: Anatomy) -> list[Paint]:
    """Epidural fat, thecal sac, cord and cauda equina, following the posterior wall."""
    p = anatomy.params
    zb, yb = anatomy.wall("back")
    s1 = anatomy.vertebra("S1")
    s2 = anatomy.vertebra("S2")
    s3 = anatomy.vertebra("S3")
    # sizes at the knots (ascending z): narrower along the sacrum
    sacral_top = s1.top[2]
    narrow = np.clip((sacral_top - zb) / 60.0, 0.0, 1.0)
    canal_lat = 11.0 - 5.0 * narrow
    canal_ap = 9.0 - 5.5 * narrow
    paints: list[Paint] = [
        (Tube(zb, np.zeros_like(zb), yb + 0.5 + canal_ap, canal_lat, canal_ap), "fat", 0.0)
    ]
    z_end = float(s2.frame.center[2])
    keep = zb > z_end
    kz = np.concatenate([[z_end], zb[keep]])
    ky = np.interp(kz, zb, yb)
    taper = np.clip((kz - z_end) / 25.0, 0.02, 1.0)
    sac_lat = 9.0 * taper
    sac_ap = 6.3 * taper
    sac_y = ky + 1.2 + sac_ap
    paints.append((Tube(kz, np.zeros_like(kz), sac_y, sac_lat, sac_ap), "csf", 0.0))
    l1 = anatomy.vertebra("L1")
    z_conus = l1.frame.center[2] - l1.height * p["conus"] - 0.5 * l1.height
    keep = zb > z_conus
    cz = np.concatenate([[z_conus], zb[keep]])
    cy = np.interp(cz, kz, sac_y) - 0.6
    ctaper = np.clip((cz - z_conus) / 22.0, 0.05, 1.0) ** 0.7
    paints.append((Tube(cz, np.zeros_like(cz), cy, 5.0 * ctaper, 4.0 * ctaper), "cord", 0.0))
    z_root_end = float(s3.frame.center[2])
    keep = (zb < z_conus + 5) & (zb > z_root_end)
    rz = np.concatenate([[z_root_end], zb[keep], [z_conus + 5]])
    ry = np.interp(rz, kz, sac_y)
    for dx, dy in ((0.0, -1.5), (0.6, 1.8), (-0.6, 3.8)):
        spread = np.clip((z_conus - rz) / 120.0, 0.0, 1.0)
        paints.append(
            (
                Tube(
                    rz,
                    dx * np.ones_like(rz),
                    ry + dy * (0.5 + spread),
                    0.9 * np.ones_like(rz),
                    0.9 * np.ones_like(rz),
                ),
                "cord",
                0.0,
            )
        )
    return paints


def _posterior_element_paints(v: Vertebra) -> list[Paint]:
    """Pedicles, laminae, facets and the spinous process of one vertebra (or sacral crest)."""
    f, h, a, b = v.frame, v.height, v.lateral, v.ap
    paints: list[Paint] = []
    if v.name.startswith("S"):
        crest = Box(f.moved(v=b + 17.0), (min(a, 22.0) * 0.6, 4.0, h / 2), radius=2.0)
        paints += _bone(crest, 1.2, 0.7)
        return paints
    side_x = min(0.6 * a, 15.0)
    for s in (-1.0, 1.0):
        pedicle = Ellipsoid(f.moved(lateral=s * side_x, v=b + 7.0, u=0.15 * h), (4.5, 9.5, 7.5))
        facet = Ellipsoid(
            f.moved(lateral=s * (side_x + 2.0), v=b + 19.0, u=-0.5 * h), (6.0, 6.5, 0.45 * h)
        )
        lamina = Ellipsoid(
            f.moved(lateral=s * 0.4 * side_x, v=b + 21.5, u=-0.05 * h), (0.6 * side_x, 4.0, 0.5 * h)
        )
        for shape in (pedicle, facet, lamina):
            paints += _bone(shape, 1.2, 0.7)
    spinous = Box(
        f.moved(v=b + 36.0, u=-0.2 * h, tilt=math.radians(12.0)), (3.5, 14.0, 0.3 * h), radius=4.0
    )
    paints += _bone(spinous, 1.2, 0.6)
    return paints


def _disc_tissue(anatomy: Anatomy, disc: Disc) -> tuple[np.ndarray, np.ndarray]:
    """Signals of the annulus and the nucleus of ``disc``."""
    lesion = anatomy.lesion
    degeneration = anatomy.params.get(f"degeneration {disc.name}", 0.0)
    nucleus = np.asarray(TISSUES["nucleus"], dtype=float).copy()
    nucleus[1:3] *= 1.0 - 0.6 * degeneration
    annulus = np.asarray(TISSUES["annulus"], dtype=float)
    if disc.name == lesion.level:
        activity = max(lesion.marrow_edema, lesion.paravertebral_inflammation) / 3.0
        m = 0.55 + 0.45 * activity
        infected = np.asarray(TISSUES["infected_disc"])
        nucleus = (1 - m) * nucleus + m * infected
        annulus = (1 - 0.6 * m) * annulus + 0.6 * m * infected
    return annulus, nucleus


def _lesion_paints(anatomy: Anatomy) -> tuple[list[Paint], list[Paint]]:
    """The paravertebral lesion (painted before the spine) and the epidural part (after the
    thecal sac)."""
    lesion, p = anatomy.lesion, anatomy.params
    grade = lesion.paravertebral_inflammation
    disc = anatomy.disc(lesion.level)
    f = disc.frame
    a = (disc.upper.lateral + disc.lower.lateral) / 2
    b = (disc.upper.ap + disc.lower.ap) / 2
    before: list[Paint] = []
    after: list[Paint] = []
    if grade == 0:
        return before, after
    reach = disc.height / 2 + 0.45 * (disc.upper.height + disc.lower.height) / 2
    cuff = Ellipsoid(f.moved(v=-0.3 * b), (a + 7.0, b + 6.0 + 2.0 * grade, reach))
    front = Frame(f.center, f.tilt)
    not_canal = Box(front.moved(v=-(b + 60.0) + 0.8 * b), (200.0, b + 60.0, 200.0), radius=0.0)
    before.append((Intersection((cuff, not_canal)), "phlegmon", 2.5))
    if grade >= 2:
        s = lesion.size
        semi = (9.0 * s, 6.0 * s + 1.0 * grade, 13.0 * s * p["abscess_len"])
        centre = f.moved(lateral=p["abscess_x"], v=-(b + semi[1] * 0.55))
        wall = (semi[0] + 2.5, semi[1] + 2.5, semi[2] + 2.5)
        before.append((Ellipsoid(centre, wall), "abscess_wall", 1.0))
        before.append((Ellipsoid(centre, semi), "abscess", 0.0))
    if grade == 3:
        s = lesion.size
        length = 16.0 * s * p["abscess_len"]
        epi = f.moved(v=b + 1.5 + 3.5)
        after.append((Ellipsoid(epi, (10.0, 6.0, length + 2.0)), "abscess_wall", 1.0))
        after.append((Ellipsoid(epi, (8.0, 4.0, length)), "abscess", 0.0))
        if p["psoas_abscess"]:
            side = p["psoas_side"]
            psoas = f.moved(lateral=side * (a + 9.0), v=-0.1 * b, u=-0.3 * reach)
            before.append((Ellipsoid(psoas, (10.0, 10.0, 24.0 * s)), "abscess_wall", 1.0))
            before.append((Ellipsoid(psoas, (8.0, 8.0, 22.0 * s)), "abscess", 0.0))
    return before, after


def _spine_paints(anatomy: Anatomy) -> list[Paint]:
    """Discs, vertebral bodies with marrow edema, and the posterior elements."""
    lesion, p = anatomy.lesion, anatomy.params
    affected = anatomy.disc(lesion.level)
    paints: list[Paint] = []
    for disc in anatomy.discs:
        annulus, nucleus = _disc_tissue(anatomy, disc)
        paints.append((disc.solid(0.5), annulus, 0.0))
        if not disc.lower.name.startswith("S") or disc.name == "L5-S1":
            paints.append((disc.nucleus(), nucleus, 0.0))
    extent = _EDEMA_EXTENT[lesion.marrow_edema]
    for v in anatomy.vertebrae:
        body = v.body()
        paints += _bone(body, _CORTEX_MM)
        if not v.name.startswith("S"):
            vein = Box(v.frame.moved(v=0.7 * v.ap), (3.0, 0.3 * v.ap, 0.8), radius=0.7)
            paints.append((vein, _mix("marrow", "csf", 0.6), 0.0))
            for k in range(2):
                spot = Ellipsoid(
                    v.frame.moved(
                        lateral=p[f"spot{k} x"] * v.lateral,
                        v=p[f"spot{k} v"] * v.ap,
                        u=p[f"spot{k} u"] * v.height,
                    ),
                    (3.0, 2.5, 2.0),
                )
                paints.append((spot, _mix("marrow", "fat", 0.7), 1.0))
        if extent > 0 and v.name in (affected.upper.name, affected.lower.name):
            lower = v.name == affected.upper.name
            phase = (p["phase0"], p["phase1"]) if lower else (p["phase2"], p["phase3"])
            depth = extent * v.height
            band = EndplateBand(body, lower, depth, phase)
            paints.append((band, "edema", 2.5))
        paints += _posterior_element_paints(v)
    return paints


def paints(anatomy: Anatomy, *, visit_seed: int = 0) -> list[Paint]:
    """Every shape of the phantom with its tissue and edge softness (mm), back to front."""
    before, after = _lesion_paints(anatomy)
    out = _body_paints(anatomy, visit_seed)
    out += before
    out += _vessel_paints(anatomy)
    out += _canal_paints(anatomy)
    out += after
    out += _spine_paints(anatomy)
    return out


def _index_range(axis: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(axis, lo, "left")), int(np.searchsorted(axis, hi, "right")))


def _texture(
    grid: Grid, rng: np.random.Generator, *, blob_mm: float = 3.0, amount: float = 0.035
) -> np.ndarray:
    """A smooth random multiplicative field (tissue heterogeneity), mean 1."""
    from scipy.ndimage import gaussian_filter

    spacing = [float(np.mean(np.diff(a))) if len(a) > 1 else 1e9 for a in (grid.x, grid.y, grid.z)]
    if min(grid.shape[1:]) < 16:
        return np.ones(grid.shape, dtype=np.float32)
    field = rng.standard_normal(grid.shape).astype(np.float32)
    field = gaussian_filter(field, sigma=[blob_mm / s for s in spacing], mode="nearest")
    field *= amount / max(float(field.std()), 1e-6)
    return 1.0 + field


def render(
    anatomy: Anatomy,
    grid: Grid,
    sequences: Sequence[str],
    *,
    seed: int = 0,
    noise: float = 0.02,
    coil: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Render the phantom on ``grid`` for each sequence.

    Parameters
    ----------
    anatomy
        The phantom (see :func:`build_anatomy`).
    grid
        Voxel centres in the body frame.
    sequences
        Names from :data:`SEQUENCES`.
    seed
        Seeds the bowel content and the noise of this visit.
    noise
        Standard deviation of the Rician noise, relative to a signal of 1.
    coil
        Receive-coil sensitivity as a function of body-frame ``y`` (default: a posterior spine
        coil, brighter towards the back).

    Returns
    -------
    numpy.ndarray
        float32 array ``(len(sequences), nx, ny, nz)`` of relative signal.
    """
    unknown = [s for s in sequences if s not in SEQUENCES]
    if unknown:
        raise ValueError(f"unknown sequences {unknown}; known: {SEQUENCES}")
    columns = [SEQUENCES.index(s) for s in sequences]
    vol = np.zeros((len(columns), *grid.shape), dtype=np.float32)
    x = grid.x.astype(np.float32)
    y = grid.y.astype(np.float32)
    z = grid.z.astype(np.float32)
    rng = np.random.default_rng(seed)
    width = grid.pixel_mm
    for shape, tissue, soft in paints(anatomy, visit_seed=int(rng.integers(2**31))):
        lo, hi = shape.bbox()
        m = width + soft
        sx = _index_range(grid.x, lo[0] - m, hi[0] + m)
        sy = _index_range(grid.y, lo[1] - m, hi[1] + m)
        sz = _index_range(grid.z, lo[2] - m, hi[2] + m)
        if sx.start >= sx.stop or sy.start >= sy.stop or sz.start >= sz.stop:
            continue
        d = shape.sdf(x[sx, None, None], y[None, sy, None], z[None, None, sz])
        alpha = np.clip(0.5 - d / (width + soft), 0.0, 1.0).astype(np.float32)
        if not alpha.any():
            continue
        alpha = np.broadcast_to(alpha, (sx.stop - sx.start, sy.stop - sy.start, sz.stop - sz.start))
        signal = np.asarray(TISSUES[tissue] if isinstance(tissue, str) else tissue)
        for i, col in enumerate(columns):
            view = vol[i, sx, sy, sz]
            view += alpha * (np.float32(signal[col]) - view)
    vol *= _texture(grid, rng)[None]
    back = float(np.interp(0.0, *anatomy.wall("back")))
    gain = coil(y) if coil is not None else 0.72 + 0.45 / (1.0 + np.exp(-(y - back - 25.0) / 45.0))
    vol *= gain[None, None, :, None].astype(np.float32)
    if noise > 0:
        real = vol + rng.normal(0.0, noise, vol.shape).astype(np.float32)
        imag = rng.normal(0.0, noise, vol.shape).astype(np.float32)
        vol = np.sqrt(real * real + imag * imag)
    logger.debug("rendered %s on a %s grid", ",".join(sequences), grid.shape)
    return vol
