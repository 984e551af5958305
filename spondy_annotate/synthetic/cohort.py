"""A synthetic 48-patient cohort shaped like Ahn et al. 2020, for tests and demonstrations.

The lab classes have the paper's counts (CRP 19 resolved / 19 resolving / 10 aggravated, ESR
8 / 22 / 18, with the default limits CRP <= 5 mg/L and ESR <= 20 mm/h) and two readers' MRI
change judgements are made to agree with them, so the correlations come out positive. Nothing
here is patient data: the IDs (``SYN`` and six digits) and dates are random.

Examples
--------
>>> cohort = synthetic_cohort(seed=0)
>>> len(cohort.truth), sorted(cohort.gradings["reader"].unique())
(48, ['reader_a', 'reader_b'])
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spondy_annotate.grading.rubric import Change

__all__ = ["SyntheticCohort", "synthetic_cohort", "write_synthetic_cohort"]

_CRP_CLASSES = (19, 19, 10)
_ESR_CLASSES = (8, 22, 18)
_READERS = ("reader_a", "reader_b")
#: Change labels by their ordinal code (:attr:`Change.code`).
_CHANGES = tuple(change.value for change in Change)


@dataclass(frozen=True)
class SyntheticCohort:
    """Lab values, gradings and the truth they were made from.

    Attributes
    ----------
    labs
        Long-form lab table ``patient_id, date, test, value, unit`` (dates ``YYYY-MM-DD``, some
        CRP in mg/dL), including decoy draws farther from the MRI or outside the window.
    gradings
        Like ``export.gradings_table(..., include_identifiers=True)``: ``case_id, reader, item,
        level, change, patient_id, baseline_date, followup_date`` (dates ``YYYYMMDD``).
    truth
        Per case: ``case_id, patient_id, CRP_class, ESR_class`` and ``CRP_unchanged`` (the one
        case whose follow-up CRP equals its baseline, above normal).
    """

    labs: pd.DataFrame
    gradings: pd.DataFrame
    truth: pd.DataFrame


def synthetic_cohort(seed: int = 0) -> SyntheticCohort:
    """Make the 48-patient cohort (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    n = sum(_CRP_CLASSES)
    crp = np.repeat([0, 1, 2], _CRP_CLASSES)
    # ESR classes follow CRP loosely: rank CRP plus noise, then cut at the paper's counts.
    order = np.argsort(crp + rng.normal(0, 0.9, n), kind="stable")
    esr = np.empty(n, dtype=int)
    esr[order] = np.repeat([0, 1, 2], _ESR_CLASSES)
    perm = rng.permutation(n)
    crp, esr = crp[perm], esr[perm]
    unchanged_case = int(np.flatnonzero(crp == 2)[0])

    ids = [f"SYN{v:06d}" for v in rng.choice(900_000, size=n, replace=False) + 100_000]
    start = dt.date(2019, 1, 1)
    baseline = [start + dt.timedelta(days=int(d)) for d in rng.integers(0, 700, n)]
    followup = [
        b + dt.timedelta(days=int(d))
        for b, d in zip(baseline, rng.integers(28, 90, n), strict=True)
    ]

    lab_rows: list[dict[str, object]] = []
    for i in range(n):
        for test, code, limit in (("CRP", crp[i], 5.0), ("ESR", esr[i], 20.0)):
            b_val, f_val = _values(
                rng, test, int(code), limit, unchanged=(test == "CRP" and i == unchanged_case)
            )
            timepoints = ((baseline[i], b_val, f_val, False), (followup[i], f_val, b_val, True))
            for mri, value, decoy, is_followup in timepoints:
                offset = int(rng.integers(-2, 2))
                # the unchanged case: baseline in mg/L, follow-up in mg/dL (same value)
                mgdl = is_followup if i == unchanged_case else None
                lab_rows.append(_lab_row(rng, ids[i], mri, offset, test, value, mgdl))
                # decoys: farther inside the window, and just outside it, with the other value
                if rng.random() < 0.5:
                    lab_rows.append(_lab_row(rng, ids[i], mri, -5, test, decoy, None))
                outside = int(rng.choice([-8, 4]))
                lab_rows.append(_lab_row(rng, ids[i], mri, outside, test, decoy * 3, None))

    grading_rows: list[dict[str, object]] = []
    soft = 0.8 * crp + 0.35 * esr + rng.normal(0, 0.8, n)
    bone = 0.45 * crp + 0.7 * esr + rng.normal(0, 0.8, n)
    disc = 0.3 * crp + rng.normal(0, 0.9, n)
    items = {"marrow_edema": bone, "paravertebral_inflammation": soft, "disc_height": disc}
    for item, latent in items.items():
        codes_a = np.digitize(latent, np.quantile(latent, [0.38, 0.7]))
        flip = rng.random(n) < 0.15
        codes_b = np.clip(codes_a + flip * rng.choice([-1, 1], n), 0, 2)
        for reader, codes in zip(_READERS, (codes_a, codes_b), strict=True):
            grading_rows.extend(
                {
                    "case_id": str(i + 1),
                    "reader": reader,
                    "item": item,
                    "level": "index",
                    "change": _CHANGES[int(codes[i])],
                    "patient_id": ids[i],
                    "baseline_date": baseline[i].strftime("%Y%m%d"),
                    "followup_date": followup[i].strftime("%Y%m%d"),
                }
                for i in range(n)
            )
    labels = ("resolved", "resolving", "aggravated")
    truth = pd.DataFrame(
        {
            "case_id": [str(i + 1) for i in range(n)],
            "patient_id": ids,
            "CRP_class": [labels[c] for c in crp],
            "ESR_class": [labels[c] for c in esr],
            "CRP_unchanged": [i == unchanged_case for i in range(n)],
        }
    )
    labs = pd.DataFrame(lab_rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return SyntheticCohort(labs=labs, gradings=pd.DataFrame(grading_rows), truth=truth)


def write_synthetic_cohort(directory: str | os.PathLike[str], seed: int = 0) -> tuple[Path, Path]:
    """Write ``labs.csv`` and ``gradings.csv`` of :func:`synthetic_cohort` into ``directory``.

    Returns
    -------
    tuple of Path
        The lab file and the gradings file.
    """
    cohort = synthetic_cohort(seed)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    labs_path, gradings_path = folder / "labs.csv", folder / "gradings.csv"
    cohort.labs.to_csv(labs_path, index=False)
    cohort.gradings.to_csv(gradings_path, index=False)
    return labs_path, gradings_path


def _values(
    rng: np.random.Generator, test: str, code: int, limit: float, *, unchanged: bool
) -> tuple[float, float]:
    """Baseline and follow-up values (canonical unit) of the given class."""
    base = round(float(rng.uniform(30, 250)), 1) if test == "CRP" else float(rng.integers(40, 111))
    if code == 0:
        follow = limit if rng.random() < 0.15 else float(rng.uniform(0.3, limit))
    elif code == 1:
        follow = float(rng.uniform(limit + 1, base * 0.9))
    elif unchanged:
        follow = base
    else:
        follow = base * float(rng.uniform(1.05, 1.6))
    follow = round(follow, 1) if test == "CRP" else float(round(follow))
    if code == 0:
        follow = min(follow, limit)
    elif code == 1:
        follow = max(min(follow, base - 1), limit + 1)
    return base, follow


def _lab_row(
    rng: np.random.Generator,
    patient: str,
    mri: dt.date,
    offset: int,
    test: str,
    value: float,
    mgdl: bool | None,
) -> dict[str, object]:
    """One long-form lab row; CRP in mg/dL when ``mgdl`` (None: at random, 30 %)."""
    date = (mri + dt.timedelta(days=offset)).isoformat()
    if mgdl is None:
        mgdl = bool(rng.random() < 0.3)
    if test == "CRP" and mgdl:
        return {
            "patient_id": patient,
            "date": date,
            "test": "crp",
            "value": round(value / 10, 2),
            "unit": "mg/dL",
        }
    unit = "mg/L" if test == "CRP" else "mm/h"
    return {"patient_id": patient, "date": date, "test": test, "value": value, "unit": unit}
