"""The grading store: cases, reading sessions and append-only answers in the project database.

Every answer is inserted in its own transaction and committed before :meth:`Store.record_answer`
returns; answers are never updated or deleted (triggers refuse it), a change of mind adds a row
and the latest row per (case, reader, item, field) is the current answer. View state (slice
offset, last position) is kept apart in ``case_state`` and may be overwritten.

The database is an SQLite file or a PostgreSQL server shared by several workstations, named
by a URL (:func:`spondy_annotate.projectdb.database.open_database`); the SQL here runs on both.
Its schema and durability are :mod:`spondy_annotate.projectdb.schema`'s (WAL,
``synchronous=FULL``, several writing processes) and :mod:`spondy_annotate.projectdb.postgres`'s;
the store adds the database's pseudonym key (:mod:`spondy_annotate.grading.pseudonym`) on first
use. Every write is idempotent (an answer carries a UUID), so that a transaction whose reply was
lost may run again. The database holds patient IDs: keep it where the images are; exports are
de-identified (:mod:`spondy_annotate.grading.export`).

The store also keeps the file's reader study (:mod:`~spondy_annotate.grading.study`, as TOML
in ``meta``) and the consensus answers' links to the answers they settle (``consensus_links``,
append-only like the answers).

This module is one concept, the grading tables and their queries, and is long only because each
query is spelled out; the grading workflow over it is
:class:`~spondy_annotate.grading.session.GradingSession`.

Examples
--------
>>> from spondy_annotate.grading.rubric_toml import default_rubric
>>> with Store(tmp / "gradings.sqlite") as store:  # doctest: +SKIP
...     case = store.register_case("PAT1", "1.2.3", "2021-03-01", "1.2.4", "2021-04-12")
...     session = store.start_session("reader1", rubric=default_rubric())
...     store.record_answer(session, case, "marrow_edema.baseline", 2)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spondy_annotate._dates import is_missing, parse_date
from spondy_annotate.errors import StoreError
from spondy_annotate.grading.pseudonym import new_case_id, new_salt
from spondy_annotate.grading.readings import CONSENSUS_READER, parse_reading_label
from spondy_annotate.grading.rubric import (
    CASE_ITEM,
    AnswerValue,
    GradingStatus,
    Measurement,
    Rubric,
)
from spondy_annotate.grading.rubric_toml import parse_rubric
from spondy_annotate.grading.study import STUDY_META_KEY, Study, StudyError, parse_study
from spondy_annotate.projectdb.database import (
    Connection,
    Database,
    SqliteDatabase,
    open_database,
)
from spondy_annotate.projectdb.schema import utc_now
from spondy_annotate.projectdb.url import DbLocation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseRecord:
    """A registered baseline/follow-up pair. ``patient_id`` and the dates are identifying."""

    case_id: str
    patient_id: str
    baseline_study_uid: str
    baseline_date: dt.date | None
    followup_study_uid: str
    followup_date: dt.date | None
    registered_at: str

    @property
    def interval_days(self) -> int | None:
        """Days from the baseline to the follow-up MRI, if both dates are known."""
        if self.baseline_date is None or self.followup_date is None:
            return None
        return (self.followup_date - self.baseline_date).days


@dataclass(frozen=True)
class Session:
    """One reading session: who graded, with which rubric and settings."""

    session_id: str
    reader: str
    rubric: Rubric
    started_at: str
    case_order_seed: int | None
    hide_dates: bool
    app_version: str
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Answer:
    """One stored answer (a row of the append-only ``answers`` table).

    ``answer_uuid`` is given by the workstation that took the answer (None in databases older
    than schema v7); ``pending`` marks an answer kept in the local journal while the server is
    unreachable (:class:`~spondy_annotate.grading.session.GradingSession`): its ``answer_id``
    is 0 until the server has it.
    """

    answer_id: int
    case_id: str
    reader: str
    rubric_name: str
    rubric_version: str
    item: str
    field: str
    value: AnswerValue
    answered_at: str
    session_id: str | None
    answer_uuid: str | None = None
    pending: bool = False

    @property
    def key(self) -> str:
        """The rubric field key, e.g. ``"level"`` or ``"marrow_edema.baseline"``."""
        return self.field if self.item == CASE_ITEM else f"{self.item}.{self.field}"


def open_store(db: DbLocation, *, create: bool = True) -> Store:
    """Open (and by default create) the project database ``db``; see :class:`Store`."""
    return Store(db, create=create)


class Store:
    """The gradings in the project database ``db``.

    Parameters
    ----------
    db
        The SQLite file, created (with its folder's permissions) on first use, or a PostgreSQL
        URL (``postgresql://reader@host/dbname``; the database must exist, its tables are made
        on first use); brought to the current schema
        (:func:`spondy_annotate.projectdb.database.open_database`).
    create
        If false, a missing file (an empty PostgreSQL database) is an error.

    Raises
    ------
    StoreError
        If the database is missing (``create=False``), is not a project database, is damaged,
        was written by a newer version of spondy_annotate (then it is left untouched), has
        registered cases but lost its pseudonym key, or its server is unreachable
        (:class:`~spondy_annotate.projectdb.database.ServerUnreachableError`).

    Notes
    -----
    One ``Store`` serialises its own calls with a lock and may be used from worker threads;
    open one per process (never share it across ``fork``).
    """

    def __init__(self, db: DbLocation, *, create: bool = True) -> None:
        self._db = open_database(db, create=create)
        #: The SQLite file, or the PostgreSQL URL without its password (for messages).
        self.path: Path | str = (
            self._db.path if isinstance(self._db, SqliteDatabase) else self._db.name
        )
        try:
            self._salt = self._pseudonym_key()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connection

    def _pseudonym_key(self) -> str:
        """The database's pseudonym key, created with the first grading use of the database."""
        find = "SELECT value FROM meta WHERE key = 'salt'"
        row = self._db.query_one(find)
        if row is not None:
            return str(row[0])

        def create(conn: Connection) -> str:  # a new database, or one the index cache created
            row = conn.execute(find).fetchone()  # another process may have made it meanwhile
            if row is None:
                if conn.execute("SELECT 1 FROM cases LIMIT 1").fetchone() is not None:
                    raise StoreError(f"{self.path}: the database has no pseudonym key")
                conn.execute(
                    "INSERT INTO meta VALUES ('salt', ?) ON CONFLICT DO NOTHING", (new_salt(),)
                )
                row = conn.execute(find).fetchone()
            return str(row[0])

        return self._db.transaction(create)

    @property
    def database(self) -> Database:
        """The open database, for work over whole tables (:mod:`~spondy_annotate.grading.merge`)."""
        return self._db

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the database (:data:`~spondy_annotate.projectdb.schema.SCHEMA_VERSION`)."""
        return self._db.schema_version

    @property
    def pseudonym_key(self) -> str:
        """The database's secret pseudonym key (hex); see :mod:`~spondy_annotate.grading.pseudonym`."""
        return self._salt

    def import_key(self, key: str) -> bool:
        """Take ``key`` as this database's pseudonym key, so that case IDs match its source's.

        Returns
        -------
        bool
            True if the key was changed, False if the database had it already.

        Raises
        ------
        StoreError
            If the database has registered cases under another key (their case IDs would no
            longer match their pseudonyms): import the key into a new database instead.
        """
        if key == self._salt:
            return False

        def replace(conn: Connection) -> None:
            n = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            if n:
                raise StoreError(
                    f"{self.path}: has {n} registered case(s) under its own pseudonym key; "
                    "import the key into a database without cases (or merge the databases)"
                )
            _set_meta(conn, "salt", key)

        self._db.transaction(replace)
        self._salt = key
        logger.info("%s: pseudonym key imported", self.path)
        return True

    # ------------------------------------------------------------------ study

    def study(self) -> Study | None:
        """The reader study of this database (:mod:`~spondy_annotate.grading.study`), if any."""
        row = self._db.query_one("SELECT value FROM meta WHERE key = ?", (STUDY_META_KEY,))
        return None if row is None else parse_study(row[0], source=f"{self.path}: study")

    def set_study(self, text: str, *, source: str = "<study>") -> Study:
        """Define (or redefine) the reader study from its TOML ``text`` and return it.

        Raises
        ------
        StudyError
            If ``text`` is not a valid study, or reading has started: a reader of the current
            or the new study has an answer in this database.
        """
        study = parse_study(text, source=source)

        def define(conn: Connection) -> None:
            old = conn.execute("SELECT value FROM meta WHERE key = ?", (STUDY_META_KEY,)).fetchone()
            readers = set(study.readers)
            if old is not None:
                readers |= set(parse_study(old[0]).readers)
            labels = [r[0] for r in conn.execute("SELECT DISTINCT reader FROM answers")]
            started = sorted({parse_reading_label(label)[0] for label in labels} & readers)
            if started:
                raise StudyError(
                    f"{self.path}: reading has started ({', '.join(started)} answered): the "
                    "study can no longer be changed"
                )
            _set_meta(conn, STUDY_META_KEY, study.text)

        self._db.transaction(define)
        logger.info("%s: study set (%d readers)", self.path, len(study.readers))
        return study

    # ------------------------------------------------------------------ cases

    def register_case(
        self,
        patient_id: str,
        baseline_study_uid: str,
        baseline_date: dt.date | str | None,
        followup_study_uid: str,
        followup_date: dt.date | str | None,
    ) -> str:
        """Register a baseline/follow-up pair and return its pseudonym; idempotent.

        Parameters
        ----------
        patient_id, baseline_study_uid, followup_study_uid
            Identify the case; registering the same three again returns the same case id.
        baseline_date, followup_date
            Study dates (``datetime.date``, ISO ``YYYY-MM-DD`` or DICOM ``YYYYMMDD``) or None.

        Returns
        -------
        str
            The case id, e.g. ``"C-7F3A91"``: HMAC-SHA256 of the three identifiers keyed with this
            database's random salt, lengthened in the unlikely case of a collision.
        """
        ids = [
            _text(patient_id, "patient_id"),
            _text(baseline_study_uid, "baseline_study_uid"),
            _text(followup_study_uid, "followup_study_uid"),
        ]
        if ids[1] == ids[2]:
            raise ValueError(f"baseline and follow-up are the same study ({ids[1]})")
        dates = [
            _iso_date(baseline_date, "baseline_date"),
            _iso_date(followup_date, "followup_date"),
        ]
        find = (
            "SELECT case_id, baseline_date, followup_date FROM cases WHERE patient_id = ? "
            "AND baseline_study_uid = ? AND followup_study_uid = ?"
        )

        def register(conn: Connection) -> str | None:
            row = conn.execute(find, ids).fetchone()
            if row is None:  # another workstation may insert it meanwhile: its ID wins
                case_id = new_case_id(self._salt, (ids[0], ids[1], ids[2]), _taken(conn))
                conn.execute(
                    "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (case_id, ids[0], ids[1], dates[0], ids[2], dates[1], utc_now()),
                )
                row = conn.execute(find, ids).fetchone()
                if row is None:  # another case took the ID meanwhile: choose again
                    return None
                if row[0] == case_id:
                    logger.info("registered case %s", case_id)
                    return case_id
            case_id = str(row[0])
            for name, old, new in zip(
                ("baseline_date", "followup_date"), row[1:], dates, strict=True
            ):
                if old is None and new is not None:
                    conn.execute(f"UPDATE cases SET {name} = ? WHERE case_id = ?", (new, case_id))
                elif new is not None and old != new:
                    logger.warning(
                        "case %s: %s %s differs from the registered %s; kept",
                        case_id,
                        name,
                        new,
                        old,
                    )
            return case_id

        case_id = None
        while case_id is None:
            case_id = self._db.transaction(register)
        return case_id

    def case(self, case_id: str) -> CaseRecord:
        """Return the registered case ``case_id``; ``KeyError`` if unknown."""
        row = self._db.query_one(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id = ?", (case_id,))
        if row is None:
            raise KeyError(f"{self.path}: no case {case_id!r}")
        return _case(row)

    def cases(self) -> list[CaseRecord]:
        """Return every registered case, sorted by case id."""
        rows = self._db.query(f"SELECT {_CASE_COLUMNS} FROM cases ORDER BY case_id")
        return [_case(r) for r in rows]

    # ------------------------------------------------------------------ sessions

    def start_session(
        self,
        reader: str,
        *,
        rubric: Rubric,
        case_order_seed: int | None = None,
        hide_dates: bool = False,
        app_version: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Session:
        """Log the start of a reading session and return it.

        Parameters
        ----------
        reader
            Who grades (initials or user name).
        rubric
            The rubric used; its TOML text is stored once in the database.
        case_order_seed
            Seed of the randomised case order, so the order can be reproduced.
        hide_dates
            Whether study dates are hidden from the reader (blinding).
        app_version
            Version of the application; defaults to ``spondy_annotate.__version__``.
        settings
            Any other JSON-able settings worth logging.
        """
        return self.add_session(
            new_session(
                reader,
                rubric=rubric,
                case_order_seed=case_order_seed,
                hide_dates=hide_dates,
                app_version=app_version,
                settings=settings,
            )
        )

    def add_session(self, session: Session) -> Session:
        """Log ``session`` (from :func:`new_session`, e.g. kept in a journal) and return it.

        Logging a session again changes nothing.
        """
        rubric = session.rubric

        def log(conn: Connection) -> None:
            conn.execute(
                "INSERT INTO rubrics (sha256, name, version, source, stored_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (rubric.sha256, rubric.name, rubric.version, rubric.text, session.started_at),
            )
            conn.execute(
                "INSERT INTO sessions (session_id, reader, started_at, rubric_sha256, "
                "rubric_name, rubric_version, case_order_seed, hide_dates, app_version, host, "
                "pid, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    session.session_id,
                    session.reader,
                    session.started_at,
                    rubric.sha256,
                    rubric.name,
                    rubric.version,
                    session.case_order_seed,
                    int(session.hide_dates),
                    session.app_version,
                    socket.gethostname(),
                    os.getpid(),
                    json.dumps(dict(session.settings), sort_keys=True),
                ),
            )

        self._db.transaction(log)
        logger.info(
            "session %s started by %s (%s %s)",
            session.session_id,
            session.reader,
            rubric.name,
            rubric.version,
        )
        return session

    def sessions(self, reader: str | None = None) -> list[Session]:
        """Return the logged sessions (of ``reader``, or all), oldest first."""
        rows = self._db.query(
            "SELECT s.session_id, s.reader, r.source, r.name, s.started_at, "
            "s.case_order_seed, s.hide_dates, s.app_version, s.settings FROM sessions s "
            "JOIN rubrics r ON r.sha256 = s.rubric_sha256 "
            "WHERE CAST(? AS TEXT) IS NULL OR s.reader = ? ORDER BY s.started_at, s.rowid",
            (reader, reader),
        )
        return [
            Session(
                r[0],
                r[1],
                parse_rubric(r[2], source=f"{self.path}:{r[3]}"),
                r[4],
                r[5],
                bool(r[6]),
                r[7],
                json.loads(r[8]),
            )
            for r in rows
        ]

    def stored_rubric(self, name: str, version: str | None = None) -> Rubric | None:
        """Return the rubric ``name`` (latest stored, or ``version``) as used in sessions."""
        row = self._db.query_one(
            "SELECT source FROM rubrics WHERE name = ? AND (CAST(? AS TEXT) IS NULL OR "
            "version = ?) ORDER BY stored_at DESC, rowid DESC LIMIT 1",
            (name, version, version),
        )
        return None if row is None else parse_rubric(row[0], source=f"{self.path}:{name}")

    # ------------------------------------------------------------------ answers

    def record_answer(self, session: Session, case_id: str, field: str, value: object) -> Answer:
        """Store one answer durably (committed before returning) and return it.

        Parameters
        ----------
        session
            From :meth:`start_session`: gives the reader and the rubric.
        case_id
            A registered case.
        field
            A field key of the session's rubric, e.g. ``"marrow_edema.baseline"``.
        value
            The answer (see :meth:`Rubric.validate_value`); ``None`` clears the field.

        Raises
        ------
        KeyError
            If the rubric has no such field.
        ValueError
            If the value is not allowed or the case is not registered.
        StoreError
            If the database stayed locked, the disk failed or the server is unreachable; the
            answer was not stored.
        """
        return self.add_answers([new_answer(session, case_id, field, value)])[0]

    def add_answers(self, answers: Sequence[Answer]) -> list[Answer]:
        """Store answers made by :func:`new_answer`, in order, in one transaction; return them.

        An answer whose UUID is stored already is not added again (it was sent before, e.g.
        from a journal whose server's reply was lost): the stored one is returned.

        Raises
        ------
        ValueError
            If a case is not registered; nothing was stored.
        StoreError
            As :meth:`record_answer`; nothing was stored.
        """
        return self._db.transaction(lambda conn: [self._insert_answer(conn, a) for a in answers])

    def record_consensus(
        self, session: Session, case_id: str, field: str, value: object, settles: Iterable[int]
    ) -> Answer:
        """Store a consensus answer with links to the answers it settles, in one transaction.

        Parameters
        ----------
        session
            A session of the reader :data:`~spondy_annotate.grading.readings.CONSENSUS_READER`.
        case_id, field, value
            As :meth:`record_answer`.
        settles
            Answer IDs of the readers' answers to the same case and field that it settles.

        Raises
        ------
        ValueError
            As :meth:`record_answer`; or the session is not the consensus reader's, or an
            answer to settle is not one of this case and field.
        """
        if session.reader != CONSENSUS_READER:
            raise ValueError(f"a consensus answer needs a session of {CONSENSUS_READER!r}")
        ids = sorted(set(settles))
        new = new_answer(session, case_id, field, value)

        def record(conn: Connection) -> Answer:
            answer = self._insert_answer(conn, new)
            for answer_id in ids:
                row = conn.execute(
                    "SELECT 1 FROM answers WHERE answer_id = ? AND case_id = ? AND item = ? "
                    "AND field = ? AND reader != ?",
                    (answer_id, case_id, answer.item, answer.field, CONSENSUS_READER),
                ).fetchone()
                if row is None:
                    raise ValueError(
                        f"{self.path}: answer {answer_id} is no reader's answer to {field} of "
                        f"case {case_id}"
                    )
                conn.execute(
                    "INSERT INTO consensus_links VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (answer.answer_id, answer_id),
                )
            return answer

        return self._db.transaction(record)

    def consensus_links(self, case_id: str | None = None) -> dict[int, tuple[int, ...]]:
        """``{consensus answer ID: IDs of the answers it settles}`` (of one case, or all)."""
        rows = self._db.query(
            "SELECT l.consensus_answer_id, l.settled_answer_id FROM consensus_links l "
            "JOIN answers a ON a.answer_id = l.consensus_answer_id "
            "WHERE CAST(? AS TEXT) IS NULL OR a.case_id = ? ORDER BY 1, 2",
            (case_id, case_id),
        )
        links: dict[int, list[int]] = {}
        for consensus, settled in rows:
            links.setdefault(int(consensus), []).append(int(settled))
        return {k: tuple(v) for k, v in links.items()}

    def _insert_answer(self, conn: Connection, answer: Answer) -> Answer:
        """Insert ``answer`` (once: its UUID) inside the caller's transaction; return it stored."""
        if (
            conn.execute("SELECT 1 FROM cases WHERE case_id = ?", (answer.case_id,)).fetchone()
            is None
        ):
            raise ValueError(f"{self.path}: no case {answer.case_id!r}")
        row = conn.execute(
            "INSERT INTO answers (case_id, reader, rubric_name, rubric_version, item, field, "
            "value, answered_at, session_id, answer_uuid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING answer_id",
            (
                answer.case_id,
                answer.reader,
                answer.rubric_name,
                answer.rubric_version,
                answer.item,
                answer.field,
                json.dumps(json_value(answer.value), ensure_ascii=False),
                answer.answered_at,
                answer.session_id,
                answer.answer_uuid,
            ),
        ).fetchone()
        if row is None:  # stored before (a journal sent again, a lost reply to a commit)
            row = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_uuid = ?",
                (answer.answer_uuid,),
            ).fetchone()
            return _answer(row)
        return dataclasses.replace(answer, answer_id=int(row[0]), pending=False)

    def history(self, *, case_id: str | None = None, reader: str | None = None) -> list[Answer]:
        """Return every stored answer (optionally of one case / reader), oldest first."""
        rows = self._db.query(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE (CAST(? AS TEXT) IS NULL OR "
            "case_id = ?) AND (CAST(? AS TEXT) IS NULL OR reader = ?) ORDER BY answer_id",
            (case_id, case_id, reader, reader),
        )
        return [_answer(r) for r in rows]

    def latest_answers(
        self, *, readers: Iterable[str] | None = None, rubric_name: str | None = None
    ) -> list[Answer]:
        """Return the current answer of every (case, reader, rubric, item, field).

        Cleared fields are included with value ``None``. Sorted by case, reader, answer id.
        """
        where, params = [], []
        if readers is not None:
            names = sorted(set(readers))
            where.append(f"reader IN ({', '.join('?' * len(names))})")
            params += names
        if rubric_name is not None:
            where.append("rubric_name = ?")
            params.append(rubric_name)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._db.query(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_id IN ("
            f"SELECT max(answer_id) FROM answers {condition}"
            "GROUP BY case_id, reader, rubric_name, item, field) "
            "ORDER BY case_id, reader, answer_id",
            params,
        )
        return [_answer(r) for r in rows]

    def current_answers(
        self, case_id: str, reader: str, *, rubric: Rubric | None = None
    ) -> dict[str, Answer]:
        """Return the current (latest, not cleared) answers of a case by a reader.

        Parameters
        ----------
        case_id, reader
            Whose answers.
        rubric
            If given, only answers given with a rubric of this name count.

        Returns
        -------
        dict
            Field key (``"level"``, ``"marrow_edema.baseline"``...) to :class:`Answer`.
        """
        name = None if rubric is None else rubric.name
        rows = self._db.query(
            f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_id IN ("
            "SELECT max(answer_id) FROM answers WHERE reader = ? AND case_id = ? "
            "AND (CAST(? AS TEXT) IS NULL OR rubric_name = ?) GROUP BY item, field)",
            (reader, case_id, name, name),
        )
        answers = (_answer(r) for r in rows)
        return {a.key: a for a in answers if a.value is not None}

    def current_values(self, case_id: str, reader: str, rubric: Rubric) -> dict[str, AnswerValue]:
        """Return ``{field key: value}`` of the current answers (see :meth:`current_answers`)."""
        return {k: a.value for k, a in self.current_answers(case_id, reader, rubric=rubric).items()}

    # ------------------------------------------------------------------ progress

    def case_status(self, case_id: str, reader: str, rubric: Rubric) -> GradingStatus:
        """Return whether ``reader`` has not started, partly graded or finished ``case_id``."""
        return rubric.status(self.current_values(case_id, reader, rubric))

    def case_statuses(
        self, reader: str, rubric: Rubric, case_ids: Iterable[str] | None = None
    ) -> dict[str, GradingStatus]:
        """Return :meth:`case_status` of many cases (default: all registered) in one query."""

        def read(conn: Connection) -> tuple[list[str], list[Any]]:
            if case_ids is None:
                ids = [r[0] for r in conn.execute("SELECT case_id FROM cases ORDER BY case_id")]
            else:
                ids = list(case_ids)
            rows = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_id IN ("
                "SELECT max(answer_id) FROM answers WHERE reader = ? AND rubric_name = ? "
                "GROUP BY case_id, item, field)",
                (reader, rubric.name),
            ).fetchall()
            return ids, rows

        ids, rows = self._db.transaction(read, write=False)
        values: dict[str, dict[str, AnswerValue]] = {}
        for row in rows:
            a = _answer(row)
            values.setdefault(a.case_id, {})[a.key] = a.value
        return {c: rubric.status(values.get(c, {})) for c in ids}

    # ------------------------------------------------------------------ view state

    def set_case_state(self, case_id: str, reader: str, key: str, value: Any) -> None:
        """Remember a view setting of a case for a reader (e.g. slice offset, position).

        Overwrites the previous value of ``key``; ``value`` must be JSON-able. This is not
        graded data and is not part of the export.
        """
        reader = _reader(reader)
        text = json.dumps(value)
        self._db.transaction(
            lambda conn: conn.execute(
                "INSERT INTO case_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (case_id, reader, key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (case_id, reader, key, text, utc_now()),
            )
        )

    def get_case_state(self, case_id: str, reader: str) -> dict[str, Any]:
        """Return every view setting stored for (``case_id``, ``reader``)."""
        rows = self._db.query(
            "SELECT key, value FROM case_state WHERE case_id = ? AND reader = ?",
            (case_id, reader),
        )
        return {k: json.loads(v) for k, v in rows}

    def last_case(self, reader: str) -> str | None:
        """Return the case whose view state or answers ``reader`` changed last, if any."""
        row = self._db.query_one(
            "SELECT case_id FROM (SELECT case_id, updated_at AS t FROM case_state "
            "WHERE reader = ? UNION ALL SELECT case_id, answered_at FROM answers "
            "WHERE reader = ?) AS changes ORDER BY t DESC LIMIT 1",
            (reader, reader),
        )
        return None if row is None else str(row[0])


_CASE_COLUMNS = (
    "case_id, patient_id, baseline_study_uid, baseline_date, followup_study_uid, followup_date, "
    "registered_at"
)
_ANSWER_COLUMNS = (
    "answer_id, case_id, reader, rubric_name, rubric_version, item, field, value, answered_at, "
    "session_id, answer_uuid"
)


def _set_meta(conn: Connection, key: str, value: str) -> None:
    """Set ``meta[key]`` inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def new_session(
    reader: str,
    *,
    rubric: Rubric,
    case_order_seed: int | None = None,
    hide_dates: bool = False,
    app_version: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Session:
    """A reading session starting now, not logged yet (see :meth:`Store.start_session`).

    Raises
    ------
    ValueError
        If ``reader`` is empty, too long or not printable.
    """
    if app_version is None:
        from spondy_annotate._version import __version__ as app_version
    return Session(
        session_id=uuid.uuid4().hex,
        reader=_reader(reader),
        rubric=rubric,
        started_at=utc_now(),
        case_order_seed=case_order_seed,
        hide_dates=bool(hide_dates),
        app_version=str(app_version),
        settings=dict(settings or {}),
    )


def new_answer(session: Session, case_id: str, key: str, value: object) -> Answer:
    """The answer ``key = value`` to ``case_id`` in ``session`` now, validated, not stored yet.

    It has a new UUID, its time (now) and ``pending=True``; :meth:`Store.add_answers` stores
    it (and gives its ``answer_id``).

    Raises
    ------
    KeyError
        If the rubric has no such field.
    ValueError
        If the rubric does not allow the value.
    """
    rubric = session.rubric
    f = rubric.field(key)
    return Answer(
        0,
        case_id,
        session.reader,
        rubric.name,
        rubric.version,
        f.item,
        f.name,
        rubric.validate_value(key, value),
        utc_now(),
        session.session_id,
        uuid.uuid4().hex,
        pending=True,
    )


def _taken(conn: Connection) -> Callable[[str], bool]:
    """Whether a case ID is registered already (a pseudonym collision)."""

    def taken(case_id: str) -> bool:
        found = conn.execute("SELECT 1 FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        if found:
            logger.info("pseudonym collision on %s; using more digits", case_id)
        return found is not None

    return taken


def _case(row: tuple[Any, ...]) -> CaseRecord:
    def date(text: str | None) -> dt.date | None:
        return None if text is None else parse_date(text)

    return CaseRecord(row[0], row[1], row[2], date(row[3]), row[4], date(row[5]), row[6])


def json_value(value: AnswerValue) -> Any:
    """``value`` as JSON-able data (a measurement as its points)."""
    return value.to_json() if isinstance(value, Measurement) else value


def answer_value(data: Any) -> AnswerValue:
    """The answer value of JSON ``data`` written by :func:`json_value`."""
    return Measurement.from_json(data) if isinstance(data, dict) else data


def _answer(row: tuple[Any, ...]) -> Answer:
    value = answer_value(json.loads(row[7]))
    return Answer(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], value, row[8], row[9], row[10]
    )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def _reader(reader: object) -> str:
    text = _text(reader, "reader")
    if len(text) > 100 or not text.isprintable():
        raise ValueError(f"reader must be a short printable name, got {reader!r}")
    return text


def _iso_date(value: dt.date | str | None, what: str) -> str | None:
    """Normalise a study date (a date, ``YYYY-MM-DD`` or ``YYYYMMDD``) to ISO ``YYYY-MM-DD``."""
    if is_missing(value):
        return None
    try:
        return parse_date(value).isoformat()
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
