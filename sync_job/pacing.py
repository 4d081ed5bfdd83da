"""Pacing of token requests per token host, shared by every worker of one run.

Paxos limits /oauth2/token to 1 request/s per IP averaged over 5 minutes and, past that, blocks
every request from the IP for 5 minutes. One run may hold many environments on one host, so a
token bucket per origin spaces their requests, and a 429 closes the host for the rest of the
run when the server asks for a longer wait than the run has left.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sync_job import waits
from sync_job.clock import Clock
from sync_job.errors import DeadlineError, RateLimitedError


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


def _closed(host: str, seconds: float) -> RateLimitedError:
    return RateLimitedError(
        f"rate limited by {host}, retry after {math.ceil(seconds)} s",
        retry_after=seconds,
        status=429,
    )


def bucket_wait(tokens: float, rate: float) -> float:
    """Seconds until a bucket holding ``tokens`` (possibly negative: reserved) has one to spend."""
    return 0.0 if tokens >= 1 else (1 - tokens) / rate


def _sleep(clock: Clock, seconds: float, host: str) -> None:
    """Wait for a slot, waking for SIGTERM/SIGINT (``waits``): nothing is sent after one."""
    reason = waits.sleep(clock, seconds)
    if reason is not None:
        raise DeadlineError(f"not sent: interrupted by {reason} while waiting for a request slot for {host}")


class HostPacer:
    """Token buckets and 429 lock-outs per origin (scheme://host:port)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._closed_until: dict[str, float] = {}

    def acquire(self, origin: str, *, host: str, rate: float, burst: int, latest_start: float) -> None:
        """Wait for this origin's next request slot, or raise at once if it falls after
        ``latest_start`` (monotonic seconds). Raises ``DeadlineError`` (no slot in time, or
        SIGTERM/SIGINT during the wait) or ``RateLimitedError`` (the origin is closed)."""
        with self._lock:
            now = self._clock.monotonic()
            closed = self._closed_until.get(origin, 0.0)
            if closed > latest_start:
                raise _closed(host, closed - now)
            bucket = self._buckets.get(origin)
            if bucket is None:
                # The first environment on a host decides its bucket; configs normally share one.
                bucket = self._buckets[origin] = _Bucket(rate, burst, float(burst), now)
            bucket.refill(now)
            start = max(now + bucket_wait(bucket.tokens, bucket.rate), closed)
            if now > latest_start:
                raise DeadlineError(
                    "the run deadline leaves no time for a token request "
                    "(each needs timeout_seconds); raise run_timeout_seconds"
                )
            if start > latest_start:
                raise DeadlineError(
                    f"no request slot for {host} before the run deadline "
                    f"(pacing at {bucket.rate:g}/s, burst {bucket.burst:g}); "
                    "raise run_timeout_seconds or spread environments over runs"
                )
            # Reserve now, sleep outside the lock: later callers queue behind this slot.
            bucket.tokens -= 1
            wait = start - now
        _sleep(self._clock, wait, host)
        # Another worker may have met a 429 while this one waited: honour it before sending.
        with self._lock:
            now = self._clock.monotonic()
            closed = self._closed_until.get(origin, 0.0)
            if closed > latest_start:
                raise _closed(host, closed - now)
        if closed > now:
            _sleep(self._clock, closed - now, host)

    def close(self, origin: str, seconds: float) -> None:
        """A 429 asked for ``seconds``: send nothing to the origin before then."""
        with self._lock:
            until = self._clock.monotonic() + max(0.0, seconds)
            self._closed_until[origin] = max(self._closed_until.get(origin, 0.0), until)


# Secrets Manager's quota: "Combined rate of PutSecretValue, RemoveRegionsFromReplication,
# ReplicateSecretToRegion, StopReplicationToReplica, UpdateSecret, and UpdateSecretVersionStage
# API requests: 50 per second" in each Region, not adjustable
# (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html). Past it
# writes are throttled; a refresh makes two (the compare-and-swap), so a run of 100 environments
# would send 200 in about a second. The quota is the whole account's in the Region, and a slot
# granted here reaches AWS a little later (a thread descheduled on a busy host, a slow network):
# writes granted at 40/s arrived over 50 in one second on a loaded 2-core machine. The job keeps
# to 30/s with a burst of 5 (at most 35 in any second), leaving 15/s for bunching in transit and
# the account's other writers.
SECRETS_WRITE_RATE = 30.0
SECRETS_WRITE_BURST = 5


def secrets_write_slot(pacer: HostPacer) -> Callable[[], None]:
    """A ``write_slot`` for ``store.SecretStore``: each call waits for the run's next Secrets
    Manager write slot (a token bucket of :data:`SECRETS_WRITE_RATE` per second, burst
    :data:`SECRETS_WRITE_BURST`, shared by every worker of ``pacer``). The run's own deadline
    bounds the wait (``sync.Job``); a slot is never refused."""

    def slot() -> None:
        pacer.acquire(
            "secretsmanager:writes",
            host="Secrets Manager (writes)",
            rate=SECRETS_WRITE_RATE,
            burst=SECRETS_WRITE_BURST,
            latest_start=math.inf,
        )

    return slot
