"""Freshness simulation: a week of scheduled runs on a manual clock, with random outages.

The real `Job`, `TokenClient` (retries, pacing, deadline) and freshness decisions run; only the
two wires are replaced: a fake HTTP session for the token endpoint and an in-memory Secrets
Manager, each with outage windows. Nothing sleeps: the clock moves when the code sleeps.

    python bench/freshness_sim.py            # the README table
    python bench/freshness_sim.py --days 1 --margin 1800 --interval 900 --seed 3
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

import requests

from sync_job.clock import ManualClock
from sync_job.config import parse_config
from sync_job.errors import StoreError, SyncJobError
from sync_job.oauth import Credentials
from sync_job.pacing import HostPacer
from sync_job.payload import TokenPayload
from sync_job.redact import Secret
from sync_job.store import PublishResult, StoredToken
from sync_job.sync import Job
from sync_job.token_client import TokenClient

LIFETIME = 3599


@dataclass
class Outages:
    """Sorted, non-overlapping [start, end) windows in simulated seconds."""

    windows: list[tuple[float, float]] = field(default_factory=list)

    def active(self, t: float) -> bool:
        i = bisect.bisect_right(self.windows, (t, float("inf"))) - 1
        return i >= 0 and self.windows[i][0] <= t < self.windows[i][1]

    @staticmethod
    def random(rng: random.Random, horizon: float, per_day: float, mean_minutes: float) -> Outages:
        windows: list[tuple[float, float]] = []
        t = 0.0
        while True:
            t += rng.expovariate(per_day / 86400)
            if t >= horizon:
                return Outages(windows)
            length = rng.expovariate(1 / (mean_minutes * 60))
            if windows and t <= windows[-1][1]:
                continue
            windows.append((t, t + length))
            t += length


class _Response:
    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.headers = {"Content-Type": "application/json"}
        self._body = body

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        yield self._body


class FakeTokenEndpoint:
    """Stands in for requests.Session: answers like Paxos, or fails during an outage."""

    def __init__(self, clock: ManualClock, outages: Outages, latency: float = 0.1) -> None:
        self.clock, self.outages, self.latency = clock, outages, latency
        self.requests = 0

    def post(self, url: str, **kwargs: Any) -> _Response:
        self.requests += 1
        self.clock.advance(self.latency)
        if self.outages.active(self.clock.monotonic()):
            raise requests.exceptions.ConnectionError("simulated outage")
        body = json.dumps(
            {
                "access_token": f"tok-sim-{self.requests:08d}",
                "expires_in": LIFETIME,
                "token_type": "bearer",
                "scope": "a",
            }
        ).encode()
        return _Response(body)


class MemoryStore:
    """Secrets Manager in memory, failing every call during an outage."""

    def __init__(self, clock: ManualClock, outages: Outages) -> None:
        self.clock, self.outages = clock, outages
        self.current: TokenPayload | None = None
        self.history: list[tuple[float, TokenPayload]] = []

    def _check(self) -> None:
        self.clock.advance(0.01)
        if self.outages.active(self.clock.monotonic()):
            raise StoreError("simulated Secrets Manager outage")

    def read_token(self, secret_id: str) -> StoredToken:
        self._check()
        return StoredToken(self.current, "v" if self.current else None)

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        self._check()
        return Credentials("sim", client_secret=Secret("sim-secret-value"), source=secret_id)

    def read_tokens(self, secret_ids: Sequence[str]) -> dict[str, StoredToken | StoreError]:
        out: dict[str, StoredToken | StoreError] = {}
        for secret_id in secret_ids:
            try:
                out[secret_id] = self.read_token(secret_id)
            except StoreError as exc:
                out[secret_id] = exc
        return out

    def read_credentials_many(
        self, wanted: Sequence[tuple[str, str]]
    ) -> dict[str, Credentials | SyncJobError]:
        out: dict[str, Credentials | SyncJobError] = {}
        for secret_id, method in wanted:
            try:
                out[secret_id] = self.read_credentials(secret_id, method)
            except SyncJobError as exc:
                out[secret_id] = exc
        return out

    def describe(self, secret_id: str) -> dict[str, Any]:
        self._check()
        return {}

    def publish(self, secret_id: str, payload: TokenPayload, expected: str | None) -> PublishResult:
        self._check()
        self.current = payload
        self.history.append((self.clock.monotonic(), payload))
        return PublishResult(published=True)


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
) -> SimResult:
    rng = random.Random(seed)
    horizon = days * 86400
    token_out = token_outages or Outages.random(rng, horizon, per_day=3, mean_minutes=8)
    store_out = store_outages or Outages.random(rng, horizon, per_day=1, mean_minutes=5)
    clock = ManualClock()
    endpoint = FakeTokenEndpoint(clock, token_out)
    store = MemoryStore(clock, store_out)
    config = parse_config(
        {
            "defaults": {"run_timeout_seconds": 60},
            "environments": {
                "sim": {
                    "token_url": "https://oauth.example.test/oauth2/token",
                    "credentials_secret": "c",
                    "token_secret": "t",
                    "scopes": ["a"],
                    "refresh_margin_seconds": margin,
                }
            },
        }
    )
    job = Job(
        config=config,
        store=store,
        clock=clock,
        tokens=TokenClient(endpoint, clock, HostPacer(clock), random=rng),
    )  # type: ignore[arg-type]
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
            window = (expires - margin, expires)
            if not any(b - a > margin - interval and a < window[1] and b > window[0] for a, b in outages):
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


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)  # a week of retries would be a lot of log lines
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--margin", type=int, action="append")
    parser.add_argument("--interval", type=int, action="append")
    args = parser.parse_args()
    combos = (
        [(m, i) for m in args.margin for i in args.interval]
        if args.margin and args.interval
        else [(900, 900), (900, 300), (1800, 900), (2400, 300)]
    )
    print(
        f"{args.days:g} simulated days, token lifetime {LIFETIME} s, seed {args.seed}; "
        "outages: token endpoint ~3/day (mean 8 min), Secrets Manager ~1/day (mean 5 min)"
    )
    print(
        "| margin M | interval I | M - I | min remaining read | time valid token stored "
        "| token requests/h | lapses | longest lapse | longest outage |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failures = 0
    for margin, interval in combos:
        r = simulate(margin=margin, interval=interval, days=args.days, seed=args.seed)
        failures += r.expiries_without_long_outage
        print(
            f"| {margin} s | {interval} s | {margin - interval} s | {r.min_remaining_read:.0f} s "
            f"| {100 * r.valid_fraction:.3f} % | {r.requests_per_hour:.3f} | {r.expiries} "
            f"| {r.longest_lapse:.0f} s | {r.longest_outage:.0f} s |"
        )
    print("expiries not explained by an outage longer than M - I:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
