"""The permutation test of Spearman's rho: exact where feasible, else seeded Monte Carlo.

Under the null hypothesis every pairing of the ``y`` values with the ``x`` values is equally
likely. rho is a linear function of ``T = sum(rank(x) * rank(y))`` (average ranks for ties), so
the two-sided p-value is the probability of a pairing with ``|T - E[T]| >= |T_obs - E[T]|``.

The exact distribution is computed over the contingency table of the distinct ``x`` and ``y``
values with fixed margins (a pairing's table has the multivariate hypergeometric probability),
row by row with the remaining column totals as the state. With few distinct values (ordinal
codes) this is exact at any n: a 3 x 3 table of 48 cases has a few thousand states. Without
ties it is the classic enumeration of the n! permutations, done up to n = 13. When the
work would exceed a fixed budget, ``n_perm`` random pairings (``numpy.random.default_rng(seed)``)
estimate p as ``(1 + hits) / (1 + n_perm)``, which is never 0.

All comparisons are on integers (``4 T``; average ranks are multiples of 1/2), so ties in the
statistic are never lost to rounding.

Examples
--------
>>> spearman_permutation_p([1, 2, 3], [1, 2, 3])  # 2 of the 6 pairings have |rho| = 1
PermutationP(p=0.3333333333333333, method='exact')
>>> spearman_permutation_p([0] * 9 + [1], [0] * 9 + [1]).p  # the one raised case matched
0.1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

__all__ = ["EXACT_WORK_LIMIT", "MONTE_CARLO_PERMUTATIONS", "PermutationP", "spearman_permutation_p"]

#: Random pairings drawn when the exact distribution is out of reach.
MONTE_CARLO_PERMUTATIONS = 100_000
#: Budget of the exact computation, in (table, statistic) entries handled.
EXACT_WORK_LIMIT = 2_000_000
#: Largest product of (column total + 1) for which the exact computation is tried.
_STATE_LIMIT = 10_000


class _TooMuchWork(Exception):
    """The exact distribution would exceed :data:`EXACT_WORK_LIMIT`."""


@dataclass(frozen=True)
class PermutationP:
    """A permutation p-value and how it was obtained.

    ``method`` is ``"exact"`` or ``"monte carlo"`` (then from ``n_perm`` seeded pairings);
    ``p`` is NaN (method ``""``) when rho is undefined (fewer than 3 pairs, a constant variable).
    """

    p: float
    method: str


def spearman_permutation_p(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_perm: int = MONTE_CARLO_PERMUTATIONS,
    seed: int = 0,
) -> PermutationP:
    """Two-sided permutation p-value of Spearman's rho (exact where feasible).

    Parameters
    ----------
    x, y
        Paired values (ties allowed).
    n_perm
        Random pairings when the exact distribution is out of reach.
    seed
        Seed of ``numpy.random.default_rng`` for those pairings.

    Returns
    -------
    PermutationP
    """
    from scipy.stats import rankdata

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D and of the same length")
    n = int(xa.size)
    if n < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return PermutationP(math.nan, "")
    rx = np.rint(2 * rankdata(xa)).astype(np.int64)  # twice the average ranks: integers
    ry = np.rint(2 * rankdata(ya)).astype(np.int64)
    centre = n * (n + 1) ** 2  # 4 E[T]
    observed = abs(int(rx @ ry) - centre)
    try:
        return PermutationP(_exact_p(rx, ry, centre, observed), "exact")
    except _TooMuchWork:
        return PermutationP(_monte_carlo_p(rx, ry, centre, observed, n_perm, seed), "monte carlo")


def _exact_p(rx: np.ndarray, ry: np.ndarray, centre: int, observed: int) -> float:
    """P(|4T - 4E| >= observed) over all pairings, from the table of distinct values."""
    xs, xc = np.unique(rx, return_counts=True)
    ys, yc = np.unique(ry, return_counts=True)
    if math.prod(int(c) + 1 for c in yc) > math.prod(int(c) + 1 for c in xc):
        xs, xc, ys, yc = ys, yc, xs, xc  # the state runs over the variable of fewer states
    if math.prod(int(c) + 1 for c in yc) > _STATE_LIMIT:
        raise _TooMuchWork
    values, probs = _null_distribution(
        tuple(int(v) for v in xs),
        tuple(int(c) for c in xc),
        tuple(int(v) for v in ys),
        tuple(int(c) for c in yc),
    )
    extreme = np.abs(values - centre) >= observed
    return float(min(1.0, probs[extreme].sum()))


@lru_cache(maxsize=64)
def _null_distribution(
    rows: tuple[int, ...],
    row_totals: tuple[int, ...],
    cols: tuple[int, ...],
    col_totals: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of 4T over the tables with these margins (values, probabilities)."""
    work = [0]

    @cache
    def dist(i: int, remaining: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Distribution of the rows i.. contribution to 4T, given the column totals left."""
        if i == len(rows) - 1:  # the last row takes what is left
            value = rows[i] * sum(k * c for k, c in zip(remaining, cols, strict=True))
            return np.array([value], dtype=np.int64), np.array([1.0])
        ways = math.comb(sum(remaining), row_totals[i])
        values: list[np.ndarray] = []
        probs: list[np.ndarray] = []
        for alloc in _allocations(row_totals[i], remaining):
            prob = math.prod(map(math.comb, remaining, alloc)) / ways  # exact integers
            rest = tuple(m - k for m, k in zip(remaining, alloc, strict=True))
            child_values, child_probs = dist(i + 1, rest)
            work[0] += child_values.size
            if work[0] > EXACT_WORK_LIMIT:
                raise _TooMuchWork
            here = rows[i] * sum(k * c for k, c in zip(alloc, cols, strict=True))
            values.append(child_values + here)
            probs.append(child_probs * prob)
        merged, inverse = np.unique(np.concatenate(values), return_inverse=True)
        return merged, np.bincount(inverse, weights=np.concatenate(probs), minlength=merged.size)

    return dist(0, col_totals)


def _allocations(total: int, caps: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every way to put ``total`` items into bins of the given capacities."""
    if len(caps) == 1:
        return [(total,)] if total <= caps[0] else []
    room = sum(caps[1:])
    out: list[tuple[int, ...]] = []
    for first in range(max(0, total - room), min(total, caps[0]) + 1):
        out += [(first, *rest) for rest in _allocations(total - first, caps[1:])]
    return out


def _monte_carlo_p(
    rx: np.ndarray, ry: np.ndarray, centre: int, observed: int, n_perm: int, seed: int
) -> float:
    """``(1 + hits) / (1 + n_perm)`` over seeded random pairings, in batches."""
    rng = np.random.default_rng(seed)
    ry = np.sort(ry)  # the pairing is random: start from an order that ignores the input's
    rx = np.sort(rx)
    hits = 0
    batch = max(1, 2_000_000 // rx.size)
    for start in range(0, n_perm, batch):
        size = min(batch, n_perm - start)
        shuffled = rng.permuted(np.broadcast_to(ry, (size, ry.size)), axis=1)
        hits += int((np.abs(shuffled @ rx - centre) >= observed).sum())
    return (1 + hits) / (1 + n_perm)
