"""The index cache: header records kept in SQLite, keyed by path, size and modification time.

Re-opening an export reads only the files that are new or changed since the last scan; files
that are gone are forgotten. Skipped files are cached too, so junk is not re-read either. The
records are stored as JSON (never pickled), one row per file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from spondy_annotate.dicom_headers import FrameGeometry, HeaderRecord

logger = logging.getLogger(__name__)

#: The cache table; the grading store creates it in the project database (schema version 3),
#: and :class:`IndexCache` creates it in a file of its own.
CREATE_TABLE = """CREATE TABLE IF NOT EXISTS index_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    skip_reason TEXT,
    record TEXT
)"""

FileStat = tuple[int, int]  # (size, mtime_ns)


def _encode(record: HeaderRecord) -> str:
    return json.dumps(asdict(record), separators=(",", ":"))


def _decode(text: str) -> HeaderRecord:
    data: dict[str, Any] = json.loads(text)
    data["frames"] = tuple(
        FrameGeometry(
            tuple(f["position"]),
            tuple(f["orientation"]),
            tuple(f["split_keys"]),
            f["frame"],
            f["assumed"],
        )
        for f in data["frames"]
    )
    if data["pixel_spacing"] is not None:
        data["pixel_spacing"] = tuple(data["pixel_spacing"])
    return HeaderRecord(**data)


class IndexCache:
    """Header records of a folder's files, in the ``index_cache`` table of a SQLite file.

    Parameters
    ----------
    path : path
        The SQLite file (the project database, or any file); created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        with self._conn:
            self._conn.execute(CREATE_TABLE)

    def lookup(
        self, stats: Mapping[str, FileStat]
    ) -> tuple[dict[str, HeaderRecord | str], list[str]]:
        """Split ``stats`` into what the cache knows (record, or skip reason) and what to read."""
        known: dict[str, HeaderRecord | str] = {}
        rows = self._conn.execute("SELECT path, size, mtime_ns, skip_reason, record FROM index_cache")
        for path, size, mtime_ns, reason, record in rows:
            if stats.get(path) == (size, mtime_ns):
                known[path] = reason if reason is not None else _decode(record)
        todo = [p for p in stats if p not in known]
        return known, todo

    def update(
        self,
        stats: Mapping[str, FileStat],
        records: Iterable[HeaderRecord],
        skipped: Mapping[str, str],
        *,
        under: str,
    ) -> None:
        """Store new records and skip reasons; forget files below ``under`` that are gone."""
        rows = [(r.path, *stats[r.path], None, _encode(r)) for r in records if r.path in stats]
        rows += [(p, *stats[p], reason, None) for p, reason in skipped.items() if p in stats]
        prefix = os.path.join(under, "")
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO index_cache VALUES (?, ?, ?, ?, ?)", rows)
            cached = self._conn.execute(
                "SELECT path FROM index_cache WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
            gone = [(p,) for (p,) in cached if p not in stats]
            self._conn.executemany("DELETE FROM index_cache WHERE path = ?", gone)
        logger.info("index cache: %d rows written, %d forgotten", len(rows), len(gone))

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
