"""The schema of the project database: its migrations, and how its SQLite file is opened.

The project database (:func:`~spondy_annotate.projectdb.location.default_db_path`) holds the
gradings (:mod:`spondy_annotate.grading.store`) and the DICOM index cache
(:mod:`spondy_annotate.dicom.index_cache`). This module owns what the whole file shares: the
tables of every user, versioned with ``PRAGMA user_version`` and built by :data:`MIGRATIONS`
(append a :class:`Migration` to extend it; its ``postgresql`` statements build the same
grading tables on a PostgreSQL server, :mod:`.postgres`), the file's ``PRAGMA application_id``, and
:func:`connect`, which refuses foreign, damaged or newer files and upgrades older ones (keeping a
copy of the file first). A file from a newer version is left untouched.

Durability and concurrency: WAL journal, ``synchronous=FULL`` (a commit survives a crash *and* a
power cut; the cost, one fsync per answer, is nothing at the pace of a human reader) and a busy
timeout, so that several processes (two readers, two napari sessions on one machine) can write
at once with ``BEGIN IMMEDIATE``. WAL needs a local file system: do not put the database on a
network share.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from spondy_annotate._files import fsync_folder
from spondy_annotate.errors import StoreError

logger = logging.getLogger(__name__)

#: ``PRAGMA application_id`` of a project database ("SPND").
APPLICATION_ID = 0x53504E44
#: Seconds a write waits for another process's transaction before giving up.
BUSY_TIMEOUT_S = 30.0
#: Every SQLite database file begins with this, in a 100-byte header.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_HEADER_BYTES = 100


@dataclass(frozen=True)
class Migration:
    """One step of the schema: the statements taking the database to ``version``.

    ``postgresql`` holds the step's statements for a PostgreSQL server where the dialects
    differ: None where SQLite's run there as they are, ``()`` where the step only touches a
    workstation's own tables (the header cache, the alignments), which stay in the local file.
    PostgreSQL gives ``rubrics`` and ``sessions`` an identity column named ``rowid``, SQLite's
    implicit insertion order.
    """

    version: int
    description: str
    statements: tuple[str, ...]
    postgresql: tuple[str, ...] | None = None


#: The schema, as the ordered list of steps from an empty file. Never edit a released step;
#: append a new one.
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
        postgresql=(
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
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
                stored_at TEXT NOT NULL,
                rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
            )""",
            """CREATE TABLE sessions (
                session_id TEXT PRIMARY KEY,
                reader TEXT NOT NULL,
                started_at TEXT NOT NULL,
                rubric_sha256 TEXT NOT NULL REFERENCES rubrics (sha256),
                rubric_name TEXT NOT NULL,
                rubric_version TEXT NOT NULL,
                case_order_seed BIGINT,
                hide_dates INTEGER NOT NULL CHECK (hide_dates IN (0, 1)),
                app_version TEXT NOT NULL,
                host TEXT,
                pid INTEGER,
                rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
            )""",
            """CREATE TABLE answers (
                answer_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
            """CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% are append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
            END $$""",
            """CREATE TRIGGER answers_append_only BEFORE UPDATE OR DELETE ON answers
            FOR EACH ROW EXECUTE FUNCTION refuse_change()""",
            """CREATE TRIGGER answers_no_truncate BEFORE TRUNCATE ON answers
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()""",
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
        postgresql=(
            """CREATE TABLE case_state (
                case_id TEXT NOT NULL REFERENCES cases (case_id),
                reader TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (case_id, reader, key)
            )""",
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
        postgresql=(),
    ),
    Migration(
        4,
        "DICOM index cache: records gain samples per pixel and photometric interpretation",
        ("DELETE FROM index_cache", "DELETE FROM index_snapshot"),
        postgresql=(),
    ),
    Migration(
        5,
        "automatic alignment of each case's follow-up to its baseline",
        (
            """CREATE TABLE alignments (
                patient_id TEXT NOT NULL,
                baseline_study_uid TEXT NOT NULL,
                followup_study_uid TEXT NOT NULL,
                status TEXT NOT NULL,
                matrix TEXT,
                residual_mm REAL,
                sequence TEXT NOT NULL,
                message TEXT NOT NULL,
                seconds REAL,
                computed_at TEXT NOT NULL,
                PRIMARY KEY (patient_id, baseline_study_uid, followup_study_uid)
            ) WITHOUT ROWID""",
        ),
        postgresql=(),
    ),
    Migration(
        6,
        "adjudication: append-only links from each consensus answer to the answers it settles",
        (
            """CREATE TABLE consensus_links (
                consensus_answer_id INTEGER NOT NULL REFERENCES answers (answer_id),
                settled_answer_id INTEGER NOT NULL REFERENCES answers (answer_id),
                PRIMARY KEY (consensus_answer_id, settled_answer_id)
            ) WITHOUT ROWID""",
            """CREATE TRIGGER consensus_links_no_update BEFORE UPDATE ON consensus_links
            BEGIN SELECT RAISE(ABORT, 'consensus links are append-only'); END""",
            """CREATE TRIGGER consensus_links_no_delete BEFORE DELETE ON consensus_links
            BEGIN SELECT RAISE(ABORT, 'consensus links are append-only'); END""",
        ),
        postgresql=(
            """CREATE TABLE consensus_links (
                consensus_answer_id BIGINT NOT NULL REFERENCES answers (answer_id),
                settled_answer_id BIGINT NOT NULL REFERENCES answers (answer_id),
                PRIMARY KEY (consensus_answer_id, settled_answer_id)
            )""",
            """CREATE TRIGGER consensus_links_append_only BEFORE UPDATE OR DELETE
            ON consensus_links FOR EACH ROW EXECUTE FUNCTION refuse_change()""",
            """CREATE TRIGGER consensus_links_no_truncate BEFORE TRUNCATE ON consensus_links
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()""",
        ),
    ),
    Migration(
        7,
        "answers carry the workstation's UUID, so that an answer sent twice is stored once",
        (
            "ALTER TABLE answers ADD COLUMN answer_uuid TEXT",
            "CREATE UNIQUE INDEX answers_uuid ON answers (answer_uuid)",
        ),
    ),
)

#: The schema version this code writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def migration_stamp(migration: Migration, now: str) -> tuple[str, str]:
    """The ``meta`` row noting when ``migration`` ran: ``("schema_v<N>_at", now)``."""
    return f"schema_v{migration.version}_at", now


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with milliseconds (every ``*_at`` column)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def connect(path: str | os.PathLike[str], *, create: bool = True) -> sqlite3.Connection:
    """Open the project database at ``path``, creating or upgrading it to :data:`SCHEMA_VERSION`.

    Parameters
    ----------
    path
        The SQLite file; created (with its folder's permissions) on first use.
    create
        If false, a missing file is an error instead of a new database.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (transactions are explicit), usable from other threads (the caller
        serialises its calls), with the WAL journal, ``synchronous=FULL`` and foreign keys on.

    Raises
    ------
    StoreError
        If the file is missing (``create=False``), is not a project database, is damaged, was
        written by a newer version of spondy_annotate (then it is left untouched), or stayed
        locked by another process.
    """
    path = Path(path)
    conn = _open(path, create)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            logger.warning("%s: WAL journal not available (mode %s)", path, mode)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _migrate(conn, path)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise store_error(path, exc) from None
    except BaseException:
        conn.close()
        raise
    return conn


def store_error(path: str | os.PathLike[str], exc: sqlite3.Error) -> StoreError:
    """The one-line :class:`StoreError` of an SQLite error on the database at ``path``."""
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreError(f"{path}: locked by another process for more than {BUSY_TIMEOUT_S:g} s")
    return StoreError(f"{path}: {exc}")


def _open(path: Path, create: bool) -> sqlite3.Connection:
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a grading database")
    if path.exists():
        _check_file(path)
    elif not create:
        raise StoreError(f"{path}: no such grading database")
    elif not path.parent.is_dir():
        raise StoreError(f"{path}: folder {path.parent} does not exist")
    else:
        _writable(path.parent, path)
        _create(path)
    uri = f"{path.absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open ({exc})") from None
    try:
        _check(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _writable(folder: Path, path: Path) -> None:
    """Refuse a database SQLite could not write beside: its journal files live in its folder."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(
            f"{path}: the folder {folder} is read-only, and the database writes its journal "
            f"({path.name}-wal, {path.name}-shm) beside it: copy the database to a writable "
            "folder"
        )


