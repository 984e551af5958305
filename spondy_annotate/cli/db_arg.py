"""The ``--db`` option of every command: a project database file or a PostgreSQL URL."""

from __future__ import annotations

import argparse
from typing import Any

from spondy_annotate.projectdb.url import db_location

#: What ``--db`` takes, for the help texts.
DB_HELP = "project database: an .sqlite file or a postgresql://user@host/dbname URL"


def add_db_option(
    parser: argparse._ActionsContainer,
    *flags: str,
    help: str = DB_HELP,  # noqa: A002 - argparse's own name
    **options: Any,
) -> None:
    """Add ``--db`` (or ``flags``) to ``parser`` (or a group of it), taking a file path or a PostgreSQL URL (:func:`db_location`).

    Passwords come from libpq's ``~/.pgpass``, ``PGPASSWORD`` or a service file; a password
    written into the URL is never printed (messages use
    :func:`~spondy_annotate.projectdb.url.display_name`).
    """
    parser.add_argument(*(flags or ("--db",)), type=db_location, metavar="DB", help=help, **options)
