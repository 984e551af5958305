"""Made-up patients and the course of their infection from visit to visit.

:func:`random_patient` draws an identity, the affected level and the lesion at each visit;
:func:`grade_change` and :func:`disc_height_change` say how a finding changed between two visits,
in the words of the grading rubric (:class:`~spondy_annotate.grading.rubric.Change`).

Examples
--------
>>> from spondy_annotate.synthetic.patients import grade_change, random_patient
>>> patient = random_patient(1, seed=0)
>>> patient.patient_id, len(patient.visits)
('SYN0001', 2)
>>> grade_change(2, 1)
'improved'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from spondy_annotate.grading.rubric import Change
from spondy_annotate.synthetic._seeds import seed_key, seeded_rng
from spondy_annotate.synthetic.anatomy import LEVELS, Lesion, normal_disc_height

__all__ = [
    "DISC_HEIGHT_THRESHOLD_MM",
    "SyntheticPatient",
    "disc_height_change",
    "grade_change",
    "random_patient",
]

#: A disc-height change within this many mm (either way) is "unchanged".
DISC_HEIGHT_THRESHOLD_MM = 1.0


@dataclass(frozen=True)
class SyntheticPatient:
    """A made-up patient: identity, the affected level and the lesion at each visit.

    ``visits[0]`` is the baseline, ``visits[1]`` the follow-up, and so on. ``anatomy_seed`` fixes
    the patient's body (size, lordosis, fat) for every visit.
    """

    number: int
    patient_id: str
    patient_name: str
    birth_date: dt.date
    sex: str
    visits: tuple[Lesion, ...]
    anatomy_seed: int

    @property
    def level(self) -> str:
        """The affected disc (e.g. ``"L4-L5"``)."""
        return self.visits[0].level


def grade_change(before: int, after: int) -> str:
    """``"improved"``, ``"unchanged"`` or ``"aggravated"`` for a grade going ``before`` -> ``after``
    (a higher grade is worse)."""
    if after < before:
        return Change.IMPROVED.value
    return Change.AGGRAVATED.value if after > before else Change.UNCHANGED.value


def disc_height_change(
    before_mm: float, after_mm: float, threshold_mm: float = DISC_HEIGHT_THRESHOLD_MM
) -> str:
    """The change of a disc height: a loss of more than ``threshold_mm`` is aggravated, a gain of
    more than it improved."""
    delta = after_mm - before_mm
    if delta < -threshold_mm:
        return Change.AGGRAVATED.value
    return Change.IMPROVED.value if delta > threshold_mm else Change.UNCHANGED.value


def _next_grade(rng: np.random.Generator, grade: int, course: Change) -> int:
    if course is Change.IMPROVED and grade > 0:
        return grade - int(rng.integers(1, grade + 1))
    if course is Change.AGGRAVATED and grade < 3:
        return grade + int(rng.integers(1, 4 - grade))
    return grade


def _next_height(rng: np.random.Generator, height: float, course: Change) -> float:
    if course is Change.IMPROVED and height < 12.0:
        delta = rng.uniform(1.3, 2.2)
    elif course is Change.AGGRAVATED and height > 4.5:
        delta = -rng.uniform(1.3, min(3.5, height - 3.0))
    else:
        delta = rng.uniform(-0.7, 0.7)
    return round(float(np.clip(height + delta, 2.0, 14.0)), 1)


def random_patient(number: int, *, seed: int = 0, visits: int = 2) -> SyntheticPatient:
    """Make up patient ``number`` (1, 2, ...) with ``visits`` lesion states.

    The course of each finding (improved, unchanged, aggravated) rotates with ``number`` (from a
    start drawn from ``seed``), so any three consecutive patients show every kind of change.
    """
    if visits < 1:
        raise ValueError(f"visits must be at least 1, not {visits}")
    start = int(seeded_rng(seed, "courses").integers(3))
    rng = seeded_rng(seed, "patient", number)
    level = str(rng.choice(LEVELS, p=[0.15, 0.25, 0.3, 0.3]))
    sex = str(rng.choice(["M", "F"], p=[0.6, 0.4]))
    age = int(rng.integers(45, 86))
    birth = dt.date(2021 - age, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    changes = list(Change)

    def courses(visit: int) -> tuple[Change, Change, Change]:
        n = number + start + 2 * (visit - 1)
        return changes[n % 3], changes[(n + 1) % 3], changes[(2 * n) % 3]

    first = courses(1)
    # a baseline from which the first follow-up can go the chosen way
    edema = int(rng.choice([1, 2] if first[0] is Change.AGGRAVATED else [1, 2, 3]))
    para = int(rng.choice([0, 1, 2] if first[1] is Change.AGGRAVATED else [1, 2, 3]))
    height = round(normal_disc_height(level) * float(rng.uniform(0.5, 0.85)), 1)
    states = [Lesion(level, edema, para, height, round(float(rng.uniform(0.85, 1.15)), 2))]
    for v in range(1, visits):
        edema_course, para_course, height_course = courses(v)
        edema = _next_grade(rng, edema, edema_course)
        para = _next_grade(rng, para, para_course)
        height = _next_height(rng, height, height_course)
        states.append(Lesion(level, edema, para, height, round(float(rng.uniform(0.8, 1.2)), 2)))
    return SyntheticPatient(
        number=number,
        patient_id=f"SYN{number:04d}",
        patient_name=f"SYNTH^PATIENT{number:03d}",
        birth_date=birth,
        sex=sex,
        visits=tuple(states),
        anatomy_seed=seed_key(seed, "anatomy", number) % 2**31,
    )
