"""Who reads, and blinded how: the choice made before any image or date is shown.

Before the first case of an export is shown, the reader says who they are (the grading panel's
reader picker, :mod:`spondy_napari._qt.reader_picker`). :func:`reader_options` reads what the
project database knows for that step: the reader study (its readers and adjudicators to pick
from; its blinding and case order, which a reader cannot change) or, without a study, each
reader's blinding of their last session (*hide study dates*, *random case order* and its seed),
which a returning reader gets back. :meth:`ReaderOptions.choose` turns the picker's answer into
a :class:`ReaderChoice` for the controller.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind, parse_reading_label
from spondy_annotate.grading.store import Store

if TYPE_CHECKING:
    from spondy_annotate.grading.study import Study

#: Upper bound of a drawn case order seed.
SEED_RANGE = 1_000_000


@dataclass(frozen=True)
class Blinding:
    """A session's blinding: study dates hidden, and the seed of a random case order (or None)."""

    hide_dates: bool = False
    case_order_seed: int | None = None


@dataclass(frozen=True)
class ReaderChoice:
    """The reader's answer: their name, and the blinding they chose (None: the study's)."""

    reader: str
    blinding: Blinding | None = None


@dataclass(frozen=True)
class ReaderOptions:
    """What the project database offers the reader before the first case.

    Attributes
    ----------
    study
        The reader study, if the database has one.
    stored
        Each earlier reader's blinding of their last session (the consensus, repeat and
        single-timepoint readings excluded).
    """

    study: Study | None = None
    stored: dict[str, Blinding] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The names to pick from: the study's readers then adjudicators, else earlier readers."""
        if self.study is not None:
            extra = tuple(a for a in self.study.adjudicators if a not in self.study.readers)
            return self.study.readers + extra
        return tuple(sorted(self.stored))

    def is_adjudicator(self, name: str) -> bool:
        """Whether ``name`` adjudicates the study (and reads none of its cases)."""
        study = self.study
        return study is not None and name in study.adjudicators and name not in study.readers

    def blinding(self, name: str) -> Blinding:
        """``name``'s blinding: the study's, else their last session's, else none."""
        study = self.study
        if study is not None:
            seed = study.seeds.get(name) if study.random_order else None
            return Blinding(study.hide_dates, seed)
        return self.stored.get(name.strip(), Blinding())

    def choose(self, name: str, *, hide_dates: bool, random_order: bool) -> ReaderChoice:
        """The choice of ``name`` with the ticks as given (ignored under a study).

        A random order keeps the reader's earlier seed (the same order as last time); a first
        random order draws one.
        """
        name = name.strip()
        if self.study is not None:
            return ReaderChoice(name)
        seed = None
        if random_order:
            seed = self.blinding(name).case_order_seed
            if seed is None:
                seed = secrets.randbelow(SEED_RANGE)
        return ReaderChoice(name, Blinding(hide_dates, seed))


def reader_options(db: str | os.PathLike[str]) -> ReaderOptions:
    """Read the study and the readers' last blinding from the project database ``db``.

    Raises
    ------
    StoreError
        If the database cannot be opened.
    """
    with Store(db) as store:
        study = store.study()
        stored: dict[str, Blinding] = {}
        for session in store.sessions():  # oldest first: the last one wins
            reader, kind = parse_reading_label(session.reader)
            if kind is ReadKind.PAIR and reader != CONSENSUS_READER:
                stored[reader] = Blinding(session.hide_dates, session.case_order_seed)
    return ReaderOptions(study, stored)
