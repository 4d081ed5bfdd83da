"""Waits that wake for SIGTERM/SIGINT: the run's interrupt, made visible to every wait of the
process (pacing, retry sleeps, an HTTP request in flight, a Pushgateway push).

The interrupt (``executor.Interrupt``) is set by the CLI's signal handler; the waits are deep in
the token client, the pacer and the transport, which a run does not hand it to. So the command
that owns the signal handlers opens :func:`interruptible` around its work, and every wait asks
:func:`interrupted`. Outside such a scope (the Lambda, simulations, unit tests) nothing is ever
interrupted and :func:`sleep` is the clock's own sleep, so a ``ManualClock`` week stays as cheap.

Polling (every ``POLL_SECONDS`` of real time), not an event set from the signal handler: a
handler runs in the main thread between bytecodes, and ``threading.Event.set`` there could wait
for a lock the interrupted code holds.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol

from sync_job.clock import Clock

# How often a wait looks at the interrupt (real seconds): SIGTERM is seen within this.
POLL_SECONDS = 0.1


class Flag(Protocol):
    """What a wait reads: true once set, and why (``executor.Interrupt`` is one)."""

    reason: str | None

    def __bool__(self) -> bool: ...


_lock = threading.Lock()
_scopes: list[Flag] = []


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
