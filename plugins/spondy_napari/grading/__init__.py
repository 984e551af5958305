"""Grading in the viewer without Qt: keys, the case's answers, the line tool, the controller.

:mod:`.controller` drives it all over the core's
:class:`~spondy_annotate.grading.session.GradingSession`; the panel
(:mod:`spondy_napari._qt.grading_panel`) only draws it.
"""
