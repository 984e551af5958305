"""Lab values (CRP, ESR): reading lab files, linking draws to MRI dates, classifying the course.

:mod:`~spondy_annotate.labs.read` imports the files with row-by-row checks,
:mod:`~spondy_annotate.labs.link` picks the draw nearest to each MRI date and
:mod:`~spondy_annotate.labs.classify` classes the course from baseline to follow-up.
"""
