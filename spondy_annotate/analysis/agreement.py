"""Agreement between readers, fitted to each variable, with 95% confidence intervals.

Ordinal variables (each item's change code and its baseline and follow-up grades):

* weighted Cohen's kappa (linear and quadratic weights) for every pair of readers, with the
  Fleiss-Cohen-Everitt asymptotic standard error (:func:`statsmodels.stats.inter_rater.cohens_kappa`);
* for three or more readers, Fleiss' kappa (:func:`statsmodels.stats.inter_rater.fleiss_kappa`,
  cases every reader read) and Krippendorff's alpha with the ordinal metric
  (:func:`krippendorff.alpha`, every case read at least twice), each with a percentile bootstrap
  interval over cases.

Disc height in mm (baseline, follow-up and their difference): ICC(2,1) (two-way random, absolute
agreement) and ICC(3,1) (two-way mixed, consistency) over all readers with their F-distribution
intervals (Shrout & Fleiss 1979; McGraw & Wong 1996), and a Bland-Altman analysis per pair of
readers: bias with its t interval, limits of agreement ``bias -/+ z SD`` with the approximate
intervals of Bland & Altman (1999, ``SE = sqrt(3 SD^2 / n)``).

Beside every coefficient, the percentage agreement: identical codes (all readers identical for
the multi-reader measures), or differences within the tolerance in mm. Intra-reader agreement
compares a reader's main reading with their repeat reading (``scope`` ``intra``).

One concept, the agreement table; long because each coefficient and its interval is spelled out.

Examples
--------
>>> agreement_table(readings, n_boot=1000)                          # doctest: +SKIP
>>> cohen_kappa([0, 1, 2, 2], [0, 1, 1, 2], categories=range(3)).estimate
0.7142857142857143
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from spondy_annotate.analysis.dictionary import DICTIONARY_COLUMNS
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind, parse_reading_label
from spondy_annotate.grading.readings import reading_label as label_of

__all__ = [
    "AGREEMENT_COLUMNS",
    "BlandAltman",
    "Estimate",
    "METHODS_TEXT",
    "agreement_dictionary",
    "agreement_figures",
    "agreement_table",
    "bland_altman",
    "cohen_kappa",
    "fleiss_kappa",
    "icc",
    "krippendorff_alpha",
]

#: Columns of :func:`agreement_table` (and ``agreement.csv``): type and meaning.
AGREEMENT_COLUMNS: dict[str, tuple[str, str]] = {
    "item": ("text", "MRI item; disc_height for the measured heights."),
    "variable": ("text", "change, baseline_grade, followup_grade (codes), or baseline_mm, "
                 "followup_mm, change_mm (disc height)."),
    "scope": ("text", "inter: between readers; intra: a reader's reading against their repeat "
              "reading."),
    "measure": ("text", "cohen_kappa_linear, cohen_kappa_quadratic, fleiss_kappa, "
                "krippendorff_alpha_ordinal, icc_2_1, icc_3_1, bland_altman_bias, "
                "bland_altman_loa_low, bland_altman_loa_high."),
    "readers": ("text", "The readers compared, 'A / B'; for Bland-Altman the difference is "
                "B - A."),
    "n": ("integer", "Cases in the estimate."),
    "estimate": ("number", "The coefficient, or the bias or limit of agreement in mm."),
    "ci_low": ("number", "Lower bound of the interval of the estimate (method in ci_method)."),
    "ci_high": ("number", "Upper bound of the interval of the estimate."),
    "ci_method": ("text", "How ci_low and ci_high were computed."),
    "percent_agreement": ("number", "% of cases with identical codes (all readers), or with "
                          "disc heights within the tolerance in mm."),
}  # fmt: skip
#: Ordinal variables of every item: name and column of the prepared gradings.
_ORDINAL = (("change", "mri_code"), ("baseline_grade", "baseline_grade"),
            ("followup_grade", "followup_grade"))  # fmt: skip
#: The measured item and its variables in mm.
_MM_ITEM = "disc_height"
_MM = ("baseline_mm", "followup_mm", "change_mm")
_ASE = "asymptotic SE (Fleiss, Cohen & Everitt 1969)"
_BOOT = "percentile bootstrap over cases"


@dataclass(frozen=True)
class Estimate:
    """A coefficient with its interval: ``n`` cases, ``ci_method`` saying how it was computed."""

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    ci_method: str

    @classmethod
    def undefined(cls, n: int, ci_method: str) -> Estimate:
        """NaN (too few cases, or no variation)."""
        return cls(math.nan, math.nan, math.nan, n, ci_method)


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman analysis of ``b - a``: bias, limits of agreement, each with its interval."""

    bias: Estimate
    loa_low: Estimate
    loa_high: Estimate
    sd: float


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def cohen_kappa(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    categories: Iterable[int],
    weights: Literal["linear", "quadratic"] = "linear",
    confidence: float = 0.95,
) -> Estimate:
    """Weighted Cohen's kappa of two readers' ordinal codes, ``kappa -/+ z ASE``.

    ``categories`` is the whole ordered scale (its values set the weights); NaN when there is
    no pair or both readers used one and the same code.
    """
    from statsmodels.stats.inter_rater import cohens_kappa

    cats = np.asarray(sorted(categories), dtype=float)
    aa, bb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = int(aa.size)
    method = _ASE
    if n == 0 or np.unique(np.concatenate([aa, bb])).size < 2:
        return Estimate.undefined(n, method)
    index = {value: i for i, value in enumerate(cats)}
    table = np.zeros((cats.size, cats.size))
    for x, y in zip(aa, bb, strict=True):
        table[index[x], index[y]] += 1
    res = cohens_kappa(table, weights=cats, wt=weights)
    kappa, se = float(res.kappa), math.sqrt(max(float(res.var_kappa), 0.0))
    half = _z(confidence) * se
    return Estimate(kappa, kappa - half, kappa + half, n, method)


