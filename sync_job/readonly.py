"""The read-only commands: ``status`` (every stored token's state), ``token NAME`` (one stored
token) and ``check`` (prove each environment works: one token request, discarded). Nothing here
writes a secret. Each is bounded by its budget like a run (``executor.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_job import budget as write_budget
from sync_job import freshness
from sync_job.client_identity import credentials_of
from sync_job.clock import Clock
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import StoreError, SyncJobError
from sync_job.executor import Activity, Interrupt, Pool, Unfinished, call_bounded
from sync_job.expiry import days_left
from sync_job.payload import TokenPayload
from sync_job.plan import own_token
from sync_job.refresh import TokenSource, check_token, join_warnings, request_token, unexpected
from sync_job.report import TokenState, add_credential_end, stamp, whole_seconds
from sync_job.store import SecretsStore, StoredToken


@dataclass(frozen=True)
class TokenLookup:
    """``token NAME``: the stored token (None unless readable) and its state."""

    environment: str
    state: TokenState
    payload: TokenPayload | None


@dataclass(frozen=True)
class StatusEntry:
    """One environment's stored token, read only."""

    environment: str
    state: TokenState
    expires_at: datetime | None = None
    seconds_remaining: float | None = None
    issued_at: datetime | None = None
    scope: str | None = None
    error: str | None = None
    warning: str | None = None
    # Recorded in the stored token by the refresh that made it (expiry.py), where known.
    credential_expires_at: datetime | None = None
    credential_days_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``issued_at`` and ``scope`` only when a token is stored, ``error`` and
        ``warning`` only when set, ``credential_expires_at`` / ``credential_days_left`` only
        where known."""
        doc: dict[str, Any] = {
            "environment": self.environment,
            "state": str(self.state),
            "expires_at": stamp(self.expires_at),
            "seconds_remaining": whole_seconds(self.seconds_remaining),
        }
        if self.issued_at is not None:
            doc["issued_at"] = stamp(self.issued_at)
            doc["scope"] = self.scope
        if self.error is not None:
            doc["error"] = self.error
        if self.warning is not None:
            doc["warning"] = self.warning
        add_credential_end(doc, self.credential_expires_at, self.credential_days_left)
        return doc


@dataclass(frozen=True)
class StatusReport:
    """``status``: one entry per environment, in order."""

    entries: tuple[StatusEntry, ...]

    @property
    def ok(self) -> bool:
        """True when every stored token is usable now."""
        return all(e.state.ok for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """The ``status --json`` document: ``{"environments": [...]}``."""
        return {"environments": [e.to_dict() for e in self.entries]}


@dataclass(frozen=True)
class CheckEntry:
    """One environment's ``check``: ``checks`` maps each step (config, credentials, token,
    token_secret) that ran to "ok" or "failed", in order."""

    environment: str
    ok: bool
    checks: tuple[tuple[str, str], ...]
    error: str | None = None
    warning: str | None = None
    # The kind of credential the client authenticates with (EnvironmentConfig.credential_kind:
    # client_secret, private_key, kms_key, aws_sts, assertion_file).
    credential: str | None = None
    # When that credential ends and whole days left (expiry.py), where known.
    credential_expires_at: datetime | None = None
    credential_days_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: environment, ok, checks (step → "ok"/"failed"), error, warning if any,
        the credential kind, and ``credential_expires_at`` / ``credential_days_left`` where
        known."""
        doc: dict[str, Any] = {
            "environment": self.environment,
            "ok": self.ok,
            "checks": dict(self.checks),
            "error": self.error,
        }
        if self.credential is not None:
            doc["credential"] = self.credential
        add_credential_end(doc, self.credential_expires_at, self.credential_days_left)
        if self.warning is not None:
            doc["warning"] = self.warning
        return doc


