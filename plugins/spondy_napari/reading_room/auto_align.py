"""Automatic alignment in the background: one registration at a time, the case on screen first.

When a case is opened or prefetched, the reading room asks :class:`AutoAlign` for its alignment.
A worker thread takes the requests in turn (the one on screen before those prefetched), reads the
case's stored alignment from the project database
(:mod:`spondy_annotate.cases.alignment_store`) or registers it
(:func:`~spondy_annotate.cases.alignment.align_case`, on the volumes the cache has loaded —
from a DICOMweb service, retrieved by the cache's loader threads — with one SimpleITK thread so
that the viewer keeps a core), stores it, and hands the result to the GUI thread through
``deliver``. The GUI never waits for it; a failure is a result too. Closing
(or the interpreter exiting) stops a registration under way at its next iteration.

A registration takes a core for seconds; while the viewer puts another case on screen (loading
it into the layers, re-slicing, drawing with software OpenGL) that core is the GUI's. So no
registration starts, and one under way waits at its next iteration, while the cache's quiet
period runs (:mod:`spondy_napari.display.quiet`: the room holds it when it shows a case).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path

from spondy_annotate.cases.alignment import (
    Alignment,
    AlignmentKey,
    align_case,
    case_alignment_key,
)
from spondy_annotate.cases.alignment_store import load_alignments, save_alignment
from spondy_annotate.cases.pairing import Case
from spondy_annotate.errors import SpondyError
from spondy_napari.display.volume_cache import VolumeCache

logger = logging.getLogger(__name__)

#: Seconds :meth:`AutoAlign.close` waits for a registration to stop (one iteration is ms).
JOIN_TIMEOUT_S = 1.0
#: ``deliver(callback)``: run ``callback`` on the GUI thread soon (called from the worker).
Deliver = Callable[[Callable[[], None]], object]


class AutoAlign:
    """Background registrations of the reading room's cases.

    Parameters
    ----------
    cache : VolumeCache
        Where the volumes come from (loaded once for display and registration).
    deliver : callable
        Runs a callback on the GUI thread (see :data:`Deliver`).
    on_result : callable
        ``on_result(alignment)``, on the GUI thread.
    """

    def __init__(
        self, cache: VolumeCache, deliver: Deliver, on_result: Callable[[Alignment], None]
    ) -> None:
        self.cache = cache
        self.deliver = deliver
        self.on_result = on_result
        self.db_path: Path | None = None
        self._queue: deque[tuple[Case, str | None, Path | None]] = deque()
        self._queued: set[AlignmentKey] = set()
        self._done: set[AlignmentKey] = set()
        self._wake = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._work, name="spondy-align", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # never leave SimpleITK running while Python shuts down

    def request(self, case: Case, label: str | None = None, *, first: bool = False) -> None:
        """Align ``case`` (on sequence ``label``) unless done or queued; ``first``: before others."""
        key = case_alignment_key(case)
        with self._wake:
            if key in self._done:
                return
            if key in self._queued:
                if not first:
                    return
                self._queue = deque(item for item in self._queue if item[0] is not case)
            self._queued.add(key)
            item = (case, label, self.db_path)
            if first:
                self._queue.appendleft(item)
            else:
                self._queue.append(item)
            self._wake.notify()

    @property
    def busy(self) -> bool:
        """True while a request waits or runs."""
        with self._wake:
            return bool(self._queue) or self._busy

    def _wait_quiet(self) -> bool:
        """Wait (worker thread) for the cache's quiet period to end; True when closed meanwhile."""
        self.cache.quiet.wait(stop=lambda: self._closed)
        return self._closed

    def reset(self, db_path: Path | None) -> None:
        """Another export: drop the queue; results go to (and come from) ``db_path``."""
        with self._wake:
            self._queue.clear()
            self._queued.clear()
            self._done.clear()
            self.db_path = db_path

    def close(self) -> None:
        """Stop: drop the queue, stop a registration under way and wait for it (a moment)."""
        with self._wake:
            self._closed = True
            self._queue.clear()
            self._wake.notify()
        self.cache.quiet.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=JOIN_TIMEOUT_S)
        atexit.unregister(self.close)

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
            if self._wait_quiet():
                return
            with self._wake:
                if not self._queue:
                    continue  # reset meanwhile
                case, label, db = self._queue.popleft()
                self._busy = True
            try:
                result = self._align(case, label, db)
            finally:
                with self._wake:
                    self._busy = False
            with self._wake:
                key = case_alignment_key(case)
                self._queued.discard(key)
                if self._closed or db != self.db_path:
                    continue  # closed, or another export meanwhile
                self._done.add(key)
            self.deliver(partial(self.on_result, result))

    def _align(self, case: Case, label: str | None, db: Path | None) -> Alignment:
        key = case_alignment_key(case)
        try:
            stored = load_alignments(db, [key]).get(key) if db is not None else None
        except SpondyError as exc:
            logger.warning("stored alignments not read: %s", exc)
            stored = None
        if stored is not None:
            return stored
        result = align_case(
            case,
            label=label,
            load=lambda s: self.cache.get(s).volume,
            threads=1,
            cancelled=self._wait_quiet,  # each iteration: wait out a hold, stop when closed
        )
        if self._closed:
            return result  # not stored: it was cut short
        if db is not None:
            try:
                save_alignment(db, result)
            except SpondyError as exc:
                logger.warning("alignment of %s not stored: %s", case.patient_id, exc)
        return result
