"""The analysis proper: lab course against MRI change, per reader, test and item.

Reproduces the analysis of Ahn et al., BMC Musculoskelet Disord 2020;21:428: the course of CRP
and ESR from baseline to follow-up (resolved / resolving / aggravated, see
:mod:`spondy_annotate.labs.classify`) is correlated with the reader's judgement of each MRI item
(improved / unchanged / aggravated) by Spearman's rank correlation, with class counts,
cross-tabulations and the agreement between readers.

Examples
--------
>>> labs = read_labs("labs.csv")                                       # doctest: +SKIP
>>> result = analyze(gradings, labs.values, AnalysisSettings(seed=1))  # doctest: +SKIP
>>> result.correlations[["test", "item", "n", "rho", "p"]]             # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from spondy_annotate.analysis.gradings import prepare_gradings
from spondy_annotate.analysis.paper import order_items
from spondy_annotate.analysis.results import AnalysisResult, AnalysisSettings
from spondy_annotate.analysis.stats import spearman, weighted_kappa
from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.rubric import Change
from spondy_annotate.labs.classify import LabClass, classify_labs
from spondy_annotate.labs.link import link_labs

logger = logging.getLogger(__name__)

__all__ = ["analyze"]


def analyze(
    gradings: pd.DataFrame,
    lab_values: pd.DataFrame,
    settings: AnalysisSettings | None = None,
) -> AnalysisResult:
    """Link labs to the graded cases, classify them and correlate with the MRI change.

    Parameters
    ----------
    gradings
        See :func:`~spondy_annotate.analysis.gradings.prepare_gradings` (e.g. from
        :func:`~spondy_annotate.analysis.gradings.load_gradings`).
    lab_values
        :attr:`spondy_annotate.labs.read.LabImport.values`.
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
    items = order_items(g["item"].unique())
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
    classes = [c.label for c in LabClass]
    changes = [c.value for c in Change]
    table = pd.crosstab(
        pd.Categorical(sub[f"{test}_class"], categories=classes),
        pd.Categorical(sub["change"], categories=changes),
        dropna=False,
    )
    table.index.name, table.columns.name = f"{test} class", f"{item} change"
    return table.reindex(index=classes, columns=changes, fill_value=0)


def _class_counts(labs: pd.DataFrame, case_ids: pd.Series, tests: Sequence[str]) -> pd.DataFrame:
    rows = []
    for test in tests:
        part = labs[labs["test"] == test]
        counts = part["lab_class"].value_counts()
        rows.append(
            {"test": test}
            | {c.label: int(counts.get(c.label, 0)) for c in LabClass}
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