@dataclass(frozen=True)
class CheckReport:
    """``check``: one entry per environment, in order."""

    entries: tuple[CheckEntry, ...]

    @property
    def ok(self) -> bool:
        """True when every environment passed every step."""
        return all(e.ok for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """The ``check --json`` document: ``{"environments": [...]}``."""
        return {"environments": [e.to_dict() for e in self.entries]}


def status(
    store: SecretsStore, clock: Clock, envs: Sequence[EnvironmentConfig], budget: float
) -> StatusReport:
    """The stored tokens' states of ``envs``, read in one bounded batch (``budget`` seconds):
    one :class:`StatusEntry` per environment, in order, even when a secret cannot be read
    (state ``error``) or holds an unusable value (``invalid``)."""
    deadline = clock.monotonic() + budget
    secret_ids = [e.token_secret for e in envs]
    try:
        stored = call_bounded(
            lambda: store.read_tokens(secret_ids), clock=clock, deadline=deadline, budget=budget
        )
    except Exception as exc:  # status reports every environment, whatever happened
        stored = Unfinished(unexpected(exc))
    now = clock.now()
    entries = []
    for env in envs:
        found = stored.reason if isinstance(stored, Unfinished) else stored[env.token_secret]
        entries.append(status_entry(env, found, now))
    return StatusReport(entries=tuple(entries))


def status_entry(env: EnvironmentConfig, found: StoredToken | StoreError | str, now: datetime) -> StatusEntry:
    """One environment's state from what its token secret holds (or why it could not be read)."""
    if isinstance(found, str):
        return StatusEntry(environment=env.name, state=TokenState.ERROR, error=found)
    if isinstance(found, StoreError):
        return StatusEntry(environment=env.name, state=TokenState.ERROR, error=found.message)
    found = own_token(found, env.name)
    if found.problem:
        return StatusEntry(
            environment=env.name,
            state=TokenState.INVALID,
            error=f"secret {env.token_secret}: {found.problem}",
        )
    payload = found.payload
    changed = freshness.configuration_change(payload, freshness.configuration_identity(env))
    state = freshness.state(payload, now, env.refresh_margin_seconds, changed)
    if payload is None:
        return StatusEntry(environment=env.name, state=state)
    lifetime = (payload.expires_at - payload.issued_at).total_seconds()
    notes = [
        f"{freshness.configuration_reason(changed)}; the next run refreshes it" if changed else None,
        freshness.short_lifetime_warning(lifetime, env.refresh_margin_seconds),
    ]
    return StatusEntry(
        environment=env.name,
        state=state,
        expires_at=payload.expires_at,
        seconds_remaining=payload.seconds_remaining(now),
        issued_at=payload.issued_at,
        scope=payload.scope,
        warning=join_warnings(notes),
        credential_expires_at=payload.credential_expires_at,
        credential_days_left=days_left(payload.credential_expires_at, now),
    )


def token(store: SecretsStore, clock: Clock, env: EnvironmentConfig) -> TokenLookup:
    """The stored token of ``env`` and its state (``invalid`` when unusable). Raises
    ``StoreError`` when it cannot be read."""
    # Another environment's token is never printed as this one's (plan.own_token).
    stored = own_token(store.read_token(env.token_secret), env.name)
    if stored.problem:
        return TokenLookup(env.name, TokenState.INVALID, None)
    changed = freshness.configuration_change(stored.payload, freshness.configuration_identity(env))
    state = freshness.state(stored.payload, clock.now(), env.refresh_margin_seconds, changed)
    return TokenLookup(env.name, state, stored.payload)


@dataclass(frozen=True)
class Checker:
    """``check``: each environment's credentials readable, a token obtainable (one request,
    discarded) with every scope, its token secret present. Nothing is written."""

    store: SecretsStore
    tokens: TokenSource
    clock: Clock
    workers: int
    schedule_seconds: int | None = None  # config's, for the write budget (budget.py)

    def check(
        self, envs: Sequence[EnvironmentConfig], budget: float, interrupt: Interrupt | None = None
    ) -> CheckReport:
        """One :class:`CheckEntry` per environment, in order, within ``budget`` seconds (plus
        the executor's straggler grace); once ``interrupt`` is set nothing new starts and an
        environment in flight gets the run's grace (executor.Pool)."""
        deadline = self.clock.monotonic() + budget
        activity = Activity()
        pool = Pool(self.clock, self.workers, deadline, budget, interrupt)
        entries = pool.map(
            envs,
            lambda env, previous: self.check_one(env, deadline, activity),
            stuck=lambda env, why, began: CheckEntry(env.name, False, (("config", "ok"),), why),
            doing=lambda env: activity.of(env.name),
        )
        return CheckReport(entries=tuple(entries))

    def check_one(self, env: EnvironmentConfig, deadline: float, activity: Activity) -> CheckEntry:
        """The steps of one environment's check, each recorded in ``checks`` as it ends."""
        checks: list[tuple[str, str]] = [("config", "ok")]
        warnings: list[str | None] = []
        ends: datetime | None = None
        step = "credentials"
        try:
            if env.credentials_secret is not None:
                activity.note(env.name, f"reading credentials secret {env.credentials_secret}")
            creds = credentials_of(env, self.store.read_credentials)
            ends = creds.expires_at
            warnings += creds.warnings
            checks.append((step, "ok"))
            step = "token"
            activity.note(env.name, f"requesting a token from {env.host}")
            warnings += self._token(env, creds, deadline)
            checks.append((step, "ok"))
            step = "token_secret"
            activity.note(env.name, f"reading token secret {env.token_secret}")
            self.store.describe(env.token_secret)
            # Read, not only described: a run starts by reading it, so a role without
            # GetSecretValue on it fails every run (hostile review, issue 18).
            stored = self.store.read_token(env.token_secret)
            warnings.append(self._stored_configuration(env, stored))
            checks.append((step, "ok"))
        except SyncJobError as exc:
            return self._entry(env, (*checks, (step, "failed")), exc.message, warnings, ends)
        except Exception as exc:
            return self._entry(env, (*checks, (step, "failed")), unexpected(exc), warnings, ends)
        return self._entry(env, tuple(checks), None, warnings, ends)

    def _entry(
        self,
        env: EnvironmentConfig,
        checks: tuple[tuple[str, str], ...],
        error: str | None,
        warnings: list[str | None],
        ends: datetime | None,
    ) -> CheckEntry:
        """A check's entry: its credential kind, and when that credential ends (expiry.py)."""
        return CheckEntry(
            env.name,
            error is None,
            checks,
            error,
            join_warnings(warnings),
            env.credential_kind,
            ends,
            days_left(ends, self.clock.now()),
        )

    def _stored_configuration(self, env: EnvironmentConfig, stored: StoredToken) -> str | None:
        """The note for a stored token obtained with another configuration (``configuration
        changed: scopes; ...``), None when it matches or records none."""
        changed = freshness.configuration_change(stored.payload, freshness.configuration_identity(env))
        if not changed:
            return None
        return (
            f"the stored token was obtained with another configuration "
            f"({freshness.configuration_reason(changed)}); the next run replaces it"
        )

    def _token(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> list[str | None]:
        """The request and check steps of a run; the token's notes. Raises ``SyncJobError``."""
        fetched = request_token(self.tokens, env, creds, deadline).fetched
        checked = check_token(env, creds, fetched)
        if checked.lacking:
            raise SyncJobError(f"granted scope lacks {' '.join(checked.lacking)}")
        if checked.payload is None:
            raise checked.error or SyncJobError("no token")
        lifetime = (checked.payload.expires_at - checked.payload.issued_at).total_seconds()
        write_budget.check(lifetime, env.refresh_margin_seconds, self.schedule_seconds)
        return list(checked.warnings)
