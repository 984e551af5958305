"""The analysis figures: cross-tab heat maps, lab trajectories, the forest plot of rho.

Figures are drawn on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no GUI),
so the napari plugin can show the same figures, and rendered at 300 dpi (PNG) or as SVG. Text
is drawn as given: no TeX, no mathtext, so a ``$`` in a reader's or item's name is a dollar
sign. They show cases by class and count only.

Examples
--------
>>> figures = make_figures(result, svg=True)                           # doctest: +SKIP
>>> png = figures[crosstab_name("CRP", "marrow_edema")]                # doctest: +SKIP
>>> crosstab_name("CRP", "marrow_edema"), trajectory_name("ESR")
('crosstab_CRP_marrow_edema.png', 'trajectory_ESR.png')
>>> crosstab_name("CRP", "disc height")  # not a file-name text: a digest keeps it apart
'crosstab_CRP_disc_height-247107a1.png'
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import TYPE_CHECKING

import pandas as pd

from spondy_annotate.analysis.paper import PAPER_RHO
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.summary import number_text, p_text
from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.read import CANONICAL_UNITS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CLASS_COLOURS",
    "crosstab_figure",
    "FLOW_NAME",
    "FOREST_NAME",
    "PNG_DPI",
    "crosstab_name",
    "figure_bytes",
    "figure_png",
    "flow_figure",
    "forest_figure",
    "make_figures",
    "trajectory_figure",
    "trajectory_name",
]

#: Resolution of the PNG figures (journal print quality).
PNG_DPI = 300
#: File name of the forest plot of rho.
FOREST_NAME = "forest_rho.png"
#: File name of the patient flow figure.
FLOW_NAME = "patient_flow.png"

#: Colour of each lab class in figures (Okabe-Ito, colour-blind safe).
CLASS_COLOURS = {
    LabClass.RESOLVED.label: "#0072B2",
    LabClass.RESOLVING.label: "#E69F00",
    LabClass.AGGRAVATED.label: "#D55E00",
}


def crosstab_figure(table: pd.DataFrame, *, title: str = "", subtitle: str = "") -> Figure:
    """Heat map of a lab class x MRI change count table (as in :attr:`AnalysisResult.crosstabs`)."""
    with _plain_text():
        return _crosstab_figure(table, title, subtitle)


def _crosstab_figure(table: pd.DataFrame, title: str, subtitle: str) -> Figure:
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
    with _plain_text():
        return _trajectory_figure(labs, test, normal_limit)


def _trajectory_figure(labs: pd.DataFrame, test: str, normal_limit: float) -> Figure:
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


def forest_figure(correlations: pd.DataFrame, confidence: float) -> Figure:
    """Forest plot of rho with its interval per test and item, the paper's rho beside it.

    Parameters
    ----------
    correlations
        Rows of :attr:`AnalysisResult.correlations` (one reader).
    confidence
        Level of the intervals, for the axis label.
    """
    with _plain_text():
        return _forest_figure(correlations, confidence)


def _forest_figure(correlations: pd.DataFrame, confidence: float) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = list(correlations.itertuples())
    fig = Figure(figsize=(6.4, 1.2 + 0.42 * max(1, len(rows))), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for y, row in enumerate(reversed(rows)):
        if not math.isnan(row.ci_low):
            ax.plot([row.ci_low, row.ci_high], [y, y], color="0.2", linewidth=1.4)
        ax.plot([row.rho], [y], marker="s", color="0.2", markersize=6)
        paper = PAPER_RHO.get((row.test, row.item))
        if paper is not None:
            ax.plot([paper], [y], marker="D", color="#D55E00", markersize=6, fillstyle="none")
    ax.axvline(0, color="0.5", linestyle=":", linewidth=1)
    labels = [f"{r.test} x {r.item} (n = {r.n})" for r in reversed(rows)]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"Spearman rho with {confidence:.0%} CI (Fisher z, Bonett-Wright SE)")
    ax.legend(
        handles=[
            Line2D([], [], color="0.2", marker="s", label="this analysis"),
            Line2D([], [], color="#D55E00", marker="D", fillstyle="none", linestyle="",
                   label="Ahn et al. 2020"),
        ],
        fontsize=8, loc="lower left",
    )  # fmt: skip
    return fig


def flow_figure(flow: pd.DataFrame, reader: str) -> Figure:
    """Cases at each step from graded to analysed, per test (``reader``'s analysed items).

    Parameters
    ----------
    flow
        :attr:`AnalysisResult.flow`.
    reader
        Reader whose analysed counts are drawn.
    """
    with _plain_text():
        return _flow_figure(flow, reader)


def _flow_figure(flow: pd.DataFrame, reader: str) -> Figure:
    from matplotlib.figure import Figure

    shown = flow[(flow["reader"] == "") | (flow["reader"] == reader)]
    tests = list(dict.fromkeys(shown["test"]))
    fig = Figure(figsize=(6.4, 1.0 + 0.3 * len(shown)), dpi=110, layout="constrained")
    axes = fig.subplots(1, max(1, len(tests)), sharex=True, squeeze=False)[0]
    for ax, test in zip(axes, tests, strict=False):
        part = shown[shown["test"] == test]
        labels = [
            f"{step}: {item}" if item else step
            for step, item in zip(part["step"], part["item"], strict=True)
        ]
        y = range(len(part))[::-1]
        ax.barh(list(y), part["cases"], color="#0072B2")
        for yy, count in zip(y, part["cases"], strict=True):
            ax.text(count, yy, f" {count}", va="center", fontsize=8)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.set_title(f"{test} ({reader})", fontsize=10)
        ax.set_xlabel("cases")
        ax.set_xlim(0, max(1, int(part["cases"].max())) * 1.2)
    return fig


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """Render a figure as PNG (:data:`PNG_DPI`) or SVG bytes, text drawn as given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    with _plain_text():
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=_METADATA.get(fmt))
    return buffer.getvalue()


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes at :data:`PNG_DPI`."""
    return figure_bytes(fig, "png")


#: Fixed metadata, so that the same result gives the same bytes.
_METADATA: dict[str, dict[str, str | None]] = {"svg": {"Date": None}, "png": {}}


def make_figures(result: AnalysisResult, *, svg: bool = False) -> dict[str, bytes]:
    """All report figures by file name: cross-tabs, trajectories, forest plot, patient flow.

    PNG always; with ``svg`` each figure also as ``<name>.svg``.
    """
    drawn: dict[str, Figure] = {}
    corr = result.correlations.set_index(["reader", "test", "item"])
    for (test, item), table in result.crosstabs.items():
        stats = corr.loc[(result.primary_reader, test, item)]
        subtitle = (
            f"rho {number_text(stats['rho'])}, p {p_text(stats['p_primary'])}, n {int(stats['n'])}"
        )
        drawn[crosstab_name(test, item)] = crosstab_figure(
            table, title=f"{test} class vs {item} ({result.primary_reader})", subtitle=subtitle
        )
    for test in result.settings.tests:
        limit = result.settings.classification.normal_limit(test)
        drawn[trajectory_name(test)] = trajectory_figure(result.labs, test, limit)
    primary = result.correlations[result.correlations["primary"]]
    drawn[FOREST_NAME] = forest_figure(primary, result.settings.confidence)
    drawn[FLOW_NAME] = flow_figure(result.flow, result.primary_reader)
    figures = {name: figure_bytes(fig, "png") for name, fig in drawn.items()}
    if svg:
        figures |= {
            str(PurePath(name).with_suffix(".svg")): figure_bytes(fig, "svg")
            for name, fig in drawn.items()
        }
    return figures


def crosstab_name(test: str, item: str) -> str:
    """File name of the cross-tab heat map of ``test`` x ``item``."""
    return f"crosstab_{_slug(test)}_{_slug(item)}.png"


def trajectory_name(test: str) -> str:
    """File name of the trajectory figure of ``test``."""
    return f"trajectory_{_slug(test)}.png"


def _slug(text: str) -> str:
    """``text`` when it is a safe file-name part, else its safe part and a digest of it."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"
    if slug == text:
        return slug
    return f"{slug}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


@contextmanager
def _plain_text() -> Iterator[None]:
    """matplotlib settings under which text is drawn as given (no TeX, no mathtext)."""
    import matplotlib

    with matplotlib.rc_context({"text.usetex": False, "text.parse_math": False}):
        yield
