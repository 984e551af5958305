"""Automatic alignment: a rigid registration of a case's follow-up to its baseline.

Baseline and follow-up are different visits with different frames of reference: the same
vertebra sits at different patient (LPS) coordinates. :func:`register_volumes` finds the rigid
transform (rotation and translation, SimpleITK's ``Euler3DTransform``) that maps a baseline
point to the same anatomy in the follow-up, by maximising the Mattes mutual information of one
sequence pair (the same sequence at both visits), coarse to fine on copies resampled to
:data:`COARSE_MM`. :func:`align_case` does it for a case and never raises: a failure is an
:class:`Alignment` with status ``failed`` and the reason, for the viewer to fall back on.

The residual is the registration's *inverse consistency*: the follow-up is registered back to
the baseline too, and ``residual_mm`` is half the RMS distance by which the backward transform
fails to undo the forward one over the central half of the baseline volume (0 for a perfect
registration; it grows with the registration's error, it is not that error). Registering the
synthetic phantom this way puts the affected disc within about 0.5 mm of its true position
(``benchmarks/alignment.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from spondy_annotate.dicom.volume import Volume, load_series
from spondy_annotate.errors import SpondyError, one_line

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case, SeriesPair
    from spondy_annotate.dicom.records import SeriesRecord

#: Voxel size (mm) the volumes are smoothed and resampled to before registering.
COARSE_MM = 2.5
#: Fraction of the voxels sampled by the metric at each iteration.
SAMPLING = 0.1
#: Fewest voxels along any axis, at :data:`COARSE_MM`, of a volume that can be registered
#: (the coarse level halves them, and smoothing needs 4).
MIN_VOXELS = 7
#: A transform moving the volume's centre further than this (mm) is not believed.
MAX_SHIFT_MM = 60.0
#: ... nor one rotating more than this (degrees).
MAX_ROTATION_DEG = 20.0

#: ``(patient ID, baseline StudyInstanceUID, follow-up StudyInstanceUID)``.
AlignmentKey = tuple[str, str, str]


class AlignmentStatus(str, Enum):
    """Where a case's alignment comes from."""

    #: Computed by :func:`register_volumes`.
    AUTOMATIC = "automatic"
    #: Set by the reader (nudged or by landmarks); overrides the automatic one.
    MANUAL = "manual"
    #: The registration failed (``message`` says why); the scanners' coordinates are used.
    FAILED = "failed"


@dataclass(frozen=True)
class Alignment:
    """How a case's follow-up lines up with its baseline.

    Attributes
    ----------
    patient_id, baseline_study_uid, followup_study_uid : str
        The case.
    status : AlignmentStatus
        Automatic, manual or failed.
    matrix : numpy.ndarray or None
        4x4 homogeneous matrix mapping a baseline patient (LPS) point in mm to the follow-up's
        patient coordinates (None when failed).
    residual_mm : float or None
        The registration's inverse-consistency residual (None unless automatic).
    sequence : str
        The sequence pair registered (e.g. ``"SAG STIR"``).
    message : str
        Why it failed ("" otherwise).
    seconds : float or None
        How long the registration took.
    """

    patient_id: str
    baseline_study_uid: str
    followup_study_uid: str
    status: AlignmentStatus
    matrix: np.ndarray | None = None
    residual_mm: float | None = None
    sequence: str = ""
    message: str = ""
    seconds: float | None = None

    @property
    def key(self) -> AlignmentKey:
        """The case it belongs to."""
        return self.patient_id, self.baseline_study_uid, self.followup_study_uid

    def offset_at(self, point: npt.ArrayLike) -> np.ndarray:
        """The translation (patient mm) that shows the follow-up's match of ``point`` on it.

        The viewer shifts the follow-up without rotating it; this shift is exact at ``point``
        (a baseline patient position, e.g. the centre of the volume shown). Zero when failed.
        """
        if self.matrix is None:
            return np.zeros(3)
        p = np.asarray(point, dtype=float).reshape(3)
        return p - (self.matrix[:3, :3] @ p + self.matrix[:3, 3])

    def to_json(self) -> dict[str, Any]:
        """The JSON record of ``spondy-annotate align --json``."""
        return {
            "patient_id": self.patient_id,
            "baseline_study_uid": self.baseline_study_uid,
            "followup_study_uid": self.followup_study_uid,
            "matrix": None if self.matrix is None else self.matrix.tolist(),
            "residual_mm": None if self.residual_mm is None else round(self.residual_mm, 3),
            "status": self.status.value,
            "sequence": self.sequence,
            "message": self.message,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def case_alignment_key(case: Case) -> AlignmentKey:
    """The :attr:`Alignment.key` of ``case`` (``""`` for a missing study)."""
    base = case.baseline.study_instance_uid if case.baseline else ""
    follow = case.followup.study_instance_uid if case.followup else ""
    return case.patient_id, base, follow


def registration_pair(case: Case, label: str | None = None) -> SeriesPair | None:
    """The sequence pair to register: ``label`` if both visits have it, else the first that does."""
    both = [p for p in case.pairs if p.baseline is not None and p.followup is not None]
    return next((p for p in both if p.label == label), both[0] if both else None)


def _image(volume: Volume) -> Any:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(volume.array, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(d) for d in np.asarray(volume.direction, dtype=float).ravel()))
    return image


