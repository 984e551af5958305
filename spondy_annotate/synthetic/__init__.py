"""Synthetic data for tests and demonstrations (no patient data anywhere).

The imaging side, from the bottom up: :mod:`.shapes` (signed-distance solids),
:mod:`.anatomy` (a patient's spine and lesion at one visit), :mod:`.phantom` (tissues painted
and rendered per sequence), :mod:`.patients` (made-up patients and their disease course),
:mod:`.dicom_writer` (one study written as DICOM files) and :mod:`.export` (a whole export with
non-DICOM files and its truth table). :mod:`.cohort` makes lab values and gradings shaped like
the reference study's cohort.
"""
