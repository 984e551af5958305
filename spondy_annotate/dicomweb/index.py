"""Indexing a DICOMweb service: the same series table as the folder index, from metadata only.

QIDO-RS lists the series, WADO-RS metadata gives each instance's header as DICOM JSON, which is
read into the same :class:`~spondy_annotate.dicom.records.HeaderRecord` a file gives and
tabulated by the folder index's own :func:`~spondy_annotate.dicom.index.series_rows`. Two
columns differ by nature: ``files`` are the paths in the local cache the instances are
retrieved to (:meth:`DicomWebService.fetch
<spondy_annotate.dicomweb.service.DicomWebService.fetch>`), and ``transfer_syntaxes`` is empty
(DICOMweb metadata does not say how an instance is stored). No pixel data is transferred.

A classic image's DICOM JSON is read as the folder index's fast scanner reads a file: only the
elements the index needs, by keyword, without building a pydicom dataset (most of the time it
would take); an Enhanced image (functional groups) goes through pydicom, as from a file.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spondy_annotate.dicom._fastscan import FALLBACK_TAGS, WANTED
from spondy_annotate.dicom.headers import NotAnImage, header_from_dataset
from spondy_annotate.dicom.index import IndexResult, ProgressCallback, SkippedFile, series_rows
from spondy_annotate.dicom.records import HeaderRecord
from spondy_annotate.dicom.rules import MatchingRules, load_rules
from spondy_annotate.dicomweb.service import (
    SERIES_UID,
    SOP_UID,
    STUDY_UID,
    DicomWebService,
    JsonDataset,
    json_value,
    without_bulk_data,
)
from spondy_annotate.errors import DicomWebError

logger = logging.getLogger(__name__)

#: WADO-RS metadata requests in flight at once while indexing.
METADATA_REQUESTS = 4

#: The DICOM JSON tags the index reads (the fast scanner's), and the keyword of each.
_JSON_KEYWORDS = {f"{tag:08X}": keyword for tag, (keyword, _) in WANTED.items()}
#: DICOM JSON tags of an Enhanced image's functional groups (read through pydicom).
_JSON_FALLBACK = {f"{tag:08X}" for tag in FALLBACK_TAGS}


def header_from_json(item: JsonDataset, path: str) -> HeaderRecord:
    """The header record of a DICOM JSON instance (WADO-RS metadata) to be retrieved to ``path``.

    A classic image's elements are taken as the fast scanner takes a file's (``{keyword:
    value}``, one value or a list); an Enhanced image's through a pydicom dataset. Raises
    :class:`~spondy_annotate.dicom.headers.NotAnImage` for an instance that is not an image.
    """
    if not _JSON_FALLBACK.isdisjoint(item):
        from pydicom.dataset import Dataset

        return header_from_dataset(Dataset.from_json(without_bulk_data(item)), path)
    elements: dict[str, Any] = {}
    for tag in item.keys() & _JSON_KEYWORDS.keys():
        values = item[tag].get("Value")
        if values:
            elements[_JSON_KEYWORDS[tag]] = values[0] if len(values) == 1 else values
    return header_from_dataset(elements, path)


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
    rules = rules or load_rules()
    found = service.search_series()
    records: list[HeaderRecord] = []
    skipped: list[SkippedFile] = []
    # a PACS answers several metadata requests at once: the network waits overlap
    with ThreadPoolExecutor(METADATA_REQUESTS, thread_name_prefix="dicomweb-metadata") as pool:
        metadata = pool.map(service.series_metadata, found)
        for n, (series, items) in enumerate(zip(found, metadata, strict=True), start=1):
            study, uid = json_value(series, STUDY_UID), json_value(series, SERIES_UID)
            folder = os.fspath(service.series_folder(study, uid))
            for item in items:  # service.instance_path, without a Path per instance
                path = os.path.join(folder, f"{json_value(item, SOP_UID)}.dcm")
                try:
                    records.append(header_from_json(item, path))
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
