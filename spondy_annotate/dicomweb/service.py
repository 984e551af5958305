"""A DICOMweb service with a local cache folder: QIDO-RS searches, WADO-RS metadata and
retrieval, STOW-RS storage.

The cache folder mirrors the service: ``<cache>/<StudyInstanceUID>/<SeriesInstanceUID>/`` holds
the series' WADO-RS metadata (``metadata.json``, kept while the series has as many instances)
and, once retrieved, its instances as ``<SOPInstanceUID>.dcm`` files. Indexing reads only
metadata; :meth:`DicomWebService.fetch` retrieves a series' files on demand (what
:func:`~spondy_annotate.dicom.volume.load_series` then reads), :meth:`DicomWebService.prefetch`
does it in the background.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spondy_annotate._files import atomic_write
from spondy_annotate.dicomweb.auth import authenticated_session, check_url
from spondy_annotate.errors import DicomWebError

if TYPE_CHECKING:
    from dicomweb_client.api import DICOMwebClient
    from pydicom.dataset import Dataset

    from spondy_annotate.dicom.records import SeriesRecord

logger = logging.getLogger(__name__)

#: DICOM JSON (PS3.18 F.2): ``{tag: {"vr": ..., "Value": [...]}}``.
JsonDataset = dict[str, Any]
T = TypeVar("T")

#: DICOM JSON tags of the UIDs and of NumberOfSeriesRelatedInstances.
STUDY_UID, SERIES_UID, SOP_UID, INSTANCE_COUNT = "0020000D", "0020000E", "00080018", "00201209"


def json_value(item: JsonDataset, tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON dataset, or None."""
    values = item.get(tag, {}).get("Value")
    return values[0] if values else None


def default_cache_dir(url: str) -> Path:
    """The user cache folder of ``url``'s instances (``platformdirs.user_cache_dir``)."""
    from platformdirs import user_cache_dir

    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(user_cache_dir("spondy_annotate", appauthor=False)) / "dicomweb" / digest


