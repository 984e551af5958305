"""Lab course versus MRI change: Spearman correlation, class counts, cross-tabs, reader agreement.

Reproduces the analysis of Ahn et al., BMC Musculoskelet Disord 2020;21:428: the course of CRP
and ESR from baseline to follow-up (resolved / resolving / aggravated, see
:mod:`spondy_annotate.labs.read`) is correlated with the reader's judgement of each MRI item
(improved / unchanged / aggravated) by Spearman's rank correlation.

Codings (both ordinal, so that agreement gives a positive rho):

* MRI change: improved = 0 < unchanged = 1 < aggravated = 2;
* lab class: resolved = 0 < resolving = 1 < aggravated = 2.

Examples
--------
>>> labs = read_labs("labs.csv")                                       # doctest: +SKIP
>>> result = analyze(gradings, labs.values, AnalysisSettings(seed=1))  # doctest: +SKIP
>>> result.correlations[["test", "item", "n", "rho", "p"]]             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from spondy_annotate.errors import SpondyError
from spondy_annotate.labs.read import (
    ClassificationSettings,
    LabClass,
    LinkResult,
    LinkWindow,
    classify_labs,
    link_labs,
    parse_date,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LAB_CLASS_LABELS",
    "MRI_CHANGE_CODES",
    "PAPER_CLASS_COUNTS",
    "PAPER_ITEMS",
    "PAPER_RHO",
    "AnalysisResult",
    "AnalysisSettings",
    "SpearmanResult",
    "analyze",
    "prepare_gradings",
    "read_gradings",
    "spearman",
    "weighted_kappa",
]

#: Ordinal code of each MRI change judgement.
MRI_CHANGE_CODES: dict[str, int] = {"improved": 0, "unchanged": 1, "aggravated": 2}
MRI_CHANGE_LABELS: tuple[str, ...] = tuple(MRI_CHANGE_CODES)
#: Lab class labels in code order (see :class:`~spondy_annotate.labs.LabClass`).
LAB_CLASS_LABELS: tuple[str, ...] = tuple(c.label for c in LabClass)
#: The MRI items of the paper, listed first in every table.
PAPER_ITEMS: tuple[str, ...] = ("marrow_edema", "paravertebral_inflammation", "disc_height")
#: Class counts (resolved, resolving, aggravated) reported by Ahn et al. (n = 48).
PAPER_CLASS_COUNTS: dict[str, tuple[int, int, int]] = {"CRP": (19, 19, 10), "ESR": (8, 22, 18)}
#: Spearman rho reported by Ahn et al.
PAPER_RHO: dict[tuple[str, str], float] = {
    ("CRP", "paravertebral_inflammation"): 0.48,
    ("CRP", "marrow_edema"): 0.41,
    ("ESR", "marrow_edema"): 0.45,
    ("ESR", "paravertebral_inflammation"): 0.39,
}
REQUIRED_GRADING_COLUMNS = ("patient_id", "item", "change", "baseline_date", "followup_date")
#: Columns of :attr:`AnalysisResult.dataset` that identify a patient (left out of exports).
IDENTIFIER_COLUMNS = ("patient_id", "baseline_date", "followup_date")
#: Change labels meaning "not judged"; such gradings are left out and counted.
_NOT_JUDGED = {"", "na", "n/a", "nan", "none", "not assessable", "not_assessable", "not assessed"}


@dataclass(frozen=True)
class AnalysisSettings:
    """Everything that determines the analysis; printed in the report's methods.

    Attributes
    ----------
    window
        Lab draws linked to an MRI date (default 7 days before to 3 days after).
    classification
        Normal limits and the unchanged rule of the lab classification.
    tests
        Lab tests analysed.
    bootstrap
        Number of bootstrap resamples for the confidence interval of rho (0: none).
    seed
        Seed of the bootstrap's ``numpy.random.default_rng``.
    confidence
        Confidence level of the interval.
    kappa_weights
        Weights of Cohen's kappa between readers.
    primary_reader
        Reader whose gradings give the main result; by default the reader with the most
        judged gradings (ties: first by name).
    """

    window: LinkWindow = field(default_factory=LinkWindow)
    classification: ClassificationSettings = field(default_factory=ClassificationSettings)
    tests: tuple[str, ...] = ("CRP", "ESR")
    bootstrap: int = 2000
    seed: int = 0
    confidence: float = 0.95
    kappa_weights: Literal["linear", "quadratic"] = "linear"
    primary_reader: str | None = None

    def __post_init__(self) -> None:
        if self.bootstrap < 0:
            raise ValueError("bootstrap must be >= 0")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if self.kappa_weights not in ("linear", "quadratic"):
            raise ValueError("kappa_weights must be 'linear' or 'quadratic'")


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


@dataclass(frozen=True)
class AnalysisResult:
    """Output of :func:`analyze`; every table is a plain DataFrame.

    Attributes
    ----------
    settings
        The settings used.
    readers
        Reader names, sorted.
    primary_reader
        The reader of the main result (see :class:`AnalysisSettings`).
    dataset
        One row per case x reader x item: ``case_id, reader, item, change, mri_code,
        interval_days``, per test ``<T>_baseline, <T>_followup, <T>_baseline_offset_days,
        <T>_followup_offset_days, <T>_class, <T>_code, <T>_unchanged`` and the identifying
        columns ``patient_id, baseline_date, followup_date, <T>_baseline_draw_date,
        <T>_followup_draw_date`` (see :meth:`export_dataset`).
    correlations
        ``reader, primary, test, item, n, rho, p, ci_low, ci_high, n_boot_valid``.
    class_counts
        Per test: ``resolved, resolving, aggravated, unchanged, classified, missing, cases``.
    crosstabs
        For the primary reader, per (test, item): counts, lab class rows x MRI change columns.
    kappa
        ``item, reader_a, reader_b, n, kappa, weights, agreement`` (agreement: proportion of
        identical judgements).
    labs
        :func:`~spondy_annotate.labs.classify_labs` output for the analysed cases.
    link
        The lab linking, with the unlinked cases and reasons.
    notes
        Gradings left out or merged, and case IDs replaced, in words.
    """

    settings: AnalysisSettings
    readers: tuple[str, ...]
    primary_reader: str
    dataset: pd.DataFrame
    correlations: pd.DataFrame
    class_counts: pd.DataFrame
    crosstabs: dict[tuple[str, str], pd.DataFrame]
    kappa: pd.DataFrame
    labs: pd.DataFrame
    link: LinkResult
    notes: tuple[str, ...]

    @property
    def items(self) -> tuple[str, ...]:
        """MRI items analysed, the paper's first."""
        return _order_items(self.dataset["item"].unique())

    def export_dataset(self, *, include_identifiers: bool = False) -> pd.DataFrame:
        """The per-case dataset, without patient IDs and dates unless asked."""
        if include_identifiers:
            return self.dataset.copy()
        drop = [c for c in self.dataset.columns if c in IDENTIFIER_COLUMNS or c.endswith("_date")]
        return self.dataset.drop(columns=drop)


