"""The analysis figures: cross-tab heat maps and lab trajectories, as matplotlib figures and PNG.

Figures are drawn on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no GUI),
so the napari plugin can show the same figures. They show cases by class and count only.

Examples
--------
>>> figures = make_figures(result)                                     # doctest: +SKIP
>>> png = figures[crosstab_name("CRP", "marrow_edema")]                # doctest: +SKIP
>>> crosstab_name("CRP", "marrow_edema"), trajectory_name("ESR")
('crosstab_CRP_marrow_edema.png', 'trajectory_ESR.png')
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import pandas as pd

from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.summary import number_text, p_text
from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.read import CANONICAL_UNITS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CLASS_COLOURS",
    "crosstab_figure",
    "crosstab_name",
    "figure_png",
    "make_figures",
    "trajectory_figure",
    "trajectory_name",
]

#: Colour of each lab class in figures (Okabe-Ito, colour-blind safe).
CLASS_COLOURS = {
    LabClass.RESOLVED.label: "#0072B2",
    LabClass.RESOLVING.label: "#E69F00",
    LabClass.AGGRAVATED.label: "#D55E00",
}


def crosstab_figure(table: pd.DataFrame, *, title: str = "", subtitle: str = "") -> Figure:
    """Heat map of a lab class x MRI change count table (as in :attr:`AnalysisResult.crosstabs`)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4.8, 3.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=max(1.0, values.max()))
    for (i, j), count in pd.DataFrame(values).stack().items():
        dark = count > 0.6 * max(1.0, values.max())
        ax.text(j, i, f"{int(count)}", ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index])
    ax.set_xlabel(str(table.columns.name or "MRI change"))
    ax.set_ylabel(str(table.index.name or "lab class"))
    bar = fig.colorbar(image, ax=ax, shrink=0.8, label="cases")
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    if title:
        ax.set_title(f"{title}\n{subtitle}" if subtitle else title, fontsize=10)
    return fig


def trajectory_figure(labs: pd.DataFrame, test: str, normal_limit: float) -> Figure:
    """Baseline-to-follow-up lines of one test, coloured by lab class.

    Parameters
    ----------
    labs
        :attr:`AnalysisResult.labs` (one row per case and test).
    test
        ``CRP`` or ``ESR``.
    normal_limit
        Drawn as a dashed line.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(4.8, 4.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    part = labs[labs["test"] == test]
    for row in part.itertuples():
        ax.plot(
            [0, 1],
            [row.baseline_value, row.followup_value],
            color=CLASS_COLOURS[row.lab_class],
            alpha=0.7,
            marker="o",
            markersize=3,
            linewidth=1,
        )
    ax.axhline(normal_limit, color="0.3", linestyle="--", linewidth=1)
    values = pd.concat([part["baseline_value"], part["followup_value"]])
    if test == "CRP" and not values.empty:
        if (values > 0).all():
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=1.0)
    counts = part["lab_class"].value_counts()
    handles = [
        Line2D([], [], color=colour, marker="o", label=f"{label} ({int(counts.get(label, 0))})")
        for label, colour in CLASS_COLOURS.items()
    ]
    handles.append(
        Line2D([], [], color="0.3", linestyle="--", label=f"normal limit {normal_limit:g}")
    )
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set_xticks([0, 1], ["baseline", "follow-up"])
    ax.set_xlim(-0.2, 1.2)
    ax.set_ylabel(f"{test} ({CANONICAL_UNITS.get(test, '')})")
    ax.set_title(f"{test} from baseline to follow-up (n = {len(part)})", fontsize=10)
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def make_figures(result: AnalysisResult) -> dict[str, bytes]:
    """All report figures as PNG bytes by file name: the cross-tabs, then the trajectories."""
    figures: dict[str, bytes] = {}
    corr = result.correlations.set_index(["reader", "test", "item"])
    for (test, item), table in result.crosstabs.items():
        stats = corr.loc[(result.primary_reader, test, item)]
        subtitle = f"rho {number_text(stats['rho'])}, p {p_text(stats['p'])}, n {int(stats['n'])}"
        fig = crosstab_figure(
            table, title=f"{test} class vs {item} ({result.primary_reader})", subtitle=subtitle
        )
        figures[crosstab_name(test, item)] = figure_png(fig)
    for test in result.settings.tests:
        limit = result.settings.classification.normal_limit(test)
        figures[trajectory_name(test)] = figure_png(trajectory_figure(result.labs, test, limit))
    return figures


def crosstab_name(test: str, item: str) -> str:
    """File name of the cross-tab heat map of ``test`` x ``item``."""
    return f"crosstab_{_slug(test)}_{_slug(item)}.png"


def trajectory_name(test: str) -> str:
    """File name of the trajectory figure of ``test``."""
    return f"trajectory_{_slug(test)}.png"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"