def _check_file(path: Path) -> None:
    """Refuse, from its header and size alone, a file that is not a whole SQLite database.

    A file that is not regular (a FIFO would block the open), empty or too short for an SQLite
    header, or whose size is not a whole number of its pages (truncated, even by one byte,
    which SQLite's checks do not notice) is refused, never re-created.
    """
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{path}: not a regular file, not a grading database")
        with open(path, "rb") as handle:
            head = handle.read(_SQLITE_HEADER_BYTES)
    except OSError as exc:
        raise StoreError(f"{path}: unreadable ({exc.strerror or exc})") from None
    if len(head) < _SQLITE_HEADER_BYTES or not head.startswith(_SQLITE_MAGIC):
        raise StoreError(
            f"{path}: not a readable grading database (not an SQLite file, {st.st_size} "
            "bytes); it was left as it is: move it away to start a new database"
        )
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    header_pages = int.from_bytes(head[28:32], "big")
    size_valid = head[24:28] == head[92:96]  # the in-header size is current (SQLite 3.7+)
    if st.st_size % page_size or (size_valid and header_pages * page_size > st.st_size):
        raise StoreError(
            f"{path}: the database is damaged: {st.st_size} bytes is not the whole of its "
            f"{page_size}-byte pages (truncated?); restore it from a backup"
        )
    _writable(path.parent, path)
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path}: the database file is read-only (or unreadable)")


