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

from spondy_annotate.analysis.dataset import build_dataset
from spondy_annotate.analysis.descriptive import flow_table, interval_table, lab_values_table
from spondy_annotate.analysis.disc_height import MEASURES, consistency_table, disc_height_table
from spondy_annotate.analysis.gradings import prepare_gradings
from spondy_annotate.analysis.paper import order_items
from spondy_annotate.analysis.results import CORRELATION_COLUMNS, AnalysisResult, AnalysisSettings
from spondy_annotate.analysis.sensitivity import sensitivity_table
from spondy_annotate.analysis.stats import (
    CI_METHOD,
    SpearmanResult,
    adjust_p,
    spearman,
    weighted_kappa,
)
from spondy_annotate.errors import SpondyError
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind, parse_reading_label
from spondy_annotate.grading.rubric import Change
from spondy_annotate.labs.classify import LabClass, classify_labs
from spondy_annotate.labs.link import link_labs

logger = logging.getLogger(__name__)

__all__ = ["adjust_per_reader", "analyze", "correlation_row"]


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
    g, intake_notes = prepare_gradings(gradings)
    notes = list(intake_notes)
    g = _main_readings(g, notes)
    if g.empty:
        raise SpondyError("gradings: no judged gradings to analyse")
    readers = tuple(sorted(g["reader"].unique()))
    primary = _primary_reader(g, settings.primary_reader)
    rating = tuple(r for r in readers if r != CONSENSUS_READER)
    cases = g.drop_duplicates("case_id")[
        ["case_id", "patient_id", "baseline_date", "followup_date"]
    ]
    link = link_labs(cases, lab_values, settings.window, tests=settings.tests)
    labs = classify_labs(link, settings.classification)
    dataset = build_dataset(g, labs, settings.tests)
    items = order_items(g["item"].unique())
    result_readers = [primary, *(r for r in readers if r != primary)]
    correlations = _correlations(dataset, result_readers, primary, settings, items, notes)
    crosstabs = {
        (test, item): _crosstab(dataset, primary, test, item)
        for test in settings.tests
        for item in items
    }
    kappa = _kappa_table(g, rating, items, settings.kappa_weights)
    disc = disc_height_table(dataset, settings.tests)
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
        notes=tuple(notes),
        interval=interval_table(dataset),
        lab_values=lab_values_table(labs, settings.tests),
        flow=flow_table(dataset, link, correlations, settings.tests),
        disc_height=disc,
        disc_height_correlations=_disc_height_correlations(
            disc, result_readers, primary, settings, notes
        ),
        grade_consistency=consistency_table(dataset),
        sensitivity=sensitivity_table(g, lab_values, settings, primary),
    )


