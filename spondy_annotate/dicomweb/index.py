"""Indexing a DICOMweb service: the same series table as the folder index, from metadata only.

QIDO-RS lists the series, WADO-RS metadata gives each instance's header as DICOM JSON, which is
read into the same :class:`~spondy_annotate.dicom.records.HeaderRecord` a file gives and
tabulated by the folder index's own :func:`~spondy_annotate.dicom.index.series_rows`. Two
columns differ by nature: ``files`` are the paths in the local cache the instances are
retrieved to (:meth:`DicomWebService.fetch
<spondy_annotate.dicomweb.service.DicomWebService.fetch>`), and ``transfer_syntaxes`` is empty
(DICOMweb metadata does not say how an instance is stored). No pixel data is transferred.
"""

from __future__ import annotations

import logging
import os

from spondy_annotate.dicom.headers import NotAnImage, header_from_dataset
from spondy_annotate.dicom.index import IndexResult, ProgressCallback, SkippedFile, series_rows
from spondy_annotate.dicom.records import HeaderRecord
from spondy_annotate.dicom.rules import MatchingRules, load_rules
from spondy_annotate.dicomweb.service import (
    SERIES_UID,
    SOP_UID,
    STUDY_UID,
    DicomWebService,
    json_value,
    without_bulk_data,
)
from spondy_annotate.errors import DicomWebError

logger = logging.getLogger(__name__)


def index_service(
    service: DicomWebService,
    *,
    rules: MatchingRules | None = None,
    progress: ProgressCallback | None = None,
) -> IndexResult:
    """Index every image series of ``service`` (QIDO-RS and WADO-RS metadata, no pixels).

    Parameters
    ----------
    service : DicomWebService
        The service and its cache folder (:attr:`IndexResult.root` is the cache folder).
    rules : MatchingRules, optional
        Sequence naming rules (default: the built-in ``matching.toml``).
    progress : callable, optional
        Called as ``progress(done, total)`` with the number of series whose metadata is read.

    Returns
    -------
    IndexResult
        The series table; instances that are not images (SR, presentation states...) are in
        ``skipped`` under their cache path.

    Raises
    ------
    DicomWebError
        If the service fails, or holds no image.
    """
    from pydicom.dataset import Dataset

    rules = rules or load_rules()
    found = service.search_series()
    records: list[HeaderRecord] = []
    skipped: list[SkippedFile] = []
    for n, series in enumerate(found, start=1):
        for item in service.series_metadata(series):
            study, uid, sop = (json_value(item, t) for t in (STUDY_UID, SERIES_UID, SOP_UID))
            path = os.fspath(service.instance_path(str(study), str(uid), str(sop)))
            try:
                ds = Dataset.from_json(without_bulk_data(item))
                records.append(header_from_dataset(ds, path))
            except NotAnImage as exc:
                skipped.append(SkippedFile(path, str(exc)))
        if progress:
            progress(n, len(found))
    if not records:
        raise DicomWebError(f"{service.url}: no DICOM images among {len(found)} series")
    rows = series_rows(records, rules)
    for row in rows:
        row["transfer_syntaxes"] = []
    logger.info("indexed %d series of %s (%d instances)", len(rows), service.url, len(records))
    return IndexResult(service.cache_dir, rows, skipped, len(records))
