"""Seconds -> a deadline for the whole check, enforced inside sympy calls too (SIGALRM)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class OutOfTime(BaseException):  # noqa: N818 (not an error: a signal to stop, past sympy's excepts)
    pass


def _alarm(signum, frame):
    raise OutOfTime


class Budget:
    """A deadline for the whole check. limit() interrupts a block, sympy calls included,
    with SIGALRM when this is the main thread of a Unix process; elsewhere the clock is
    read between steps only."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self._ends: list[float] = []
        self._alarms = (
            hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the caller's timer wins
        )
        self._previous: Any = None

    @property
    def alarms(self) -> bool:
        return self._alarms

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def tick(self) -> None:
        if time.monotonic() >= self.deadline:
            raise OutOfTime

    def _arm(self, end: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(end - time.monotonic(), 1e-4))

    @contextmanager
    def limit(self, seconds: float | None = None) -> Iterator[None]:
        end = self.deadline if seconds is None else min(self.deadline, time.monotonic() + seconds)
        if end <= time.monotonic():
            raise OutOfTime
        if not self._alarms:
            yield
            return
        if not self._ends:
            self._previous = signal.signal(signal.SIGALRM, _alarm)
        self._ends.append(end)
        self._arm(end)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._ends.pop()
            if self._ends:
                self._arm(self._ends[-1])
            else:
                signal.signal(signal.SIGALRM, self._previous)
