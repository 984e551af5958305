"""Where a DICOM export's project database lives: beside the export, by default.

The project database is one SQLite file holding the gradings (:mod:`spondy_annotate.grading.store`)
and the index cache (:mod:`spondy_annotate.dicom.index_cache`); its schema is
:mod:`spondy_annotate.projectdb.schema`. By default it sits next to the export folder, named
after it (``/data/export`` -> ``/data/export.spondy.sqlite``), so that exports on read-only media
still work: when that folder cannot be written, the file goes to the user's data folder
(``platformdirs.user_data_dir``, e.g. ``~/.local/share/spondy_annotate`` on Linux; not the cache
folder, which may be cleared: it holds gradings) instead, under a name derived from the export's
absolute path. When neither can be written, the callers get a
one-line :class:`~spondy_annotate.errors.StoreError` naming both places.

The gradings may go elsewhere: to a PostgreSQL server shared by several workstations
(:mod:`.postgres`), named by ``--db`` or by the environment variable :data:`DB_ENV`
(:func:`grading_db`); the header cache stays in the local file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_data_dir

from spondy_annotate.errors import StoreError
from spondy_annotate.projectdb.url import DbLocation, db_location, is_postgres_url

#: Suffix of a project database made by :func:`default_db_path`.
SUFFIX = ".spondy.sqlite"
#: File suffixes read as a project database (anything else given as gradings is a table).
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")
#: Environment variable naming the grading database (a file or a PostgreSQL URL).
DB_ENV = "SPONDY_DB"


def default_db_path(export_dir: str | os.PathLike[str]) -> Path:
    """The project database of ``export_dir``: beside it, or in the user data folder when read-only.

    Raises
    ------
    StoreError
        When the export's folder is read-only and the user data folder cannot be made or
        written either (an unwritable home folder).
    """
    export = Path(export_dir).resolve()
    beside = export.parent / f"{export.name or 'export'}{SUFFIX}"
    if beside.exists() or os.access(export.parent, os.W_OK):
        return beside
    digest = hashlib.sha256(str(export).encode()).hexdigest()[:16]
    data = Path(user_data_dir("spondy_annotate", appauthor=False))
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if os.access(data, os.W_OK | os.X_OK):
            return data / f"{digest}{SUFFIX}"
        reason = "not writable"
    raise StoreError(
        f"{export}: no writable place for the project database: the folder {export.parent} is "
        f"read-only and the data folder {data} cannot be used ({reason}); make one of them "
        "writable (or set XDG_DATA_HOME), or index with --cache FILE or --no-cache"
    )


def grading_db(local: str | os.PathLike[str], db: DbLocation | None = None) -> Path | str:
    """Where the gradings of an export go: ``db``, else ``$SPONDY_DB``, else the local file.

    Parameters
    ----------
    local
        The export's own project database (:func:`default_db_path`), which keeps its header
        cache whatever this returns.
    db
        Given explicitly (``--db``, the *Open* dialog): a file or a PostgreSQL URL.

    Returns
    -------
    Path or str
        The database file, or the PostgreSQL URL (:func:`~.url.db_location`).
    """
    chosen = db if db is not None else os.environ.get(DB_ENV) or local
    return db_location(chosen) if isinstance(chosen, str) else Path(chosen)


def is_project_db(path: DbLocation) -> bool:
    """Whether ``path`` names a project database: a PostgreSQL URL, or by its suffix
    (:data:`DB_SUFFIXES`)."""
    return is_postgres_url(path) or Path(path).suffix.lower() in DB_SUFFIXES
