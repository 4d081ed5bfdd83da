"""The freshness simulation: scheduled runs of the real ``Job`` on a manual clock, with outages.

The real `Job`, `TokenClient` (retries, pacing, deadline) and freshness decisions run; only the
two wires are replaced (standins/fakes.py): a fake HTTP session for the token endpoint and an
in-memory Secrets Manager, each with outage windows. Nothing sleeps: the clock moves when the code
sleeps. `python -m bench.freshness_sim` prints the table; tests/unit/test_freshness_simulation.py
asserts its bounds.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, replace
from pathlib import Path

from standins.fakes import (
    LIFETIME,
    FakeTokenEndpoint,
    ManualClock,
    MemoryStore,
    Outages,
    config,
    fake_job,
)
from standins.sm_limits import VERSION_WINDOW_SECONDS
from sync_job import budget
from sync_job.config import load_config

DEFAULT_SCHEDULE_SECONDS = 300  # infra/'s EventBridge rate(5 minutes)


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
    writes_per_day: float = 0.0  # versions the job wrote to the token secret, mean per day
    max_writes_24h: int = 0  # most versions created within any 24 hours (what the quota counts)
    quota_errors: int = 0  # PutSecretValue refused with LimitExceededException


def simulate(
    *,
    margin: int,
    interval: int,
    days: float,
    seed: int,
    token_outages: Outages | None = None,
    store_outages: Outages | None = None,
    lifetime: int = LIFETIME,
    schedule: int | None = None,
) -> SimResult:
    """A simulated ``days`` of runs every ``interval`` s of one environment whose provider
    issues ``lifetime``-second tokens, refreshed with ``refresh_margin_seconds = margin``;
    ``schedule`` is the config's ``schedule_seconds`` (the write-budget arithmetic's)."""
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
    if schedule is not None:
        job_config = replace(job_config, schedule_seconds=schedule)
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
        writes_per_day=len(store.created) / days,
        max_writes_24h=_busiest_day(store.created),
        quota_errors=store.quota_errors,
    )


def _busiest_day(created: list[float]) -> int:
    """Most of the (sorted) creation times within any 24 hours."""
    times = sorted(created)
    return max(
        (bisect.bisect_left(times, t + VERSION_WINDOW_SECONDS) - i for i, t in enumerate(times)), default=0
    )


@dataclass(frozen=True)
class ExampleWrites:
    """One environment of an ``examples/providers/*.toml`` over a simulated week."""

    example: str
    environment: str
    lifetime: int  # the provider's token lifetime as the example configures it
    margin: int
    interval: int  # the schedule simulated (the config's schedule_seconds, else infra/'s 300 s)
    planned_per_day: int  # budget.plan's upper bound
    result: SimResult


def simulate_example(path: Path, lifetime: int, *, days: float = 7, seed: int = 1) -> list[ExampleWrites]:
    """Each environment of the example at ``path`` (its margin and schedule as configured), its
    provider issuing ``lifetime``-second tokens, over ``days`` on the simulation above."""
    example = load_config(path)
    interval = example.schedule_seconds or DEFAULT_SCHEDULE_SECONDS
    out = []
    for env in example.environments:
        margin = env.refresh_margin_seconds
        result = simulate(
            margin=margin,
            interval=interval,
            days=days,
            seed=seed,
            lifetime=lifetime,
            schedule=example.schedule_seconds,
        )
        planned = budget.plan(lifetime, margin, interval).writes_per_day
        out.append(ExampleWrites(path.stem, env.name, lifetime, margin, interval, planned, result))
    return out
