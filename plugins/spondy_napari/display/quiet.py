"""Quiet periods: background threads leave the CPU to the GUI while it puts a case on screen.

A case switch takes a few tens of milliseconds of Python on the GUI thread, then a draw. Loader
and registration threads started meanwhile would share the GIL and the cores with it, so the room
calls :meth:`QuietPeriod.hold` when it shows a case, and background work waits it out before it
starts (a load between its files too, a registration before each iteration). Work the GUI
waits for never waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Seconds a hold keeps background work still (a switch is drawn in a fraction of it).
QUIET_S = 0.5


class QuietPeriod:
    """A moment before which background work should not run."""

    def __init__(self) -> None:
        self._until = 0.0
        self._changed = threading.Condition()

    def hold(self, seconds: float = QUIET_S) -> None:
        """Keep background work still for ``seconds`` from now (or longer if held longer)."""
        with self._changed:
            self._until = max(self._until, time.monotonic() + seconds)

    @property
    def held(self) -> bool:
        """True while a hold runs."""
        return time.monotonic() < self._until

    def wait(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Wait (a background thread) until no hold runs, or until ``stop()`` after a :meth:`wake`."""
        with self._changed:
            while not stop():
                remaining = self._until - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(remaining)

    def wake(self) -> None:
        """Make waiting threads check their ``stop()`` now."""
        with self._changed:
            self._changed.notify_all()
