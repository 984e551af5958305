"""The analysis options as a magicgui form of typed parameters (the options of ``analyze``).

:func:`analysis_settings` names every option the dock offers with its type and the paper's
default; magicgui builds the form from its signature (:func:`options_form`), and calling the form
gives the :class:`~spondy_annotate.analysis.results.AnalysisSettings`. (No postponed annotations
here: magicgui reads the types from the signature.)
"""

from collections.abc import Sequence
from typing import Any, Literal

from magicgui.widgets import FunctionGui

from spondy_annotate.analysis.results import AnalysisSettings
from spondy_annotate.errors import SpondyError
from spondy_annotate.labs.classify import ClassificationSettings, LabClass
from spondy_annotate.labs.link import LinkWindow

#: The paper's settings: the form's defaults.
DEFAULTS = AnalysisSettings()
#: The form's widgets where the annotation alone does not say enough (limits, choices, tips).
FORM_OPTIONS: dict[str, dict[str, Any]] = {
    "tests": {
        "widget_type": "Select",
        "choices": DEFAULTS.tests,
        "tooltip": "Lab tests analysed (Ctrl-click: more than one)",
    },
    "window_before": {
        "max": 365,
        "label": "days before MRI",
        "tooltip": "Lab draws linked to an MRI from this many days before it",
    },
    "window_after": {
        "max": 365,
        "label": "days after MRI",
        "tooltip": "... to this many days after it",
    },
    "crp_normal": {"max": 1000.0, "step": 0.5, "label": "CRP normal (mg/L)"},
    "esr_normal": {"max": 200.0, "step": 1.0, "label": "ESR normal (mm/h)"},
    "unchanged_as": {
        "label": "unchanged lab",
        "tooltip": "Class of a follow-up value equal to the baseline and above normal",
    },
    "bootstrap": {
        "max": 100_000,
        "tooltip": "Bootstrap resamples for the 95 % CI of rho (0: none)",
    },
    "seed": {"max": 2**31 - 1, "tooltip": "Seed of the bootstrap"},
    "kappa_weights": {"label": "kappa weights"},
    "primary_reader": {
        "label": "primary reader",
        "tooltip": "Reader of the main result (empty: the reader with the most gradings)",
    },
}


def analysis_settings(
    tests: Sequence[str] = DEFAULTS.tests,
    window_before: int = DEFAULTS.window.before_days,
    window_after: int = DEFAULTS.window.after_days,
    crp_normal: float = DEFAULTS.classification.crp_normal,
    esr_normal: float = DEFAULTS.classification.esr_normal,
    unchanged_as: Literal["aggravated", "resolving"] = "aggravated",
    bootstrap: int = DEFAULTS.bootstrap,
    seed: int = DEFAULTS.seed,
    kappa_weights: Literal["linear", "quadratic"] = DEFAULTS.kappa_weights,
    primary_reader: str = "",
) -> AnalysisSettings:
    """The analysis settings of the form's values (the parameters of ``analyze``'s options).

    Raises
    ------
    SpondyError
        A setting the analysis refuses (e.g. no lab test chosen).
    """
    if not tests:
        raise SpondyError("Analysis: choose at least one lab test")
    try:
        return AnalysisSettings(
            window=LinkWindow(window_before, window_after),
            classification=ClassificationSettings(
                crp_normal=crp_normal,
                esr_normal=esr_normal,
                unchanged_as=LabClass[unchanged_as.upper()],
            ),
            tests=tuple(tests),
            bootstrap=bootstrap,
            seed=seed,
            kappa_weights=kappa_weights,
            primary_reader=primary_reader.strip() or None,
        )
    except ValueError as exc:
        raise SpondyError(f"Analysis: {exc}") from None


def options_form() -> FunctionGui[..., AnalysisSettings]:
    """The form of :func:`analysis_settings` (no call button: the dock runs the analysis)."""
    form = FunctionGui(analysis_settings, call_button=False, param_options=FORM_OPTIONS)
    form.tests.native.setMaximumHeight(48)  # two rows: CRP, ESR
    return form
