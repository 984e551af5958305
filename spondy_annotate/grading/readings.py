"""Whose reading an answer is: a reader's own, a repeat read, a single-timepoint pass, the consensus.

A reader of a study reads each assigned case as a pair (both MRIs side by side); the study may
add a first pass in which each MRI is graded alone, and repeat reads of some cases after a
wash-out (for intra-reader agreement). Each kind of reading is stored under its own reader
label, so that the append-only answers, the export and the analysis keep them apart without a
column of their own: ``"AB"``, ``"AB (repeat)"``, ``"AB (timepoint)"``. The adjudicated answers
are the reader :data:`CONSENSUS_READER`.

Examples
--------
>>> reading_label("AB", ReadKind.REPEAT)
'AB (repeat)'
>>> parse_reading_label("AB (repeat)")
('AB', <ReadKind.REPEAT: 'repeat'>)
>>> parse_reading_label("consensus")
('consensus', <ReadKind.PAIR: 'pair'>)
"""

from __future__ import annotations

from enum import Enum

__all__ = ["CONSENSUS_READER", "ReadKind", "parse_reading_label", "reading_label"]

#: The reader label of the adjudicator's consensus answers.
CONSENSUS_READER = "consensus"


class ReadKind(str, Enum):
    """A kind of reading of a case."""

    PAIR = "pair"
    """The main reading: baseline and follow-up side by side, grades and change."""
    REPEAT = "repeat"
    """The same case read again after the study's wash-out (intra-reader agreement)."""
    TIMEPOINT = "timepoint"
    """The first pass of a study that asks for it: each MRI graded alone, in random order."""


_SUFFIXES: dict[ReadKind, str] = {
    kind: f" ({kind.value})" for kind in ReadKind if kind is not ReadKind.PAIR
}


def reading_label(reader: str, kind: ReadKind) -> str:
    """The reader label under which ``reader``'s reading of ``kind`` is stored."""
    return reader + _SUFFIXES.get(kind, "")


def parse_reading_label(label: str) -> tuple[str, ReadKind]:
    """``(reader, kind)`` of a stored reader label (inverse of :func:`reading_label`)."""
    for kind, suffix in _SUFFIXES.items():
        if label.endswith(suffix) and len(label) > len(suffix):
            return label[: -len(suffix)], kind
    return label, ReadKind.PAIR
