"""The grading database: cases, reading sessions and append-only answers in one SQLite file.

Every answer is inserted in its own transaction and committed before :meth:`Store.record_answer`
returns; answers are never updated or deleted (triggers refuse it), a change of mind adds a row
and the latest row per (case, reader, item, field) is the current answer. View state (slice
offset, last position) is kept apart in ``case_state`` and may be overwritten.

Durability and concurrency: WAL journal, ``synchronous=FULL`` (a commit survives a crash *and*
a power cut; the cost, one fsync per answer, is nothing at the pace of a human reader) and a
busy timeout with ``BEGIN IMMEDIATE`` so several processes (two readers, two napari sessions on
one machine) can write at once. WAL needs a local file system: do not put the database on a
network share.

The schema is versioned with ``PRAGMA user_version`` and upgraded by :data:`MIGRATIONS` (append a
:class:`Migration` to extend it); a copy of the file is kept before upgrading existing data. A
file from a newer version is refused and left untouched. The file holds patient IDs: keep it
where the images are; exports are de-identified (:mod:`spondy_annotate.grading.export`).

Examples
--------
>>> from spondy_annotate.grading.rubric import default_rubric
>>> with Store(tmp / "gradings.sqlite") as store:  # doctest: +SKIP
...     case = store.register_case("PAT1", "1.2.3", "2021-03-01", "1.2.4", "2021-04-12")
...     session = store.start_session("reader1", rubric=default_rubric())
...     store.record_answer(session, case, "marrow_edema.baseline", 2)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spondy_annotate.errors import StoreError
from spondy_annotate.grading.pseudonym import DEFAULT_LENGTH, case_pseudonym, new_salt
from spondy_annotate.grading.rubric import (
    CASE_ITEM,
    AnswerValue,
    GradingStatus,
    Measurement,
    Rubric,
    parse_rubric,
)

logger = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of a grading database ("SPND").
APPLICATION_ID = 0x53504E44
#: Seconds a write waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Migration:
    """One step of the schema: the statements taking the database to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


