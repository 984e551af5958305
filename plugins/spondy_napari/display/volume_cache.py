"""Loading series in the background and keeping the recent ones: the reading room's volume cache.

The core loads one series at a time and knows nothing of threads; this cache runs
:func:`spondy_annotate.dicom.volume.load_series` (and
:func:`~spondy_napari.display.layer_data.prepare`) in a small thread pool, so that the next case
is read while the radiologist looks at the current one. Loads queued ahead of need (:meth:`prefetch`)
wait out the cache's :attr:`~VolumeCache.quiet` periods (:mod:`.quiet`) before they start and
between their files (parsing a file holds Python's GIL, which the GUI thread needs), unless the
GUI asks for them meanwhile.

Where a series' files come from is the opened export's business
(:meth:`~spondy_annotate.cases.open.OpenedExport.files`, given with :meth:`VolumeCache.set_files`):
from a DICOMweb service they are retrieved (WADO-RS) first, in the same loader thread, so that
neither loading nor retrieval ever runs on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.dicom.volume import Volume, load_series
from spondy_annotate.errors import SpondyError
from spondy_napari.display.layer_data import PreparedVolume, prepare
from spondy_napari.display.quiet import QuietPeriod

logger = logging.getLogger(__name__)

#: Volumes kept in memory (about three cases of six series).
DEFAULT_MAX_ITEMS = 24

#: ``loader(files, pause=callable)``: a volume (``pause()`` is called before each file is read).
Loader = Callable[..., Volume]
#: ``files(series) -> paths``: where a series' files are (retrieving them first if need be).
FilesOf = Callable[[SeriesRecord], Sequence[str]]


def _recorded_files(ref: SeriesRecord) -> tuple[str, ...]:
    """The files a series record names (a folder export's)."""
    return ref.files


class VolumeCache:
    """Prepared volumes by SeriesInstanceUID, loaded by a thread pool on demand or in advance.

    Parameters
    ----------
    max_items : int
        Completed volumes kept; the least recently used beyond this are dropped (never one that
        is still loading).
    workers : int
        Loader threads.
    loader : callable, optional
        ``loader(files, pause=callable) -> Volume`` (default
        :func:`~spondy_annotate.dicom.volume.load_series`).

    Attributes
    ----------
    quiet : QuietPeriod
        Held while the GUI is busy: prefetched loads start after it.
    """

    def __init__(
        self,
        *,
        max_items: int = DEFAULT_MAX_ITEMS,
        workers: int = 2,
        loader: Loader | None = None,
    ) -> None:
        self.max_items = max_items
        self._loader = loader or load_series
        self._files: FilesOf = _recorded_files
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spondy-load")
        self._futures: OrderedDict[str, Future[PreparedVolume]] = OrderedDict()
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._needed: set[str] = set()
        self._closed = False
        self.quiet = QuietPeriod()

    def set_files(self, files: FilesOf | None) -> None:
        """Take series' files from ``files(series)`` from now on (None: ``series.files``).

        The reading room passes the opened export's
        :meth:`~spondy_annotate.cases.open.OpenedExport.files` with its cases.
        """
        self._files = files or _recorded_files

    def _load(self, ref: SeriesRecord, files: FilesOf, ahead: bool) -> PreparedVolume:
        key = ref.series_instance_uid

        def pause() -> None:
            """A load ahead of need waits out quiet periods, before it starts and between its
            files, until the GUI needs it; a closed cache stops it."""
            if ahead:
                self.quiet.wait(stop=lambda: key in self._needed or self._closed)
            if self._closed:
                raise CancelledError

        pause()
        return prepare(self._loader(files(ref), pause=pause))

    def submit(self, ref: SeriesRecord, *, ahead: bool = False) -> Future[PreparedVolume]:
        """Start loading ``ref`` unless it is loaded or loading; return its future.

        ``ahead``: loaded ahead of need (after the quiet period); without it, needed now (a
        queued load of ``ref`` stops waiting).
        """
        key = ref.series_instance_uid
        with self._lock:
            if not ahead:
                self._needed.add(key)
            future = self._futures.get(key)
            if future is None or (future.done() and future.exception() is not None):
                future = self._pool.submit(self._load, ref, self._files, ahead)
                self._futures[key] = future
            self._futures.move_to_end(key)
            self._evict()
        if not ahead:
            self.quiet.wake()
        return future

    def prefetch(self, refs: Iterable[SeriesRecord | None]) -> None:
        """Queue ``refs`` (in order; None is skipped) for loading ahead of need."""
        for ref in refs:
            if ref is not None:
                self.submit(ref, ahead=True)

    def get(self, ref: SeriesRecord, timeout: float | None = None) -> PreparedVolume:
        """Return the prepared volume of ``ref``, waiting for it if it is still loading.

        Raises
        ------
        SpondyError
            What the loader raised (a one-line message naming the file).
        """
        return self.submit(ref).result(timeout)

    def is_cached(self, ref: SeriesRecord | str) -> bool:
        """True when the volume is loaded (successfully) and in memory."""
        key = ref if isinstance(ref, str) else ref.series_instance_uid
        future = self._futures.get(key)
        return bool(future and future.done() and future.exception() is None)

    def busy(self) -> bool:
        """True while a volume is queued or loading."""
        return any(not f.done() for f in list(self._futures.values()))

    def error(self, ref: SeriesRecord) -> SpondyError | None:
        """The load error of ``ref``, if loading it has failed."""
        future = self._futures.get(ref.series_instance_uid)
        if future and future.done():
            exc = future.exception()
            if isinstance(exc, SpondyError):
                return exc
        return None

    def __len__(self) -> int:
        return len(self._futures)

    def keys(self) -> list[str]:
        """SeriesInstanceUIDs held or loading, least recently used first."""
        return list(self._futures)

    def pin(self, keys: Iterable[str]) -> None:
        """Never drop these SeriesInstanceUIDs (the case on screen); replaces earlier pins."""
        with self._lock:
            self._pinned = set(keys)
            self._evict()

    def _evict(self) -> None:
        done = [k for k, f in self._futures.items() if f.done() and k not in self._pinned]
        excess = len(self._futures) - self.max_items
        for key in done[: max(excess, 0)]:
            del self._futures[key]
            self._needed.discard(key)

    def clear(self) -> None:
        """Forget every volume (queued loads still run, their results are dropped)."""
        with self._lock:
            for future in self._futures.values():
                future.cancel()
            self._futures.clear()
            self._needed.clear()

    def shutdown(self) -> None:
        """Stop the threads (queued loads are cancelled)."""
        self._closed = True
        self.quiet.wake()
        self.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
