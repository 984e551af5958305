"""The viewer's blinding rule: no lab value reaches a reader who is still grading in it.

Lab values (the analysis) are shown in a viewer only once grading has ended there; the reader is
asked once, and every answer is saved already. The grading panel's *Grading finished* button and
the analysis dock both go through :func:`labs_allowed`, the rule's one home; the grading in a
viewer is found through :mod:`spondy_napari._registry` (its grading gate), so neither dock imports
the other.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QMessageBox, QWidget

from spondy_napari._registry import grading_gate_for

TITLE = "Grading finished?"
QUESTION = (
    "The analysis shows lab values (CRP, ESR). Grading ends in this window so that no reader "
    "sees them while grading; every answer is saved.\n\nEnd grading and open the analysis?"
)


def labs_allowed(parent: QWidget, viewer: Any, *, confirm: bool | None = None) -> bool:
    """True once nobody grades in ``viewer``: ends its grading, asking first unless ``confirm``.

    Parameters
    ----------
    parent : QWidget
        The dock asking (the question's parent window).
    viewer : napari.Viewer
        The viewer whose grading must end.
    confirm : bool, optional
        The answer to the question, given in advance (scripts, tests); None asks.
    """
    gate = grading_gate_for(viewer)
    if gate is None or not gate.is_grading:
        return True
    if confirm is None:
        answer = QMessageBox.question(parent, TITLE, QUESTION)
        confirm = answer == QMessageBox.StandardButton.Yes
    if confirm:
        gate.end_grading()
    return bool(confirm)
