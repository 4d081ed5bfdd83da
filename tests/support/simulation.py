"""The freshness simulation: scheduled runs of the real ``Job`` on a manual clock, with outages.

The real `Job`, `TokenClient` (retries, pacing, deadline) and freshness decisions run; only the
two wires are replaced (tests/support/fakes.py): a fake HTTP session for the token endpoint and an
in-memory Secrets Manager, each with outage windows. Nothing sleeps: the clock moves when the code
sleeps. `python -m bench.freshness_sim` prints the table; tests/unit/test_freshness_simulation.py
asserts its bounds.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from tests.support.fakes import (
    LIFETIME,
    FakeTokenEndpoint,
    ManualClock,
    MemoryStore,
    Outages,
    config,
    fake_job,
)


@dataclass
class SimResult:
    margin: int
    interval: int
    days: float
    min_remaining_read: float
    valid_fraction: float
    requests_per_hour: float
    expiries: int
    longest_outage: float
    expiries_without_long_outage: int
    longest_lapse: float = 0.0


def simulate(
    *,
    margin: int,
    interval: int,
    days: float,
    seed: int,
    token_outages: Outages | None = None,
    store_outages: Outages | None = None,
    lifetime: int = LIFETIME,
) -> SimResult:
    rng = random.Random(seed)
    horizon = days * 86400
    token_out = token_outages or Outages.random(rng, horizon, per_day=3, mean_minutes=8)
    store_out = store_outages or Outages.random(rng, horizon, per_day=1, mean_minutes=5)
    clock = ManualClock()
    endpoint = FakeTokenEndpoint(clock, token_out, lifetime=lifetime)
    store = MemoryStore(clock, store_out)
    job_config = config(
        "sim",
        defaults={"run_timeout_seconds": 60},
        token_url="https://oauth.example.test/oauth2/token",
        scopes=["a"],
        refresh_margin_seconds=margin,
    )
    job = fake_job(job_config, clock, store, endpoint, rng)
    start = clock.now()
    t = 0.0
    while t < horizon:
        # Runs start on the schedule (a run that overran only delays the next one).
        clock.advance(t - clock.monotonic())
        job.run()
        t += interval
    outages = token_out.windows + store_out.windows
    # What a consumer reads at any moment is the token current then; the least it can see is
    # the remaining lifetime just before each replacement (negative: it had expired).
    history = [*store.history, (horizon, store.history[-1][1])]
    min_read = float("inf")
    expired_time = 0.0
    expiries = unexplained = 0
    longest_lapse = 0.0
    for (since, payload), (until, _) in itertools.pairwise(history):
        expires = (payload.expires_at - start).total_seconds()
        min_read = min(min_read, expires - until)
        if until > expires:
            expired_time += until - max(since, expires)
            longest_lapse = max(longest_lapse, until - max(since, expires))
            expiries += 1
            # Tokens that live no longer than the margin are refreshed at half their lifetime.
            effective = lifetime / 2 if lifetime <= margin else margin
            window = (expires - effective, expires)
            if not any(b - a > effective - interval and a < window[1] and b > window[0] for a, b in outages):
                unexplained += 1
    covered = horizon - history[0][0]
    return SimResult(
        margin=margin,
        interval=interval,
        days=days,
        min_remaining_read=min_read,
        valid_fraction=1 - expired_time / covered,
        requests_per_hour=endpoint.requests / (horizon / 3600),
        expiries=expiries,
        longest_outage=max([b - a for a, b in outages] or [0.0]),
        expiries_without_long_outage=unexplained,
        longest_lapse=longest_lapse,
    )
