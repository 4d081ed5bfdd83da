"""Time as a dependency: the real clock, and a manual one for simulations and tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the job reads the time and waits: wall-clock for expiry (RFC 3339 UTC), monotonic
    for deadlines, and a sleep a manual clock turns into moving forward."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, pacing)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (nothing when not positive)."""
        ...


class SystemClock:
    """The real clock: ``datetime.now(UTC)``, ``time.monotonic`` and ``time.sleep``."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()`` seconds."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``; nothing when not positive."""
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (or when slept on), so a week runs in a second."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 11, 29, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The start moment plus the seconds moved so far (UTC)."""
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        """Seconds moved so far."""
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        """Move forward ``seconds`` at once: a simulated wait takes no real time."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move forward ``seconds`` (never back: a negative value is ignored)."""
        if seconds > 0:
            with self._lock:
                self._elapsed += seconds
