"""In-memory stand-ins shared by the unit tests and the freshness simulation (bench/freshness_sim.py),
and the builders of configs and stored token documents every test uses.

Only the wires are replaced: :class:`FakeTokenEndpoint` is the ``transport.Transport`` under the
real ``TokenClient``, :class:`MemoryStore` for ``sync_job.store.SecretsStore`` under the real ``Job``,
:class:`FakeSecretsClient` for boto3's Secrets Manager client under the real ``TokenReader``. Time is a
:class:`ManualClock`: it moves when the code sleeps, so a simulated week takes a second.
"""

from __future__ import annotations

import bisect
import collections
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from standins.sm_limits import Refusal, SecretsManagerRules
from sync_job import clock
from sync_job.awserrors import secretsmanager_error
from sync_job.config import Config, EnvironmentConfig, parse_config
from sync_job.credentials import Credentials
from sync_job.errors import SecretNotFoundError, StoreError, SyncJobError
from sync_job.oauth import TokenResponse
from sync_job.pacing import HostPacer
from sync_job.payload import TokenPayload, parse_payload
from sync_job.redact import Secret
from sync_job.store import CURRENT_STAGE, PublishResult, StoredDocument, StoredToken
from sync_job.sync import Job
from sync_job.timeutil import format_rfc3339
from sync_job.token_client import FetchResult, TokenClient
from sync_job.transport import HttpRequest, HttpResponse, TransportError

SCOPES = ("funding:read_profile", "transfer:read_transfer")
TOKEN_URL = "https://oauth.sandbox.paxos.com/oauth2/token"
SECRET_ID = "paxos/sandbox/access-token"
LIFETIME = 3599  # seconds: what Paxos grants


# --- time -------------------------------------------------------------------------------------------


class ManualClock(clock.ManualClock):
    """sync_job's manual clock, also callable (``TokenReader`` takes a callable returning an aware
    datetime) and settable to a moment."""

    def __call__(self) -> datetime:
        return self.now()

    def set(self, moment: datetime) -> None:
        """Move forward to ``moment``; ValueError if it is in the past (monotonic time never goes back)."""
        seconds = (moment - self.now()).total_seconds()
        if seconds < 0:
            raise ValueError(f"a ManualClock does not go back ({seconds} s)")
        self.advance(seconds)


# --- configs and stored documents -------------------------------------------------------------------


def config(name: str = "sandbox", /, *, defaults: dict[str, Any] | None = None, **table: Any) -> Config:
    """A parsed config of one environment: a valid table, with ``table``'s keys set (None removes one)."""
    base: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "credentials_secret": "c",
        "token_secret": "t",
        "scopes": list(SCOPES),
    }
    merged = {k: v for k, v in {**base, **table}.items() if v is not None}
    return parse_config({"defaults": defaults or {}, "environments": {name: merged}})


def env_config(name: str = "sandbox", /, **table: Any) -> EnvironmentConfig:
    """The one environment of :func:`config`."""
    return config(name, **table).get(name)


def token_doc(
    token: str,
    expires_at: datetime,
    *,
    issued_at: datetime | None = None,
    scope: str = " ".join(SCOPES),
    environment: str = "sandbox",
    token_url: str = TOKEN_URL,
    client_id: str = "client-id",
    **extra: Any,
) -> dict[str, Any]:
    """A stored token document (schema 1) as sync-job writes it; issued ``LIFETIME`` s before expiry
    unless ``issued_at`` says otherwise; ``extra`` adds or overrides fields."""
    issued = issued_at if issued_at is not None else expires_at - timedelta(seconds=LIFETIME)
    doc: dict[str, Any] = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": round((expires_at - issued).total_seconds()),
        "expires_at": format_rfc3339(expires_at),
        "issued_at": format_rfc3339(issued),
        "scope": scope,
        "environment": environment,
        "token_url": token_url,
        "client_id": client_id,
        "schema_version": 1,
    }
    doc.update(extra)
    return doc


def valid_doc(
    name: str, *, remaining: int, issued_ago: int | None = None, token: str = "tok-old-stored-token"
) -> dict[str, Any]:
    """A stored document for environment ``name`` that expires ``remaining`` s from now (negative:
    expired), issued ``issued_ago`` s ago (default: an hour-long token, 3599 s in all)."""
    now = datetime.now(UTC)
    if issued_ago is None:
        issued_ago = 3599 - remaining
    return token_doc(
        token,
        now + timedelta(seconds=remaining),
        issued_at=now - timedelta(seconds=issued_ago),
        scope="funding:read_profile",
        environment=name,
        token_url="https://example.invalid/t",
        client_id="x",
    )


def stored_payload(
    clock: ManualClock, seconds_left: float, token: str = "tok-stored", environment: str = "sandbox"
) -> TokenPayload:
    """A parsed stored token of ``environment`` that expires ``seconds_left`` s after the clock's now."""
    expires_at = clock.now() + timedelta(seconds=seconds_left)
    return parse_payload(json.dumps(token_doc(token, expires_at, environment=environment)))


