"""The statistics of the analysis: Spearman's rho (p-values, intervals), Kendall's tau-b, kappa.

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

from spondy_annotate.analysis.permutation import spearman_permutation_p

__all__ = [
    "CI_METHOD",
    "EXACT_P_BELOW_N",
    "SpearmanResult",
    "adjust_p",
    "fisher_z_interval",
    "spearman",
    "weighted_kappa",
]


#: Below this many pairs the permutation p is the primary p (the t approximation is poor).
EXACT_P_BELOW_N = 30
#: How :attr:`SpearmanResult.ci_low` and ``ci_high`` are computed.
CI_METHOD = "Fisher z, Bonett-Wright SE"


@dataclass(frozen=True)
class SpearmanResult:
    """Spearman's rho with its p-values and intervals, and Kendall's tau-b beside it.

    Attributes
    ----------
    n
        Pairs.
    rho, p
        Spearman's rho and its two-sided p from the t distribution (n - 2 df); NaN when fewer
        than 3 pairs or a constant variable.
    ci_low, ci_high
        Interval of rho by Fisher's z with the Bonett-Wright standard error
        ``sqrt((1 + rho^2 / 2) / (n - 3))`` (:data:`CI_METHOD`); NaN when n <= 3 or
        ``|rho| = 1``.
    n_boot_valid
        Bootstrap resamples in which rho was defined (resamples with a constant variable are
        left out; see ``n_boot``).
    p_exact, p_exact_method
        Permutation p (:func:`~spondy_annotate.analysis.permutation.spearman_permutation_p`):
        ``exact`` or ``monte carlo``.
    boot_low, boot_high
        Percentile bootstrap interval of rho (NaN without bootstrap), shown for comparison.
    kendall_tau_b, kendall_low, kendall_high, kendall_p
        Kendall's tau-b, its Fisher-z interval with the Fieller-Hartley-Pearson standard error
        ``sqrt(0.437 / (n - 4))`` and its p (:func:`scipy.stats.kendalltau`).
    """

    n: int
    rho: float
    p: float
    ci_low: float
    ci_high: float
    n_boot_valid: int
    p_exact: float = math.nan
    p_exact_method: str = ""
    boot_low: float = math.nan
    boot_high: float = math.nan
    kendall_tau_b: float = math.nan
    kendall_low: float = math.nan
    kendall_high: float = math.nan
    kendall_p: float = math.nan

    @property
    def p_primary(self) -> float:
        """The p to report: the permutation p below :data:`EXACT_P_BELOW_N` pairs, else ``p``."""
        return self.p_exact if self.n < EXACT_P_BELOW_N else self.p


def spearman(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    exact: bool = True,
) -> SpearmanResult:
    """Spearman's rho, its p-values, intervals, and Kendall's tau-b.

    Parameters
    ----------
    x, y
        Paired values (ties allowed; ranks are averaged).
    n_boot
        Bootstrap resamples of the pairs for the percentile interval (0: none).
    seed
        Seed of ``numpy.random.default_rng`` (bootstrap and Monte Carlo permutations).
    confidence
        Level of the intervals.
    exact
        Compute the permutation p (``p_exact``).

    Notes
    -----
    rho and ``p`` come from :func:`scipy.stats.spearmanr`. The pairs are put in a canonical
    order (sorted by x, then y) before resampling, so the same pairs and seed give the same
    bootstrap interval whatever the order of the input rows. The interval ``ci_low, ci_high``
    is analytic and needs no resampling; the percentile bootstrap under-covers on ordinal
    data (``benchmarks/ci_coverage.py``) and is kept as ``boot_low, boot_high`` only.
    """
    from scipy.stats import kendalltau, spearmanr

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D and of the same length")
    n = int(xa.size)
    nan = math.nan
    if n < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return SpearmanResult(n, nan, nan, nan, nan, 0)
    order = np.lexsort((ya, xa))
    xa, ya = xa[order], ya[order]
    res = spearmanr(xa, ya)
    rho, t_p = float(res.statistic), float(res.pvalue)
    low, high = fisher_z_interval(rho, n, confidence, _bonett_wright_se(rho, n))
    boot_low, boot_high, valid = _bootstrap_rho(xa, ya, n_boot, seed, confidence)
    perm = spearman_permutation_p(xa, ya, seed=seed) if exact else None
    tau = kendalltau(xa, ya)
    tau_b = float(tau.statistic)
    k_low, k_high = fisher_z_interval(tau_b, n, confidence, _kendall_se(n))
    return SpearmanResult(
        n, rho, t_p, low, high, valid,
        p_exact=perm.p if perm else nan,
        p_exact_method=perm.method if perm else "",
        boot_low=boot_low, boot_high=boot_high,
        kendall_tau_b=tau_b, kendall_low=k_low, kendall_high=k_high,
        kendall_p=float(tau.pvalue),
    )  # fmt: skip


def fisher_z_interval(r: float, n: int, confidence: float, se: float) -> tuple[float, float]:
    """``tanh(atanh(r) -/+ z * se)``; NaN when ``se`` is not finite or ``|r| = 1``.

    Examples
    --------
    >>> [round(v, 3) for v in fisher_z_interval(0.5, 30, 0.95, 1 / 27**0.5)]
    [0.17, 0.729]
    """
    from scipy.stats import norm

    if not math.isfinite(se) or not abs(r) < 1:
        return math.nan, math.nan
    z, half = math.atanh(r), float(norm.ppf(0.5 + confidence / 2)) * se
    return math.tanh(z - half), math.tanh(z + half)


def _bonett_wright_se(rho: float, n: int) -> float:
    """Standard error of atanh(rho) for Spearman's rho (Bonett & Wright 2000)."""
    return math.sqrt((1 + rho * rho / 2) / (n - 3)) if n > 3 else math.inf


def _kendall_se(n: int) -> float:
    """Standard error of atanh(tau) (Fieller, Hartley & Pearson 1957)."""
    return math.sqrt(0.437 / (n - 4)) if n > 4 else math.inf


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


def adjust_p(p: Sequence[float] | np.ndarray, method: Literal["holm", "bh"]) -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    NaN p-values are left out of the family and stay NaN.

    Examples
    --------
    >>> adjust_p([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p([0.01, 0.04, 0.03], "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    values = np.asarray(p, dtype=float)
    out = np.full(values.shape, math.nan)
    known = np.flatnonzero(~np.isnan(values))
    m = known.size
    if m == 0:
        return out
    order = known[np.argsort(values[known], kind="stable")]
    ranked = values[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    else:
        raise ValueError("method must be 'holm' or 'bh'")
    out[order] = np.minimum(adjusted, 1.0)
    return out


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