class DicomWebService:
    """A DICOMweb service root, and the local folder caching its metadata and instances.

    Parameters
    ----------
    url : str
        The service root (e.g. ``http://pacs:8042/dicom-web``); credentials come from the
        environment or netrc (:mod:`~spondy_annotate.dicomweb.auth`), never from the URL.
    cache_dir : path, optional
        Where metadata and retrieved instances are kept (default: :func:`default_cache_dir`).

    Raises
    ------
    DicomWebError
        If the URL is not http(s) or holds credentials.
    """

    def __init__(self, url: str, cache_dir: str | os.PathLike[str] | None = None) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.url = check_url(url)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(self.url)
        self._client: DICOMwebClient = DICOMwebClient(
            self.url, session=authenticated_session(self.url)
        )
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._retrieving: dict[str, threading.Event] = {}  # by SeriesInstanceUID

    def __repr__(self) -> str:
        return f"DicomWebService({self.url!r})"

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """Run one request; a failure is a one-line :class:`DicomWebError`."""
        import requests

        try:
            return request()
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise DicomWebError(f"{self.url}: {what} failed (HTTP {status})") from None
        except requests.RequestException as exc:
            raise DicomWebError(f"{self.url}: {what} failed ({type(exc).__name__})") from None

    # ------------------------------------------------------------------ QIDO-RS, WADO-RS

    def search_series(self, **filters: str) -> list[JsonDataset]:
        """QIDO-RS: every series (matching ``filters``, e.g. ``Modality="SR"``)."""
        return self._call(
            "QIDO-RS series search",
            lambda: self._client.search_for_series(
                search_filters=dict(filters) or None,
                fields=["NumberOfSeriesRelatedInstances"],
                get_remaining=True,
            ),
        )

    def series_folder(self, study_uid: str, series_uid: str) -> Path:
        """The cache folder of a series."""
        return self.cache_dir / study_uid / series_uid

    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        """Where an instance is (or will be) retrieved to."""
        return self.series_folder(study_uid, series_uid) / f"{sop_uid}.dcm"

    def series_metadata(self, series: JsonDataset) -> list[JsonDataset]:
        """WADO-RS metadata of a QIDO-RS series result, from the cache while it is current."""
        study_uid, series_uid = json_value(series, STUDY_UID), json_value(series, SERIES_UID)
        count = json_value(series, INSTANCE_COUNT)
        path = self.series_folder(study_uid, series_uid) / "metadata.json"
        if path.is_file():
            try:
                cached = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cached = None
            if isinstance(cached, list) and count is not None and len(cached) == int(count):
                return cached
        metadata = self._call(
            f"WADO-RS metadata of series {series_uid}",
            lambda: self._client.retrieve_series_metadata(study_uid, series_uid),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(metadata), encoding="utf-8"))
        return metadata

    def headers(self, series: SeriesRecord) -> list[Dataset]:
        """The series' instance headers as pydicom datasets, from its cached metadata."""
        from pydicom.dataset import Dataset

        path = self.series_folder(series.study_instance_uid, series.series_instance_uid)
        try:
            metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise DicomWebError(f"{path}: no metadata of the series (index it first)") from None
        return [Dataset.from_json(without_bulk_data(m)) for m in metadata]

    # ------------------------------------------------------------------ retrieval

    def retrieve_series(self, study_uid: str, series_uid: str) -> list[Path]:
        """WADO-RS: retrieve every instance of a series into the cache; return their files."""
        folder = self.series_folder(study_uid, series_uid)
        folder.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []

        def retrieve() -> None:
            for ds in self._client.iter_series(study_uid, series_uid):
                path = folder / f"{ds.SOPInstanceUID}.dcm"
                atomic_write(path, partial(ds.save_as, enforce_file_format=True))
                paths.append(path)

        logger.info("retrieving series %s", series_uid)
        self._call(f"WADO-RS retrieval of series {series_uid}", retrieve)
        return paths

    def fetch(self, series: SeriesRecord) -> tuple[str, ...]:
        """The files of an indexed series, retrieved first unless they are all in the cache.

        Thread-safe: a series another thread is retrieving (a prefetch) is waited for, not
        retrieved twice.
        """
        uid = series.series_instance_uid
        while True:
            with self._lock:  # files and retrievals checked together: none ends in between
                if all(os.path.isfile(f) for f in series.files):
                    return series.files
                running = self._retrieving.get(uid)
                if running is None:
                    self._retrieving[uid] = threading.Event()
            if running is None:
                break
            running.wait()  # retrieved by the other thread (or it failed: then retrieve here)
        try:
            self.retrieve_series(series.study_instance_uid, uid)
        finally:
            with self._lock:
                self._retrieving.pop(uid).set()
        still = [f for f in series.files if not os.path.isfile(f)]
        if still:
            raise DicomWebError(
                f"{self.url}: series {series.series_instance_uid}: {len(still)} instances not sent"
            )
        return series.files

    def prefetch(self, series: Iterable[SeriesRecord]) -> Future[None]:
        """Retrieve ``series`` in a background thread (e.g. the next case's); errors are logged."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dicomweb-prefetch")
        todo = list(series)

        def run() -> None:
            for s in todo:
                self._fetch_logged(s)

        return self._pool.submit(run)

    def _fetch_logged(self, series: SeriesRecord) -> None:
        try:
            self.fetch(series)
        except DicomWebError as exc:
            logger.warning("prefetch: %s", exc)

    # ------------------------------------------------------------------ STOW-RS

    def store(self, datasets: Sequence[Dataset]) -> None:
        """STOW-RS: send ``datasets`` to the service."""
        self._call("STOW-RS", lambda: self._client.store_instances(list(datasets)))

    def close(self) -> None:
        """Wait for prefetches and close the connection."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def without_bulk_data(item: JsonDataset) -> JsonDataset:
    """The dataset without its bulk data references (pixel data is never fetched as metadata)."""
    return {tag: value for tag, value in item.items() if "BulkDataURI" not in value}