def _coarse(image: Any) -> Any:
    """``image`` smoothed and resampled to at least :data:`COARSE_MM` voxels."""
    import SimpleITK as sitk

    spacing = image.GetSpacing()
    target = [max(s, COARSE_MM) for s in spacing]
    size = [
        max(1, round(n * s / t)) for n, s, t in zip(image.GetSize(), spacing, target, strict=True)
    ]
    sigma = [max(0.01, (t - s) / 2) for s, t in zip(spacing, target, strict=True)]
    smooth = sitk.SmoothingRecursiveGaussian(image, sigma)
    return sitk.Resample(
        smooth,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        target,
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
    )


def _register(
    fixed: Any, moving: Any, threads: int | None, cancelled: Callable[[], bool] | None
) -> Any:
    """The Euler transform mapping ``fixed`` physical points to ``moving`` ones."""
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    if cancelled is not None:

        def stop_if_cancelled() -> None:
            if cancelled():
                method.StopRegistration()

        method.AddCommand(sitk.sitkIterationEvent, stop_if_cancelled)
    if threads is not None:
        method.SetNumberOfThreads(threads)
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(SAMPLING, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(2.0, 0.01, 100, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    initial = sitk.Euler3DTransform()
    size = fixed.GetSize()
    initial.SetCenter(fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in size]))
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed, moving)
    if cancelled is not None and cancelled():
        raise RegistrationCancelled("cancelled")
    return transform


def _matrix(transform: Any) -> np.ndarray:
    """The 4x4 matrix of a SimpleITK transform made of one Euler transform."""
    import SimpleITK as sitk

    euler = sitk.Euler3DTransform(transform.GetNthTransform(0))
    out = np.eye(4)
    rotation = np.asarray(euler.GetMatrix(), dtype=float).reshape(3, 3)
    center = np.asarray(euler.GetCenter(), dtype=float)
    out[:3, :3] = rotation
    out[:3, 3] = np.asarray(euler.GetTranslation(), dtype=float) + center - rotation @ center
    return out


