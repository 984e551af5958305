"""Grading one export: a reader's session in the project database, from first case to last.

:class:`GradingSession` is the one grading workflow (Slicer's *Logic* pattern): the napari panel
and scripts call it, and it needs no viewer. It opens the project database, logs a reading
session (reader, rubric, blinding settings), registers each case once under its pseudonym,
records answers (append-only, committed before returning), and keeps the reader's view state of
each case (follow-up offset, slice, when it was opened) so that the next session resumes there.

On a shared PostgreSQL database, an answer given while the server is unreachable is kept in the
local :mod:`~spondy_annotate.grading.journal` (returned with ``pending=True``: "saved locally,
not yet on the server") and sent, in order and once, by the next :meth:`GradingSession.record`
or :meth:`GradingSession.flush` that reaches the server.

Examples
--------
>>> from spondy_annotate.projectdb.location import default_db_path
>>> with GradingSession.open(default_db_path(folder), reader="AB") as grading:  # doctest: +SKIP
...     case_id = grading.register(cases[0])  # "C-7F3A91"
...     grading.record(case_id, "marrow_edema.baseline", 2)
...     grading.save_view_state(case_id, ViewState(slice_index=4))
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spondy_annotate.cases.pairing import CaseStatus
from spondy_annotate.grading.adjudication import Disagreement, adjudication_queue, settle
from spondy_annotate.grading.journal import Journal, journal_path
from spondy_annotate.grading.readings import CONSENSUS_READER, ReadKind, reading_label
from spondy_annotate.grading.rubric_toml import default_rubric
from spondy_annotate.grading.store import Session, Store, new_answer, new_session
from spondy_annotate.grading.study import Study, StudyError
from spondy_annotate.projectdb.database import ServerUnreachableError
from spondy_annotate.projectdb.schema import utc_now
from spondy_annotate.projectdb.url import DbLocation

if TYPE_CHECKING:
    from spondy_annotate.cases.pairing import Case
    from spondy_annotate.grading.rubric import AnswerValue, GradingStatus, Rubric
    from spondy_annotate.grading.store import Answer

#: View-state keys in the store's ``case_state`` table (as the napari panel has written them).
OFFSET_KEY, SLICE_KEY, OPENED_KEY = "followup_offset_mm", "slice_index", "opened_at"

#: What identifies a case in the store: patient ID, baseline and follow-up StudyInstanceUID.
CaseKey = tuple[str, str, str]
#: Seconds during which a server that timed out is not asked again (answers go to the journal
#: at once instead of waiting for another time-out); a server that refuses is asked every time.
RETRY_AFTER_S = 10.0
#: An attempt that failed after this many seconds was a time-out.
SLOW_FAILURE_S = 1.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewState:
    """How a reader left a case; ``None`` where nothing (usable) was saved.

    Parameters
    ----------
    followup_offset_mm
        The follow-up's shift against the baseline the reader set, in patient LPS mm.
    slice_index
        The slice the reader was on.
    opened_at
        When the reader last opened the case (ISO 8601, UTC).
    """

    followup_offset_mm: tuple[float, float, float] | None = None
    slice_index: int | None = None
    opened_at: str | None = None

    @classmethod
    def from_stored(cls, values: Mapping[str, Any]) -> ViewState:
        """The view state in the store's ``{key: value}``; values of the wrong type are ignored."""
        offset, index, opened = (values.get(k) for k in (OFFSET_KEY, SLICE_KEY, OPENED_KEY))
        return cls(
            followup_offset_mm=_point(offset),
            slice_index=index if isinstance(index, int) and not isinstance(index, bool) else None,
            opened_at=opened if isinstance(opened, str) else None,
        )

    def to_stored(self) -> dict[str, Any]:
        """The JSON-able ``{key: value}`` of the fields that are set."""
        values: dict[str, Any] = {}
        if self.followup_offset_mm is not None:
            values[OFFSET_KEY] = [float(v) for v in self.followup_offset_mm]
        if self.slice_index is not None:
            values[SLICE_KEY] = int(self.slice_index)
        if self.opened_at is not None:
            values[OPENED_KEY] = self.opened_at
        return values


def _point(value: object) -> tuple[float, float, float] | None:
    """``value`` as three floats, if it is a list of three numbers."""
    if not isinstance(value, list) or len(value) != 3:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    return float(value[0]), float(value[1]), float(value[2])


