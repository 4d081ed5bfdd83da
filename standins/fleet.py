"""A thousand environments on one token host, simulated: the real ``Job``, ``TokenClient``,
pacing and decisions on a manual clock, against a host that applies Paxos's rule (1 request/s
per IP averaged over 5 minutes; past it, 429 to every request for 5 minutes) and an in-memory
Secrets Manager, both with random outages. `python -m bench.fleet_sim` prints the figures;
tests/unit/test_fleet_simulation.py asserts them on a smaller fleet.

Runs are sequential (``max_workers = 1``): the manual clock is shared, and with one token host
paced at 0.5 requests/s the requests are one after the other anyway.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from standins.fakes import LIFETIME, ManualClock, Outages, SecretsFake, fake_job, refused
from standins.sm_limits import SecretsManagerRules
from sync_job.config import parse_config
from sync_job.credentials import Credentials
from sync_job.errors import StoreError
from sync_job.payload import TokenPayload
from sync_job.redact import Secret
from sync_job.store import BATCH_SIZE, CURRENT_STAGE, PublishResult, StoredToken
from sync_job.transport import HttpRequest, HttpResponse, TransportError

HOST = "https://oauth.example.test/oauth2/token"
_JSON = {"Content-Type": "application/json"}
WINDOW = 300.0  # Paxos: the rate is averaged over 5 minutes...
LIMIT = 300  # ...at 1 request/s
LOCKOUT = 300.0  # and past it every request from the IP gets 429 for 5 minutes


class PaxosHost:
    """A ``transport.Transport`` at one token host with Paxos's rate rule."""

    def __init__(self, clock: ManualClock, outages: Outages, latency: float = 0.1) -> None:
        self.clock, self.outages, self.latency = clock, outages, latency
        self.times: list[float] = []  # every request that reached the host
        self._recent: collections.deque[float] = collections.deque()
        self.locked_until = 0.0
        self.lockouts = 0
        self.answered_429 = 0
        self.issued = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        self.clock.advance(self.latency)
        now = self.clock.monotonic()
        self.times.append(now)
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - WINDOW:
            self._recent.popleft()
        if now >= self.locked_until and len(self._recent) > LIMIT:
            self.locked_until = now + LOCKOUT
            self.lockouts += 1
        if now < self.locked_until:
            self.answered_429 += 1
            wait = str(int(self.locked_until - now) + 1)
            return HttpResponse(429, {**_JSON, "Retry-After": wait}, b'{"error": "rate_limited"}')
        if self.outages.active(now):
            raise TransportError("connection", "ConnectionError")  # what a refused connect gives
        self.issued += 1
        body = {
            "access_token": f"tok-fleet-{self.issued:09d}",
            "expires_in": LIFETIME,
            "token_type": "bearer",
        }
        return HttpResponse(200, _JSON, json.dumps(body).encode())

    def busiest(self, window: float) -> int:
        """Most requests in any window of ``window`` seconds."""
        times = self.times
        return max((bisect.bisect_left(times, t + window, lo=i) - i for i, t in enumerate(times)), default=0)


