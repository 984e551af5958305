"""The automatic alignments of an export's cases, kept in its project database.

One row per case (patient, baseline and follow-up study) in the ``alignments`` table
(:mod:`spondy_annotate.projectdb.schema`), written by ``spondy-annotate align`` and by the
reading room once a registration finishes, read back when a case is opened: a case is
registered once. A reader's manual alignment is that reader's view state
(:class:`~spondy_annotate.grading.session.ViewState`), not stored here.
"""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np

from spondy_annotate.cases.alignment import Alignment, AlignmentKey, AlignmentStatus
from spondy_annotate.projectdb.schema import connect, store_error, utc_now

_COLUMNS = (
    "patient_id, baseline_study_uid, followup_study_uid, status, matrix, residual_mm, "
    "sequence, message, seconds"
)


def save_alignment(db: str | os.PathLike[str], alignment: Alignment) -> None:
    """Store ``alignment`` in the project database ``db`` (replacing the case's previous one).

    Raises :class:`~spondy_annotate.errors.StoreError` if the database cannot be written.
    """
    matrix = None if alignment.matrix is None else json.dumps(alignment.matrix.tolist())
    conn = connect(db)
    try:
        with conn:
            conn.execute(
                f"INSERT OR REPLACE INTO alignments ({_COLUMNS}, computed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *alignment.key,
                    alignment.status.value,
                    matrix,
                    alignment.residual_mm,
                    alignment.sequence,
                    alignment.message,
                    alignment.seconds,
                    utc_now(),
                ),
            )
    except sqlite3.Error as exc:
        raise store_error(db, exc) from None
    finally:
        conn.close()


def load_alignments(
    db: str | os.PathLike[str], keys: list[AlignmentKey] | None = None
) -> dict[AlignmentKey, Alignment]:
    """The stored alignments of ``keys`` (default: every case) in the project database ``db``.

    A missing database has none. Raises :class:`~spondy_annotate.errors.StoreError` if it
    cannot be read.
    """
    if not os.path.exists(db):
        return {}
    conn = connect(db, create=False)
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM alignments").fetchall()
    except sqlite3.Error as exc:
        raise store_error(db, exc) from None
    finally:
        conn.close()
    wanted = None if keys is None else set(keys)
    found = {}
    for patient, base, follow, status, matrix, residual, sequence, message, seconds in rows:
        if wanted is not None and (patient, base, follow) not in wanted:
            continue
        found[(patient, base, follow)] = Alignment(
            patient,
            base,
            follow,
            AlignmentStatus(status),
            matrix=None if matrix is None else np.asarray(json.loads(matrix), dtype=float),
            residual_mm=residual,
            sequence=sequence,
            message=message,
            seconds=seconds,
        )
    return found