def _create(path: Path) -> None:
    """Create a new database at ``path`` atomically: built beside it, then linked into place.

    Another process opening the same new database at the same instant either links its own
    first (and this one uses it) or finds it complete: nobody ever sees a half-made file.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            _migrate(conn, tmp)
        finally:
            conn.close()
        try:
            os.link(tmp, path)  # never replaces a database another process made meanwhile
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: the small race remains
            if not path.exists():
                os.rename(tmp, path)
        fsync_folder(path.parent)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot create ({exc})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot create ({exc.strerror or exc})") from None
    finally:
        for leftover in (tmp, tmp.with_name(f"{tmp.name}-wal"), tmp.with_name(f"{tmp.name}-shm")):
            leftover.unlink(missing_ok=True)


def _check(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse foreign, newer or damaged files, reading only (nothing is written).

    ``PRAGMA integrity_check`` reads every page and also checks every index against its
    table, which ``quick_check`` skips: 110 ms instead of 80 ms for an 80 MB database holding
    20,000 answers and 20,000 cached headers (1.4 s for half a million answers).
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or version != 0 or n_tables):
            raise StoreError(f"{path}: an SQLite file, but not a spondy_annotate grading database")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path}: written by a newer spondy_annotate (schema v{version}; this version "
                f"reads up to v{SCHEMA_VERSION}); upgrade spondy_annotate. The file was not "
                "modified"
            )
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a readable grading database ({exc})") from None
    if problems != ["ok"]:
        raise StoreError(f"{path}: the database is damaged ({problems[0]})")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > 0:  # keep a copy of existing data (backup cannot run inside the write)
        backup = path.with_name(f"{path.name}.schema-v{version}.bak")
        if not backup.exists():
            target = sqlite3.connect(backup)
            try:
                conn.backup(target)
            finally:
                target.close()
            logger.info("%s: copy kept as %s before upgrading", path, backup.name)
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
            logger.info("%s: schema v%d: %s", path, migration.version, migration.description)
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", migration_stamp(migration, now)
            )
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (now,))
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
