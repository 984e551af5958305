"""Merging readers' project databases into one, append-only and idempotent.

Two readers who grade the same export in two project databases (two copies of an export, or a
read-only export whose databases go to each user's cache folder) each have their own answers.
:func:`merge_databases` copies every source's rubrics, sessions, answers (every row of every
reader's history, with its time and session) and consensus links into the target:

* a case is the same case when its patient ID and both study UIDs are the same; its answers are
  filed under the target's case ID (a target without cases first takes the first source's
  pseudonym key, so that its case IDs are the source's);
* an answer already in the target (same reader, case, field, value, time and session) is not
  copied again, so merging twice, or merging a copy of the target, changes nothing;
* nothing in the target is changed or deleted. View states (slice, offset) are not merged.

Examples
--------
>>> merge_databases(["reader_a.sqlite", "reader_b.sqlite"], "study.sqlite")  # doctest: +SKIP
[MergeCounts(source=..., cases_added=48, sessions_added=3, answers_added=2016, ...), ...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spondy_annotate.errors import StoreError
from spondy_annotate.grading.store import Store
from spondy_annotate.grading.study import STUDY_META_KEY
from spondy_annotate.projectdb.database import Connection
from spondy_annotate.projectdb.url import DbLocation, db_location, display_name, is_postgres_url

logger = logging.getLogger(__name__)

__all__ = ["MergeCounts", "merge_databases"]


@dataclass(frozen=True)
class MergeCounts:
    """What one source added to the target (``*_present``: already there, not copied)."""

    source: Path | str
    cases_added: int
    sessions_added: int
    answers_added: int
    answers_present: int
    links_added: int


_RUBRIC_COLUMNS = "sha256, name, version, source, stored_at"
_SESSION_COLUMNS = (
    "session_id, reader, started_at, rubric_sha256, rubric_name, rubric_version, "
    "case_order_seed, hide_dates, app_version, host, pid, settings"
)
_ANSWER_COLUMNS = (
    "case_id, reader, rubric_name, rubric_version, item, field, value, answered_at, session_id, "
    "answer_uuid"
)
#: The same answer in the target: same UUID, or same reader, case, field, value, time, session.
_SAME_ANSWER = (
    "SELECT answer_id FROM answers WHERE answer_uuid = ? OR (case_id = ? AND reader = ? "
    "AND item = ? AND field = ? AND value = ? AND answered_at = ? AND (session_id = ? OR "
    "(session_id IS NULL AND CAST(? AS TEXT) IS NULL))) ORDER BY answer_id LIMIT 1"
)


@dataclass(frozen=True)
class _History:
    """A source database's rows to copy (answers keyed by their source answer ID)."""

    rubrics: list[Any]
    sessions: list[Any]
    answers: list[Any]
    links: list[Any]
    study: str | None


def merge_databases(sources: Sequence[DbLocation], into: DbLocation) -> list[MergeCounts]:
    """Merge the project databases ``sources`` into ``into`` (created if missing).

    Each may be an SQLite file or a PostgreSQL URL (merging readers' files into the shared
    server, or the server into a file for an archive).

    Returns
    -------
    list of MergeCounts
        One per source, in order.

    Raises
    ------
    StoreError
        A source is missing, not a project database, or the target itself; a database is
        locked, damaged or unreachable. Each source is merged in one transaction: after an
        error the target holds the sources before it, complete, and nothing of the failing one.
    """
    target = _location(into)
    places = [_location(p) for p in sources]
    for place in places:
        if _same(place, target):
            raise StoreError(f"{display_name(place)}: is the target database itself")
    return [_merge(place, target) for place in places]


def _merge(place: Path | str, target: Path | str) -> MergeCounts:
    """Merge one source: register its cases in the target, then copy its history."""
    with Store(place, create=False) as src:  # checks (and upgrades) the source
        source, key, cases, history = src.path, src.pseudonym_key, src.cases(), _read(src)
    with Store(target) as dst:
        before = len(dst.cases())
        if before == 0:
            dst.import_key(key)
        case_map = {
            c.case_id: dst.register_case(
                c.patient_id,
                c.baseline_study_uid,
                c.baseline_date,
                c.followup_study_uid,
                c.followup_date,
            )
            for c in cases
        }
        added = len(dst.cases()) - before
        counts = dst.database.transaction(
            lambda conn: _copy(conn, history, case_map, source, added)
        )
        logger.info("merged %s into %s: %s", source, dst.path, counts)
    return counts


def _location(db: DbLocation) -> Path | str:
    return db_location(db) if isinstance(db, str) else Path(db)


def _same(a: Path | str, b: Path | str) -> bool:
    if is_postgres_url(a) or is_postgres_url(b):
        return display_name(a) == display_name(b)
    first, second = Path(a), Path(b)
    return first.exists() and second.exists() and first.resolve() == second.resolve()


def _read(store: Store) -> _History:
    """Everything of ``store`` that is merged, in one consistent snapshot."""

    def read(conn: Connection) -> _History:
        study = conn.execute("SELECT value FROM meta WHERE key = ?", (STUDY_META_KEY,)).fetchone()
        return _History(
            rubrics=conn.execute(f"SELECT {_RUBRIC_COLUMNS} FROM rubrics").fetchall(),
            sessions=conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions").fetchall(),
            answers=conn.execute(
                f"SELECT answer_id, {_ANSWER_COLUMNS} FROM answers ORDER BY answered_at, answer_id"
            ).fetchall(),
            links=conn.execute("SELECT * FROM consensus_links").fetchall(),
            study=None if study is None else str(study[0]),
        )

    return store.database.transaction(read, write=False)


def _copy(
    conn: Connection,
    history: _History,
    case_map: dict[str, str],
    source: Path | str,
    cases_added: int,
) -> MergeCounts:
    """Add ``history`` to the target inside its write transaction; count what was new."""
    for row in history.rubrics:
        conn.execute(
            f"INSERT INTO rubrics ({_RUBRIC_COLUMNS}) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            row,
        )
    sessions = sum(
        conn.execute(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({', '.join('?' * 12)}) "
            "ON CONFLICT DO NOTHING",
            row,
        ).rowcount
        for row in history.sessions
    )
    ids: dict[int, int] = {}  # source answer ID -> target answer ID
    added = 0
    for source_id, case_id, *rest in history.answers:
        row = (case_map[case_id], *rest)
        uuid, same = row[9], (*row[:2], *row[4:9], row[8])
        found = conn.execute(_SAME_ANSWER, (uuid, *same)).fetchone()
        if found is None:
            found = conn.execute(
                f"INSERT INTO answers ({_ANSWER_COLUMNS}) VALUES ({', '.join('?' * 10)}) "
                "RETURNING answer_id",
                row,
            ).fetchone()
            added += 1
        ids[int(source_id)] = int(found[0])
    links = sum(
        conn.execute(
            "INSERT INTO consensus_links VALUES (?, ?) ON CONFLICT DO NOTHING",
            (ids[consensus], ids[settled]),
        ).rowcount
        for consensus, settled in history.links
    )
    if history.study is not None:
        own = conn.execute("SELECT value FROM meta WHERE key = ?", (STUDY_META_KEY,)).fetchone()
        if own is None:
            conn.execute("INSERT INTO meta VALUES (?, ?)", (STUDY_META_KEY, history.study))
        elif own[0] != history.study:
            logger.warning("%s: its study differs from the target's; the target's is kept", source)
    return MergeCounts(source, cases_added, sessions, added, len(history.answers) - added, links)