#: The schema, as the ordered list of steps from an empty file. Never edit a released step;
#: append a new one (e.g. the DICOM index cache as version 3).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "cases, rubrics, sessions and append-only answers",
        (
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE cases (
                case_id TEXT PRIMARY KEY,
                patient_id TEXT NOT NULL,
                baseline_study_uid TEXT NOT NULL,
                baseline_date TEXT,
                followup_study_uid TEXT NOT NULL,
                followup_date TEXT,
                registered_at TEXT NOT NULL,
                UNIQUE (patient_id, baseline_study_uid, followup_study_uid)
            )""",
            """CREATE TABLE rubrics (
                sha256 TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                version TEXT NOT NULL,
                source TEXT NOT NULL,
                stored_at TEXT NOT NULL
            )""",
            """CREATE TABLE sessions (
                session_id TEXT PRIMARY KEY,
                reader TEXT NOT NULL,
                started_at TEXT NOT NULL,
                rubric_sha256 TEXT NOT NULL REFERENCES rubrics (sha256),
                rubric_name TEXT NOT NULL,
                rubric_version TEXT NOT NULL,
                case_order_seed INTEGER,
                hide_dates INTEGER NOT NULL CHECK (hide_dates IN (0, 1)),
                app_version TEXT NOT NULL,
                host TEXT,
                pid INTEGER
            )""",
            """CREATE TABLE answers (
                answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
                case_id TEXT NOT NULL REFERENCES cases (case_id),
                reader TEXT NOT NULL,
                rubric_name TEXT NOT NULL,
                rubric_version TEXT NOT NULL,
                item TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT NOT NULL,
                answered_at TEXT NOT NULL,
                session_id TEXT REFERENCES sessions (session_id)
            )""",
            """CREATE TRIGGER answers_no_update BEFORE UPDATE ON answers
            BEGIN SELECT RAISE(ABORT, 'answers are append-only: UPDATE is not allowed'); END""",
            """CREATE TRIGGER answers_no_delete BEFORE DELETE ON answers
            BEGIN SELECT RAISE(ABORT, 'answers are append-only: DELETE is not allowed'); END""",
        ),
    ),
    Migration(
        2,
        "per-reader view state of a case, index of current answers, session settings",
        (
            """CREATE TABLE case_state (
                case_id TEXT NOT NULL REFERENCES cases (case_id),
                reader TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (case_id, reader, key)
            ) WITHOUT ROWID""",
            "CREATE INDEX answers_current ON answers (reader, case_id, item, field, answer_id)",
            "ALTER TABLE sessions ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'",
        ),
    ),
    Migration(
        3,
        "DICOM index cache: header records by path, size and mtime; last scan per folder",
        (
            """CREATE TABLE index_cache (
                path TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                mtime_ns INTEGER NOT NULL,
                skip_reason TEXT,
                record TEXT
            )""",
            """CREATE TABLE index_snapshot (
                root TEXT PRIMARY KEY,
                digest TEXT NOT NULL,
                rows TEXT NOT NULL,
                skipped TEXT NOT NULL
            )""",
        ),
    ),
)

#: The schema version this code writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


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
    """One stored answer (a row of the append-only ``answers`` table)."""

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

    @property
    def key(self) -> str:
        """The rubric field key, e.g. ``"level"`` or ``"marrow_edema.baseline"``."""
        return self.field if self.item == CASE_ITEM else f"{self.item}.{self.field}"


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def open_store(path: str | os.PathLike[str], *, create: bool = True) -> Store:
    """Open (and by default create) the grading database at ``path``; see :class:`Store`."""
    return Store(path, create=create)


class Store:
    """The grading database at ``path``.

    Parameters
    ----------
    path
        The SQLite file; created (with its folder's permissions) on first use.
    create
        If false, a missing file is an error instead of a new database.

    Raises
    ------
    StoreError
        If the file is missing (``create=False``), is not a grading database, is damaged, or was
        written by a newer version of spondy_annotate (then it is left untouched).

    Notes
    -----
    One ``Store`` serialises its own calls with a lock and may be used from worker threads;
    open one per process (never share it across ``fork``).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = self._open(create)
        try:
            self._salt = self._setup()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ connection

    def _open(self, create: bool) -> sqlite3.Connection:
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a grading database")
        if not create and not self.path.exists():
            raise StoreError(f"{self.path}: no such grading database")
        if create and not self.path.parent.is_dir():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        uri = f"{self.path.absolute().as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open ({exc})") from None
        try:
            self._check(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        """Refuse foreign, newer or damaged files, reading only (nothing is written)."""
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and (app_id != 0 or version != 0 or n_tables):
                raise StoreError(
                    f"{self.path}: an SQLite file, but not a spondy_annotate grading database"
                )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer spondy_annotate (schema v{version}; this "
                    f"version reads up to v{SCHEMA_VERSION}); upgrade spondy_annotate. The file "
                    "was not modified"
                )
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a readable grading database ({exc})") from None
        if problems != ["ok"]:
            raise StoreError(f"{self.path}: the database is damaged ({problems[0]})")

    def _setup(self) -> str:
        conn = self._connection()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                logger.warning("%s: WAL journal not available (mode %s)", self.path, mode)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._migrate(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        except sqlite3.OperationalError as exc:
            raise self._error(exc) from None
        if row is None:
            raise StoreError(f"{self.path}: the database has no pseudonym key")
        return str(row[0])

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > 0:  # keep a copy of existing data (backup cannot run inside the write)
            backup = self.path.with_name(f"{self.path.name}.schema-v{version}.bak")
            if not backup.exists():
                target = sqlite3.connect(backup)
                try:
                    conn.backup(target)
                finally:
                    target.close()
                logger.info("%s: copy kept as %s before upgrading", self.path, backup.name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:  # another process migrated meanwhile
                conn.execute("COMMIT")
                return
            now = utc_now()
            for migration in MIGRATIONS:
                if migration.version <= version:
                    continue
                logger.info("%s: schema v%d: %s", self.path, migration.version,
                            migration.description)
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (f"schema_v{migration.version}_at", now))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('salt', ?)", (new_salt(),))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (now,))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    def _error(self, exc: sqlite3.Error) -> StoreError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StoreError(
                f"{self.path}: locked by another process for more than {BUSY_TIMEOUT_S:g} s"
            )
        return StoreError(f"{self.path}: {exc}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durably) on leaving the block."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self._error(exc) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._error(exc) from None
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot for several queries."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                yield conn
            except sqlite3.OperationalError as exc:
                raise self._error(exc) from None
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` of the file."""
        with self._lock:
            return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

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
        ids = [_text(patient_id, "patient_id"), _text(baseline_study_uid, "baseline_study_uid"),
               _text(followup_study_uid, "followup_study_uid")]
        if ids[1] == ids[2]:
            raise ValueError(f"baseline and follow-up are the same study ({ids[1]})")
        dates = [_iso_date(baseline_date, "baseline_date"),
                 _iso_date(followup_date, "followup_date")]
        with self._write() as conn:
            row = conn.execute(
                "SELECT case_id, baseline_date, followup_date FROM cases WHERE patient_id = ? "
                "AND baseline_study_uid = ? AND followup_study_uid = ?", ids,
            ).fetchone()
            if row is not None:
                case_id = str(row[0])
                for name, old, new in zip(("baseline_date", "followup_date"), row[1:], dates, strict=True):
                    if old is None and new is not None:
                        conn.execute(f"UPDATE cases SET {name} = ? WHERE case_id = ?",
                                     (new, case_id))
                    elif new is not None and old != new:
                        logger.warning("case %s: %s %s differs from the registered %s; kept",
                                       case_id, name, new, old)
                return case_id
            length = DEFAULT_LENGTH
            case_id = case_pseudonym(self._salt, *ids, length=length)
            while conn.execute("SELECT 1 FROM cases WHERE case_id = ?", (case_id,)).fetchone():
                length += 2
                logger.info("pseudonym collision; using %d digits", length)
                case_id = case_pseudonym(self._salt, *ids, length=length)
            conn.execute(
                "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?)",
                (case_id, ids[0], ids[1], dates[0], ids[2], dates[1], utc_now()),
            )
        logger.info("registered case %s", case_id)
        return case_id

    def case(self, case_id: str) -> CaseRecord:
        """Return the registered case ``case_id``; ``KeyError`` if unknown."""
        with self._lock:
            row = self._connection().execute(
                f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        if row is None:
            raise KeyError(f"{self.path}: no case {case_id!r}")
        return _case(row)

    def cases(self) -> list[CaseRecord]:
        """Return every registered case, sorted by case id."""
        with self._lock:
            rows = self._connection().execute(
                f"SELECT {_CASE_COLUMNS} FROM cases ORDER BY case_id"
            ).fetchall()
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
        reader = _reader(reader)
        if app_version is None:
            from spondy_annotate._version import __version__ as app_version
        settings = dict(settings or {})
        json_settings = json.dumps(settings, sort_keys=True)
        session = Session(
            session_id=uuid.uuid4().hex, reader=reader, rubric=rubric, started_at=utc_now(),
            case_order_seed=case_order_seed, hide_dates=bool(hide_dates),
            app_version=str(app_version), settings=settings,
        )
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO rubrics VALUES (?, ?, ?, ?, ?)",
                (rubric.sha256, rubric.name, rubric.version, rubric.text, session.started_at),
            )
            conn.execute(
                "INSERT INTO sessions (session_id, reader, started_at, rubric_sha256, "
                "rubric_name, rubric_version, case_order_seed, hide_dates, app_version, host, "
                "pid, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session.session_id, reader, session.started_at, rubric.sha256, rubric.name,
                 rubric.version, case_order_seed, int(session.hide_dates), session.app_version,
                 socket.gethostname(), os.getpid(), json_settings),
            )
        logger.info("session %s started by %s (%s %s)", session.session_id, reader, rubric.name,
                    rubric.version)
        return session

    def sessions(self, reader: str | None = None) -> list[Session]:
        """Return the logged sessions (of ``reader``, or all), oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT s.session_id, s.reader, r.source, r.name, s.started_at, "
                "s.case_order_seed, s.hide_dates, s.app_version, s.settings FROM sessions s "
                "JOIN rubrics r ON r.sha256 = s.rubric_sha256 "
                "WHERE ? IS NULL OR s.reader = ? ORDER BY s.started_at, s.rowid",
                (reader, reader),
            ).fetchall()
        return [
            Session(r[0], r[1], parse_rubric(r[2], source=f"{self.path}:{r[3]}"), r[4], r[5],
                    bool(r[6]), r[7], json.loads(r[8]))
            for r in rows
        ]

    def stored_rubric(self, name: str, version: str | None = None) -> Rubric | None:
        """Return the rubric ``name`` (latest stored, or ``version``) as used in sessions."""
        with self._lock:
            row = self._connection().execute(
                "SELECT source FROM rubrics WHERE name = ? AND (? IS NULL OR version = ?) "
                "ORDER BY stored_at DESC, rowid DESC LIMIT 1", (name, version, version),
            ).fetchone()
        return None if row is None else parse_rubric(row[0], source=f"{self.path}:{name}")

    # ------------------------------------------------------------------ answers

    def record_answer(
        self, session: Session, case_id: str, field: str, value: object
    ) -> Answer:
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
            If the database stayed locked or the disk failed; the answer was not stored.
        """
        rubric = session.rubric
        f = rubric.field(field)
        stored = rubric.validate_value(field, value)
        payload = stored.to_json() if isinstance(stored, Measurement) else stored
        text = json.dumps(payload, ensure_ascii=False)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM cases WHERE case_id = ?", (case_id,)).fetchone() is None:
                raise ValueError(f"{self.path}: no case {case_id!r}")
            now = utc_now()
            cur = conn.execute(
                "INSERT INTO answers (case_id, reader, rubric_name, rubric_version, item, field, "
                "value, answered_at, session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (case_id, session.reader, rubric.name, rubric.version, f.item, f.name, text, now,
                 session.session_id),
            )
            answer_id = int(cur.lastrowid or 0)
        return Answer(answer_id, case_id, session.reader, rubric.name, rubric.version, f.item,
                      f.name, stored, now, session.session_id)

    def history(self, *, case_id: str | None = None, reader: str | None = None) -> list[Answer]:
        """Return every stored answer (optionally of one case / reader), oldest first."""
        with self._lock:
            rows = self._connection().execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE (? IS NULL OR case_id = ?) "
                "AND (? IS NULL OR reader = ?) ORDER BY answer_id",
                (case_id, case_id, reader, reader),
            ).fetchall()
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
        with self._lock:
            rows = self._connection().execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_id IN ("
                f"SELECT max(answer_id) FROM answers {condition}"
                "GROUP BY case_id, reader, rubric_name, item, field) "
                "ORDER BY case_id, reader, answer_id",
                params,
            ).fetchall()
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
        with self._lock:
            rows = self._connection().execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE answer_id IN ("
                "SELECT max(answer_id) FROM answers WHERE reader = ? AND case_id = ? "
                "AND (? IS NULL OR rubric_name = ?) GROUP BY item, field)",
                (reader, case_id, rubric and rubric.name, rubric and rubric.name),
            ).fetchall()
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
        with self._read() as conn:
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
        with self._write() as conn:
            conn.execute(
                "INSERT INTO case_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (case_id, reader, key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (case_id, reader, key, text, utc_now()),
            )

    def get_case_state(self, case_id: str, reader: str) -> dict[str, Any]:
        """Return every view setting stored for (``case_id``, ``reader``)."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT key, value FROM case_state WHERE case_id = ? AND reader = ?",
                (case_id, reader),
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def last_case(self, reader: str) -> str | None:
        """Return the case whose view state or answers ``reader`` changed last, if any."""
        with self._lock:
            row = self._connection().execute(
                "SELECT case_id FROM (SELECT case_id, updated_at AS t FROM case_state "
                "WHERE reader = ?1 UNION ALL SELECT case_id, answered_at FROM answers "
                "WHERE reader = ?1) ORDER BY t DESC LIMIT 1",
                (reader,),
            ).fetchone()
        return None if row is None else str(row[0])


_CASE_COLUMNS = (
    "case_id, patient_id, baseline_study_uid, baseline_date, followup_study_uid, followup_date, "
    "registered_at"
)
_ANSWER_COLUMNS = (
    "answer_id, case_id, reader, rubric_name, rubric_version, item, field, value, answered_at, "
    "session_id"
)


def _case(row: tuple[Any, ...]) -> CaseRecord:
    def date(text: str | None) -> dt.date | None:
        return None if text is None else dt.date.fromisoformat(text)

    return CaseRecord(row[0], row[1], row[2], date(row[3]), row[4], date(row[5]), row[6])


def _answer(row: tuple[Any, ...]) -> Answer:
    raw = json.loads(row[7])
    value = Measurement.from_json(raw) if isinstance(raw, dict) else raw
    return Answer(row[0], row[1], row[2], row[3], row[4], row[5], row[6], value, row[8], row[9])


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
    """Normalise a study date to ISO ``YYYY-MM-DD``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 8 and text.isdigit():
                return dt.datetime.strptime(text, "%Y%m%d").date().isoformat()
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{what}: expected a date, YYYY-MM-DD or YYYYMMDD, got {value!r}")

