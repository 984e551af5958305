"""The HTML report: one self-contained page (inline CSS, embedded figures, no script or link).

The page shows cases by ``case_id`` only, never a patient ID or a date.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Sequence

import pandas as pd

from spondy_annotate.analysis.agreement import METHODS_TEXT
from spondy_annotate.analysis.figures import FLOW_NAME, FOREST_NAME, crosstab_name, trajectory_name
from spondy_annotate.analysis.journal_tables import (
    class_count_table,
    consistency_journal_table,
    correlation_table,
    crosstab_table,
    flow_journal_table,
    interval_journal_table,
    kappa_table,
    lab_value_table,
    sensitivity_journal_table,
)
from spondy_annotate.analysis.methods import methods_text
from spondy_annotate.analysis.provenance import RNG, Provenance, software_versions
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.summary import agreement_text_table
from spondy_annotate.grading.readings import CONSENSUS_READER
from spondy_annotate.grading.rubric import Change
from spondy_annotate.labs.classify import LabClass
from spondy_annotate.labs.read import LabProblem

__all__ = ["render_html"]

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
    provenance: Provenance | None = None,
    dictionary: pd.DataFrame | None = None,
    agreement: pd.DataFrame | None = None,
) -> str:
    """One self-contained HTML page: inline CSS, PNG figures as base64 ``data:`` URIs.

    Parameters
    ----------
    result
        The analysis.
    figures
        :func:`~spondy_annotate.analysis.figures.make_figures` output; figures left out are not
        shown.
    lab_problems
        Rejected lab rows, listed by file name and line.
    provenance
        Inputs, options, command and time, stated in the methods.
    dictionary
        :func:`~spondy_annotate.analysis.dictionary.data_dictionary` of the CSV tables.
    agreement
        :func:`~spondy_annotate.analysis.agreement.agreement_table`; without it the section
        shows the weighted kappa of the change judgements.
    """
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
        f"<p>{e(methods_text(result, provenance))}</p>",
        f"<p>{e(_reading_text(result))}</p>",
        "<h2>Settings</h2>",
        _html_table(_settings_frame(result, provenance)),
        "<h2>Patients</h2>",
        _html_table(interval_journal_table(result.interval)),
        _html_table(flow_journal_table(result.flow)),
        _figure(figures, FLOW_NAME, "Patient flow"),
        "<h2>Lab classes</h2>",
        _html_table(class_count_table(result.class_counts)),
        _html_table(lab_value_table(result.lab_values)),
        "<h2>Spearman correlation of lab class and MRI change</h2>",
        _html_table(correlation_table(result.correlations, confidence=s.confidence)),
        '<p class="note">p: permutation p below 30 pairs, else t approximation; Holm and BH '
        "adjusted over each reader's tests x items. CI: Fisher z with the Bonett-Wright SE. "
        "Bootstrap CI: percentile, for comparison only.</p>",
        _figure(figures, FOREST_NAME, "Forest plot of rho"),
        "<h2>Measured disc height</h2>",
        _html_table(correlation_table(result.disc_height_correlations, confidence=s.confidence))
        if not result.disc_height_correlations.empty
        else "<p>No measured disc heights in the gradings.</p>",
        "<h2>Change judgements and grades</h2>",
        _html_table(consistency_journal_table(result.grade_consistency))
        if not result.grade_consistency.empty
        else "<p>No grades in the gradings.</p>",
        "<h2>Sensitivity analyses (primary reader)</h2>",
        _html_table(sensitivity_journal_table(result.sensitivity, confidence=s.confidence)),
        "<h2>Cross-tabulations (primary reader)</h2>",
    ]
    for (test, item), table in result.crosstabs.items():
        parts.append(f"<h3>{e(test)} class &times; {e(item)} change</h3>")
        parts.append(_html_table(crosstab_table(table, test)))
        name = crosstab_name(test, item)
        if name in figures:
            parts.append(_html_image(figures[name], f"{test} class vs {item} change"))
    parts.append("<h2>Lab trajectories</h2>")
    parts += [
        _html_image(figures[name], f"{test} trajectories")
        for test in s.tests
        if (name := trajectory_name(test)) in figures
    ]
    parts.append("<h2>Inter-reader agreement (and intra-reader, from repeat reads)</h2>")
    if agreement is not None and not agreement.empty:
        parts.append(_html_table(agreement_text_table(agreement, confidence=s.confidence)))
        parts.append(f'<p class="note">{e(METHODS_TEXT)}</p>')
        parts += [
            _html_image(data, name[: -len(".png")].replace("_", " "))
            for name, data in sorted(figures.items())
            if name.startswith("bland_altman_") and name.endswith(".png")
        ]
    elif result.kappa.empty:
        parts.append("<p>Only one reader: no agreement to measure.</p>")
    else:
        parts.append(_html_table(kappa_table(result.kappa)))
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
        parts += [f"<li>{e(str(p))}</li>" for p in lab_problems]
        parts.append("</ul>")
    else:
        parts.append("<p>None.</p>")
    if dictionary is not None:
        parts.append("<h2>Data dictionary</h2>")
        parts.append(
            f"<details><summary>Every column of the CSV tables ({len(dictionary)} rows, also "
            "data_dictionary.csv)</summary>" + _html_table(dictionary) + "</details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _reading_text(result: AnalysisResult) -> str:
    """Which reading is primary, said in the methods."""
    if result.primary_reader != CONSENSUS_READER:
        return f"The primary reading is reader {result.primary_reader}'s."
    return (
        "The primary reading is the consensus reading: where the readers disagreed by the "
        "study's adjudication rule, the adjudicator's consensus answer (recorded as reader "
        f"'{CONSENSUS_READER}', linked to the answers it settles); elsewhere the reading of "
        "the reader with the most judged gradings. Each reader's own reading is reported "
        "beside it."
    )


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="-", float_format=lambda v: f"{v:.2f}")


def _html_image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _figure(figures: dict[str, bytes], name: str, alt: str) -> str:
    return _html_image(figures[name], alt) if name in figures else ""


def _settings_frame(result: AnalysisResult, provenance: Provenance | None) -> pd.DataFrame:
    s, c = result.settings, result.settings.classification
    rows = [
        ("link window", str(s.window)),
        ("CRP normal limit", f"<= {c.crp_normal:g} mg/L"),
        ("ESR normal limit", f"<= {c.esr_normal:g} mm/h"),
        ("unchanged (equal, above normal) counted as", c.unchanged_as.label),
        ("MRI change coding", " < ".join(f"{ch.value} {ch.code}" for ch in Change)),
        ("lab class coding", " < ".join(f"{lc.label} {int(lc)}" for lc in LabClass)),
        ("bootstrap resamples", str(s.bootstrap)),
        ("bootstrap seed", str(s.seed)),
        ("confidence level", f"{s.confidence:.0%}"),
        ("kappa weights", s.kappa_weights),
        ("primary reader", result.primary_reader),
        ("random generator", f"{RNG}, seed {s.seed}"),
    ]
    if provenance is not None:
        rows += [(key, value) for key, value in provenance.options.items()]
        rows += [(f"{f.role} file {f.name}", f"SHA-256 {f.sha256}") for f in provenance.inputs]
        rows += [("run at (UTC)", provenance.started_at)]
        if provenance.command:
            rows.append(("command", provenance.command))
    rows += list((provenance.software if provenance else software_versions()).items())
    return pd.DataFrame(rows, columns=["setting", "value"])
