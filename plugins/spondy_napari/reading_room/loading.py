"""Waiting for volumes without blocking napari: the reading room's load requests.

A request names the series a view needs and what to do once they are in memory. When they are
cached it runs at once; otherwise a napari thread worker waits for them (with napari's progress
bar in the activity dock) and then runs it on the GUI thread, unless a later request came in
meanwhile (the reader pressed N twice: only the last case is shown).

The worker is napari's (:func:`napari.qt.threading.create_worker`: Qt's thread pool, no widget),
the one piece of Qt used outside :mod:`spondy_napari._qt`, imported when a wait is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any

from napari.utils.notifications import show_error

from spondy_annotate.dicom.records import SeriesRecord
from spondy_annotate.errors import SpondyError
from spondy_napari.display.layer_data import PreparedVolume
from spondy_napari.display.volume_cache import VolumeCache

logger = logging.getLogger(__name__)


class LoadRequests:
    """Requests for volumes of ``cache``; the latest one wins.

    Parameters
    ----------
    cache : VolumeCache
        Where the volumes are loaded (and kept).
    """

    def __init__(self, cache: VolumeCache) -> None:
        self.cache = cache
        self._token = 0
        self._workers: set[Any] = set()

    def supersede(self) -> None:
        """Make pending requests stale (a view is being shown now)."""
        self._token += 1

    def when_loaded(
        self, refs: Sequence[SeriesRecord | None], then: Callable[[], Any], what: str
    ) -> None:
        """Run ``then`` once ``refs`` are loaded (at once when they are), unless superseded."""
        self.supersede()
        token = self._token
        futures = [self.cache.submit(r) for r in refs if r is not None]
        if all(f.done() for f in futures):
            then()
            return
        from napari.qt.threading import create_worker

        def done(_: Any = None) -> None:
            self._workers.discard(worker)
            if token == self._token:
                then()

        def failed(exc: BaseException) -> None:
            self._workers.discard(worker)
            show_error(f"{what}: {exc}")

        worker = create_worker(
            _wait_for,
            futures,
            _progress={"total": len(futures), "desc": what},
            _connect={"returned": done, "errored": failed},
        )
        self._workers.add(worker)

    def fetch(self, ref: SeriesRecord | None) -> PreparedVolume | None:
        """The volume of ``ref`` (waiting for it); a load error is notified and gives None."""
        if ref is None:
            return None
        try:
            return self.cache.get(ref)
        except SpondyError as exc:
            show_error(str(exc))
        except Exception as exc:  # an unexpected loader failure must not kill the viewer
            logger.exception("loading %s failed", ref.series_description)
            show_error(
                f"{ref.series_description}: could not be loaded ({type(exc).__name__}: {exc})"
            )
        return None

    def close(self) -> None:
        """Stop waiting (the workers quit) and stop the cache's threads."""
        for worker in list(self._workers):
            worker.quit()
        self.cache.shutdown()


def _wait_for(futures: list[Future[Any]]) -> Iterator[None]:
    """Worker body: wait for each future in turn, yielding progress."""
    for future in futures:
        wait_futures([future])
        yield
