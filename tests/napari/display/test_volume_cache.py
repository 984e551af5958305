"""The volume cache: loads ahead of need wait out a quiet period; loads needed now never do."""

from __future__ import annotations

import threading
import time

import pytest
from spondy_napari.display.volume_cache import VolumeCache

from spondy_annotate import open_export
from spondy_annotate.dicom.volume import load_series


@pytest.fixture
def series(small_export):
    cases = open_export(small_export).cases
    return [ref for case in cases for p in case.pairs for ref in (p.baseline, p.followup) if ref]


@pytest.fixture
def started() -> list[float]:
    """When each load began (time.monotonic)."""
    return []


@pytest.fixture
def cache(started):
    """A cache whose loader records when each load begins."""

    def load(files, pause):
        started.append(time.monotonic())
        return load_series(files, pause=pause)

    cache = VolumeCache(loader=load)
    yield cache
    cache.shutdown()


def test_prefetch_waits_for_the_quiet_period(series, cache, started):
    held_at = time.monotonic()
    cache.quiet.hold(0.4)
    cache.prefetch(series[:2])
    cache.get(series[0], timeout=30)  # needed now: loads at once, despite the hold
    assert started[0] - held_at < 0.3
    end = time.monotonic() + 30
    while not cache.is_cached(series[1]) and time.monotonic() < end:
        time.sleep(0.01)
    assert started[1] - held_at >= 0.4  # ahead of need: only after the hold


def test_needing_a_prefetched_series_ends_its_wait(series, cache, started):
    held_at = time.monotonic()
    cache.quiet.hold(5.0)
    cache.prefetch(series[:1])
    time.sleep(0.1)  # the loader thread is waiting out the hold
    assert not started
    cache.get(series[0], timeout=30)
    assert started[0] - held_at < 2.0


def test_shutdown_during_a_hold_does_not_wait_for_it(series, cache, started):
    others = set(threading.enumerate())
    cache.quiet.hold(600.0)  # far longer than the test may take
    cache.prefetch(series[:2])
    time.sleep(0.1)  # the loader threads are waiting out the hold
    cache.shutdown()
    workers = [t for t in threading.enumerate() if t not in others]
    assert workers
    for thread in workers:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in workers)  # they stopped waiting
    assert not started  # and loaded nothing for a closed cache


def test_a_load_ahead_of_need_pauses_between_its_files_during_a_hold(series, cache, monkeypatch):
    from spondy_napari.display.quiet import QuietPeriod

    reads: list[float] = []  # each pause: when the load went on reading
    held_at: list[float] = []
    wait = QuietPeriod.wait

    def watched(self, stop=lambda: False):
        if len(reads) == 3:  # started, two files read: the reader presses a key now
            held_at.append(time.monotonic())
            self.hold(0.3)
        wait(self, stop)
        reads.append(time.monotonic())

    monkeypatch.setattr(QuietPeriod, "wait", watched)
    cache.prefetch(series[:1])
    end = time.monotonic() + 30
    while not cache.is_cached(series[0]) and time.monotonic() < end:
        time.sleep(0.01)
    assert len(reads) > 3 and held_at  # a pause before each file
    later = reads[3:]
    assert not [t for t in later if t < held_at[0] + 0.3]  # none read in the hold
    assert later  # the rest were read after it
