"""A guard for tests that must fail, not hang, on bad input."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Hang(BaseException):
    """Raised by :func:`deadline`; a BaseException, so that no ``except Exception`` hides it."""


@contextmanager
def deadline(seconds: float = 10.0) -> Iterator[None]:
    """Fail, instead of hanging, when the block runs longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
