"""Agreement coefficients against a second implementation, and their direction under noise."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from spondy_annotate.analysis.agreement import (
    AGREEMENT_COLUMNS,
    agreement_figures,
    agreement_table,
    bland_altman,
    cohen_kappa,
    fleiss_kappa,
    icc,
    krippendorff_alpha,
)

Z95 = 1.959963984540054


def _readers(n: int, k: int, agree: float, seed: int, levels: int = 3) -> np.ndarray:
    """``n`` cases x ``k`` readers of codes ``0..levels-1``; each copies the truth with ``agree``."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, levels, n)
    noise = rng.integers(0, levels, (n, k))
    return np.where(rng.random((n, k)) < agree, truth[:, None], noise).astype(float)


def _fce_kappa(a: np.ndarray, b: np.ndarray, levels: int, power: int) -> tuple[float, float]:
    """Weighted kappa and its Fleiss-Cohen-Everitt (1969) SE, written out with loops."""
    n = len(a)
    p = np.zeros((levels, levels))
    for x, y in zip(a.astype(int), b.astype(int), strict=True):
        p[x, y] += 1 / n
    w = np.array(
        [[1 - (abs(i - j) / (levels - 1)) ** power for j in range(levels)] for i in range(levels)]
    )
    row, col = p.sum(1), p.sum(0)
    po = sum(w[i, j] * p[i, j] for i in range(levels) for j in range(levels))
    pe = sum(w[i, j] * row[i] * col[j] for i in range(levels) for j in range(levels))
    kappa = (po - pe) / (1 - pe)
    wi = [sum(col[j] * w[i, j] for j in range(levels)) for i in range(levels)]
    wj = [sum(row[i] * w[i, j] for i in range(levels)) for j in range(levels)]
    total = sum(
        p[i, j] * (w[i, j] - (wi[i] + wj[j]) * (1 - kappa)) ** 2
        for i in range(levels)
        for j in range(levels)
    )
    var = (total - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    return kappa, math.sqrt(var)


@pytest.mark.parametrize("weights, power", [("linear", 1), ("quadratic", 2)])
def test_cohen_kappa_matches_sklearn_and_the_fce_formula(weights: str, power: int) -> None:
    from sklearn.metrics import cohen_kappa_score

    m = _readers(60, 2, 0.6, seed=1, levels=4)
    est = cohen_kappa(m[:, 0], m[:, 1], categories=range(4), weights=weights)  # type: ignore[arg-type]
    sk = cohen_kappa_score(m[:, 0], m[:, 1], labels=[0, 1, 2, 3], weights=weights)
    kappa, se = _fce_kappa(m[:, 0], m[:, 1], 4, power)
    assert est.n == 60
    assert est.estimate == pytest.approx(sk, abs=1e-9)
    assert est.estimate == pytest.approx(kappa, abs=1e-9)
    assert est.ci_low == pytest.approx(kappa - Z95 * se, abs=1e-9)
    assert est.ci_high == pytest.approx(kappa + Z95 * se, abs=1e-9)


def test_cohen_kappa_is_undefined_without_variation() -> None:
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1], categories=range(3)).estimate)


def test_fleiss_kappa_matches_the_formula_of_fleiss_1971() -> None:
    m = _readers(40, 4, 0.7, seed=2)
    n, k = m.shape
    counts = np.stack([(m == c).sum(1) for c in range(3)], 1)
    p_j = counts.sum(0) / (n * k)
    p_i = ((counts * counts).sum(1) - k) / (k * (k - 1))
    expected = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    est = fleiss_kappa(m, categories=range(3), n_boot=200, seed=1)
    assert est.estimate == pytest.approx(expected, abs=1e-9)
    assert est.n == 40 and est.ci_low < est.estimate < est.ci_high


