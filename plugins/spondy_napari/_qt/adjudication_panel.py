"""The adjudicator's view of a case: each disputed field, every reader's answer, the consensus.

Shown in the grading panel instead of the rubric when the reader is an adjudicator of the study
(:attr:`~spondy_napari.grading.controller.GradingController.adjudication`). One block per
disputed field: the field, each reader's answer (a measurement with its length), and one button
per answer the consensus can take (the rubric's choices, or a reader's line), labelled with its
key. The field in focus is highlighted; Tab / Shift-Tab move, the key or a click records the
consensus (:meth:`~spondy_napari.grading.controller.GradingController.settle`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from spondy_annotate.grading.rubric import FieldKind
from spondy_napari.grading.adjudication import answer_text

if TYPE_CHECKING:
    from spondy_napari.grading.adjudication import CaseAdjudication
    from spondy_napari.grading.controller import GradingController

#: Background of the field in focus.
FOCUS_STYLE = "QFrame#disputed[current='true'] { background: #2d4a6b; border-radius: 3px; }"


class AdjudicationPanel(QWidget):
    """The disputed fields of the adjudicator's case on screen, with their consensus buttons.

    Parameters
    ----------
    controller : GradingController
        The grading controller of an adjudicator.

    Attributes
    ----------
    blocks : dict
        ``{field key: QFrame}`` of the fields shown.
    buttons : dict
        ``{field key: [QPushButton, ...]}``: the consensus answers each field can take.
    """

    def __init__(self, controller: GradingController) -> None:
        super().__init__()
        self.controller = controller
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setStyleSheet(FOCUS_STYLE)
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.blocks: dict[str, QFrame] = {}
        self.buttons: dict[str, list[QPushButton]] = {}
        self._body = QVBoxLayout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self._body)
        layout.addStretch(1)
        self._shown: tuple[str, tuple[str, ...]] | None = None

    def refresh(self, event: Any = None) -> None:
        """Redraw from the controller's case (blocks rebuilt when the fields change)."""
        adjudication = self.controller.adjudication
        if adjudication is None:
            self.title.setText("No disagreement to settle on this case")
            self._rebuild(None)
            return
        open_fields = len(adjudication.fields)
        self.title.setText(
            f"<b>{adjudication.case_id}</b>: {open_fields} field(s) to settle · "
            f"readers {', '.join(adjudication.readers)}<br>"
            "<span style='color:#a0a0a0'>Tab / Shift-Tab field · key or click: consensus</span>"
        )
        shown = (adjudication.case_id, tuple(f.key for f in adjudication.fields))
        if shown != self._shown:
            self._rebuild(adjudication)
        for key, block in self.blocks.items():
            block.setProperty("current", "true" if key == adjudication.current else "false")
            style = block.style()
            if style is not None:
                style.unpolish(block)
                style.polish(block)

    def _rebuild(self, adjudication: CaseAdjudication | None) -> None:
        while self._body.count():
            item = self._body.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.blocks, self.buttons = {}, {}
        self._shown = None
        if adjudication is None:
            return
        self._shown = (adjudication.case_id, tuple(f.key for f in adjudication.fields))
        rubric, keys = adjudication.rubric, self.controller.keys
        for disputed in adjudication.fields:
            f = rubric.field(disputed.key)
            block = QFrame()
            block.setObjectName("disputed")
            grid = QGridLayout(block)
            heading = QLabel(f"<b>{f.label}</b>")
            heading.setWordWrap(True)
            grid.addWidget(heading, 0, 0, 1, 3)
            row = 1
            for answer in disputed.answers:
                grid.addWidget(QLabel(answer.reader), row, 0)
                grid.addWidget(QLabel(f"<b>{answer_text(answer.value)}</b>"), row, 1, 1, 2)
                row += 1
            by_value = {v: k for k, v in keys.values.get(disputed.key, {}).items()}
            buttons = []
            for n, (label, value) in enumerate(adjudication.options(disputed.key), start=1):
                key = str(n) if f.kind is FieldKind.MEASUREMENT else by_value.get(value, "")
                button = QPushButton(f"{key}  {label}".strip())
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                button.setToolTip(f"Consensus: {label}")
                button.clicked.connect(
                    lambda _=False, k=disputed.key, v=value: self.controller.settle(k, v)
                )
                grid.addWidget(button, row + (n - 1) // 3, (n - 1) % 3)
                buttons.append(button)
            self.blocks[disputed.key] = block
            self.buttons[disputed.key] = buttons
            self._body.addWidget(block)
