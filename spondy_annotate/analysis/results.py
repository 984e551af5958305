"""What the analysis takes and gives: :class:`AnalysisSettings` and :class:`AnalysisResult`.

Codings (both ordinal, so that agreement gives a positive rho): the MRI change by
:attr:`Change.code <spondy_annotate.grading.rubric.Change.code>` (improved 0 < unchanged 1 <
aggravated 2), the lab course by :class:`~spondy_annotate.labs.classify.LabClass` (resolved 0 <
resolving 1 < aggravated 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from spondy_annotate.analysis.paper import order_items
from spondy_annotate.grading.export import IDENTIFIER_COLUMNS
from spondy_annotate.labs.classify import ClassificationSettings
from spondy_annotate.labs.link import LinkResult, LinkWindow

__all__ = ["CORRELATION_COLUMNS", "AnalysisResult", "AnalysisSettings"]

#: Columns of :attr:`AnalysisResult.correlations`, in order (the first ten as in version 0.1).
CORRELATION_COLUMNS = (
    "reader", "primary", "test", "item", "n", "rho", "p", "ci_low", "ci_high", "n_boot_valid",
    "p_exact", "p_exact_method", "p_primary", "p_holm", "p_bh", "ci_method",
    "boot_low", "boot_high", "kendall_tau_b", "kendall_low", "kendall_high", "kendall_p",
)  # fmt: skip


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
class AnalysisResult:
    """Output of :func:`~spondy_annotate.analysis.analyze.analyze`; every table a DataFrame.

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
        :data:`CORRELATION_COLUMNS`: per reader, test and item, n, Spearman's rho, ``p`` (t
        approximation), ``ci_low, ci_high`` (by ``ci_method``), ``n_boot_valid``, the
        permutation ``p_exact`` (``p_exact_method``), ``p_primary`` (``p_exact`` below 30
        pairs, else ``p``), ``p_holm`` and ``p_bh`` (``p_primary`` adjusted over the reader's
        tests x items), the percentile bootstrap ``boot_low, boot_high`` and Kendall's tau-b
        with its interval and p (see :class:`~spondy_annotate.analysis.stats.SpearmanResult`).
    class_counts
        Per test: ``resolved, resolving, aggravated, unchanged, classified, missing, cases``.
    crosstabs
        For the primary reader, per (test, item): counts, lab class rows x MRI change columns.
    kappa
        ``item, reader_a, reader_b, n, kappa, weights, agreement`` (agreement: proportion of
        identical judgements).
    labs
        :func:`~spondy_annotate.labs.classify.classify_labs` output for the analysed cases.
    link
        The lab linking, with the unlinked cases and reasons.
    notes
        Gradings left out or merged, bootstrap resamples left out, in words.
    interval
        The follow-up interval (:func:`~spondy_annotate.analysis.descriptive.interval_table`).
    lab_values
        Lab values per test and class
        (:func:`~spondy_annotate.analysis.descriptive.lab_values_table`).
    flow
        Patients from graded to analysed
        (:func:`~spondy_annotate.analysis.descriptive.flow_table`).
    disc_height
        Measured disc heights per case and reader
        (:func:`~spondy_annotate.analysis.disc_height.disc_height_table`).
    disc_height_correlations
        Like ``correlations``, the lab class against each measured change (``item`` is the
        measure).
    grade_consistency
        Change judgements against the reader's grades
        (:func:`~spondy_annotate.analysis.disc_height.consistency_table`).
    sensitivity
        The primary reader's rho under other settings
        (:func:`~spondy_annotate.analysis.sensitivity.sensitivity_table`).
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
    interval: pd.DataFrame
    lab_values: pd.DataFrame
    flow: pd.DataFrame
    disc_height: pd.DataFrame
    disc_height_correlations: pd.DataFrame
    grade_consistency: pd.DataFrame
    sensitivity: pd.DataFrame

    @property
    def items(self) -> tuple[str, ...]:
        """MRI items analysed, the paper's first."""
        return order_items(self.dataset["item"].unique())

    def export_dataset(self, *, include_identifiers: bool = False) -> pd.DataFrame:
        """The per-case dataset, without patient IDs and dates unless asked."""
        if include_identifiers:
            return self.dataset.copy()
        drop = [c for c in self.dataset.columns if c in IDENTIFIER_COLUMNS or c.endswith("_date")]
        return self.dataset.drop(columns=drop)
