"""The methods paragraph: every setting, rule, statistic and input that changes the result."""

from __future__ import annotations

from spondy_annotate.analysis.provenance import Provenance, software_versions
from spondy_annotate.analysis.results import AnalysisResult
from spondy_annotate.analysis.stats import CI_METHOD, EXACT_P_BELOW_N
from spondy_annotate.grading.rubric import Change
from spondy_annotate.labs.classify import LabClass

__all__ = ["methods_text"]


def methods_text(result: AnalysisResult, provenance: Provenance | None = None) -> str:
    """The methods paragraph, with every setting that changes the result.

    With ``provenance`` it also names the input files with their SHA-256, the reading options,
    the command line and the time of the run.
    """
    s, c, w = result.settings, result.settings.classification, result.settings.window
    software = provenance.software if provenance else software_versions()
    versions = ", ".join(f"{k} {v}" for k, v in software.items())
    codes = ", ".join(f"{change.value} = {change.code}" for change in Change)
    classes = ", ".join(f"{lab_class.label} = {int(lab_class)}" for lab_class in LabClass)
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
        f"For comparison, a percentile bootstrap interval from {s.bootstrap} resamples of the "
        f"cases (numpy default_rng, seed {s.seed}; pairs in a canonical order, so the interval "
        "does not depend on the row order; resamples in which either variable was constant "
        "were left out and counted) is given as boot_low, boot_high."
        if s.bootstrap
        else "No bootstrap interval was computed (0 resamples)."
    )
    censored = int(result.labs[["baseline_censored", "followup_censored"]].ne("").sum().sum())
    text = (
        f"For each case, the CRP and ESR value nearest to each MRI date was taken from the lab "
        f"files, within {w.before_days} days before to {w.after_days} days after the MRI (both "
        "ends included; at equal distance the draw before the MRI was used; a draw served one "
        "MRI only). CRP was converted to mg/L (mg/dL x 10). A value written as censored (<L or "
        "> L) was taken as its limit L and flagged; a follow-up <L with L at or below the normal "
        f"limit is thus resolved, with L above it conservatively not ({censored} censored "
        "value(s) among those used). The course from baseline to "
        f"follow-up was classed as resolved (follow-up within normal: CRP <= {c.crp_normal:g} "
        f"mg/L, ESR <= {c.esr_normal:g} mm/h), resolving (lower than baseline but above normal) "
        "or aggravated (not lower than baseline); a follow-up value equal to the baseline value "
        f"and above normal was counted as {c.unchanged_as.label}. The reader's judgement of each "
        f"MRI item was coded {codes}, and the lab class {classes}, so that agreement gives a "
        "positive coefficient. Where a case was graded at several levels, its worst change was "
        "used. Spearman's rank correlation (average ranks for ties) was computed with "
        "scipy.stats.spearmanr. Its two-sided p-value is the permutation p (exact, over the "
        "contingency tables of the distinct values with fixed margins, where feasible, "
        f"otherwise from 100,000 random pairings with numpy default_rng seed {s.seed}) when "
        f"there were fewer than {EXACT_P_BELOW_N} pairs, and otherwise the p-value from the t "
        "distribution with n - 2 degrees of freedom; both are reported. p-values were "
        "adjusted over each reader's tests x items by Holm's method (family-wise error) and "
        f"by Benjamini-Hochberg (false discovery rate). The {s.confidence:.0%} confidence "
        f"interval of rho is by Fisher's z with the Bonett-Wright standard error ({CI_METHOD}: "
        "sqrt((1 + rho^2/2)/(n - 3)); undefined for n <= 3 or |rho| = 1). "
        f"{boot} As a sensitivity analysis for ordinal data, Kendall's tau-b (scipy.stats."
        "kendalltau) is given with a Fisher-z interval (standard error sqrt(0.437/(n - 4))). "
        "The measured disc height change (follow-up minus baseline, in mm and in % of the "
        "baseline) was correlated with the lab class in the same way (a negative rho: a worse "
        "lab course with more loss of height), and each reader's change judgements were "
        "compared with their own baseline and follow-up grades. The primary reader's "
        "analysis was repeated with other link windows, normal limits and unchanged rules "
        f"(sensitivity table). There were {readers}. Agreement between readers on "
        f"the MRI change was measured by Cohen's kappa with {s.kappa_weights} weights "
        f"(scikit-learn cohen_kappa_score over the three categories). Software: {versions}."
    )
    if provenance is None:
        return text
    files = "; ".join(f"{f.role} {f.name} (SHA-256 {f.sha256})" for f in provenance.inputs)
    options = "; ".join(f"{k}: {v}" for k, v in provenance.options.items())
    text += f" Random generator: {provenance.rng}, seed {s.seed}. Run at {provenance.started_at}."
    if files:
        text += f" Inputs: {files}."
    if options:
        text += f" Reading options: {options}."
    if provenance.command:
        text += f" Command: {provenance.command}"
    return text