# --------------------------------------------------------------------------------------------
# Statistics


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

    Examples
    --------
    >>> round(spearman([1, 2, 3, 4], [1, 3, 2, 4], n_boot=0).rho, 2)
    0.8
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


# --------------------------------------------------------------------------------------------
# Gradings


def read_gradings(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a gradings table (CSV, Excel .xlsx or Parquet); CSV and Excel cells as text.

    Raises
    ------
    SpondyError
        The file is missing, not CSV/Excel, unreadable, or lacks a required column.
    """
    path = Path(path)
    if not path.is_file():
        raise SpondyError(f"{path}: no such gradings file")
    suffix = path.suffix.lower()
    try:
        if suffix in {".csv", ".txt", ".tsv"}:
            sep = "\t" if suffix == ".tsv" else None
            table = pd.read_csv(
                path, dtype=str, keep_default_na=False, sep=sep, engine="python",
                encoding="utf-8-sig",
            )  # fmt: skip
        elif suffix in {".xlsx", ".xlsm"}:
            table = pd.read_excel(path, dtype=str, keep_default_na=False)
        elif suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            raise SpondyError(f"{path}: gradings must be a CSV, Excel (.xlsx) or Parquet file")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SpondyError(f"{path}: cannot read gradings ({exc})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    _check_columns(table, str(path))
    return table


def _check_columns(table: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED_GRADING_COLUMNS if c not in table.columns]
    if missing:
        raise SpondyError(
            f"{name}: gradings lack column(s) {', '.join(missing)} (an export made with "
            "identifiers has them)"
        )


def prepare_gradings(gradings: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Check and code gradings: one row per case x reader x item.

    Parameters
    ----------
    gradings
        At least ``patient_id, item, change, baseline_date, followup_date``; ``reader``,
        ``case_id``, ``level`` and ``answered_at`` are used when present.

    Returns
    -------
    tuple of DataFrame and notes
        Columns ``case_id, patient_id, baseline_date, followup_date, reader, item, change,
        mri_code``, and what was left out or merged, in words.

    Notes
    -----
    A case is identified by ``case_id`` when given, else by patient and the two MRI dates.
    Gradings whose change is empty or "not assessable" are left out. Repeated gradings of the
    same case, reader, item and level keep the last (by ``answered_at`` when present); several
    levels of one case are merged into the worst change (highest code). A ``case_id`` that
    contains the patient ID or a date is replaced by ``case-NNN`` so that outputs stay
    de-identified. Dates that cannot be read become missing (the case then has no lab link).

    Raises
    ------
    SpondyError
        Missing columns, unknown change labels, or a case ID used for two patients or date
        pairs.
    """
    _check_columns(gradings, "gradings")
    notes: list[str] = []
    g = gradings.copy()
    g["patient_id"] = g["patient_id"].map(_text)
    for col in ("baseline_date", "followup_date"):
        g[col] = pd.to_datetime(g[col].map(_date_or_none))
    g["reader"] = g["reader"].map(_text).fillna("unknown") if "reader" in g else "reader"
    g["item"] = g["item"].map(_text)
    change = g["change"].map(lambda v: (_text(v) or "").lower())
    unknown = sorted(set(change) - set(MRI_CHANGE_CODES) - _NOT_JUDGED)
    if unknown:
        raise SpondyError(
            f"gradings: unknown change label(s) {', '.join(map(repr, unknown))} "
            f"(expected {', '.join(MRI_CHANGE_CODES)})"
        )
    judged = change.isin(list(MRI_CHANGE_CODES)) & g["item"].notna()
    if (~judged).any():
        notes.append(f"{int((~judged).sum())} grading(s) without a change judgement left out")
    g = g.loc[judged].assign(change=change[judged])
    g["mri_code"] = g["change"].map(MRI_CHANGE_CODES).astype(int)
    g = _assign_case_ids(g, notes)
    g = _merge_repeats(g, notes)
    columns = ["case_id", "patient_id", "baseline_date", "followup_date", "reader", "item"]
    return g[[*columns, "change", "mri_code"]].reset_index(drop=True), tuple(notes)


def _text(value: object) -> str | None:
    """Stripped text of a cell, or None when empty (None, NaN, pd.NA, blank)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _date_or_none(value: object) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(parse_date(value))
    except ValueError:
        return None


def _assign_case_ids(g: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    key = ["patient_id", "baseline_date", "followup_date"]
    given = g["case_id"].map(_text) if "case_id" in g.columns else None
    complete = given is not None and bool(given.notna().all())
    ids = (
        given.astype(str)
        if given is not None and complete
        else g[key].astype(str).agg("|".join, axis=1)
    )
    g = g.assign(case_id=ids)
    per_case = g.drop_duplicates(["case_id", *key])
    clash = per_case["case_id"][per_case["case_id"].duplicated()]
    if not clash.empty:
        raise SpondyError(
            f"gradings: {clash.nunique()} case ID(s) belong to more than one patient or date pair"
        )
    leaks = not complete or any(
        _holds_identifier(
            str(case.case_id), case.patient_id, case.baseline_date, case.followup_date
        )
        for case in per_case.itertuples(index=False)
    )
    if leaks:
        order = {cid: f"case-{i:03d}" for i, cid in enumerate(per_case["case_id"], start=1)}
        g["case_id"] = g["case_id"].map(order)
        if given is not None:
            notes.append("case IDs replaced by case-NNN (some were missing or held identifiers)")
    return g


def _holds_identifier(case_id: str, patient_id: str | None, *dates: pd.Timestamp) -> bool:
    """True when a case ID contains its patient ID or one of its dates (as YYYYMMDD or ISO)."""
    if patient_id and patient_id in case_id:
        return True
    digits = case_id.replace("-", "")
    return any(
        not pd.isna(day) and (day.strftime("%Y%m%d") in digits or day.strftime("%y%m%d") in digits)
        for day in dates
    )


def _merge_repeats(g: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    unit = ["case_id", "reader", "item"]
    if "answered_at" in g:
        g = g.sort_values("answered_at", kind="stable")
    levelled = [*unit, "level"] if "level" in g else unit
    last = g.drop_duplicates(levelled, keep="last")
    if len(last) < len(g):
        notes.append(
            f"{len(g) - len(last)} repeated grading(s) of the same case, reader, item and level: "
            "the last was used"
        )
    worst = last.sort_values("mri_code", kind="stable").drop_duplicates(unit, keep="last")
    if len(worst) < len(last):
        notes.append(
            f"{len(last) - len(worst)} grading(s) of further levels merged: each case takes "
            "the worst change over its levels"
        )
    return worst.sort_index()


def _order_items(items: Sequence[str] | np.ndarray) -> tuple[str, ...]:
    present = [str(i) for i in items]
    return tuple([i for i in PAPER_ITEMS if i in present] + sorted(set(present) - set(PAPER_ITEMS)))


# --------------------------------------------------------------------------------------------
# The analysis


def analyze(
    gradings: pd.DataFrame,
    lab_values: pd.DataFrame,
    settings: AnalysisSettings | None = None,
) -> AnalysisResult:
    """Link labs to the graded cases, classify them and correlate with the MRI change.

    Parameters
    ----------
    gradings
        See :func:`prepare_gradings` (e.g. ``export.gradings_table(db, include_identifiers=True)``
        or :func:`read_gradings`).
    lab_values
        :attr:`spondy_annotate.labs.LabImport.values`.
    settings
        Analysis settings; defaults as in the paper.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    SpondyError
        Invalid gradings, no gradings, or an unknown ``primary_reader``.
    """
    settings = settings or AnalysisSettings()
    g, notes = prepare_gradings(gradings)
    if g.empty:
        raise SpondyError("gradings: no judged gradings to analyse")
    readers = tuple(sorted(g["reader"].unique()))
    primary = _primary_reader(g, settings.primary_reader)
    cases = g.drop_duplicates("case_id")[
        ["case_id", "patient_id", "baseline_date", "followup_date"]
    ]
    link = link_labs(cases, lab_values, settings.window, tests=settings.tests)
    labs = classify_labs(link, settings.classification)
    dataset = _dataset(g, labs, settings.tests)
    items = _order_items(g["item"].unique())
    result_readers = [primary, *(r for r in readers if r != primary)]
    correlations = _correlations(dataset, result_readers, primary, settings, items)
    crosstabs = {
        (test, item): _crosstab(dataset, primary, test, item)
        for test in settings.tests
        for item in items
    }
    kappa = _kappa_table(g, readers, items, settings.kappa_weights)
    logger.info("analysed %d cases, %d readers, %d items", len(cases), len(readers), len(items))
    return AnalysisResult(
        settings=settings,
        readers=readers,
        primary_reader=primary,
        dataset=dataset,
        correlations=correlations,
        class_counts=_class_counts(labs, cases["case_id"], settings.tests),
        crosstabs=crosstabs,
        kappa=kappa,
        labs=labs,
        link=link,
        notes=notes,
    )


def _primary_reader(g: pd.DataFrame, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in set(g["reader"]):
            raise SpondyError(f"gradings: no reader named {wanted!r}")
        return wanted
    counts = g.groupby("reader").size()
    return str(sorted(counts.index, key=lambda r: (-counts[r], r))[0])


def _dataset(g: pd.DataFrame, labs: pd.DataFrame, tests: Sequence[str]) -> pd.DataFrame:
    data = g.copy()
    data["interval_days"] = (data["followup_date"] - data["baseline_date"]).dt.days
    fields = {
        "baseline_value": "baseline",
        "followup_value": "followup",
        "baseline_offset_days": "baseline_offset_days",
        "followup_offset_days": "followup_offset_days",
        "lab_class": "class",
        "lab_code": "code",
        "unchanged": "unchanged",
        "baseline_draw_date": "baseline_draw_date",
        "followup_draw_date": "followup_draw_date",
    }
    for test in tests:
        part = labs.loc[labs["test"] == test, ["case_id", *fields]]
        part = part.rename(columns={k: f"{test}_{v}" for k, v in fields.items()})
        data = data.merge(part, on="case_id", how="left")
        data[f"{test}_code"] = data[f"{test}_code"].astype("Int64")
    return data.reset_index(drop=True)


def _correlations(
    data: pd.DataFrame,
    readers: Sequence[str],
    primary: str,
    settings: AnalysisSettings,
    items: Sequence[str],
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for reader in readers:
        for test in settings.tests:
            for item in items:
                sub = data[(data["reader"] == reader) & (data["item"] == item)]
                sub = sub[sub[f"{test}_code"].notna()]
                res = spearman(
                    sub[f"{test}_code"].to_numpy(dtype=float),
                    sub["mri_code"].to_numpy(dtype=float),
                    n_boot=settings.bootstrap,
                    seed=settings.seed,
                    confidence=settings.confidence,
                )
                rows.append(
                    {"reader": reader, "primary": reader == primary, "test": test, "item": item}
                    | asdict(res)
                )
    return pd.DataFrame(rows)


def _crosstab(data: pd.DataFrame, reader: str, test: str, item: str) -> pd.DataFrame:
    sub = data[(data["reader"] == reader) & (data["item"] == item) & data[f"{test}_code"].notna()]
    table = pd.crosstab(
        pd.Categorical(sub[f"{test}_class"], categories=LAB_CLASS_LABELS),
        pd.Categorical(sub["change"], categories=MRI_CHANGE_LABELS),
        dropna=False,
    )
    table.index.name, table.columns.name = f"{test} class", f"{item} change"
    return table.reindex(
        index=list(LAB_CLASS_LABELS), columns=list(MRI_CHANGE_LABELS), fill_value=0
    )


def _class_counts(labs: pd.DataFrame, case_ids: pd.Series, tests: Sequence[str]) -> pd.DataFrame:
    rows = []
    for test in tests:
        part = labs[labs["test"] == test]
        counts = part["lab_class"].value_counts()
        rows.append(
            {"test": test}
            | {label: int(counts.get(label, 0)) for label in LAB_CLASS_LABELS}
            | {
                "unchanged": int(part["unchanged"].sum()),
                "classified": len(part),
                "missing": int(len(case_ids) - len(part)),
                "cases": len(case_ids),
            }
        )
    return pd.DataFrame(rows)


def _kappa_table(
    g: pd.DataFrame,
    readers: Sequence[str],
    items: Sequence[str],
    weights: Literal["linear", "quadratic"],
) -> pd.DataFrame:
    rows = []
    columns = ["item", "reader_a", "reader_b", "n", "kappa", "weights", "agreement"]
    for item in items:
        by_item = g[g["item"] == item]
        for a, b in combinations(readers, 2):
            pair = by_item[by_item["reader"] == a].merge(
                by_item[by_item["reader"] == b], on="case_id", suffixes=("_a", "_b")
            )
            codes_a, codes_b = pair["mri_code_a"].to_numpy(), pair["mri_code_b"].to_numpy()
            rows.append(
                {
                    "item": item,
                    "reader_a": a,
                    "reader_b": b,
                    "n": len(pair),
                    "kappa": weighted_kappa(codes_a, codes_b, weights=weights),
                    "weights": weights,
                    "agreement": float(np.mean(codes_a == codes_b)) if len(pair) else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=columns)
