"""Sensitivity analyses: the primary reader's rho under other windows, limits and rules.

Each variant changes one setting of the main analysis and reruns the lab linking, the
classification and the Spearman analysis (permutation p below 30 pairs, Fisher-z interval,
no bootstrap): the link window (0/0, 3/1, 7/3 and 14/7 days before/after the MRI), the CRP
normal limit (3, 5, 8, 10 mg/L), the ESR normal limit (15, 20, 25, 30 mm/h) and the class of
an unchanged value above normal (aggravated, resolving). A limit variant concerns its test
only. The main analysis is marked.

Examples
--------
>>> sensitivity_table(g, lab_values, settings, "reader_a")             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pandas as pd

from spondy_annotate.analysis.dataset import build_dataset
from spondy_annotate.analysis.paper import order_items
from spondy_annotate.analysis.results import AnalysisSettings
from spondy_annotate.analysis.stats import EXACT_P_BELOW_N, spearman
from spondy_annotate.labs.classify import LabClass, classify_labs
from spondy_annotate.labs.link import LinkWindow, link_labs

__all__ = ["SENSITIVITY_COLUMNS", "sensitivity_table"]

#: Columns of :func:`sensitivity_table`.
SENSITIVITY_COLUMNS = (
    "setting", "value", "main", "test", "item", "n", "rho", "ci_low", "ci_high", "p_primary",
)  # fmt: skip
_WINDOWS = ((0, 0), (3, 1), (7, 3), (14, 7))
_CRP_LIMITS = (3.0, 5.0, 8.0, 10.0)
_ESR_LIMITS = (15.0, 20.0, 25.0, 30.0)


def sensitivity_table(
    g: pd.DataFrame, lab_values: pd.DataFrame, settings: AnalysisSettings, reader: str
) -> pd.DataFrame:
    """rho of ``reader`` per test and item under each variant of ``settings``.

    Parameters
    ----------
    g
        :func:`~spondy_annotate.analysis.gradings.prepare_gradings` output.
    lab_values
        :attr:`~spondy_annotate.labs.read.LabImport.values`.
    settings
        The main analysis' settings; each variant changes one of them.
    reader
        The primary reader.

    Returns
    -------
    pandas.DataFrame
        :data:`SENSITIVITY_COLUMNS`, ``main`` True for the main analysis' value.
    """
    cases = g.drop_duplicates("case_id")[
        ["case_id", "patient_id", "baseline_date", "followup_date"]
    ]
    mine = g[g["reader"] == reader]
    items = order_items(mine["item"].unique())
    rows: list[dict[str, Any]] = []
    links: dict[LinkWindow, Any] = {}
    for setting, value, variant, only in _variants(settings):
        window = variant.window
        if window not in links:
            links[window] = link_labs(cases, lab_values, window, tests=settings.tests)
        labs = classify_labs(links[window], variant.classification)
        data = build_dataset(mine, labs, settings.tests)
        for test in settings.tests if only is None else [t for t in settings.tests if t == only]:
            for item in items:
                sub = data[(data["item"] == item) & data[f"{test}_code"].notna()]
                n = len(sub)
                res = spearman(
                    sub[f"{test}_code"].to_numpy(dtype=float),
                    sub["mri_code"].to_numpy(dtype=float),
                    n_boot=0,
                    seed=settings.seed,
                    confidence=settings.confidence,
                    exact=n < EXACT_P_BELOW_N,
                )
                rows.append(
                    {
                        "setting": setting,
                        "value": value,
                        "main": variant == settings,
                        "test": test,
                        "item": item,
                        "n": n,
                        "rho": res.rho,
                        "ci_low": res.ci_low,
                        "ci_high": res.ci_high,
                        "p_primary": res.p_primary,
                    }
                )
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def _variants(
    settings: AnalysisSettings,
) -> Iterator[tuple[str, str, AnalysisSettings, str | None]]:
    """(setting, value in words, settings, the only test it concerns) of every variant."""
    c = settings.classification
    windows = sorted({*_WINDOWS, (settings.window.before_days, settings.window.after_days)})
    for before, after in windows:
        variant = dataclasses.replace(settings, window=LinkWindow(before, after))
        yield "link window (days before/after)", f"{before}/{after}", variant, None
    for limit in sorted({*_CRP_LIMITS, c.crp_normal}):
        classification = dataclasses.replace(c, crp_normal=limit)
        variant = dataclasses.replace(settings, classification=classification)
        yield "CRP normal limit (mg/L)", f"{limit:g}", variant, "CRP"
    for limit in sorted({*_ESR_LIMITS, c.esr_normal}):
        classification = dataclasses.replace(c, esr_normal=limit)
        variant = dataclasses.replace(settings, classification=classification)
        yield "ESR normal limit (mm/h)", f"{limit:g}", variant, "ESR"
    for rule in (LabClass.AGGRAVATED, LabClass.RESOLVING):
        classification = dataclasses.replace(c, unchanged_as=rule)
        variant = dataclasses.replace(settings, classification=classification)
        yield "unchanged value above normal counted as", rule.label, variant, None
