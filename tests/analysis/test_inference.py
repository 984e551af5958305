"""Small-sample inference: exact permutation p, Fisher-z interval, Kendall's tau-b, adjusted p."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import kendalltau, norm, rankdata, spearmanr

from spondy_annotate.analysis.permutation import spearman_permutation_p
from spondy_annotate.analysis.stats import CI_METHOD, adjust_p, spearman


def brute_force_p(x: list[int], y: list[int]) -> float:
    """Share of all n! orderings of y with |rho| at least the observed one.

    rho of an ordering is the Pearson correlation of scipy's average ranks, the ranks of y
    reordered with it.
    """
    rx, ry = rankdata(x), rankdata(y)
    perms = np.array(list(itertools.permutations(range(len(y)))))
    rhos = np.array([np.corrcoef(rx, ry[p])[0, 1] for p in perms])
    observed = abs(spearmanr(x, y).statistic)
    return int((np.abs(rhos) >= observed - 1e-12).sum()) / len(perms)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([0, 1, 2], [0, 1, 2]),
        ([0, 0, 1, 2, 2], [0, 1, 1, 2, 0]),
        ([0, 0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 2, 2, 1]),
        ([2, 1, 0, 0, 1, 2, 1, 0], [0, 1, 2, 2, 1, 0, 0, 1]),  # negative
        ([1, 5, 2, 8, 3, 7, 4], [2, 4, 1, 7, 3, 8, 6]),  # no ties
        ([0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 0, 1, 1, 1]),
    ],
)
def test_exact_p_equals_a_brute_force_enumeration(x: list[int], y: list[int]) -> None:
    res = spearman_permutation_p(x, y)
    assert res.method == "exact"
    assert res.p == pytest.approx(brute_force_p(x, y), abs=1e-12)


def test_exact_p_of_the_issue_examples() -> None:
    """Three ordered cases: 2 of 6 orderings reach |rho| = 1; one raised case in ten: 1/10."""
    three = spearman([1, 2, 3], [1, 2, 3], n_boot=0)
    assert three.p < 0.001  # the t approximation
    assert three.p_exact == pytest.approx(1 / 3, abs=1e-12) and three.p_exact_method == "exact"
    assert three.p_primary == three.p_exact
    assert math.isnan(three.ci_low)  # no interval from 3 pairs, rather than [1.00, 1.00]
    ten = spearman([0] * 9 + [1], [0] * 9 + [1], n_boot=0)
    assert ten.p < 1e-60 and ten.p_exact == pytest.approx(0.1, abs=1e-12)
    # ten ranks with one adjacent swap: the identity and 9 swaps, each sign: 20 of 10!
    swapped = [0, 1, 2, 4, 3, 5, 6, 7, 8, 9]
    assert spearman(range(10), swapped, n_boot=0).p_exact == pytest.approx(20 / math.factorial(10))


def test_exact_p_at_the_cohort_size_and_primary_p_switch() -> None:
    """A 3 x 3 table of 48 cases is exact; from 30 pairs on the t approximation is primary."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, 48)
    y = np.clip(x + rng.integers(-1, 2, 48), 0, 2)
    res = spearman(x, y, n_boot=0)
    assert res.p_exact_method == "exact" and 0 < res.p_exact < 0.01
    assert res.p_primary == res.p
    small = spearman(x[:29], y[:29], n_boot=0)
    assert small.p_primary == small.p_exact != small.p


def test_monte_carlo_p_when_exact_is_out_of_reach() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=40)
    y = x + 2 * rng.normal(size=40)
    a = spearman_permutation_p(x, y, n_perm=20_000, seed=1)
    b = spearman_permutation_p(x, y, n_perm=20_000, seed=1)
    assert a.method == "monte carlo" and a == b
    assert a.p >= 1 / 20_001
    assert a.p == pytest.approx(spearmanr(x, y).pvalue, abs=0.01)


def test_fisher_z_bonett_wright_interval_by_hand() -> None:
    x = [0, 0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 1, 0, 2]
    y = [0, 1, 0, 1, 2, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2]
    res = spearman(x, y, n_boot=0)
    rho, n = spearmanr(x, y).statistic, len(x)
    half = norm.ppf(0.975) * math.sqrt((1 + rho**2 / 2) / (n - 3))
    assert (res.ci_low, res.ci_high) == pytest.approx(
        (math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)), abs=1e-12
    )
    assert CI_METHOD == "Fisher z, Bonett-Wright SE"
    tau = kendalltau(x, y)
    k_half = norm.ppf(0.975) * math.sqrt(0.437 / (n - 4))
    assert res.kendall_tau_b == pytest.approx(tau.statistic, abs=1e-12)
    assert res.kendall_p == pytest.approx(tau.pvalue, abs=1e-12)
    assert res.kendall_low == pytest.approx(math.tanh(math.atanh(tau.statistic) - k_half))


def test_results_do_not_depend_on_the_row_order() -> None:
    """The same pairs in another order give the same rho, p and every interval."""
    x = np.array([0, 0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 2, 1, 0, 2, 1, 0, 2])
    y = np.array([0, 1, 0, 1, 2, 1, 2, 1, 0, 0, 2, 1, 1, 0, 2, 2, 1, 0])
    first = spearman(x, y, n_boot=500, seed=4)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(x))
        assert spearman(x[order], y[order], n_boot=500, seed=4) == first


def test_holm_and_benjamini_hochberg_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, then running maximum
    assert adjust_p(p, "holm")[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04, running minimum from the top
    assert adjust_p(p, "bh")[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert math.isnan(adjust_p(p, "holm")[4]) and math.isnan(adjust_p(p, "bh")[4])
    assert adjust_p([0.6, 0.9], "holm").tolist() == [1.0, 1.0]