# --- the wires --------------------------------------------------------------------------------------


@dataclass
class Outages:
    """Sorted, non-overlapping [start, end) windows in seconds of ``ManualClock.monotonic()``."""

    windows: list[tuple[float, float]] = field(default_factory=list)

    def active(self, t: float) -> bool:
        i = bisect.bisect_right(self.windows, (t, float("inf"))) - 1
        return i >= 0 and self.windows[i][0] <= t < self.windows[i][1]

    @staticmethod
    def random(rng: random.Random, horizon: float, per_day: float, mean_minutes: float) -> Outages:
        """Outages arriving ``per_day`` on average (Poisson), lasting ``mean_minutes`` on average."""
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


class FakeTokenEndpoint:
    """A ``transport.Transport`` (the token client's one-method HTTP interface): each ``send``
    takes ``latency`` s of the clock and answers like Paxos (a new token living ``LIFETIME`` s,
    granted ``scope``), or fails to connect during an outage. ``requests`` counts the sends."""

    def __init__(
        self,
        clock: ManualClock,
        outages: Outages | None = None,
        latency: float = 0.1,
        scope: str = "a",
        lifetime: int = LIFETIME,
    ) -> None:
        self.clock, self.outages, self.latency, self.scope = clock, outages or Outages(), latency, scope
        self.lifetime = lifetime
        self.requests = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests += 1
        self.clock.advance(self.latency)
        if self.outages.active(self.clock.monotonic()):
            raise TransportError("connection", "ConnectionError")  # what a refused connect gives
        body = json.dumps(
            {
                "access_token": f"tok-sim-{self.requests:08d}",
                "expires_in": self.lifetime,
                "token_type": "bearer",
                "scope": self.scope,
            }
        ).encode()
        return HttpResponse(200, {"Content-Type": "application/json"}, body)


class SecretsFake:
    """The whole ``store.SecretsStore`` interface for the in-memory stand-ins, so each fake is
    checked by mypy against the one interface the job calls. The batched reads are made of single
    reads (as the real store falls back to when a batch is refused); ``describe`` finds every
    secret present; a call a fake does not model fails the test saying so."""

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        raise AssertionError(f"{type(self).__name__} does not model GetSecretValue of a token")

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        raise AssertionError(f"{type(self).__name__} does not model reading credentials")

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        raise AssertionError(f"{type(self).__name__} does not model publishing")

    def read_document(self, secret_id: str) -> StoredDocument:
        raise AssertionError(f"{type(self).__name__} does not model reading a whole document")

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        raise AssertionError(f"{type(self).__name__} does not model writing a whole document")

    def describe(self, secret_id: str) -> None:
        return None

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        raise AssertionError(f"{type(self).__name__} does not model ListSecretVersionIds")

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
    ) -> dict[tuple[str, str], Credentials | SyncJobError]:
        out: dict[tuple[str, str], Credentials | SyncJobError] = {}
        for secret_id, auth_method in wanted:
            try:
                out[(secret_id, auth_method)] = self.read_credentials(secret_id, auth_method)
            except SyncJobError as exc:
                out[(secret_id, auth_method)] = exc
        return out


# The name the fakes were written against.
OneByOneReads = SecretsFake


def refused(refusal: Refusal, action: str, secret_id: str) -> StoreError:
    """The job's error for a refusal of the limits, as ``awserrors.secretsmanager_error`` makes it
    from the same answer over the wire."""
    answer: Any = {"Error": {"Code": refusal.code, "Message": refusal.message}}
    return secretsmanager_error(ClientError(answer, action), action, secret_id)


