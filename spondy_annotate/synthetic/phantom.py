"""The MRI phantom: tissues painted onto the anatomy and rendered per sequence.

Every structure of an :class:`~spondy_annotate.synthetic.anatomy.Anatomy` (and the body around
the spine: skin, fat, muscles, bowel, vessels, the thecal sac, the lesion) becomes a *paint*, a
:mod:`~spondy_annotate.synthetic.shapes` solid with a tissue. A volume is painted back to front,
each shape blending its tissue's signal in with a partial-volume edge one pixel wide, then
given texture, coil shading and Rician noise. The signal of a tissue is a relative value (about
0-1) for each sequence; see :data:`TISSUES`.

The module is one concept (what the anatomy looks like on each sequence); it runs to about 500
lines because the body around the spine, the canal and the lesion take many shapes each.

Examples
--------
>>> import numpy as np
>>> from spondy_annotate.synthetic.anatomy import Lesion, build_anatomy
>>> from spondy_annotate.synthetic.phantom import Grid, render
>>> anatomy = build_anatomy(7, Lesion("L4-L5", 2, 1, 6.5))
>>> grid = Grid(np.array([0.0]), np.arange(-60, 60, 2.0), np.arange(-80, 80, 2.0), 2.0)
>>> render(anatomy, grid, ("T1", "STIR"), seed=1).shape
(2, 1, 60, 80)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from spondy_annotate.synthetic.anatomy import Anatomy, Disc, Vertebra
from spondy_annotate.synthetic.shapes import (
    Box,
    Ellipsoid,
    EndplateBand,
    Frame,
    Grown,
    Intersection,
    Outside,
    Shape,
    Tube,
)

__all__ = ["SEQUENCES", "TISSUES", "Grid", "Paint", "paints", "render"]

logger = logging.getLogger(__name__)

#: The sequences the phantom can render; ``T1FS+C`` is a fat-saturated T1 after gadolinium.
SEQUENCES: tuple[str, ...] = ("T1", "T2", "STIR", "T1FS+C")

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


#: A shape, its tissue (a name in :data:`TISSUES` or a signal per sequence) and how much softer
#: than one pixel its edge is (mm).
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
            band = EndplateBand(body, lower, depth, phase, _CORTEX_MM)
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
