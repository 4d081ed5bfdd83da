"""The deadline-bounded worker pool a run, ``check`` and ``status`` share. It knows items, a
deadline, an interrupt and a clock, nothing of tokens or secrets.

Promises, whatever the work does (a peer that accepts and never answers, a name that never
resolves): :meth:`Pool.map` returns by ``deadline + STRAGGLER_GRACE_SECONDS``, or by the
interrupt's time ``+ INTERRUPT_GRACE_SECONDS``, with exactly one result per item, each passed to
``settle`` exactly once; :func:`call_bounded` returns by the same deadline and at once when
interrupted. Threads are daemons, so an abandoned call does not keep the process alive at exit.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sync_job import waits
from sync_job.clock import Clock

# Past the run's deadline, items still inside a call are given up on (reported by ``stuck``).
STRAGGLER_GRACE_SECONDS = 1.0
# After SIGTERM or SIGINT nothing new starts; what is in flight gets this long to finish.
INTERRUPT_GRACE_SECONDS = 10.0
# How often a waiting thread looks at the clock and at an interrupt (real seconds).
POLL_SECONDS = 0.1
# The longest one sleep of a worker waiting for a later retry (the clock's seconds), so an
# interrupt or the end of the run is seen within it.
_RETRY_WAIT_STEP_SECONDS = 1.0

T = TypeVar("T")
R = TypeVar("R")


class Interrupt:
    """Set (from a signal handler) to stop a run early: nothing new starts, what is in flight
    gets ``INTERRUPT_GRACE_SECONDS``, and every item is still reported."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.at: float | None = None  # the clock's monotonic time it was set

    def set(self, reason: str, at: float) -> None:
        """Record the first interrupt only: ``reason`` (e.g. ``"SIGTERM"``) and when (``at``,
        the clock's monotonic seconds)."""
        if self.reason is None:
            self.at = at
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class Later(Generic[R]):
    """What a work item returns to be tried again in the same map, no sooner than
    ``not_before`` (the clock's monotonic seconds); ``result`` stands if the map ends first."""

    result: R
    not_before: float


@dataclass(frozen=True)
class Unfinished:
    """Why :func:`call_bounded` returned without the call's result (one line)."""

    reason: str


class Activity:
    """What each item is doing now (one short phrase per key), for the report of an item that
    outlives the deadline. Written by the work, read by the pool when it gives up on an item."""

    def __init__(self) -> None:
        self._doing: dict[str, str] = {}
        self._lock = threading.Lock()

    def note(self, key: str, what: str) -> None:
        """Record that the item ``key`` is now ``what`` (a short phrase, e.g. "requesting a token")."""
        with self._lock:
            self._doing[key] = what

    def of(self, key: str) -> str:
        """What the item ``key`` was last noted doing (``starting`` before any note)."""
        with self._lock:
            return self._doing.get(key, "starting")


def call_bounded(
    call: Callable[[], R],
    *,
    clock: Clock,
    deadline: float,
    budget: float,
    interrupt: Interrupt | None = None,
    doing: str = "reading secrets",
) -> R | Unfinished:
    """``call()`` through the process's one interruptible bounded wait (``waits.bounded``): its
    result, or :class:`Unfinished` when it has not returned by ``deadline +
    STRAGGLER_GRACE_SECONDS`` (the clock's monotonic seconds), or as soon as ``interrupt`` (or
    another interrupt in scope) is set; a read loses nothing when abandoned, so it gets no
    grace. Re-raises what ``call`` raised. ``budget`` (seconds) and ``doing`` only word the
    reason."""
    seconds = max(0.0, deadline + STRAGGLER_GRACE_SECONDS - clock.monotonic())
    scope = waits.interruptible(interrupt) if interrupt is not None else contextlib.nullcontext()
    try:
        with scope:
            return waits.bounded(call, seconds, name="sync-job-read")
    except waits.Unfinished as exc:
        if exc.reason == "deadline":
            return Unfinished(f"did not finish within the run's budget of {budget:g} s (still {doing})")
        return Unfinished(f"interrupted by {exc.reason} while {doing}")


@dataclass(frozen=True)
class Pool:
    """At most ``workers`` daemon threads, bounded by ``deadline`` (the clock's monotonic
    seconds; ``budget`` is its length, for messages) and by ``interrupt``."""

    clock: Clock
    workers: int
    deadline: float
    budget: float
    interrupt: Interrupt | None = None

    def map(
        self,
        items: Sequence[T],
        work: Callable[[T, R | None], R | Later[R]],
        *,
        stuck: Callable[[T, str, bool], R],
        doing: Callable[[T], str] = lambda item: "starting",
        settle: Callable[[T, R], R] = lambda item, result: result,
    ) -> list[R]:
        """``work(item, previous)`` for each item in the order given; results in that order.

        ``previous`` is None on an item's first round; when ``work`` returned :class:`Later`,
        the item goes back in the queue at its place, to be taken no sooner than
        ``not_before``, and is worked again with that result as ``previous`` (which stands if
        the map ends first). An item still running at the end, or never started, gets
        ``stuck(item, why, began)``; ``doing(item)`` words what it was doing. Each item's final
        result passes once through ``settle`` (under the pool's lock, so keep it short), whose
        return value is the item's result; after ``map`` returns, a straggler's late result
        is dropped."""
        if not items:
            return []
        return _Mapping(self, items, work, stuck, doing, settle).run()


