"""A grading database named by a PostgreSQL URL or by a file path, and how to name it safely.

``--db`` (and ``$SPONDY_DB``) take either the path of an SQLite project database or a libpq URL
(``postgresql://reader@db.example.org:5432/study?sslmode=verify-full``). Everything libpq reads
passes through unchanged: TLS settings in the query, passwords from ``~/.pgpass``,
``PGPASSWORD`` or a service file. A password written into the URL works too, but never leaves
this process: messages and logs name the database by :func:`display_name`, which drops it.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

#: URL schemes libpq accepts for a PostgreSQL connection.
POSTGRES_SCHEMES = ("postgresql", "postgres")

#: A grading database as given: the path of an SQLite file or a PostgreSQL URL.
DbLocation = str | os.PathLike[str]


def is_postgres_url(db: DbLocation) -> bool:
    """Whether ``db`` is a PostgreSQL URL (``postgresql://...`` or ``postgres://...``)."""
    return isinstance(db, str) and db.partition("://")[0].lower() in POSTGRES_SCHEMES


def db_location(text: str) -> str | Path:
    """``text`` as a grading database: the URL itself, or the path of a file."""
    return text if is_postgres_url(text) else Path(text)


def display_name(db: DbLocation) -> str:
    """How messages name ``db``: the path, or the URL without any password.

    Examples
    --------
    >>> display_name("postgresql://ab:secret@db:5432/study?sslmode=require&password=x")
    'postgresql://ab@db:5432/study?sslmode=require'
    """
    if not is_postgres_url(db):
        return os.fspath(db)
    parts = urllib.parse.urlsplit(str(db))
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    query = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() != "password"
    ]
    tail = f"?{urllib.parse.urlencode(query, safe='/:')}" if query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{tail}"