def _study_blinding(
    study: Study, reader: str, hide_dates: bool | None, seed: int | None
) -> tuple[bool, int | None]:
    """The study's ``(hide_dates, case order seed)`` for ``reader``; others refused."""
    if reader not in study.adjudicators:
        study.check_reader(reader)
    wanted = (study.hide_dates, study.seeds.get(reader) if study.random_order else None)
    for given, own, what in zip(
        (hide_dates, seed), wanted, ("hide_dates", "case order seed"), strict=True
    ):
        if given is not None and given != own:
            raise StudyError(f"the study sets the {what} ({own}); a reader cannot change it")
    return wanted


def case_key(case: Case) -> CaseKey:
    """``(patient ID, baseline study UID, follow-up study UID)``; ``""`` for a missing study."""
    base = case.baseline.study_instance_uid if case.baseline else ""
    follow = case.followup.study_instance_uid if case.followup else ""
    return case.patient_id, base, follow


class GradingSession:
    """One reader grading cases with one rubric in a project database.

    Build it with :meth:`open`; the session owns its :class:`~spondy_annotate.grading.store.Store`
    and closes it with :meth:`close` (or at the end of a ``with`` block).

    Parameters
    ----------
    store
        The open store (closed by :meth:`close`).
    reader
        Who grades (initials or user name), stored with every answer.
    rubric
        Default: :func:`~spondy_annotate.grading.rubric_toml.default_rubric`.
    case_order_seed
        Seed of the randomised case order (:meth:`order`), or ``None`` for the export's order.
    hide_dates
        Whether study dates are hidden from the reader (blinded reading).
    settings
        Other JSON-able settings logged with the session (e.g. the front end).

    Notes
    -----
    When the database has a study (:meth:`Store.study`), the reader must be one of its readers
    or adjudicators, and the blinding and the case order are the study's: ``hide_dates`` and
    ``case_order_seed`` may then only be left out (None) or repeat the study's.

    Raises
    ------
    ValueError
        If ``reader`` is empty, too long or not printable.
    StudyError
        If the reader is not in the study, or the blinding differs from the study's.
    StoreError
        If the session could not be logged.
    """

    def __init__(
        self,
        store: Store,
        *,
        reader: str,
        rubric: Rubric | None = None,
        case_order_seed: int | None = None,
        hide_dates: bool | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._settings = dict(settings or {})
        self._ids: dict[CaseKey, str] = {}
        self._study = store.study()
        self._other: dict[str, Session] = {}
        if self._study is not None:
            hide_dates, case_order_seed = _study_blinding(
                self._study, reader, hide_dates, case_order_seed
            )
        self._session = store.start_session(
            reader,
            rubric=rubric or default_rubric(),
            case_order_seed=case_order_seed,
            hide_dates=bool(hide_dates),
            settings=self._settings,
        )
        self._journal: Journal | None = None
        self._retry_at = 0.0
        if store.database.dialect == "postgresql":
            self._journal = Journal(journal_path(str(store.path), self._session.reader))
            if self._journal.entries:  # from a session that ended before the server was back
                self.flush()

    @classmethod
    def open(
        cls,
        db: DbLocation,
        *,
        reader: str,
        rubric: Rubric | None = None,
        case_order_seed: int | None = None,
        hide_dates: bool | None = None,
        settings: Mapping[str, Any] | None = None,
        create: bool = True,
    ) -> GradingSession:
        """Open the project database ``db`` (a file or a PostgreSQL URL; created if ``create``)
        and log a new session.

        The other parameters are the class's. Raises :class:`~spondy_annotate.errors.StoreError`
        if the database cannot be used, ``ValueError`` for an unusable reader name; the database
        is closed again then.
        """
        store = Store(db, create=create)
        try:
            return cls(
                store,
                reader=reader,
                rubric=rubric,
                case_order_seed=case_order_seed,
                hide_dates=hide_dates,
                settings=settings,
            )
        except BaseException:
            store.close()
            raise

    # ------------------------------------------------------------------ the session

    @property
    def store(self) -> Store:
        """The grading store (for reading other readers' answers, exporting...)."""
        return self._store

    @property
    def path(self) -> Path | str:
        """The project database file, or its PostgreSQL URL (without password)."""
        return self._store.path

    @property
    def pending(self) -> int:
        """How many answers are saved locally, not yet on the server (0 but on PostgreSQL)."""
        return 0 if self._journal is None else len(self._journal.answers)

    @property
    def session(self) -> Session:
        """The logged session every answer is recorded under."""
        return self._session

    @property
    def reader(self) -> str:
        """Who grades."""
        return self._session.reader

    @property
    def rubric(self) -> Rubric:
        """The rubric of every answer."""
        return self._session.rubric

    @property
    def case_order_seed(self) -> int | None:
        """Seed of the randomised case order, or ``None`` (export order)."""
        return self._session.case_order_seed

    @property
    def hide_dates(self) -> bool:
        """Whether study dates are hidden from the reader."""
        return self._session.hide_dates

    @property
    def study(self) -> Study | None:
        """The database's reader study, if it has one."""
        return self._study

    def set_blinding(self, *, hide_dates: bool, case_order_seed: int | None) -> Session:
        """Change the blinding settings; a change is logged as a new session, answers go to it.

        Raises
        ------
        StudyError
            If the database has a study: its blinding cannot be changed by a reader.
        """
        if (hide_dates, case_order_seed) != (self.hide_dates, self.case_order_seed):
            if self._study is not None:
                raise StudyError("the study sets the blinding and the case order")
            self._session = self._start(
                self.reader, case_order_seed=case_order_seed, hide_dates=hide_dates
            )
        return self._session

    def order(self, cases: Iterable[Case]) -> list[Case]:
        """The worklist order: by :func:`case_key`, shuffled reproducibly by the case order seed.

        With a study, the reader's assigned cases only (registering them), in the study's order.
        """
        if self._study is not None and self.reader in self._study.readers:
            by_id = {case_id: case for case in cases if (case_id := self.register(case))}
            return [by_id[c] for c in self._study.assigned(self.reader, by_id)]
        seed = self.case_order_seed
        if seed is None:
            return sorted(cases, key=case_key)
        ordered = sorted(cases, key=lambda case: str(case_key(case)))
        random.Random(seed).shuffle(ordered)
        return ordered

    def last_case(self) -> str | None:
        """The case whose answers or view state this reader changed last (to resume), if any."""
        return self._store.last_case(self.reader)

    # ------------------------------------------------------------------ cases

    def register(self, case: Case) -> str | None:
        """The case ID (pseudonym, e.g. ``"C-7F3A91"``) of ``case``, registered on first use.

        Registering is idempotent and cached: the store is asked once per case and session.
        A case that cannot be graded (not :attr:`~spondy_annotate.cases.pairing.CaseStatus.READY`:
        one study, or a choice of studies pending) has no case ID: ``None``.

        Raises
        ------
        StoreError
            If the database stayed locked or the disk failed.
        """
        if case.status is not CaseStatus.READY or case.baseline is None or case.followup is None:
            return None
        key = case_key(case)
        if key not in self._ids:
            self._ids[key] = self._store.register_case(
                case.patient_id,
                case.baseline.study_instance_uid,
                case.baseline.date,
                case.followup.study_instance_uid,
                case.followup.date,
            )
        return self._ids[key]

    def status(self, case_id: str) -> GradingStatus:
        """Whether this reader has not started, partly graded or finished ``case_id``."""
        return self._store.case_status(case_id, self.reader, self.rubric)

    def statuses(self, case_ids: Iterable[str] | None = None) -> dict[str, GradingStatus]:
        """:meth:`status` of many cases (default: every registered case) in one query."""
        return self._store.case_statuses(self.reader, self.rubric, case_ids)

    # ------------------------------------------------------------------ answers

    def answers(self, case_id: str, *, kind: ReadKind = ReadKind.PAIR) -> dict[str, AnswerValue]:
        """This reader's current answers of ``case_id`` in reading ``kind`` under the rubric:
        ``{field key: value}``.

        Answers still in the local journal count (they are the latest).
        """
        label = reading_label(self.reader, kind)
        values = self._store.current_values(case_id, label, self.rubric)
        for a in self._journal.answers if self._journal is not None else ():
            if (a.case_id, a.reader, a.rubric_name) == (case_id, label, self.rubric.name):
                values[a.key] = a.value
        return {k: v for k, v in values.items() if v is not None}

    def record(
        self, case_id: str, key: str, value: object, *, kind: ReadKind = ReadKind.PAIR
    ) -> Answer:
        """Save one answer (committed before returning) and return it as stored.

        On PostgreSQL, when the server is unreachable the answer is kept in the local journal
        and returned with ``pending=True`` ("saved locally, not yet on the server"); the
        answers pending are sent first, in order, whenever the server answers again.

        Parameters
        ----------
        case_id
            From :meth:`register`.
        key
            A field key of the rubric, e.g. ``"level"`` or ``"marrow_edema.baseline"``.
        value
            The answer (see :meth:`~spondy_annotate.grading.rubric.Rubric.validate_value`);
            ``None`` clears the field. A change of mind adds a row; nothing is overwritten.
        kind
            A repeat read or a single-timepoint pass is stored under its own reader label
            (:func:`~spondy_annotate.grading.readings.reading_label`), in a session of its own.

        Raises
        ------
        KeyError
            If the rubric has no such field.
        ValueError
            If the value is not allowed or the case is not registered.
        StoreError
            If the database stayed locked or the disk failed; the answer was not saved.
        """
        answer = new_answer(self._session_of(kind), case_id, key, value)
        if self._journal is None:
            return self._store.add_answers([answer])[0]
        if time.monotonic() >= self._retry_at:
            started = time.monotonic()
            try:
                return self._send([answer])[-1]
            except ServerUnreachableError as exc:
                if time.monotonic() - started > SLOW_FAILURE_S:
                    self._retry_at = time.monotonic() + RETRY_AFTER_S
                logger.warning("%s; the answer is kept locally until it is back", exc)
        self._journal.append(answer)
        return answer

    def flush(self) -> int:
        """Send the answers saved locally to the server, in order; return how many were sent.

        Raises
        ------
        ServerUnreachableError
            If the server is still unreachable (the answers stay in the journal).
        """
        if self._journal is None or not self._journal.entries:
            return 0
        return len(self._send([]))

    def _send(self, answers: list[Answer]) -> list[Answer]:
        """Send the journal (its sessions, then its answers) and ``answers``, in order; return
        the answers as stored, and empty the journal."""
        assert self._journal is not None
        kept = self._journal.entries
        for entry in kept:
            if isinstance(entry, Session):
                self._store.add_session(entry)
        stored = self._store.add_answers([*self._journal.answers, *answers])
        if kept:
            self._journal.clear()
            self._retry_at = 0.0
            logger.info("%s: %d entries kept locally sent to the server", self.path, len(kept))
        return stored

    def _start(self, reader: str, **options: Any) -> Session:
        """Log a new session of ``reader`` with this session's rubric and settings; while the
        server is unreachable, keep it in the journal (sent before its answers)."""
        session = new_session(reader, rubric=self.rubric, settings=self._settings, **options)
        try:
            return self._store.add_session(session)
        except ServerUnreachableError as exc:
            if self._journal is None:
                raise
            logger.warning("%s; the session is kept locally until it is back", exc)
        self._journal.append(session)
        return session

    def _session_of(self, kind: ReadKind) -> Session:
        """The session of this reader's reading ``kind`` (logged on first use)."""
        if kind is ReadKind.PAIR:
            return self._session
        label = reading_label(self.reader, kind)
        if label not in self._other:
            self._other[label] = self._start(
                label, case_order_seed=self.case_order_seed, hide_dates=self.hide_dates
            )
        return self._other[label]

    # ------------------------------------------------------------------ adjudication

    def adjudication_queue(self) -> list[Disagreement]:
        """The study's disagreements not settled yet (:func:`adjudication_queue`)."""
        if self._study is None:
            raise StudyError(f"{self.path}: no study, so no adjudication")
        return adjudication_queue(self._store, self._study, self.rubric)

    def settle(self, disagreement: Disagreement, values: Mapping[str, object]) -> list[Answer]:
        """Record the consensus of ``disagreement`` (:func:`settle`); adjudicators only.

        Raises
        ------
        StudyError
            If there is no study or this reader is not one of its adjudicators.
        """
        if self._study is None or self.reader not in self._study.adjudicators:
            raise StudyError(f"{self.reader!r} is not an adjudicator of the study")
        if CONSENSUS_READER not in self._other:
            self._other[CONSENSUS_READER] = self._store.start_session(
                CONSENSUS_READER,
                rubric=self.rubric,
                hide_dates=self.hide_dates,
                settings={**self._settings, "adjudicator": self.reader},
            )
        return settle(self._store, self._other[CONSENSUS_READER], disagreement, values)

    # ------------------------------------------------------------------ view state

    def view_state(self, case_id: str) -> ViewState:
        """How this reader left ``case_id`` (empty for a case never opened)."""
        return ViewState.from_stored(self._store.get_case_state(case_id, self.reader))

    def save_view_state(self, case_id: str, state: ViewState) -> None:
        """Save the fields of ``state`` that are set; the others keep their saved value."""
        for key, value in state.to_stored().items():
            self._store.set_case_state(case_id, self.reader, key, value)

    def note_opened(self, case_id: str) -> None:
        """Stamp that the reader has ``case_id`` open now (what :meth:`last_case` resumes)."""
        self._store.set_case_state(case_id, self.reader, OPENED_KEY, utc_now())

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Close the project database (idempotent); every answer is saved already."""
        self._store.close()

    def __enter__(self) -> GradingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GradingSession({str(self.path)!r}, reader={self.reader!r})"
