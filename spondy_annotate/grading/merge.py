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
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spondy_annotate.errors import StoreError
from spondy_annotate.grading.store import Store
from spondy_annotate.grading.study import STUDY_META_KEY
from spondy_annotate.projectdb.schema import connect, store_error

logger = logging.getLogger(__name__)

__all__ = ["MergeCounts", "merge_databases"]


@dataclass(frozen=True)
class MergeCounts:
    """What one source added to the target (``*_present``: already there, not copied)."""

    source: Path
    cases_added: int
    sessions_added: int
    answers_added: int
    answers_present: int
    links_added: int


#: The same answer in the target (``t``) as in the source (``s``, case mapped by ``m``).
_SAME = (
    "{t}.reader = {s}.reader AND {t}.case_id = {m}.case_id AND {t}.item = {s}.item "
    "AND {t}.field = {s}.field AND {t}.answered_at = {s}.answered_at "
    "AND {t}.value = {s}.value AND {t}.session_id IS {s}.session_id"
)
_SESSION_COLUMNS = (
    "session_id, reader, started_at, rubric_sha256, rubric_name, rubric_version, "
    "case_order_seed, hide_dates, app_version, host, pid, settings"
)
_ANSWER_COLUMNS = "reader, rubric_name, rubric_version, item, field, value, answered_at, session_id"


def merge_databases(
    sources: Sequence[str | os.PathLike[str]], into: str | os.PathLike[str]
) -> list[MergeCounts]:
    """Merge the project databases ``sources`` into ``into`` (created if missing).

    Returns
    -------
    list of MergeCounts
        One per source, in order.

    Raises
    ------
    StoreError
        A source is missing, not a project database, or the target itself; a database is
        locked or damaged. Each source is merged in one transaction: after an error the
        target holds the sources before it, complete, and nothing of the failing one.
    """
    target = Path(into)
    paths = [Path(p) for p in sources]
    for path in paths:
        if target.exists() and path.exists() and path.resolve() == target.resolve():
            raise StoreError(f"{path}: is the target database itself")
    counts = []
    for path in paths:
        case_map, n_new = _register_cases(path, target)
        counts.append(_copy_history(path, target, case_map, n_new))
    return counts


def _register_cases(source: Path, target: Path) -> tuple[dict[str, str], int]:
    """Register the source's cases in the target: ``{source case ID: target case ID}``."""
    with Store(source, create=False) as src:  # checks (and upgrades) the source
        key, cases = src.pseudonym_key, src.cases()
    with Store(target) as dst:
        before = len(dst.cases())
        if before == 0:
            dst.import_key(key)
        mapping = {
            c.case_id: dst.register_case(
                c.patient_id,
                c.baseline_study_uid,
                c.baseline_date,
                c.followup_study_uid,
                c.followup_date,
            )
            for c in cases
        }
        return mapping, len(dst.cases()) - before


def _copy_history(
    source: Path, target: Path, case_map: dict[str, str], cases_added: int
) -> MergeCounts:
    conn = connect(target)
    try:
        conn.execute("ATTACH DATABASE ? AS src", (f"{source.absolute().as_uri()}?mode=ro",))
        conn.execute("CREATE TEMP TABLE case_map (src_id TEXT PRIMARY KEY, case_id TEXT)")
        conn.executemany("INSERT INTO temp.case_map VALUES (?, ?)", case_map.items())
        conn.execute("BEGIN IMMEDIATE")
        try:
            counts = _copy(conn, source, cases_added)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise store_error(target, exc) from None
    finally:
        conn.close()
    logger.info("merged %s into %s: %s", source, target, counts)
    return counts


def _copy(conn: sqlite3.Connection, source: Path, cases_added: int) -> MergeCounts:
    conn.execute("INSERT OR IGNORE INTO main.rubrics SELECT * FROM src.rubrics")
    sessions = conn.execute(
        f"INSERT OR IGNORE INTO main.sessions ({_SESSION_COLUMNS}) "
        f"SELECT {_SESSION_COLUMNS} FROM src.sessions"
    ).rowcount
    total = conn.execute("SELECT count(*) FROM src.answers").fetchone()[0]
    added = conn.execute(
        f"INSERT INTO main.answers (case_id, {_ANSWER_COLUMNS}) "
        f"SELECT m.case_id, {', '.join(f's.{c}' for c in _ANSWER_COLUMNS.split(', '))} "
        "FROM src.answers s JOIN temp.case_map m ON m.src_id = s.case_id "
        "WHERE NOT EXISTS (SELECT 1 FROM main.answers t WHERE "
        + _SAME.format(t="t", s="s", m="m")
        + ") ORDER BY s.answered_at, s.answer_id"
    ).rowcount
    links = conn.execute(
        "INSERT OR IGNORE INTO main.consensus_links "
        "SELECT tc.answer_id, ts.answer_id FROM src.consensus_links l "
        "JOIN src.answers sc ON sc.answer_id = l.consensus_answer_id "
        "JOIN src.answers ss ON ss.answer_id = l.settled_answer_id "
        "JOIN temp.case_map mc ON mc.src_id = sc.case_id "
        "JOIN temp.case_map ms ON ms.src_id = ss.case_id "
        "JOIN main.answers tc ON " + _SAME.format(t="tc", s="sc", m="mc") + " "
        "JOIN main.answers ts ON " + _SAME.format(t="ts", s="ss", m="ms")
    ).rowcount
    study = conn.execute("SELECT value FROM src.meta WHERE key = ?", (STUDY_META_KEY,)).fetchone()
    if study is not None:
        own = conn.execute(
            "SELECT value FROM main.meta WHERE key = ?", (STUDY_META_KEY,)
        ).fetchone()
        if own is None:
            conn.execute("INSERT INTO main.meta VALUES (?, ?)", (STUDY_META_KEY, study[0]))
        elif own[0] != study[0]:
            logger.warning("%s: its study differs from the target's; the target's is kept", source)
    return MergeCounts(source, cases_added, sessions, added, total - added, links)