@dataclass
class _Mapping(Generic[T, R]):
    """The state of one :meth:`Pool.map`: a queue of indices shared by the workers, under one lock."""

    pool: Pool
    items: Sequence[T]
    work: Callable[[T, R | None], R | Later[R]]
    stuck: Callable[[T, str, bool], R]
    doing: Callable[[T], str]
    settle: Callable[[T, R], R]
    results: dict[int, R] = field(default_factory=dict)
    provisional: dict[int, R] = field(default_factory=dict)  # a Later's result while it waits
    not_before: dict[int, float] = field(default_factory=dict)
    queue: list[int] = field(default_factory=list)  # indices, kept in the order given
    began: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    closed: bool = False
    waiter: bool = False  # one idle worker waits for a queued retry; the others leave

    def run(self) -> list[R]:
        self.queue = list(range(len(self.items)))
        threads = [
            threading.Thread(target=self._worker, name=f"sync-job-{n}", daemon=True)
            for n in range(min(len(self.items), self.pool.workers))
        ]
        for thread in threads:
            thread.start()
        self._wait(threads)
        return self._close()

    def _limit(self) -> float:
        limit = self.pool.deadline + STRAGGLER_GRACE_SECONDS
        interrupt = self.pool.interrupt
        if interrupt and interrupt.at is not None:
            limit = min(limit, interrupt.at + INTERRUPT_GRACE_SECONDS)
        return limit

    def _wait(self, threads: Sequence[threading.Thread]) -> None:
        while not self.done.is_set():
            remaining = self._limit() - self.pool.clock.monotonic()
            if remaining <= 0 or not any(thread.is_alive() for thread in threads):
                return
            self.done.wait(min(POLL_SECONDS, remaining))

    def _ready(self) -> int | float | None:
        """Under the lock: the first index whose time has come (taken off the queue), else how
        long until the next one may start, else None (nothing more to take)."""
        if not self.queue or self.pool.interrupt or self.done.is_set():
            return None
        now = self.pool.clock.monotonic()
        for position, index in enumerate(self.queue):
            if self.not_before.get(index, now) <= now:
                del self.queue[position]
                self.began.add(index)
                return index
        wait = min(self.not_before[i] for i in self.queue) - now
        if now + wait >= self.pool.deadline or self.waiter:
            return None
        self.waiter = True
        return float(wait)

    def _take(self) -> int | None:
        """The next index to work on, waiting (bounded by the deadline, a step at a time so an
        interrupt is seen) while only later retries are queued; None when there is none."""
        while True:
            with self.lock:
                ready = self._ready()
            if ready is None or isinstance(ready, int):
                return ready
            try:
                # On the pool's clock: a simulation's manual clock moves by exactly this much.
                self.pool.clock.sleep(min(ready, _RETRY_WAIT_STEP_SECONDS))
            finally:
                with self.lock:
                    self.waiter = False

    def _worker(self) -> None:
        while (index := self._take()) is not None:
            item = self.items[index]
            interrupt = self.pool.interrupt
            if interrupt and index in self.provisional:
                outcome: R | Later[R] = self.provisional[index]  # its first round's result stands
            elif interrupt:
                outcome = self.stuck(
                    item, f"not started: the run was interrupted by {interrupt.reason}", False
                )
            else:
                outcome = self.work(item, self.provisional.get(index))
            with self.lock:
                if isinstance(outcome, Later):
                    self.provisional[index] = outcome.result
                    self.not_before[index] = outcome.not_before
                    self.queue.append(index)
                    self.queue.sort()
                    continue
                self._final(index, outcome)

    def _final(self, index: int, result: R) -> None:
        """Under the lock: record an item's final result, once, unless the map has returned."""
        if self.closed or index in self.results:
            return
        self.provisional.pop(index, None)
        self.results[index] = self.settle(self.items[index], result)
        if len(self.results) == len(self.items):
            self.done.set()

    def _why(self, index: int) -> tuple[str, bool]:
        interrupt = self.pool.interrupt
        if index not in self.began:
            cause = (
                f"the run was interrupted by {interrupt.reason}"
                if interrupt
                else f"the run's budget of {self.pool.budget:g} s ran out"
            )
            return f"not started: {cause}", False
        doing = self.doing(self.items[index])
        if interrupt:
            return f"interrupted by {interrupt.reason} while {doing}", True
        return f"did not finish within the run's budget of {self.pool.budget:g} s (still {doing})", True

    def _close(self) -> list[R]:
        with self.lock:
            waiting = set(self.queue)
            self.queue.clear()  # nothing new starts after the wait ended
            for index, item in enumerate(self.items):
                if index in self.results:
                    continue
                if index in waiting and index in self.provisional:
                    self._final(index, self.provisional[index])  # its second round never came
                else:
                    why, began = self._why(index)
                    self._final(index, self.stuck(item, why, began))
            self.closed = True
            return [self.results[index] for index in range(len(self.items))]