def _alpha_ordinal(m: np.ndarray, levels: int) -> float:
    """Krippendorff's alpha, ordinal metric, from the coincidence matrix (Krippendorff 2011)."""
    o = np.zeros((levels, levels))
    for unit in m:
        values = unit[~np.isnan(unit)].astype(int)
        if values.size < 2:
            continue
        for i, c in enumerate(values):
            for j, k in enumerate(values):
                if i != j:
                    o[c, k] += 1 / (values.size - 1)
    n_c = o.sum(1)
    total = n_c.sum()
    delta = np.zeros((levels, levels))
    for c in range(levels):
        for k in range(levels):
            lo, hi = min(c, k), max(c, k)
            delta[c, k] = (n_c[lo : hi + 1].sum() - (n_c[c] + n_c[k]) / 2) ** 2
    observed = (o * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum() / (total - 1)
    return 1 - observed / expected


def test_krippendorff_alpha_matches_the_coincidence_matrix_with_missing_readings() -> None:
    m = _readers(40, 3, 0.7, seed=3)
    m[[1, 5, 9], 2] = np.nan
    m[7, [1, 2]] = np.nan  # read once: no pair
    est = krippendorff_alpha(m, categories=range(3), n_boot=200)
    assert est.n == 39
    assert est.estimate == pytest.approx(_alpha_ordinal(m, 3), abs=1e-9)


@pytest.mark.parametrize("kind, pg_type", [("2,1", "ICC(A,1)"), ("3,1", "ICC(C,1)")])
def test_icc_matches_pingouin(kind: str, pg_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pingouin = pytest.importorskip("pingouin")
    rng = np.random.default_rng(4)
    truth = rng.normal(9, 2, 25)
    m = truth[:, None] + rng.normal([0, 0.4, -0.3], 0.6, (25, 3))
    long = pd.DataFrame(
        [(i, r, m[i, r]) for i in range(25) for r in range(3)], columns=["case", "reader", "mm"]
    )
    monkeypatch.delitem(pingouin.options, "round.column.CI95")  # full precision
    ref = pingouin.intraclass_corr(long, targets="case", raters="reader", ratings="mm")
    ref = ref.set_index("Type").loc[pg_type]
    est = icc(m, kind)  # type: ignore[arg-type]
    assert est.estimate == pytest.approx(ref["ICC"], abs=1e-9)
    assert est.ci_low == pytest.approx(ref["CI95"][0], abs=1e-9)
    assert est.ci_high == pytest.approx(ref["CI95"][1], abs=1e-9)


def test_bland_altman_matches_a_plain_computation() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(10, 2, 30)
    b = a + rng.normal(0.5, 0.8, 30)
    d = list(b - a)
    bias, sd = statistics.mean(d), statistics.stdev(d)
    from scipy.stats import t

    tq = t.ppf(0.975, 29)
    ba = bland_altman(a, b)
    assert ba.bias.estimate == pytest.approx(bias, abs=1e-9)
    assert ba.sd == pytest.approx(sd, abs=1e-9)
    assert ba.bias.ci_low == pytest.approx(bias - tq * sd / math.sqrt(30), abs=1e-9)
    assert ba.loa_low.estimate == pytest.approx(bias - Z95 * sd, abs=1e-9)
    assert ba.loa_high.ci_high == pytest.approx(bias + Z95 * sd + tq * math.sqrt(3 * sd**2 / 30))


def test_every_coefficient_falls_when_one_reader_is_perturbed() -> None:
    m = _readers(80, 3, 0.85, seed=6)
    worse = m.copy()
    rng = np.random.default_rng(7)
    flip = rng.random(80) < 0.5
    worse[flip, 2] = (worse[flip, 2] + 1) % 3
    for weights in ("linear", "quadratic"):
        before = cohen_kappa(m[:, 0], m[:, 2], categories=range(3), weights=weights)  # type: ignore[arg-type]
        after = cohen_kappa(worse[:, 0], worse[:, 2], categories=range(3), weights=weights)  # type: ignore[arg-type]
        assert after.estimate < before.estimate
    for function in (fleiss_kappa, krippendorff_alpha):
        before = function(m, categories=range(3), n_boot=0)
        after = function(worse, categories=range(3), n_boot=0)
        assert after.estimate < before.estimate
    mm = np.random.default_rng(8).normal(9, 2, 40)[:, None] + np.zeros((40, 3))
    mm += np.random.default_rng(9).normal(0, 0.3, (40, 3))
    noisy = mm.copy()
    noisy[:, 2] += np.random.default_rng(10).normal(0, 2, 40)
    shifted = mm.copy()
    shifted[:, 2] += 1.5
    for kind in ("2,1", "3,1"):
        assert icc(noisy, kind).estimate < icc(mm, kind).estimate  # type: ignore[arg-type]
    # a constant shift lowers absolute agreement, not consistency
    assert icc(shifted, "2,1").estimate < icc(mm, "2,1").estimate - 0.1
    assert icc(shifted, "3,1").estimate == pytest.approx(icc(mm, "3,1").estimate)
    assert bland_altman(mm[:, 0], shifted[:, 2]).bias.estimate == pytest.approx(
        bland_altman(mm[:, 0], mm[:, 2]).bias.estimate + 1.5
    )
    width = bland_altman(mm[:, 0], mm[:, 2]).loa_high.estimate
    assert bland_altman(mm[:, 0], noisy[:, 2]).loa_high.estimate > width


def _long(m: np.ndarray, readers: list[str], mm: np.ndarray | None = None) -> pd.DataFrame:
    rows = []
    for case in range(m.shape[0]):
        for r, reader in enumerate(readers):
            rows.append(
                {
                    "case_id": f"C-{case:04X}",
                    "reader": reader,
                    "item": "marrow_edema",
                    "mri_code": m[case, r],
                    "baseline_grade": m[case, r],
                    "followup_grade": np.nan,
                    "baseline_disc_height_mm": np.nan if mm is None else mm[case, r],
                    "followup_disc_height_mm": np.nan if mm is None else mm[case, r] - 1,
                }
            )
    return pd.DataFrame(rows)


def test_table_has_the_measures_of_each_variable_and_scope() -> None:
    m = _readers(30, 4, 0.8, seed=11)
    mm = np.random.default_rng(12).normal(9, 2, 30)[:, None] + np.zeros((30, 4))
    table = agreement_table(
        _long(m, ["A", "B", "C", "A (repeat)"], mm), n_boot=50, mm_tolerance=0.5
    )
    assert tuple(table.columns) == tuple(AGREEMENT_COLUMNS)
    change = table[(table["variable"] == "change")]
    assert set(change["measure"]) == {
        "cohen_kappa_linear", "cohen_kappa_quadratic", "fleiss_kappa", "krippendorff_alpha_ordinal",
    }  # fmt: skip
    assert set(change.loc[change["scope"] == "intra", "readers"]) == {"A / A (repeat)"}
    assert "A / B / C" in set(change["readers"])  # the repeat reading is no fourth reader
    ab = change[(change["readers"] == "A / B") & (change["measure"] == "cohen_kappa_linear")]
    assert ab["percent_agreement"].iloc[0] == pytest.approx(100 * np.mean(m[:, 0] == m[:, 1]))
    mm_rows = table[table["item"] == "disc_height"]
    assert set(mm_rows["variable"]) == {"baseline_mm", "followup_mm", "change_mm"}
    assert {"icc_2_1", "icc_3_1", "bland_altman_bias"} <= set(mm_rows["measure"])
    identical = mm_rows[mm_rows["measure"] == "bland_altman_bias"]
    assert (identical["estimate"].abs() < 1e-12).all()
    assert (identical["percent_agreement"] == 100).all()
    jitter = np.random.default_rng(14).normal(0, 0.3, (30, 2))
    figures = agreement_figures(_long(m, ["A", "B"], mm[:, :2] + jitter))
    assert {"bland_altman_baseline_mm_1.png", "bland_altman_change_mm_1.png"} <= set(figures)
    assert all(data.startswith(b"\x89PNG") for data in figures.values())


def test_consensus_is_no_reader_of_the_agreement() -> None:
    m = _readers(20, 3, 0.8, seed=13)
    table = agreement_table(_long(m, ["A", "B", "consensus"]), n_boot=0)
    assert set(table["readers"]) == {"A / B"}