class FleetStore(SecretsFake):
    """Secrets Manager in memory for many secrets; every call fails during an outage. Reads are
    batched as the real store's are (a call per 20 secrets). Writes obey the documented limits
    (``sm_limits.py``, as the moto wrapper does): ``quota_errors`` counts version-quota refusals."""

    def __init__(self, clock: ManualClock, outages: Outages) -> None:
        self.clock, self.outages = clock, outages
        self.current: dict[str, TokenPayload] = {}
        self.history: dict[str, list[tuple[float, TokenPayload]]] = collections.defaultdict(list)
        self.created: dict[str, list[float]] = collections.defaultdict(list)  # epoch seconds
        self.rules = SecretsManagerRules(lambda: self.clock.now().timestamp())
        self.quota_errors = 0

    def _call(self) -> None:
        self.clock.advance(0.02)
        if self.outages.active(self.clock.monotonic()):
            raise StoreError("simulated Secrets Manager outage")

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        assert stage == CURRENT_STAGE, "FleetStore models AWSCURRENT only"
        self._call()
        payload = self.current.get(secret_id)
        return StoredToken(payload, "v" if payload else None)

    def read_tokens(self, secret_ids: Sequence[str]) -> dict[str, StoredToken | StoreError]:
        out: dict[str, StoredToken | StoreError] = {}
        for start in range(0, len(secret_ids), BATCH_SIZE):
            try:
                self._call()
            except StoreError as exc:
                out.update(dict.fromkeys(secret_ids[start : start + BATCH_SIZE], exc))
                continue
            for secret_id in secret_ids[start : start + BATCH_SIZE]:
                payload = self.current.get(secret_id)
                out[secret_id] = StoredToken(payload, "v" if payload else None)
        return out

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        self._call()
        return Credentials("fleet", client_secret=Secret("fleet-secret-value"), source=secret_id)

    def read_credentials_many(self, wanted: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        out: dict[tuple[str, str], Any] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            try:
                self._call()
            except StoreError as exc:
                out.update({pair: exc for pair in chunk})
                continue
            for secret_id, auth_method in chunk:
                out[(secret_id, auth_method)] = Credentials(
                    "fleet", client_secret=Secret("fleet-secret-value"), source=secret_id
                )
        return out

    def describe(self, secret_id: str) -> None:
        self._call()

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        self._call()
        return sum(1 for t in self.created[secret_id] if t >= since.timestamp())

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        self._call()
        for action, value in (("PutSecretValue", payload.to_json()), ("UpdateSecretVersionStage", None)):
            refusal = self.rules.refusal(
                action,
                secret_string=value,
                creates_version=value is not None,
                versions_created=self.created[secret_id],
            )
            if refusal is not None:
                self.quota_errors += refusal.code == "LimitExceededException"
                raise refused(refusal, action, secret_id)
            if value is not None:
                self.created[secret_id].append(self.rules.clock())
        self.current[secret_id] = payload
        self.history[secret_id].append((self.clock.monotonic(), payload))
        return PublishResult(published=True, version_id="v")


@dataclass(frozen=True)
class FleetResult:
    environments: int
    days: float
    urgency_order: bool
    all_held_after: float | None  # seconds from start until every environment held a token
    lapses: int  # tokens that expired before a new one was published, after all_held_after
    lapsed_seconds: float
    busiest_5_minutes: int  # most requests at the host in any 5-minute window
    requests_per_env_hour: float  # after all_held_after
    lockouts: int
    answered_429: int
    deferred: int  # deferred results over the week
    failed_after_all_held: int
    lapse_windows: tuple[tuple[float, float], ...] = ()  # (expired, replaced) of each lapse, s
    lapses_by_env: tuple[tuple[str, float, float], ...] = ()  # (environment, expired, replaced)
    outages: tuple[tuple[float, float], ...] = ()  # every outage window, token host and Secrets Manager


def simulate_fleet(
    *,
    environments: int = 1000,
    days: float = 7,
    seed: int = 1,
    interval: int = 300,
    margin: int = 900,
    run_timeout: float = 290,
    urgency_order: bool = True,
    max_attempts: int | None = None,
    token_outages: Outages | None = None,
    phase: float = 0.0,
    rate: float | None = None,
) -> FleetResult:
    """The default schedule (every ``interval`` s, a run of at most ``run_timeout`` s, as the
    Lambda's 300 s timeout less its safety margin) over ``days``, from nothing stored. The first
    run is at ``phase`` s (outages are drawn from ``seed`` first, so a lone environment at any
    phase sees the fleet's outages). ``rate``: ``rate_limit_per_second`` (None: the default)."""
    rng = random.Random(seed)
    horizon = days * 86400
    clock = ManualClock()
    drawn = Outages.random(rng, horizon, per_day=3, mean_minutes=8)
    host = PaxosHost(clock, drawn if token_outages is None else token_outages)
    token_out = drawn if token_outages is None else token_outages
    store_out = Outages.random(rng, horizon, per_day=1, mean_minutes=5)
    store = FleetStore(clock, store_out)
    names = [f"e{i:04d}" for i in range(environments)]
    job_config = parse_config(
        {
            "defaults": {
                "run_timeout_seconds": run_timeout,
                "max_workers": 1,
                "refresh_margin_seconds": margin,
                "schedule_seconds": interval,
                **({} if max_attempts is None else {"max_attempts": max_attempts}),
                **({} if rate is None else {"rate_limit_per_second": rate}),
            },
            "environments": {
                name: {"token_url": HOST, "credentials_secret": f"c/{name}", "token_secret": f"t/{name}"}
                for name in names
            },
        }
    )
    job = fake_job(job_config, clock, store, host, rng)  # type: ignore[arg-type]
    start = clock.now()
    deferred = failed_late = 0
    all_held: float | None = None
    t = phase
    while t < horizon:
        clock.advance(t - clock.monotonic())
        report = job.run(urgency_order=urgency_order)
        deferred += sum(1 for r in report.results if r.outcome == "deferred")
        if all_held is None and len(store.current) == environments:
            all_held = clock.monotonic()
        elif all_held is not None:
            failed_late += sum(1 for r in report.results if r.outcome == "failed")
        t += interval
    lapses, lapsed = 0, 0.0
    windows: list[tuple[float, float]] = []
    by_env: list[tuple[str, float, float]] = []
    requests_after = sum(1 for x in host.times if all_held is not None and x >= all_held)
    if all_held is not None:
        for name in names:
            history = [*store.history[f"t/{name}"], (horizon, store.current[f"t/{name}"])]
            for (since, payload), (until, _) in itertools.pairwise(history):
                expires = (payload.expires_at - start).total_seconds()
                if until > expires and expires >= all_held:
                    lapses += 1
                    lapsed += until - max(since, expires)
                    windows.append((max(since, expires), until))
                    by_env.append((name, max(since, expires), until))
    hours_after = (horizon - all_held) / 3600 if all_held is not None else 0
    return FleetResult(
        environments=environments,
        days=days,
        urgency_order=urgency_order,
        all_held_after=all_held,
        lapses=lapses,
        lapsed_seconds=lapsed,
        busiest_5_minutes=host.busiest(WINDOW),
        requests_per_env_hour=requests_after / environments / hours_after if hours_after else 0.0,
        lockouts=host.lockouts,
        answered_429=host.answered_429,
        deferred=deferred,
        failed_after_all_held=failed_late,
        lapse_windows=tuple(sorted(windows)),
        lapses_by_env=tuple(sorted(by_env, key=lambda w: w[1:])),
        outages=tuple(sorted(token_out.windows + store_out.windows)),
    )