def _central_points(volume: Volume) -> np.ndarray:
    """27 patient points spanning the central half of ``volume``."""
    shape = np.asarray(volume.array.shape, dtype=float)
    steps = [np.linspace(0.25 * (n - 1), 0.75 * (n - 1), 3) for n in shape]
    grid = np.stack(np.meshgrid(*steps, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.array([volume.index_to_patient(tuple(zyx)) for zyx in grid])


class RegistrationCancelled(RuntimeError):
    """The registration was stopped by its ``cancelled`` callback (e.g. the viewer quits)."""


def register_volumes(
    baseline: Volume,
    followup: Volume,
    *,
    threads: int | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, float]:
    """Register ``followup`` to ``baseline`` (rigid); return the matrix and the residual in mm.

    Parameters
    ----------
    baseline, followup : Volume
        The same sequence at the two visits.
    threads : int, optional
        Threads SimpleITK may use (default: every core; the viewer uses one).
    cancelled : callable, optional
        Asked at every optimiser iteration; True stops the registration (it then raises
        :class:`RegistrationCancelled`).

    Returns
    -------
    matrix : numpy.ndarray
        4x4, baseline patient (LPS) mm to follow-up patient mm (:attr:`Alignment.matrix`).
    residual_mm : float
        The inverse-consistency residual (see the module's docstring).

    Raises
    ------
    RuntimeError
        When SimpleITK fails (e.g. the volumes do not overlap), or cancelled.
    ValueError
        When a volume has fewer than :data:`MIN_VOXELS` along an axis at :data:`COARSE_MM`
        (too small), or the transform found
        is implausible (a shift over :data:`MAX_SHIFT_MM` or a
        rotation over :data:`MAX_ROTATION_DEG`).
    """
    fixed, moving = _coarse(_image(baseline)), _coarse(_image(followup))
    for image in (fixed, moving):
        if min(image.GetSize()) < MIN_VOXELS:
            size = " x ".join(str(n) for n in image.GetSize()[::-1])
            raise ValueError(f"too small to register ({size} voxels of {COARSE_MM} mm)")
    forward = _matrix(_register(fixed, moving, threads, cancelled))
    backward = _matrix(_register(moving, fixed, threads, cancelled))
    centre = baseline.index_to_patient([(n - 1) / 2 for n in baseline.array.shape])
    shift = float(np.linalg.norm(forward[:3, :3] @ centre + forward[:3, 3] - centre))
    cos = np.clip((np.trace(forward[:3, :3]) - 1) / 2, -1.0, 1.0)
    angle = float(np.degrees(np.arccos(cos)))
    if shift > MAX_SHIFT_MM or angle > MAX_ROTATION_DEG:
        raise ValueError(f"implausible result ({shift:.0f} mm shift, {angle:.0f}° rotation)")
    points = np.c_[_central_points(baseline), np.ones(27)]
    back = (backward @ forward @ points.T).T[:, :3]
    residual = float(np.sqrt(np.mean(np.sum((back - points[:, :3]) ** 2, axis=1)))) / 2
    return forward, residual


def align_case(
    case: Case,
    *,
    label: str | None = None,
    load: Callable[[SeriesRecord], Volume] | None = None,
    threads: int | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Alignment:
    """Register ``case``'s follow-up to its baseline; a failure is returned, never raised.

    Parameters
    ----------
    case : Case
        A case with both studies.
    label : str, optional
        The sequence to register (default: the hanging protocol's first one present at both
        visits; see :func:`registration_pair`).
    load : callable, optional
        ``load(series) -> Volume`` (default: :func:`~spondy_annotate.dicom.volume.load_series`
        of its files); the viewer passes the volumes it has loaded already.
    threads, cancelled : optional
        As :func:`register_volumes` (a cancelled registration is a failed alignment).
    """
    key = case_alignment_key(case)
    pair = registration_pair(case, label)
    if pair is None or pair.baseline is None or pair.followup is None:
        return Alignment(*key, AlignmentStatus.FAILED, message="no sequence at both visits")
    loader = load or (lambda series: load_series(series.files))
    start = time.perf_counter()
    try:
        baseline, followup = loader(pair.baseline), loader(pair.followup)
        matrix, residual = register_volumes(
            baseline, followup, threads=threads, cancelled=cancelled
        )
    except (SpondyError, RuntimeError, ValueError, MemoryError) as exc:
        return Alignment(
            *key,
            AlignmentStatus.FAILED,
            sequence=pair.label,
            message=f"{pair.label}: {_reason(exc)}",
            seconds=time.perf_counter() - start,
        )
    return Alignment(
        *key,
        AlignmentStatus.AUTOMATIC,
        matrix=matrix,
        residual_mm=residual,
        sequence=pair.label,
        seconds=time.perf_counter() - start,
    )


def _reason(exc: BaseException) -> str:
    """One line on why a registration failed (ITK's messages span several lines)."""
    text = one_line(exc)
    return "the two visits do not overlap" if "outside" in text and "buffer" in text else text


def translation(key: AlignmentKey, offset_mm: Sequence[float]) -> Alignment:
    """A reader's manual alignment: the follow-up shifted by ``offset_mm`` (patient mm).

    ``offset_mm`` is the viewer's follow-up offset (added to follow-up positions to show them
    on the baseline); the matrix maps baseline points to the follow-up, i.e. subtracts it.
    """
    matrix = np.eye(4)
    matrix[:3, 3] = -np.asarray(offset_mm, dtype=float).reshape(3)
    return Alignment(*key, AlignmentStatus.MANUAL, matrix=matrix)
