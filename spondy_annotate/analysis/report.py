"""Outputs of the lab/MRI analysis: a terminal summary, figures, CSV tables and an HTML report.

Nothing written here holds a patient ID or a date unless ``include_identifiers`` is asked for:
cases appear by ``case_id`` only. Figures are drawn on :class:`matplotlib.figure.Figure` with
the Agg canvas (no pyplot, no GUI), so the napari plugin can embed the same figures. Files are
written atomically (a temporary file in the same folder, then a rename).

Examples
--------
>>> print(format_summary(result))                                      # doctest: +SKIP
>>> files = write_report(result, "out", lab_problems=labs.problems)    # doctest: +SKIP
>>> files.html                                                         # doctest: +SKIP
PosixPath('out/report.html')
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import logging
import math
import os
import platform
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spondy_annotate.analysis.stats import (
    LAB_CLASS_LABELS,
    MRI_CHANGE_CODES,
    PAPER_CLASS_COUNTS,
    PAPER_RHO,
    AnalysisResult,
)
from spondy_annotate.labs.read import CANONICAL_UNITS, LabProblem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = [
    "ReportFiles",
    "crosstab_figure",
    "figure_png",
    "format_summary",
    "methods_text",
    "render_html",
    "software_versions",
    "trajectory_figure",
    "write_report",
]

#: Colour of each lab class in figures (Okabe-Ito, colour-blind safe).
CLASS_COLOURS = {"resolved": "#0072B2", "resolving": "#E69F00", "aggravated": "#D55E00"}
_MAX_LISTED = 20
_PACKAGES = ("spondy-annotate", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib")


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    directory: Path
    html: Path
    tables: tuple[Path, ...]
    figures: tuple[Path, ...]


# --------------------------------------------------------------------------------------------
# Text


def format_summary(result: AnalysisResult, *, lab_problems: Sequence[LabProblem] = ()) -> str:
    """Plain-text summary for the terminal: class counts, correlations, kappa, unlinked cases."""
    s = result.settings
    c = s.classification
    lines = [
        f"Cases: {len(result.dataset['case_id'].unique())}; readers: "
        + ", ".join(f"{r} (primary)" if r == result.primary_reader else r for r in result.readers),
        "",
        f"Lab classes (normal: CRP <= {c.crp_normal:g} mg/L, ESR <= {c.esr_normal:g} mm/h; "
        f"unchanged counted as {c.unchanged_as.label})",
        f"Lab draws linked within {s.window}",
    ]
    counts = result.class_counts
    lines += _table(
        ["test", *LAB_CLASS_LABELS, "unchanged", "no class", "paper"],
        [
            [
                r.test,
                r.resolved,
                r.resolving,
                r.aggravated,
                r.unchanged,
                r.missing,
                "/".join(map(str, PAPER_CLASS_COUNTS.get(r.test, ()))) or "-",
            ]
            for r in counts.itertuples()
        ],
    )
    level = f"{s.confidence:.0%}"
    for primary in (True, False):
        part = result.correlations[result.correlations["primary"] == primary]
        if part.empty:
            continue
        who = f"primary reader {result.primary_reader}" if primary else "other readers"
        lines += ["", f"Spearman rho, lab class vs MRI change ({who})"]
        lines += _table(
            ["reader", "test", "item", "n", "rho", f"{level} CI", "p", "paper rho"],
            [
                [
                    r.reader,
                    r.test,
                    r.item,
                    r.n,
                    _num(r.rho),
                    _ci(r.ci_low, r.ci_high),
                    _p(r.p),
                    _num(PAPER_RHO.get((r.test, r.item), math.nan)),
                ]
                for r in part.itertuples()
            ],
        )
    if not result.kappa.empty:
        lines += ["", f"Inter-reader agreement on MRI change (Cohen's kappa, {s.kappa_weights})"]
        lines += _table(
            ["item", "readers", "n", "kappa", "agreement"],
            [
                [r.item, f"{r.reader_a} / {r.reader_b}", r.n, _num(r.kappa), _pct(r.agreement)]
                for r in result.kappa.itertuples()
            ],
        )
    unchanged = result.labs[result.labs["unchanged"]]
    if not unchanged.empty:
        lines += ["", f"Unchanged lab value above normal (counted as {c.unchanged_as.label}):"]
        lines += [f"  {r.test}: case {r.case_id}" for r in unchanged.itertuples()]
    missing = result.link.missing
    if not missing.empty:
        lines += ["", f"No usable lab value ({len(missing)}):"]
        lines += [
            f"  case {r.case_id} {r.test} {r.timepoint}: {r.reason}"
            for r in missing.head(_MAX_LISTED).itertuples()
        ]
        if len(missing) > _MAX_LISTED:
            lines.append(f"  ... and {len(missing) - _MAX_LISTED} more (unlinked_labs.csv)")
    if result.notes:
        lines += ["", "Notes:", *(f"  {note}" for note in result.notes)]
    if lab_problems:
        lines += ["", f"{len(lab_problems)} lab row(s) or cell(s) rejected (listed on stderr)"]
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[str(h) for h in headers], *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(_looks_numeric(row[i]) for row in cells[1:]) and len(cells) > 1
        for i in range(len(headers))
    ]
    return [
        "  ".join(
            (v.rjust(w) if num else v.ljust(w))
            for v, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[<>]?-?[\d.]+%?|-", text))


def _num(value: float, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _ci(low: float, high: float) -> str:
    return "-" if math.isnan(low) else f"[{low:.2f}, {high:.2f}]"


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages the analysis depends on."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"python": platform.python_version()} | {name: _version(name) for name in _PACKAGES}


def methods_text(result: AnalysisResult) -> str:
    """The methods paragraph, with every setting that changes the result."""
    s, c, w = result.settings, result.settings.classification, result.settings.window
    versions = ", ".join(f"{k} {v}" for k, v in software_versions().items())
    codes = ", ".join(f"{k} = {v}" for k, v in MRI_CHANGE_CODES.items())
    readers = (
        f"{len(result.readers)} readers ({', '.join(result.readers)}); the main result uses "
        f"{result.primary_reader}"
        + (
            " (chosen by the user)"
            if s.primary_reader
            else " (the reader with the most judged gradings)"
        )
        + ", and the other readers are reported separately"
        if len(result.readers) > 1
        else f"one reader ({result.primary_reader})"
    )
    boot = (
        f"a percentile bootstrap {s.confidence:.0%} confidence interval from {s.bootstrap} "
        f"resamples of the cases (numpy default_rng, seed {s.seed}; resamples in which either "
        "variable was constant were left out)"
        if s.bootstrap
        else "no confidence interval (bootstrap switched off)"
    )
    return (
        f"For each case, the CRP and ESR value nearest to each MRI date was taken from the lab "
        f"files, within {w.before_days} days before to {w.after_days} days after the MRI (both "
        "ends included; at equal distance the draw before the MRI was used; a draw served one "
        "MRI only). CRP was converted to mg/L (mg/dL x 10). The course from baseline to "
        f"follow-up was classed as resolved (follow-up within normal: CRP <= {c.crp_normal:g} "
        f"mg/L, ESR <= {c.esr_normal:g} mm/h), resolving (lower than baseline but above normal) "
        "or aggravated (not lower than baseline); a follow-up value equal to the baseline value "
        f"and above normal was counted as {c.unchanged_as.label}. The reader's judgement of each "
        f"MRI item was coded {codes}, and the lab class resolved = 0, resolving = 1, "
        "aggravated = 2, so that agreement gives a positive coefficient. Where a case was "
        "graded at several levels, its worst change was used. Spearman's rank correlation "
        "(average ranks for ties) was computed with scipy.stats.spearmanr, with a two-sided "
        f"p-value from the t distribution with n - 2 degrees of freedom (not adjusted for "
        f"multiple comparisons), and {boot}. There were {readers}. Agreement between readers on "
        f"the MRI change was measured by Cohen's kappa with {s.kappa_weights} weights "
        f"(scikit-learn cohen_kappa_score over the three categories). Software: {versions}."
    )


# --------------------------------------------------------------------------------------------
# Figures


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
    """All report figures as PNG bytes, by file name (``crosstab_<test>_<item>.png``, ...)."""
    figures: dict[str, bytes] = {}
    corr = result.correlations.set_index(["reader", "test", "item"])
    for (test, item), table in result.crosstabs.items():
        stats = corr.loc[(result.primary_reader, test, item)]
        subtitle = f"rho {_num(stats['rho'])}, p {_p(stats['p'])}, n {int(stats['n'])}"
        fig = crosstab_figure(
            table, title=f"{test} class vs {item} ({result.primary_reader})", subtitle=subtitle
        )
        figures[f"crosstab_{_slug(test)}_{_slug(item)}.png"] = figure_png(fig)
    for test in result.settings.tests:
        limit = result.settings.classification.normal_limit(test)
        figures[f"trajectory_{_slug(test)}.png"] = figure_png(
            trajectory_figure(result.labs, test, limit)
        )
    return figures


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


# --------------------------------------------------------------------------------------------
# HTML and files


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:62em;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.5em}img{max-width:100%}
.note{color:#555;font-size:.9em}
"""


