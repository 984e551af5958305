"""The lab/MRI analysis of Ahn et al. 2020: gradings in, statistics, figures and a report out.

One module per concept, from input to output: :mod:`~spondy_annotate.analysis.gradings` (intake),
:mod:`~spondy_annotate.analysis.results` (settings and result types),
:mod:`~spondy_annotate.analysis.stats` (Spearman, kappa), :mod:`~spondy_annotate.analysis.paper`
(the paper's reference figures), :mod:`~spondy_annotate.analysis.analyze` (the analysis),
:mod:`~spondy_annotate.analysis.summary` (text), :mod:`~spondy_annotate.analysis.figures`,
:mod:`~spondy_annotate.analysis.report_html`, :mod:`~spondy_annotate.analysis.report_files` and
:mod:`~spondy_annotate.analysis.pipeline` (:func:`run_analysis`, which the command line and the
napari dock both call).
"""
