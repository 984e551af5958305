"""Gradings as DICOM Structured Reports (TID 1500 measurement reports, Comprehensive 3D SR).

``codes`` (standard codes, and the rubric's private coding scheme), ``evidence`` (the graded
images of a case), ``build`` (one reader's grading of one case -> one SR), ``export`` (every
grading of a project database as SR files) and ``read`` (an SR -> answers in the store).
"""