def _main_readings(g: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The main readings: without repeat and single-timepoint reads, with the consensus reading.

    Where an adjudicator recorded a consensus answer (reader
    :data:`~spondy_annotate.grading.readings.CONSENSUS_READER`) it is the consensus reading
    of that case and item; the other cases and items take the reading of the reader with the
    most judged gradings (there the readers agreed, or no adjudication was asked for).
    """
    kinds = g["reader"].map(lambda label: parse_reading_label(label)[1])
    other = kinds != ReadKind.PAIR
    if other.any():
        notes.append(
            f"{int(other.sum())} repeat or single-timepoint reading(s) used for intra-reader "
            "agreement only"
        )
        g = g.loc[~other]
    adjudicated = g["reader"] == CONSENSUS_READER
    if not adjudicated.any() or adjudicated.all():
        return g
    readers = g.loc[~adjudicated]
    base = _primary_reader(readers, None)
    unit = ["case_id", "item"]
    settled = pd.MultiIndex.from_frame(g.loc[adjudicated, unit])
    own = readers[readers["reader"] == base]
    taken = own[~pd.MultiIndex.from_frame(own[unit]).isin(settled)]
    notes.append(
        f"consensus reading: the adjudicated answer for {int(adjudicated.sum())} case x item(s), "
        f"reader {base}'s reading for the other {len(taken)}"
    )
    combined = pd.concat([g, taken.assign(reader=CONSENSUS_READER)], ignore_index=True)
    return combined.sort_values([*unit, "reader"], kind="stable", ignore_index=True)


def _primary_reader(g: pd.DataFrame, wanted: str | None) -> str:
    """``wanted``, else the consensus reading when there is one, else the most judged reader."""
    if wanted is not None:
        if wanted not in set(g["reader"]):
            raise SpondyError(f"gradings: no reader named {wanted!r}")
        return wanted
    if CONSENSUS_READER in set(g["reader"]):
        return CONSENSUS_READER
    counts = g.groupby("reader").size()
    return str(sorted(counts.index, key=lambda r: (-counts[r], r))[0])


def _correlations(
    data: pd.DataFrame,
    readers: Sequence[str],
    primary: str,
    settings: AnalysisSettings,
    items: Sequence[str],
    notes: list[str],
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for reader in readers:
        for test in settings.tests:
            for item in items:
                sub = data[(data["reader"] == reader) & (data["item"] == item)]
                sub = sub[sub[f"{test}_code"].notna()]
                keys = {"reader": reader, "primary": reader == primary, "test": test, "item": item}
                rows.append(_correlate(keys, sub[f"{test}_code"], sub["mri_code"], settings, notes))
    return adjust_per_reader(pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS)))


def _correlate(
    keys: dict[str, Any],
    lab: pd.Series,
    mri: pd.Series,
    settings: AnalysisSettings,
    notes: list[str],
) -> dict[str, Any]:
    """One row of a correlation table: ``keys`` and Spearman's rho of ``lab`` with ``mri``."""
    res = spearman(
        lab.to_numpy(dtype=float),
        mri.to_numpy(dtype=float),
        n_boot=settings.bootstrap,
        seed=settings.seed,
        confidence=settings.confidence,
    )
    what = f"{keys['test']} x {keys['item']} ({keys['reader']})"
    _note_dropped_resamples(res, settings.bootstrap, what, notes)
    return keys | correlation_row(res)


def correlation_row(res: SpearmanResult) -> dict[str, Any]:
    """The :data:`CORRELATION_COLUMNS` of one result, without the keys and adjusted p."""
    return asdict(res) | {"p_primary": res.p_primary, "ci_method": CI_METHOD}


def adjust_per_reader(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``p_holm`` and ``p_bh``: ``p_primary`` adjusted over each reader's table."""
    table = table.copy()
    methods: tuple[tuple[str, Literal["holm", "bh"]], ...] = (("p_holm", "holm"), ("p_bh", "bh"))
    for column, method in methods:
        table[column] = math.nan
        for _, part in table.groupby("reader", sort=False):
            table.loc[part.index, column] = adjust_p(part["p_primary"].to_numpy(float), method)
    return table


def _disc_height_correlations(
    disc: pd.DataFrame,
    readers: Sequence[str],
    primary: str,
    settings: AnalysisSettings,
    notes: list[str],
) -> pd.DataFrame:
    """Spearman of the lab class with each measured disc height change, per reader and test."""
    rows: list[dict[str, Any]] = []
    for reader in readers:
        mine = disc[disc["reader"] == reader]
        if mine.empty:
            continue
        for test in settings.tests:
            for measure in MEASURES:
                sub = mine.dropna(subset=[f"{test}_code", measure])
                keys = {
                    "reader": reader,
                    "primary": reader == primary,
                    "test": test,
                    "item": measure,
                }
                rows.append(_correlate(keys, sub[f"{test}_code"], sub[measure], settings, notes))
    return adjust_per_reader(pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS)))


def _note_dropped_resamples(res: SpearmanResult, n_boot: int, what: str, notes: list[str]) -> None:
    """Warn, and note, when bootstrap resamples with a constant variable were left out."""
    dropped = n_boot - res.n_boot_valid
    if n_boot and dropped and not math.isnan(res.rho):
        note = (
            f"{what}: {dropped} of {n_boot} bootstrap resamples ({dropped / n_boot:.0%}) had a "
            "constant variable and were left out of the percentile interval"
        )
        logger.warning(note)
        notes.append(note)


def _crosstab(data: pd.DataFrame, reader: str, test: str, item: str) -> pd.DataFrame:
    """Counts of lab class (rows) x MRI change (columns), every category present, also at n = 0."""
    sub = data[(data["reader"] == reader) & (data["item"] == item) & data[f"{test}_code"].notna()]
    classes = [c.label for c in LabClass]
    changes = [c.value for c in Change]
    counts = sub.groupby([f"{test}_class", "change"]).size()
    table = pd.DataFrame(
        [[int(counts.get((lab_class, change), 0)) for change in changes] for lab_class in classes],
        index=pd.Index(classes, name=f"{test} class"),
        columns=pd.Index(changes, name=f"{item} change"),
    )
    return table


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
