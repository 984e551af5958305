"""Opening an export: index it through the project database's header cache and pair its cases.

:func:`open_export` is the one "open a DICOM export" workflow, called alike by the command line
(``index``, ``cases``) and the napari reading room and reader, so that re-opening an unchanged
export reads no header again wherever it is opened.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from spondy_annotate.cases.pairing import Case, find_cases
from spondy_annotate.dicom.index import IndexResult, ProgressCallback, index_folder
from spondy_annotate.dicom.rules import MatchingRules, load_rules
from spondy_annotate.projectdb.location import default_db_path


@dataclass(frozen=True)
class OpenedExport:
    """An opened export.

    Attributes
    ----------
    folder : Path
        The export folder, as given.
    index : IndexResult
        Its series table and skipped files (``index.headers_read``: how many headers were read
        from disk rather than taken from the cache).
    cases : tuple of Case
        One per patient, in patient order.
    db_path : Path or None
        The project database that cached the headers (and holds the gradings); None when the
        export was opened without a cache.
    """

    folder: Path
    index: IndexResult
    cases: tuple[Case, ...]
    db_path: Path | None


def open_export(
    folder: str | os.PathLike[str],
    *,
    rules: MatchingRules | None = None,
    cache: bool | str | os.PathLike[str] = True,
    progress: ProgressCallback | None = None,
    choices: Mapping[str, tuple[str, str]] | None = None,
) -> OpenedExport:
    """Index ``folder`` through the header cache, pair each patient's studies, locate the database.

    Parameters
    ----------
    folder : path
        A DICOM export (searched recursively).
    rules : MatchingRules, optional
        Sequence rules and hanging protocol (default: the built-in ``matching.toml``).
    cache : bool or path
        True: cache headers in the export's default project database
        (:func:`~spondy_annotate.projectdb.location.default_db_path`, beside the export); a
        path: in that SQLite file; False: read every header and touch no database.
    progress : callable, optional
        Called as ``progress(done, total)`` while headers are read.
    choices : mapping, optional
        ``{patient_id: (baseline, followup)}`` for patients with more than two studies (see
        :func:`~spondy_annotate.cases.pairing.find_cases`).

    Returns
    -------
    OpenedExport

    Raises
    ------
    DicomIndexError
        When ``folder`` is missing, not a folder, empty, or holds no DICOM image.
    CaseSelectionError
        When a choice names a patient or study that is not there.
    StoreError
        When the cache file is not a project database, is damaged or is from a newer version.
    """
    folder = Path(folder)
    rules = rules or load_rules()
    db_path: Path | None = None
    if cache is not False and folder.is_dir():  # else index_folder says what is wrong
        db_path = default_db_path(folder) if cache is True else Path(cache)
    index = index_folder(folder, rules=rules, cache=db_path, progress=progress)
    cases = find_cases(index.records, rules=rules, choices=choices)
    return OpenedExport(folder, index, tuple(cases), db_path)
