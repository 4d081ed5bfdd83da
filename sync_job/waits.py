"""Waits that wake for SIGTERM/SIGINT: the run's interrupt, made visible to every wait of the
process (pacing, retry sleeps, an HTTP request in flight, a Pushgateway push).

The interrupt (``executor.Interrupt``) is set by the CLI's signal handler; the waits are deep in
the token client, the pacer and the transport, which a run does not hand it to. So the command
that owns the signal handlers opens :func:`interruptible` around its work, and every wait asks
:func:`interrupted`. Outside such a scope (the Lambda, simulations, unit tests) nothing is ever
interrupted and :func:`sleep` is the clock's own sleep, so a ``ManualClock`` week stays as cheap.

Polling (every ``POLL_SECONDS`` of real time), not an event set from the signal handler: a
handler runs in the main thread between bytecodes, and ``threading.Event.set`` there could wait
for a lock the interrupted code holds. One poller thread does it for every sleep on the real
clock and wakes them all through an event; a sleep on another clock polls by itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

from sync_job.clock import Clock, SystemClock

# How often a wait looks at the interrupt (real seconds): SIGTERM is seen within this.
POLL_SECONDS = 0.1

T = TypeVar("T")


class Flag(Protocol):
    """What a wait reads: true once set, and why (``executor.Interrupt`` is one)."""

    reason: str | None

    def __bool__(self) -> bool: ...


_lock = threading.Lock()
_scopes: list[Flag] = []


# Set by the poller once an interrupt in scope is seen; real-time sleepers wait on it.
_woken = threading.Event()
_poller: threading.Thread | None = None


def _start_poller() -> None:
    global _poller
    with _lock:
        if _poller is None and _scopes:
            _poller = threading.Thread(target=_poll, name="sync-job-interrupt-poller", daemon=True)
            _poller.start()


def _poll() -> None:
    """Every ``POLL_SECONDS`` while a scope is open: an interrupt seen wakes every real-time
    sleeper at once (polling, not a set from the signal handler: see the module docstring)."""
    global _poller
    while True:  # bounded by the scopes: it ends when the last one closes
        with _lock:
            if not _scopes:
                _poller = None
                return
        if interrupted() is not None:
            _woken.set()
        time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def interruptible(flag: Flag) -> Iterator[Flag]:
    """While inside, :func:`interrupted` reports ``flag`` once it is set (scopes nest: any set
    flag counts). Used by the command that installs the SIGTERM/SIGINT handlers."""
    with _lock:
        _scopes.append(flag)
    try:
        yield flag
    finally:
        with _lock:
            _scopes.remove(flag)
            if not _scopes:
                _woken.clear()


def interrupted() -> str | None:
    """The reason (``"SIGTERM"``, ``"SIGINT"``) of a set interrupt in scope, else None."""
    for flag in tuple(_scopes):
        if flag:
            return flag.reason or "an interrupt"
    return None


def active() -> bool:
    """Whether any interrupt scope is open (a wait must then poll)."""
    return bool(_scopes)


def sleep(clock: Clock, seconds: float) -> str | None:
    """Sleep ``seconds`` on ``clock``, waking early for an interrupt in scope. Returns the
    interrupt's reason when it cut the sleep short (or was set before), None after a full sleep."""
    reason = interrupted()
    if reason is not None or seconds <= 0:
        return reason
    if not active():
        clock.sleep(seconds)
        return None
    if isinstance(clock, SystemClock):
        # One poller for every sleeper: 64 workers waiting for a pacing slot would otherwise
        # wake 640 times a second between them (measured: ~0.3 ms of CPU per environment).
        _start_poller()
        _woken.wait(seconds)
        return interrupted()
    end = clock.monotonic() + seconds
    for _ in range(int(seconds / POLL_SECONDS) + 2):  # bounded: one step per poll period
        left = end - clock.monotonic()
        if left <= 0:
            return None
        clock.sleep(min(POLL_SECONDS, left))
        reason = interrupted()
        if reason is not None:
            return reason
    return None


class Unfinished(Exception):
    """:func:`bounded` gave up: ``reason`` is ``"deadline"`` or the interrupt's (``"SIGTERM"``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bounded(call: Callable[[], T], seconds: float, *, name: str = "sync-job-bounded") -> T:
    """``call()`` on a daemon thread, waited for at most ``seconds`` (real time) and only until
    an interrupt in scope is set: what no socket timeout bounds (a name that never resolves:
    getaddrinfo cannot be cut) cannot hold the caller, and the caller's thread stays free to
    run signal handlers. Returns its result or re-raises what it raised; raises
    :class:`Unfinished` when it gave up (the thread is abandoned: a daemon, it ends with the
    process)."""
    box: list[T] = []
    failure: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # re-raised in the caller's thread below
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    end = time.monotonic() + seconds
    for _ in range(int(seconds / POLL_SECONDS) + 2):  # bounded: one step per poll period
        if finished.wait(max(0.0, min(POLL_SECONDS, end - time.monotonic()))):
            break
        reason = interrupted()
        if reason is not None:
            raise Unfinished(reason)
        if time.monotonic() >= end:
            raise Unfinished("deadline")
    if not finished.is_set():
        raise Unfinished("deadline")
    if failure:
        raise failure[0]
    return box[0]
