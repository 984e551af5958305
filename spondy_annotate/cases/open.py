"""Opening an export: index it through the project database's header cache and pair its cases.

:func:`open_export` is the one "open a DICOM export" workflow, called alike by the command line
(``index``, ``cases``) and the napari reading room and reader, so that re-opening an unchanged
export reads no header again wherever it is opened. The export is a folder, or a DICOMweb
service root (an ``http://`` or ``https://`` URL): then it is indexed from QIDO-RS and WADO-RS
metadata (:mod:`spondy_annotate.dicomweb`) and series are retrieved on demand into a local cache
folder by :meth:`OpenedExport.files`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from spondy_annotate.cases.pairing import Case, find_cases
from spondy_annotate.dicom.index import IndexResult, ProgressCallback, index_folder
from spondy_annotate.dicom.rules import MatchingRules, load_rules
from spondy_annotate.dicomweb.auth import is_url
from spondy_annotate.projectdb.location import SUFFIX, default_db_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from spondy_annotate.dicom.records import SeriesRecord
    from spondy_annotate.dicomweb.service import DicomWebService


@dataclass(frozen=True)
class OpenedExport:
    """An opened export.

    Attributes
    ----------
    folder : Path
        The export folder, as given; for a DICOMweb service, its local cache folder.
    index : IndexResult
        Its series table and skipped files (``index.headers_read``: how many headers were read
        from disk rather than taken from the cache).
    cases : tuple of Case
        One per patient, in patient order.
    db_path : Path or None
        The project database that cached the headers (and holds the gradings); None when the
        export was opened without a cache.
    service : DicomWebService or None
        The DICOMweb service the export was indexed from; None for a folder.
    """

    folder: Path
    index: IndexResult
    cases: tuple[Case, ...]
    db_path: Path | None
    service: DicomWebService | None = None

    @property
    def source(self) -> str:
        """The export as given: its folder, or the DICOMweb service URL."""
        return self.service.url if self.service is not None else str(self.folder)

    @property
    def name(self) -> str:
        """What to call the export on screen: its folder's name, or the DICOMweb service URL."""
        return self.service.url if self.service is not None else self.folder.name

    def files(self, series: SeriesRecord) -> tuple[str, ...]:
        """The files of ``series`` to load, retrieved first (WADO-RS) from a DICOMweb service.

        Raises :class:`~spondy_annotate.dicomweb.auth.DicomWebError` if the retrieval fails.
        """
        return series.files if self.service is None else self.service.fetch(series)

    def prefetch(self, series: Iterable[SeriesRecord]) -> None:
        """Start retrieving ``series`` (e.g. the next case's) in the background; no-op for a folder."""
        if self.service is not None:
            self.service.prefetch(series)


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
    folder : path or str
        A DICOM export (searched recursively), or a DICOMweb service root URL (``http://`` or
        ``https://``; credentials from the environment or netrc, see
        :mod:`spondy_annotate.dicomweb.auth`).
    rules : MatchingRules, optional
        Sequence rules and hanging protocol (default: the built-in ``matching.toml``).
    cache : bool or path
        True: cache headers in the export's default project database
        (:func:`~spondy_annotate.projectdb.location.default_db_path`, beside the export); a
        path: in that SQLite file; False: read every header and touch no database. For a
        DICOMweb service the metadata is cached in its cache folder, and ``True`` names the
        project database :func:`service_db_path` (``db_path``; the gradings' home).
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
    DicomWebError
        When the DICOMweb service fails or holds no image.
    CaseSelectionError
        When a choice names a patient or study that is not there.
    StoreError
        When the cache file is not a project database, is damaged or is from a newer version.
    """
    rules = rules or load_rules()
    if is_url(folder):
        return _open_service(str(folder), rules, cache, progress, choices)
    folder = Path(folder)
    db_path: Path | None = None
    if cache is not False and folder.is_dir():  # else index_folder says what is wrong
        db_path = default_db_path(folder) if cache is True else Path(cache)
    index = index_folder(folder, rules=rules, cache=db_path, progress=progress)
    cases = find_cases(index.records, rules=rules, choices=choices)
    return OpenedExport(folder, index, tuple(cases), db_path)


def service_db_path(url: str) -> Path:
    """The default project database of a DICOMweb service: in the user data folder, named after
    the URL's digest (gradings are data: never in a cache folder)."""
    import hashlib

    from platformdirs import user_data_dir

    folder = Path(user_data_dir("spondy_annotate", appauthor=False)) / "dicomweb"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{hashlib.sha256(url.rstrip('/').encode()).hexdigest()[:16]}{SUFFIX}"


def _open_service(
    url: str,
    rules: MatchingRules,
    cache: bool | str | os.PathLike[str],
    progress: ProgressCallback | None,
    choices: Mapping[str, tuple[str, str]] | None,
) -> OpenedExport:
    from spondy_annotate.dicomweb.index import index_service
    from spondy_annotate.dicomweb.service import DicomWebService

    service = DicomWebService(url)
    db_path: Path | None = None
    if cache is not False:
        db_path = service_db_path(service.url) if cache is True else Path(cache)
    index = index_service(service, rules=rules, progress=progress)
    cases = find_cases(index.records, rules=rules, choices=choices)
    return OpenedExport(service.cache_dir, index, tuple(cases), db_path, service)
