"""The statistics of the analysis: Spearman's rho with a bootstrap interval, weighted kappa.

Examples
--------
>>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4], n_boot=0).rho, 2)
0.8
>>> weighted_kappa([0, 1, 2], [0, 1, 2])
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["SpearmanResult", "spearman", "weighted_kappa"]


@dataclass(frozen=True)
class SpearmanResult:
    """Spearman's rho with a two-sided p-value and a percentile bootstrap interval.

    ``rho``/``p`` are NaN when fewer than 3 pairs or a constant variable; ``ci_low``/``ci_high``
    are NaN without bootstrap. ``n_boot_valid`` counts resamples where rho was defined
    (resamples with a constant variable are left out).
    """

    n: int
    rho: float
    p: float
    ci_low: float
    ci_high: float
    n_boot_valid: int


def spearman(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> SpearmanResult:
    """Spearman's rho, its two-sided p-value and a percentile bootstrap interval.

    Parameters
    ----------
    x, y
        Paired values (ties allowed; ranks are averaged).
    n_boot
        Bootstrap resamples of the pairs (0: no interval).
    seed
        Seed of ``numpy.random.default_rng``; the same inputs and seed give the same interval.
    confidence
        Level of the interval.

    Notes
    -----
    rho and p come from :func:`scipy.stats.spearmanr` (p from the t distribution with n - 2
    degrees of freedom). The interval is the percentile interval of rho over resamples of the
    pairs drawn with replacement.
    """
    from scipy.stats import spearmanr

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D and of the same length")
    n = int(xa.size)
    nan = math.nan
    if n < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return SpearmanResult(n, nan, nan, nan, nan, 0)
    res = spearmanr(xa, ya)
    low, high, valid = _bootstrap_rho(xa, ya, n_boot, seed, confidence)
    return SpearmanResult(n, float(res.statistic), float(res.pvalue), low, high, valid)


def _bootstrap_rho(
    x: np.ndarray, y: np.ndarray, n_boot: int, seed: int, confidence: float
) -> tuple[float, float, int]:
    """Percentile interval of Spearman's rho over pair resamples (vectorised, in batches)."""
    from scipy.stats import rankdata

    if n_boot <= 0:
        return math.nan, math.nan, 0
    rng = np.random.default_rng(seed)
    n = x.size
    rhos: list[np.ndarray] = []
    batch = max(1, 2_000_000 // n)
    for start in range(0, n_boot, batch):
        idx = rng.integers(0, n, size=(min(batch, n_boot - start), n))
        rx = rankdata(x[idx], axis=1)
        ry = rankdata(y[idx], axis=1)
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
        ok = den > 0
        rhos.append((rx * ry).sum(axis=1)[ok] / den[ok])
    values = np.concatenate(rhos)
    if values.size == 0:
        return math.nan, math.nan, 0
    alpha = 1 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high), int(values.size)


def weighted_kappa(
    a: Sequence[int] | np.ndarray,
    b: Sequence[int] | np.ndarray,
    *,
    weights: Literal["linear", "quadratic"] | None = "linear",
    labels: Sequence[int] = (0, 1, 2),
) -> float:
    """Cohen's kappa of two readers' ordinal codes (``sklearn.metrics.cohen_kappa_score``).

    Returns NaN when it is undefined (no pairs, or both readers used one and the same code).
    ``labels`` fixes the category set, so that unused categories still count in the weights.
    """
    from sklearn.metrics import cohen_kappa_score

    aa, bb = np.asarray(a), np.asarray(b)
    if aa.size == 0 or len(set(aa.tolist()) | set(bb.tolist())) < 2:
        return math.nan
    return float(cohen_kappa_score(aa, bb, labels=list(labels), weights=weights))
