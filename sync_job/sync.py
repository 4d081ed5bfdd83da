"""The decision and the orchestration: which environments need a token, getting it, publishing
it, each environment isolated from the others. No argument parsing, no printing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sync_job import freshness
from sync_job.clock import Clock
from sync_job.config import Config, EnvironmentConfig
from sync_job.errors import DeadlineError, ScopeError, SyncJobError
from sync_job.logs import log_event
from sync_job.oauth import Credentials, FetchResult, missing_scopes
from sync_job.payload import TokenPayload, build_payload
from sync_job.redact import scrub
from sync_job.report import EnvironmentResult, Report
from sync_job.store import PublishResult, StoredToken

log = logging.getLogger("sync_job.sync")


class Store(Protocol):
    def read_token(self, secret_id: str) -> StoredToken: ...
    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials: ...
    def describe(self, secret_id: str) -> dict[str, Any]: ...
    def publish(
        self, secret_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult: ...


class TokenSource(Protocol):
    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult: ...


@dataclass
class Job:
    """Everything a run needs, passed in so tests and simulations can swap any part."""

    config: Config
    store: Store
    tokens: TokenSource
    clock: Clock
    # Warn once per secret about an unusable stored payload, not on every run of a process.
    _warned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _deadline(self, budget_seconds: float | None) -> float:
        budget = self.config.run_timeout_seconds if budget_seconds is None else budget_seconds
        return self.clock.monotonic() + budget

    def _each(self, envs: Sequence[EnvironmentConfig], work: Any) -> list[Any]:
        if len(envs) <= 1:
            return [work(env) for env in envs]
        workers = min(len(envs), self.config.max_workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-job") as pool:
            return list(pool.map(work, envs))

    # --- run ------------------------------------------------------------------------------------

    def run(
        self,
        names: Sequence[str] | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        budget_seconds: float | None = None,
    ) -> Report:
        envs = self.config.select(names)
        deadline = self._deadline(budget_seconds)
        results = self._each(envs, lambda env: self._guarded(env, force, dry_run, deadline))
        return Report(results=tuple(results), dry_run=dry_run)

    def _guarded(
        self, env: EnvironmentConfig, force: bool, dry_run: bool, deadline: float
    ) -> EnvironmentResult:
        started = self.clock.monotonic()
        try:
            result = self._sync_one(env, force, dry_run, deadline)
        except SyncJobError as exc:
            result = EnvironmentResult(
                environment=env.name, outcome="failed", error=exc.message, attempts=exc.attempts
            )
        except Exception as exc:  # one environment's bug must not stop the others
            result = EnvironmentResult(
                environment=env.name,
                outcome="failed",
                error=f"unexpected {type(exc).__name__}: {scrub(str(exc))[:200]}",
            )
        log_event(
            log,
            logging.ERROR if result.outcome == "failed" else logging.INFO,
            "sync.result",
            environment=env.name,
            outcome=result.outcome,
            attempt=result.attempts,
            latency_ms=None if result.latency_seconds is None else round(result.latency_seconds * 1000, 1),
            seconds_remaining=None if result.seconds_remaining is None else int(result.seconds_remaining),
            duration_ms=round((self.clock.monotonic() - started) * 1000, 1),
            error=result.error,
            warning=result.warning,
        )
        return result

    def _sync_one(
        self, env: EnvironmentConfig, force: bool, dry_run: bool, deadline: float
    ) -> EnvironmentResult:
        if self.clock.monotonic() >= deadline:
            raise DeadlineError("run deadline passed before this environment started")
        stored = self.store.read_token(env.token_secret)
        now = self.clock.now()
        if stored.problem:
            self._warn_once(env, stored.problem)
        if not force and freshness.is_fresh(stored.payload, now, env.refresh_margin_seconds):
            assert stored.payload is not None
            return self._result(env, "fresh", stored.payload, now)
        if dry_run:
            current = stored.payload
            return EnvironmentResult(
                environment=env.name,
                outcome="would_refresh",
                expires_at=current.expires_at if current else None,
                seconds_remaining=current.seconds_remaining(now) if current else None,
            )
        creds = self.store.read_credentials(env.credentials_secret, env.auth_method)
        fetched = self.tokens.fetch(env, creds, deadline)
        token = fetched.token
        lacking = missing_scopes(env.scopes, token.scope)
        if lacking:
            error = ScopeError(
                f"granted scope lacks {' '.join(lacking)}; token not published "
                "(ask the provider to grant them or remove them from scopes)"
            )
            error.attempts = fetched.attempts
            raise error
        payload = build_payload(
            access_token=token.access_token,
            token_type=token.token_type,
            expires_in=token.expires_in,
            issued_at=fetched.issued_at,
            scope=token.scope if token.scope is not None else " ".join(env.scopes),
            environment=env.name,
            token_url=env.token_url,
            client_id=creds.client_id,
            expires_in_source=token.expires_in_source,
        )
        try:
            published = self.store.publish(env.token_secret, payload, stored.version_id)
        except SyncJobError as exc:
            exc.attempts = fetched.attempts
            raise
        now = self.clock.now()
        if not published.published:
            assert published.current is not None
            return self._result(
                env,
                "fresh",
                published.current,
                now,
                attempts=fetched.attempts,
                latency=fetched.latency_seconds,
                warning="another run published a longer-lived token first; kept it",
            )
        warning = freshness.churn_warning(stored.payload, fetched.issued_at) if force else None
        return self._result(
            env,
            "refreshed",
            payload,
            now,
            attempts=fetched.attempts,
            latency=fetched.latency_seconds,
            warning=warning,
        )

    def _result(
        self,
        env: EnvironmentConfig,
        outcome: Any,
        payload: TokenPayload,
        now: datetime,
        *,
        attempts: int = 0,
        latency: float | None = None,
        warning: str | None = None,
    ) -> EnvironmentResult:
        return EnvironmentResult(
            environment=env.name,
            outcome=outcome,
            expires_at=payload.expires_at,
            seconds_remaining=payload.seconds_remaining(now),
            attempts=attempts,
            latency_seconds=latency,
            warning=warning,
        )

    def _warn_once(self, env: EnvironmentConfig, problem: str) -> None:
        with self._lock:
            if env.token_secret in self._warned:
                return
            self._warned.add(env.token_secret)
        log_event(
            log,
            logging.WARNING,
            "sync.stored_payload_invalid",
            environment=env.name,
            secret=env.token_secret,
            error=f"{problem}; treating it as stale and refreshing",
        )

    # --- status ---------------------------------------------------------------------------------

    def status(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        envs = self.config.select(names)
        return self._each(envs, self._status_one)

    def _status_one(self, env: EnvironmentConfig) -> dict[str, Any]:
        from sync_job.timeutil import format_rfc3339

        entry: dict[str, Any] = {
            "environment": env.name,
            "state": "missing",
            "expires_at": None,
            "seconds_remaining": None,
        }
        try:
            stored = self.store.read_token(env.token_secret)
        except SyncJobError as exc:
            entry.update(state="error", error=exc.message)
            return entry
        if stored.problem:
            entry.update(state="invalid", error=f"secret {env.token_secret}: {stored.problem}")
            return entry
        now = self.clock.now()
        payload = stored.payload
        entry["state"] = freshness.state(payload, now, env.refresh_margin_seconds)
        if payload is not None:
            entry["expires_at"] = format_rfc3339(payload.expires_at)
            entry["seconds_remaining"] = int(payload.seconds_remaining(now))
            entry["issued_at"] = format_rfc3339(payload.issued_at)
            entry["scope"] = payload.scope
        return entry

    def read_token(self, name: str) -> tuple[TokenPayload | None, str]:
        """The stored token of one environment and its state."""
        env = self.config.select([name])[0]
        stored = self.store.read_token(env.token_secret)
        state = (
            "invalid"
            if stored.problem
            else freshness.state(stored.payload, self.clock.now(), env.refresh_margin_seconds)
        )
        return stored.payload, state

    # --- check ----------------------------------------------------------------------------------

    def check(
        self, names: Sequence[str] | None = None, *, budget_seconds: float | None = None
    ) -> list[dict[str, Any]]:
        envs = self.config.select(names)
        deadline = self._deadline(budget_seconds)
        return self._each(envs, lambda env: self._check_one(env, deadline))

    def _check_one(self, env: EnvironmentConfig, deadline: float) -> dict[str, Any]:
        checks: dict[str, str] = {"config": "ok"}
        entry: dict[str, Any] = {"environment": env.name, "ok": False, "checks": checks, "error": None}
        step = "credentials"
        try:
            creds = self.store.read_credentials(env.credentials_secret, env.auth_method)
            checks["credentials"] = "ok"
            step = "token"
            fetched = self.tokens.fetch(env, creds, deadline)
            lacking = missing_scopes(env.scopes, fetched.token.scope)
            if lacking:
                raise ScopeError(f"granted scope lacks {' '.join(lacking)}")
            checks["token"] = "ok"
            step = "token_secret"
            self.store.describe(env.token_secret)
            checks["token_secret"] = "ok"
        except SyncJobError as exc:
            checks[step] = "failed"
            entry["error"] = exc.message
            return entry
        except Exception as exc:
            checks[step] = "failed"
            entry["error"] = f"unexpected {type(exc).__name__}: {scrub(str(exc))[:200]}"
            return entry
        entry["ok"] = True
        return entry
