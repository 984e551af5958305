"""The index cache, in the project database: header records keyed by path, size and mtime.

Re-opening an export reads only the files that are new or changed since the last scan; files
that are gone are forgotten; skipped files are cached too, so junk is not re-read either. When
nothing at all changed (same files, sizes, times and matching rules) the whole series table is
taken from the last scan. Everything is stored as JSON (never pickled); paths are keyed by their
bytes (``os.fsencode``), so that any file name, Latin-1 ones included, can be cached. The tables are created
by the project database's schema (:mod:`spondy_annotate.projectdb.schema`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import fields
from operator import attrgetter
from typing import Any

from spondy_annotate.dicom.records import FrameGeometry, HeaderRecord

logger = logging.getLogger(__name__)

FileStat = tuple[int, int]  # (size, mtime_ns)

#: HeaderRecord's field names, ``frames`` last (records are stored as JSON lists).
_FIELDS = tuple(f.name for f in fields(HeaderRecord))
assert _FIELDS[-1] == "frames"
#: A record's values but its frames, in order (one C call).
_VALUES = attrgetter(*_FIELDS[:-1])
_FRAME_VALUES = attrgetter("position", "orientation", "split_keys", "frame", "assumed")
#: The same text as ``json.dumps(values, separators=(",", ":"))``, without building an
#: encoder per record, nor looking for reference cycles (a record has none).
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _encode(record: HeaderRecord) -> str:
    return _ENCODER.encode((*_VALUES(record), [_FRAME_VALUES(f) for f in record.frames]))


def _decode(text: str) -> HeaderRecord:
    data = dict(zip(_FIELDS, json.loads(text), strict=True))
    data["frames"] = tuple(
        FrameGeometry(tuple(pos), tuple(ori), tuple(keys), frame, assumed)
        for pos, ori, keys, frame, assumed in data["frames"]
    )
    if data["pixel_spacing"] is not None:
        data["pixel_spacing"] = tuple(data["pixel_spacing"])
    return HeaderRecord(**data)


def snapshot_digest(stats: Mapping[str, FileStat], rules_key: str) -> str:
    """A digest of a folder's files (paths, sizes, times) and of the matching rules."""
    h = hashlib.sha256(rules_key.encode())
    for path, (size, mtime) in stats.items():
        h.update(f"{path}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class IndexCache:
    """The index cache tables of a project database.

    Parameters
    ----------
    path : path
        The project database; created (and migrated) when needed. A file that is not a project
        database, is damaged or comes from a newer version raises
        :class:`~spondy_annotate.errors.StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if not (os.path.isfile(self.path) and self._current()):  # a FIFO: refused by connect
            from spondy_annotate.projectdb.schema import connect

            connect(self.path).close()  # creates, migrates or refuses the file
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        # A cache can be rebuilt: in WAL mode NORMAL never corrupts the file, and at worst a
        # power cut loses the last batches, which are read again (one fsync per batch saved).
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._added = 0

    def _current(self) -> bool:
        from spondy_annotate.projectdb.schema import APPLICATION_ID, SCHEMA_VERSION

        try:
            uri = f"file:{urllib.parse.quote(self.path)}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True)) as conn:  # closed: no -wal/-shm left
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error:
            return False
        return bool(app == APPLICATION_ID and version == SCHEMA_VERSION)

    def snapshot(
        self, root: str, digest: str
    ) -> tuple[list[dict[str, Any]], list[list[str]]] | None:
        """The series rows and skipped files of the last scan of ``root``, if it had ``digest``."""
        found = self._conn.execute(
            "SELECT rows, skipped FROM index_snapshot WHERE root = ? AND digest = ?",
            (os.fsencode(root), digest),
        ).fetchone()
        return None if found is None else (json.loads(found[0]), json.loads(found[1]))

    def save_snapshot(
        self,
        root: str,
        digest: str,
        rows: Iterable[Mapping[str, Any]],
        skipped: Iterable[tuple[str, str]],
    ) -> None:
        """Keep the result of a scan of ``root`` (rows, (path, reason) pairs) for a re-open."""
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO index_snapshot VALUES (?, ?, ?, ?)",
                (
                    os.fsencode(root),
                    digest,
                    json.dumps(list(rows)),
                    json.dumps([list(s) for s in skipped]),
                ),
            )

    def lookup(
        self, stats: Mapping[str, FileStat]
    ) -> tuple[dict[str, HeaderRecord | str], list[str]]:
        """Split ``stats`` into what the cache knows (record, or skip reason) and what to read."""
        known: dict[str, HeaderRecord | str] = {}
        rows = self._conn.execute(
            "SELECT path, size, mtime_ns, skip_reason, record FROM index_cache"
        )
        for key, size, mtime_ns, reason, record in rows:
            path = os.fsdecode(key)
            if stats.get(path) == (size, mtime_ns):
                known[path] = reason if reason is not None else _decode(record)
        todo = [p for p in stats if p not in known]
        return known, todo

    def add(
        self,
        stats: Mapping[str, FileStat],
        records: Iterable[HeaderRecord],
        skipped: Mapping[str, str],
    ) -> None:
        """Store new records and skip reasons, at once: a scan that stops half way (an error, ^C)
        keeps what it read, and the database is never locked for longer than one batch."""
        rows: list[tuple[bytes, int, int, str | None, str | None]]
        rows = [(os.fsencode(r.path), *stats[r.path], None, _encode(r)) for r in records]
        rows += [(os.fsencode(p), *stats[p], reason, None) for p, reason in skipped.items()]
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO index_cache VALUES (?, ?, ?, ?, ?)", rows
            )
        self._added += len(rows)

    def forget_gone(self, stats: Mapping[str, FileStat], *, under: str) -> None:
        """Forget the files below ``under`` that are not in ``stats``."""
        prefix = os.fsencode(os.path.join(under, ""))
        with self._conn:
            cached = self._conn.execute(
                "SELECT path FROM index_cache WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
            gone = [(p,) for (p,) in cached if os.fsdecode(p) not in stats]
            self._conn.executemany("DELETE FROM index_cache WHERE path = ?", gone)
        logger.info("index cache: %d rows written, %d forgotten", self._added, len(gone))
        self._added = 0

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