class MemoryStore(SecretsFake):
    """Secrets Manager in memory (``store.SecretsStore``, one token secret), failing every call during
    an outage. Publishing compares versions as the real store does: if AWSCURRENT moved since the
    run read it and now holds a token living at least as long, the run's token is not published.
    ``before_publish`` runs first thing in ``publish``: another run's write goes there.
    ``documents`` holds other secrets' JSON documents (a credentials secret, for ``credentials
    put``); ``before_put_document`` runs first thing in ``put_document`` (a slow write goes there).

    Writes of the token secret obey Secrets Manager's documented limits (``sm_limits.py``, the rules the moto wrapper
    enforces): a publish is a PutSecretValue and an UpdateSecretVersionStage, refused past 100
    versions created within 24 hours (``quota_errors`` counts those), past 50 writes/s, or past
    65,536 bytes."""

    def __init__(self, clock: ManualClock, outages: Outages | None = None) -> None:
        self.clock, self.outages = clock, outages or Outages()
        self.current: TokenPayload | None = None
        self.version = 0  # of AWSCURRENT; 0: the secret has no value yet
        self.history: list[tuple[float, TokenPayload]] = []  # (monotonic time, payload) published
        self.created: list[float] = []  # each version's creation, epoch seconds of the clock
        self.before_publish: Callable[[], None] | None = None
        self.documents: dict[str, dict[str, Any]] = {}
        self.document_versions: dict[str, str] = {}
        self.before_put_document: Callable[[], None] | None = None
        self.rules = SecretsManagerRules(lambda: self.clock.now().timestamp())
        self.quota_errors = 0

    def _check(self) -> None:
        self.clock.advance(0.01)
        if self.outages.active(self.clock.monotonic()):
            raise StoreError("simulated Secrets Manager outage")

    def _version_id(self) -> str | None:
        return f"v{self.version}" if self.version else None

    def _write(self, action: str, secret_string: str | None = None) -> None:
        refusal = self.rules.refusal(
            action,
            secret_string=secret_string,
            creates_version=secret_string is not None,
            versions_created=self.created,
        )
        if refusal is not None:
            if refusal.code == "LimitExceededException":
                self.quota_errors += 1
            raise refused(refusal, action, SECRET_ID)

    def put(self, payload: TokenPayload) -> None:
        """Make ``payload`` AWSCURRENT, as any writer would (a PutSecretValue that moves the
        label itself); raises ``StoreError`` when the limits refuse it."""
        self._write("PutSecretValue", payload.to_json())
        self.created.append(self.rules.clock())
        self.current = payload
        self.version += 1
        self.history.append((self.clock.monotonic(), payload))

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        assert stage == CURRENT_STAGE, "MemoryStore models AWSCURRENT only"
        self._check()
        return StoredToken(self.current, self._version_id())

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        self._check()
        return Credentials("sim", client_secret=Secret("sim-secret-value"), source=secret_id)

    def describe(self, secret_id: str) -> None:
        self._check()

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        self._check()
        return sum(1 for t in self.created if t >= since.timestamp())

    def read_document(self, secret_id: str) -> StoredDocument:
        self._check()
        if secret_id not in self.documents:
            raise SecretNotFoundError(f"secret {secret_id} does not exist")
        version = self.document_versions.get(secret_id, f"v-{secret_id}-0")
        return StoredDocument(doc=dict(self.documents[secret_id]), version_id=version)

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        if self.before_put_document is not None:
            self.before_put_document()
        self._check()
        self.documents[secret_id] = dict(doc)
        version = request_token or f"v-{secret_id}-{len(self.documents)}"
        self.document_versions[secret_id] = version
        return version

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        if self.before_publish is not None:
            self.before_publish()
        self._check()
        current = self.current
        moved = expected_version != self._version_id()
        if moved and current is not None and current.expires_at >= payload.expires_at:
            return PublishResult(published=False, current=current, version_id=self._version_id())
        self.put(payload)
        self._write("UpdateSecretVersionStage")
        return PublishResult(published=True, version_id=self._version_id())


class FakeTokenSource:
    """Stands in for the token client (``refresh.TokenSource``) where a test is about what is built
    on it (the run, ``credentials put``): ``answer(env, n)`` is the ``n``-th (from 1) request's
    ``FetchResult`` for ``env``. ``calls`` counts requests per environment, ``seen`` keeps the
    credentials sent. Tests of the client itself use the real ``TokenClient`` over a fake
    ``Transport`` (:class:`FakeTokenEndpoint`) or a real token endpoint."""

    def __init__(self, answer: Callable[[EnvironmentConfig, int], FetchResult]) -> None:
        self.answer = answer
        self.calls: collections.Counter[str] = collections.Counter()
        self.seen: list[Credentials] = []
        self._lock = threading.Lock()

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        with self._lock:
            self.calls[env.name] += 1
            self.seen.append(creds)
            n = self.calls[env.name]
        return self.answer(env, n)


def issued(
    on: clock.Clock, token: str = "tok-fake-new-0000", *, scope: str | None = "a", expires_in: int = 3600
) -> FetchResult:
    """A successful request's result: ``token`` issued at clock ``on``'s now, living ``expires_in`` s."""
    response = TokenResponse(Secret(token), "bearer", expires_in, scope)
    return FetchResult(attempts=1, latency_seconds=0.01, token=response, issued_at=on.now())


class FakeSecretsClient:
    """Stands in for boto3's Secrets Manager client: answers GetSecretValue with ``response`` (a
    SecretString, a whole response dict, or an exception to raise) and keeps each call's
    arguments; ``delay`` keeps a call in flight that long (real seconds)."""

    def __init__(self, response: Any, *, name: str = SECRET_ID, delay: float = 0.0) -> None:
        self.response = response
        self.name = name
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls.append(kwargs)
        if self.delay:
            time.sleep(self.delay)
        response = self.response
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, dict):
            return response
        return {"Name": self.name, "SecretString": response, "VersionStages": ["AWSCURRENT"]}


def fake_job(
    job_config: Config,
    clock: ManualClock,
    store: MemoryStore,
    endpoint: FakeTokenEndpoint,
    rng: random.Random | None = None,
) -> Job:
    """The real ``Job`` and ``TokenClient`` (retries, pacing, deadline) over the fakes."""
    return Job(
        config=job_config,
        store=store,
        clock=clock,
        tokens=TokenClient(endpoint, clock, HostPacer(clock), random=rng),
    )