def render_html(
    result: AnalysisResult,
    figures: dict[str, bytes],
    *,
    lab_problems: Sequence[LabProblem] = (),
) -> str:
    """One self-contained HTML page: inline CSS, figures as base64 ``data:`` URIs."""
    s = result.settings
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Lab course and MRI change in pyogenic spondylodiscitis</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Lab course (CRP, ESR) and follow-up MRI change in pyogenic spondylodiscitis</h1>",
        f'<p class="note">spondy_annotate analysis, generated {dt.date.today().isoformat()}. '
        "Reproduces the design of Ahn et al., BMC Musculoskelet Disord 2020;21:428. Cases are "
        "shown by case ID only.</p>",
        "<h2>Methods</h2>",
        f"<p>{e(methods_text(result))}</p>",
        "<h2>Settings</h2>",
        _html_table(_settings_frame(result)),
        "<h2>Lab classes</h2>",
        _html_table(_counts_with_paper(result.class_counts)),
        "<h2>Spearman correlation of lab class and MRI change</h2>",
        _html_table(_correlation_frame(result)),
        "<h2>Cross-tabulations (primary reader)</h2>",
    ]
    for (test, item), table in result.crosstabs.items():
        parts.append(f"<h3>{e(test)} class &times; {e(item)} change</h3>")
        parts.append(_html_table(table.reset_index().rename(columns={"index": f"{test} class"})))
        name = f"crosstab_{_slug(test)}_{_slug(item)}.png"
        if name in figures:
            parts.append(_html_image(figures[name], f"{test} class vs {item} change"))
    parts.append("<h2>Lab trajectories</h2>")
    parts += [
        _html_image(figures[name], f"{test} trajectories")
        for test in s.tests
        if (name := f"trajectory_{_slug(test)}.png") in figures
    ]
    parts.append("<h2>Inter-reader agreement</h2>")
    if result.kappa.empty:
        parts.append("<p>Only one reader: no agreement to measure.</p>")
    else:
        parts.append(_html_table(result.kappa))
    unchanged = result.labs.loc[result.labs["unchanged"], ["case_id", "test"]]
    parts.append("<h2>Unchanged lab values</h2>")
    parts.append(
        f"<p>Follow-up equal to baseline and above normal, counted as "
        f"{e(s.classification.unchanged_as.label)}.</p>"
        + (_html_table(unchanged) if not unchanged.empty else "<p>None.</p>")
    )
    parts.append("<h2>Linked lab draws</h2>")
    parts.append(
        "<details><summary>Value and offset (days from the MRI) of the draw used for each case "
        f"and test ({len(result.labs)} rows)</summary>"
        + _html_table(
            result.labs[
                [
                    "case_id",
                    "test",
                    "baseline_value",
                    "baseline_offset_days",
                    "followup_value",
                    "followup_offset_days",
                    "unit",
                    "lab_class",
                    "unchanged",
                ]
            ]  # fmt: skip
        )
        + "</details>"
    )
    parts.append("<h2>Cases without a usable lab value</h2>")
    missing = result.link.missing
    parts.append(_html_table(missing) if not missing.empty else "<p>None.</p>")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{e(note)}</li>" for note in result.notes]
        parts.append("</ul>")
    parts.append("<h2>Rejected lab rows</h2>")
    if lab_problems:
        parts.append("<ul>")
        parts += [f"<li>{e(Path(p.file).name)}:{p.line}: {e(p.message)}</li>" for p in lab_problems]
        parts.append("</ul>")
    else:
        parts.append("<p>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="-", float_format=lambda v: f"{v:.3g}")


def _html_image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _settings_frame(result: AnalysisResult) -> pd.DataFrame:
    s, c = result.settings, result.settings.classification
    rows = [
        ("link window", str(s.window)),
        ("CRP normal limit", f"<= {c.crp_normal:g} mg/L"),
        ("ESR normal limit", f"<= {c.esr_normal:g} mm/h"),
        ("unchanged (equal, above normal) counted as", c.unchanged_as.label),
        ("MRI change coding", "improved 0 < unchanged 1 < aggravated 2"),
        ("lab class coding", "resolved 0 < resolving 1 < aggravated 2"),
        ("bootstrap resamples", str(s.bootstrap)),
        ("bootstrap seed", str(s.seed)),
        ("confidence level", f"{s.confidence:.0%}"),
        ("kappa weights", s.kappa_weights),
        ("primary reader", result.primary_reader),
        *software_versions().items(),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def _counts_with_paper(counts: pd.DataFrame) -> pd.DataFrame:
    paper = counts["test"].map(
        lambda t: "/".join(map(str, PAPER_CLASS_COUNTS[t])) if t in PAPER_CLASS_COUNTS else "-"
    )
    return counts.assign(**{"Ahn et al. (resolved/resolving/aggravated)": paper})


def _correlation_frame(result: AnalysisResult) -> pd.DataFrame:
    corr = result.correlations.copy()
    corr["p"] = corr["p"].map(_p)
    corr["Ahn et al. rho"] = [
        PAPER_RHO.get((t, i), math.nan) for t, i in zip(corr["test"], corr["item"], strict=True)
    ]
    return corr


def write_report(
    result: AnalysisResult,
    directory: str | os.PathLike[str],
    *,
    include_identifiers: bool = False,
    lab_problems: Sequence[LabProblem] = (),
) -> ReportFiles:
    """Write the CSV tables, PNG figures and ``report.html`` into ``directory``.

    Parameters
    ----------
    result
        From :func:`~spondy_annotate.analysis.analyze`.
    directory
        Created if needed; existing files of the same names are replaced.
    include_identifiers
        Put patient IDs and dates into ``analysis_dataset.csv``, ``lab_classes.csv``,
        ``lab_draws.csv`` and ``unlinked_labs.csv`` (never into the HTML report or figures).
    lab_problems
        Rejected lab rows, listed in the report and ``lab_problems.csv``.

    Returns
    -------
    ReportFiles
        Written tables: ``correlations.csv``, ``class_counts.csv``, ``crosstabs.csv``,
        ``kappa.csv``, ``analysis_dataset.csv``, ``lab_classes.csv``, ``lab_draws.csv`` (which
        row of which lab file was used), ``unlinked_labs.csv``, ``lab_problems.csv``,
        ``settings.json``; figures under ``figures/``.
    """
    out = Path(directory)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    labs = result.labs
    if not include_identifiers:
        labs = labs.drop(columns=[c for c in labs.columns if c.endswith("_date")])
    missing = result.link.missing
    if include_identifiers:
        ids = result.dataset.drop_duplicates("case_id")[["case_id", "patient_id"]]
        missing = missing.merge(ids, on="case_id", how="left")
    draws = result.link.draws
    if not include_identifiers:
        draws = draws.drop(columns=["mri_date", "draw_date"])
    tables = {
        "correlations.csv": result.correlations,
        "class_counts.csv": result.class_counts,
        "crosstabs.csv": _crosstabs_long(result),
        "kappa.csv": result.kappa,
        "analysis_dataset.csv": result.export_dataset(include_identifiers=include_identifiers),
        "lab_classes.csv": labs,
        "lab_draws.csv": draws,
        "unlinked_labs.csv": missing,
        "lab_problems.csv": pd.DataFrame(
            [asdict(p) for p in lab_problems], columns=["file", "line", "message"]
        ),
    }
    written: list[Path] = []
    for name, frame in tables.items():
        written.append(_write_atomic(out / name, frame.to_csv(index=False).encode("utf-8")))
    settings = {
        "settings": _settings_dict(result),
        "primary_reader": result.primary_reader,
        "readers": list(result.readers),
        "software": software_versions(),
    }
    written.append(
        _write_atomic(out / "settings.json", json.dumps(settings, indent=2).encode("utf-8"))
    )
    figures = make_figures(result)
    figure_paths = [_write_atomic(out / "figures" / n, png) for n, png in figures.items()]
    page = render_html(result, figures, lab_problems=lab_problems)
    html_path = _write_atomic(out / "report.html", page.encode("utf-8"))
    logger.info("wrote report to %s", out)
    return ReportFiles(out, html_path, tuple(written), tuple(figure_paths))


def _settings_dict(result: AnalysisResult) -> dict[str, Any]:
    s = result.settings
    data = asdict(s)
    data["classification"]["unchanged_as"] = s.classification.unchanged_as.label
    data["tests"] = list(s.tests)
    return data


def _crosstabs_long(result: AnalysisResult) -> pd.DataFrame:
    rows = [
        {
            "reader": result.primary_reader,
            "test": test,
            "item": item,
            "lab_class": lab_class,
            "mri_change": change,
            "count": int(table.loc[lab_class, change]),
        }
        for (test, item), table in result.crosstabs.items()
        for lab_class in table.index
        for change in table.columns
    ]
    return pd.DataFrame(rows)


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