def fleiss_kappa(
    ratings: np.ndarray,
    *,
    categories: Iterable[int],
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Fleiss' kappa of a cases x readers matrix of codes (rows with a NaN are left out)."""
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    cats = sorted(categories)
    m = np.asarray(ratings, dtype=float)
    m = m[~np.isnan(m).any(axis=1)]
    counts = np.stack([(m == c).sum(axis=1) for c in cats], axis=1)

    def statistic(rows: np.ndarray) -> float:
        if np.count_nonzero(rows.sum(axis=0)) < 2:
            return math.nan
        return float(sm_fleiss(rows, method="fleiss"))

    return _with_bootstrap(counts, statistic, confidence, n_boot, seed)


def krippendorff_alpha(
    ratings: np.ndarray,
    *,
    categories: Iterable[int],
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Krippendorff's alpha (ordinal metric) of a cases x readers matrix, NaN for not read.

    Cases read fewer than twice carry no pair and are left out (``n`` counts the others).
    """
    import krippendorff

    domain = np.asarray(sorted(categories), dtype=float)
    m = np.asarray(ratings, dtype=float)
    m = m[(~np.isnan(m)).sum(axis=1) >= 2]

    def statistic(rows: np.ndarray) -> float:
        if np.unique(rows[~np.isnan(rows)]).size < 2:
            return math.nan
        return float(
            krippendorff.alpha(
                reliability_data=rows.T, value_domain=domain, level_of_measurement="ordinal"
            )
        )

    return _with_bootstrap(m, statistic, confidence, n_boot, seed)


def _with_bootstrap(
    rows: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    confidence: float,
    n_boot: int,
    seed: int,
) -> Estimate:
    """The statistic of ``rows`` (cases) and its percentile interval over case resamples."""
    n = int(rows.shape[0])
    if n < 2:
        return Estimate.undefined(n, _BOOT)
    value = statistic(rows)
    if math.isnan(value) or n_boot <= 0:
        return Estimate(value, math.nan, math.nan, n, _BOOT)
    rng = np.random.default_rng(seed)
    boot = np.array([statistic(rows[rng.integers(0, n, n)]) for _ in range(n_boot)])
    boot = boot[~np.isnan(boot)]
    if boot.size == 0:
        return Estimate(value, math.nan, math.nan, n, _BOOT)
    alpha = 1 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Estimate(value, float(low), float(high), n, f"{_BOOT} ({boot.size} resamples)")


def icc(ratings: np.ndarray, kind: Literal["2,1", "3,1"], *, confidence: float = 0.95) -> Estimate:
    """ICC(2,1) (absolute agreement) or ICC(3,1) (consistency) of a cases x readers matrix.

    Rows with a NaN are left out. The interval is the F-distribution interval of Shrout &
    Fleiss (1979) and McGraw & Wong (1996), ICC(2,1) with Satterthwaite's degrees of freedom.
    """
    from scipy.stats import f

    y = np.asarray(ratings, dtype=float)
    y = y[~np.isnan(y).any(axis=1)]
    n, k = y.shape
    method = "F distribution (McGraw & Wong 1996)"
    if n < 2 or k < 2:
        return Estimate.undefined(n, method)
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    df1, df_err = n - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df1, ss_cols / (k - 1), ss_err / df_err
    if mse <= 0 or msr <= 0:
        return Estimate.undefined(n, method)
    q = 0.5 + confidence / 2
    if kind == "3,1":
        value = (msr - mse) / (msr + (k - 1) * mse)
        f_obs = msr / mse
        f_low = f_obs / f.ppf(q, df1, df_err)
        f_high = f_obs * f.ppf(q, df_err, df1)
        return Estimate(
            float(value),
            float((f_low - 1) / (f_low + k - 1)),
            float((f_high - 1) / (f_high + k - 1)),
            n,
            method,
        )
    value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    fj = msc / mse
    v_num = df_err * (k * value * fj + n * (1 + (k - 1) * value) - k * value) ** 2
    v_den = df1 * k**2 * value**2 * fj**2 + (n * (1 + (k - 1) * value) - k * value) ** 2
    v = v_num / v_den
    f_up, f_lo = f.ppf(q, df1, v), f.ppf(q, v, df1)
    low = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_lo * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lo * msr)
    return Estimate(float(value), float(low), float(high), n, method)


def bland_altman(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
) -> BlandAltman:
    """Bias and limits of agreement of ``b - a`` (pairs with a NaN are left out)."""
    from scipy.stats import t

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[~np.isnan(d)]
    n = int(d.size)
    method = "t interval; limits: SE sqrt(3 SD^2 / n) (Bland & Altman 1999)"
    if n < 2:
        nan = Estimate.undefined(n, method)
        return BlandAltman(nan, nan, nan, math.nan)
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    tq = float(t.ppf(0.5 + confidence / 2, n - 1))
    z = _z(confidence)
    se_bias, se_loa = sd / math.sqrt(n), math.sqrt(3 * sd * sd / n)

    def around(value: float, se: float) -> Estimate:
        return Estimate(value, value - tq * se, value + tq * se, n, method)

    return BlandAltman(
        around(bias, se_bias), around(bias - z * sd, se_loa), around(bias + z * sd, se_loa), sd
    )


# ---------------------------------------------------------------------------- the table


#: The agreement methods in words (the report's methods and ``settings.json``).
METHODS_TEXT = (
    "Agreement was measured per item and variable with 95% confidence intervals: weighted "
    "Cohen's kappa (linear and quadratic weights; Fleiss-Cohen-Everitt asymptotic SE) for each "
    "pair of readers on the change judgement and the grades; for three or more readers, Fleiss' "
    "kappa and Krippendorff's alpha with the ordinal metric (percentile bootstrap over cases); "
    "for the disc height in mm, ICC(2,1) (two-way random, absolute agreement) and ICC(3,1) "
    "(two-way mixed, consistency) with F-distribution intervals, and Bland-Altman bias and 95% "
    "limits of agreement per pair of readers. The percentage agreement is given beside every "
    "coefficient. Intra-reader agreement compares each reader's reading with their repeat "
    "reading after the wash-out."
)


def agreement_dictionary(file: str = "agreement.csv") -> pd.DataFrame:
    """Rows ``file, column, type, meaning`` of the report's data dictionary for the table."""
    rows = [(file, column, kind, text) for column, (kind, text) in AGREEMENT_COLUMNS.items()]
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


@dataclass(frozen=True)
class _Readers:
    """The main readers, and those with a repeat reading."""

    main: tuple[str, ...]
    repeated: tuple[str, ...]


def _readers(labels: Iterable[str]) -> _Readers:
    parsed = [parse_reading_label(label) for label in set(labels)]
    main = sorted(r for r, kind in parsed if kind is ReadKind.PAIR and r != CONSENSUS_READER)
    repeated = sorted(r for r, kind in parsed if kind is ReadKind.REPEAT and r in main)
    return _Readers(tuple(main), tuple(repeated))


def _mm_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per case x reader: ``baseline_mm, followup_mm, change_mm``."""
    columns = ["baseline_disc_height_mm", "followup_disc_height_mm"]
    if not set(columns) <= set(readings.columns):
        return pd.DataFrame(columns=["case_id", "reader", *_MM])
    per_case = readings.groupby(["case_id", "reader"], sort=True)[columns].first().reset_index()
    per_case.columns = ["case_id", "reader", "baseline_mm", "followup_mm"]
    per_case["change_mm"] = per_case["followup_mm"] - per_case["baseline_mm"]
    return per_case.dropna(subset=list(_MM), how="all")


def agreement_table(
    readings: pd.DataFrame,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    mm_tolerance: float = 1.0,
) -> pd.DataFrame:
    """Agreement of every item and variable between the readers and within each reader.

    Parameters
    ----------
    readings
        Prepared gradings (:func:`~spondy_annotate.analysis.gradings.prepare_gradings`): one
        row per case x reader x item with ``mri_code``, the grades and the disc heights in mm.
        Reader labels as stored (:mod:`spondy_annotate.grading.readings`): the consensus is
        left out, repeat readings give the intra-reader rows.
    confidence
        Level of the intervals.
    n_boot, seed
        Bootstrap resamples of Fleiss' kappa and Krippendorff's alpha, and their seed.
    mm_tolerance
        Differences in mm up to this count as agreement in ``percent_agreement``.

    Returns
    -------
    pandas.DataFrame
        :data:`AGREEMENT_COLUMNS`; ``readers`` names them ``"A / B"``, ``percent_agreement``
        is in % (NaN without a case).
    """
    who = _readers(readings["reader"])
    rows: list[dict[str, object]] = []
    for item in sorted(readings["item"].unique()):
        part = readings[readings["item"] == item]
        for variable, column in _ORDINAL:
            if column not in part or part[column].isna().all():
                continue
            wide = part.pivot_table(index="case_id", columns="reader", values=column)
            values = wide.to_numpy(dtype=float)
            observed = values[~np.isnan(values)].astype(int)
            categories = range(min(0, int(observed.min())), int(observed.max()) + 1)
            for scope, pairs in _pairs(who):
                for a, b in pairs:
                    for weights in ("linear", "quadratic"):
                        pair = _columns(wide, [a, b])
                        est = cohen_kappa(
                            pair[:, 0], pair[:, 1], categories=categories,
                            weights=weights, confidence=confidence,
                        )  # fmt: skip
                        rows.append(
                            _row(item, variable, scope, f"cohen_kappa_{weights}", [a, b], est)
                            | {"percent_agreement": _exact(pair)}
                        )
            if len(who.main) >= 3:
                every = _columns(wide, list(who.main), dropna=False)
                complete = every[~np.isnan(every).any(axis=1)]
                for measure, function in (
                    ("fleiss_kappa", fleiss_kappa),
                    ("krippendorff_alpha_ordinal", krippendorff_alpha),
                ):
                    est = function(
                        every, categories=categories, confidence=confidence,
                        n_boot=n_boot, seed=seed,
                    )  # fmt: skip
                    rows.append(
                        _row(item, variable, "inter", measure, who.main, est)
                        | {"percent_agreement": _exact(complete)}
                    )
    rows += _mm_rows(_mm_readings(readings), who, confidence, mm_tolerance)
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def _pairs(who: _Readers) -> list[tuple[str, list[tuple[str, str]]]]:
    """``(scope, reader label pairs)``: every pair of main readers; each reader and their repeat."""
    return [
        ("inter", list(combinations(who.main, 2))),
        ("intra", [(r, label_of(r, ReadKind.REPEAT)) for r in who.repeated]),
    ]


def _columns(wide: pd.DataFrame, readers: Sequence[str], *, dropna: bool = True) -> np.ndarray:
    """The cases x ``readers`` values (rows with a NaN left out when ``dropna``)."""
    values = wide.reindex(columns=list(readers)).to_numpy(dtype=float)
    return values[~np.isnan(values).any(axis=1)] if dropna else values


def _exact(values: np.ndarray) -> float:
    """% of rows in which every reader gave the same value."""
    if values.shape[0] == 0:
        return math.nan
    return float(100 * np.mean((values == values[:, :1]).all(axis=1)))


def _within(values: np.ndarray, tolerance: float) -> float:
    """% of rows whose readers' values lie within ``tolerance`` of each other."""
    if values.shape[0] == 0:
        return math.nan
    return float(100 * np.mean(np.ptp(values, axis=1) <= tolerance + 1e-9))


def _row(
    item: str, variable: str, scope: str, measure: str, readers: Sequence[str], est: Estimate
) -> dict[str, object]:
    return {
        "item": item,
        "variable": variable,
        "scope": scope,
        "measure": measure,
        "readers": " / ".join(readers),
        "n": est.n,
        "estimate": est.estimate,
        "ci_low": est.ci_low,
        "ci_high": est.ci_high,
        "ci_method": est.ci_method,
    }


def _mm_rows(
    mm: pd.DataFrame, who: _Readers, confidence: float, tolerance: float
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for variable in _MM:
        wide = mm.pivot_table(index="case_id", columns="reader", values=variable)
        groups = [("inter", list(who.main))] if len(who.main) >= 2 else []
        groups += [("intra", [r, label_of(r, ReadKind.REPEAT)]) for r in who.repeated]
        for scope, readers in groups:
            values = _columns(wide, readers)
            if values.shape[0] == 0:
                continue
            kinds: tuple[Literal["2,1", "3,1"], ...] = ("2,1", "3,1")
            for kind in kinds:
                est = icc(values, kind, confidence=confidence)
                rows.append(
                    _row(_MM_ITEM, variable, scope, f"icc_{kind.replace(',', '_')}", readers, est)
                    | {"percent_agreement": _within(values, tolerance)}
                )
            for a, b in combinations(readers, 2):
                pair = _columns(wide, [a, b])
                ba = bland_altman(pair[:, 0], pair[:, 1], confidence=confidence)
                for measure, est in (
                    ("bland_altman_bias", ba.bias),
                    ("bland_altman_loa_low", ba.loa_low),
                    ("bland_altman_loa_high", ba.loa_high),
                ):
                    rows.append(
                        _row(_MM_ITEM, variable, scope, measure, [a, b], est)
                        | {"percent_agreement": _within(pair, tolerance)}
                    )
    return rows


def agreement_figures(
    readings: pd.DataFrame, *, confidence: float = 0.95, svg: bool = False
) -> dict[str, bytes]:
    """Bland-Altman plots of the disc height (mm) per pair of readers and repeat reading.

    Named ``bland_altman_<variable>_<i>.png`` (``i`` numbering the pairs in the order of
    :func:`agreement_table`, the readers named in the title); with ``svg`` also as SVG.
    """
    from matplotlib.figure import Figure
    from statsmodels.graphics.agreement import mean_diff_plot

    from spondy_annotate.analysis.figures import figure_bytes

    who = _readers(readings["reader"])
    mm = _mm_readings(readings)
    out: dict[str, bytes] = {}
    for variable in _MM:
        wide = mm.pivot_table(index="case_id", columns="reader", values=variable)
        pairs = [pair for _, group in _pairs(who) for pair in group]
        for i, (a, b) in enumerate(pairs, start=1):
            values = _columns(wide, [a, b])
            if values.shape[0] < 2:
                continue
            fig = Figure(figsize=(5, 4))
            ax = fig.add_subplot()
            mean_diff_plot(values[:, 1], values[:, 0], sd_limit=_z(confidence), ax=ax)
            ax.set_title(f"Disc height {variable}: {b} - {a} (n = {values.shape[0]})")
            ax.set_xlabel("mean of the two readings (mm)")
            ax.set_ylabel("difference (mm)")
            fig.tight_layout()
            name = f"bland_altman_{variable}_{i}"
            out[f"{name}.png"] = figure_bytes(fig, "png")
            if svg:
                out[f"{name}.svg"] = figure_bytes(fig, "svg")
    return out
