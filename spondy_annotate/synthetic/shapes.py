"""Solids for the phantom as approximate signed distances (mm, negative inside).

A :class:`Frame` places a shape: a centre and a tilt of its axis in the sagittal plane, as the
vertebrae and discs of a lordotic spine are tilted. Each :class:`Shape` has a bounding box, so
that a renderer only evaluates it near where it is, and a signed distance exact near its surface,
which is all a partial-volume edge one pixel wide needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Array",
    "Bbox",
    "Box",
    "Cylinder",
    "Ellipsoid",
    "EndplateBand",
    "Frame",
    "Grown",
    "Intersection",
    "Outside",
    "Shape",
    "Tube",
    "Wedge",
]

#: Coordinates or distances (mm), broadcastable against each other.
Array = np.ndarray
#: Lower and upper corners (x, y, z) of a box holding a shape.
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
    """Marrow within a wavy distance of one endplate of a vertebral body (edema).

    The points of ``body`` at least ``inset`` mm inside its surface (within the cortex) and less
    than about ``depth`` mm from its lower (``lower``) or upper endplate; the limit waves across
    the body with the phases ``phase``.
    """

    body: Cylinder
    lower: bool
    depth: float
    phase: tuple[float, float]
    inset: float

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
