"""Rotating an environment's client credentials with test-before-promote.

Secrets Manager's own rotation protocol tests a pending value before making it current; this
does the same for OAuth client credentials, in three steps:

1. test: request a token with the new credentials (every configured scope checked); nothing is
   written, so a mistyped or truncated secret never becomes current;
2. store: write them as the new AWSCURRENT version of ``credentials_secret`` (every other key of
   its JSON document kept); Secrets Manager keeps the old value as AWSPREVIOUS;
3. publish (unless told not to): the token from step 1 goes through the same compare-and-swap
   as a run's, so the whole rotation sends one token request (Paxos's rate limit) and consumers
   get a token minted with the new credentials at once.

Each step runs only if the one before succeeded. No argument parsing, no printing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync_job import waits
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import OAuthError, SecretNotFoundError, SyncJobError
from sync_job.logs import log_event
from sync_job.payload import TokenPayload
from sync_job.redact import scrub
from sync_job.refresh import check_token, publish_token, request_token
from sync_job.report import Outcome
from sync_job.secret_input import NewCredentials
from sync_job.store import SecretsStore
from sync_job.sync import Job
from sync_job.timeutil import format_rfc3339

log = logging.getLogger("sync_job.rotation")


@dataclass(frozen=True)
class RotationResult:
    """What a rotation did. ``error`` (one line, no secret) is set when a step failed; the
    flags say which steps completed. ``version_id`` is the credentials secret's new version;
    ``expires_at`` the published token's expiry (None when none was published)."""

    environment: str
    credentials_secret: str
    tested: bool = False
    stored: bool = False
    version_id: str | None = None
    published: bool = False
    expires_at: datetime | None = None
    error: str | None = None
    # Why the token was not published although nothing failed (--no-refresh, a lost race).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "tested": self.tested,
            "stored": self.stored,
            "version_id": self.version_id,
            "published": self.published,
            "expires_at": format_rfc3339(self.expires_at) if self.expires_at else None,
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """One line per completed or skipped step, for a terminal."""
        out = []
        if self.tested:
            out.append(
                f"{self.environment}: tested: a token was issued for the new credentials, every scope granted"
            )
        if self.stored:
            out.append(
                f"{self.environment}: stored: version {self.version_id} is AWSCURRENT of "
                f"{self.credentials_secret}; the old value is AWSPREVIOUS"
            )
        if self.published and self.expires_at is not None:
            out.append(
                f"{self.environment}: published: the token from the test, "
                f"expires {format_rfc3339(self.expires_at)}"
            )
        elif self.note:
            out.append(f"{self.environment}: not published: {self.note}")
        return out


def put_credentials(
    job: Job,
    name: str,
    new: NewCredentials,
    *,
    client_id: str | None = None,
    refresh: bool = True,
    budget_seconds: float | None = None,
) -> RotationResult:
    """Test, store and (when ``refresh``) publish new credentials for environment ``name``.

    ``new`` holds the client secret (client_secret_post/basic) or the private key and optional
    certificate (private_key_jwt); ``client_id`` replaces the stored client id when given.
    Raises ``UsageError`` for an unknown environment; every other failure is returned in the
    result's ``error``, with the steps done before it.
    """
    env = job.config.select([name])[0]
    store = job.store
    result = RotationResult(environment=env.name, credentials_secret=env.credentials_secret)
    budget = job.config.run_timeout_seconds if budget_seconds is None else budget_seconds
    deadline = job.clock.monotonic() + budget

    # Step 0: the current document, whose other keys (and client id) are kept.
    try:
        current = store.read_document(env.credentials_secret)
    except SecretNotFoundError as exc:
        if client_id is None:
            return _failed(
                result,
                f"cannot read the current credentials: {exc.message}; for a first value give "
                "--client-id; nothing stored",
            )
        # The first credentials of a new secret (infra/ creates it without a value): nothing to
        # keep. Had the secret not existed, storing will say so, after the test.
        current = {}
    except SyncJobError as exc:
        return _failed(result, f"cannot read the current credentials: {exc.message}; nothing stored")
    new_id = client_id if client_id is not None else current.get("client_id")
    if not isinstance(new_id, str) or not new_id.strip():
        return _failed(
            result,
            f"credentials secret {env.credentials_secret} has no client_id; give --client-id; nothing stored",
        )
    key_id = current.get("key_id")
    creds = Credentials(
        client_id=new_id,
        client_secret=new.client_secret,
        private_key=new.private_key,
        key_id=key_id if isinstance(key_id, str) and key_id else None,
        source=f"{env.credentials_secret} (new value)",
    )

    # Step 1: test. Nothing is written before this succeeds.
    what = "private key" if env.auth_method == "private_key_jwt" else "client secret"
    try:
        fetched = request_token(job.tokens, env, creds, deadline).fetched
    except Exception as exc:  # a library's bug must not hide that nothing was written
        return _failed(
            result, f"test failed: unexpected {type(exc).__name__}: {scrub(str(exc))[:200]}; nothing stored"
        )
    checked = check_token(env, creds, fetched)
    if checked.lacking:
        return _failed(
            result,
            f"test failed: the granted scope lacks {' '.join(checked.lacking)}; nothing stored "
            "(ask the provider to grant them or remove them from scopes)",
        )
    if checked.payload is None:
        error = checked.error
        hint = (
            f": the new {what} is not what the provider has for client {new_id}"
            if isinstance(error, OAuthError) and error.error == "invalid_client"
            else ""
        )
        return _failed(result, f"test failed: {checked.problem}{hint}; nothing stored")
    result = _replace(result, tested=True)
    log_event(log, logging.INFO, "credentials.tested", environment=env.name, attempt=fetched.attempts)

    # SIGTERM/SIGINT (cli's handlers, sync_job.waits): no later step starts.
    if (reason := waits.interrupted()) is not None:
        return _failed(result, f"interrupted by {reason} after the test; nothing stored")
    # Step 2: store as the new AWSCURRENT version.
    doc = dict(current)
    doc["client_id"] = new_id
    if new.private_key is not None:
        doc["private_key"] = new.private_key.reveal()
        # A certificate kept from before would certify the old key: replace or drop it.
        doc.pop("certificate", None)
        if new.certificate is not None:
            doc["certificate"] = new.certificate
    if new.client_secret is not None:
        doc["client_secret"] = new.client_secret.reveal()
    try:
        version_id = store.put_document(env.credentials_secret, doc)
    except SyncJobError as exc:
        return _failed(result, f"storing failed: {exc.message}; the credentials secret is unchanged")
    result = _replace(result, stored=True, version_id=version_id)
    log_event(
        log,
        logging.INFO,
        "credentials.stored",
        environment=env.name,
        secret=env.credentials_secret,
        version_id=version_id,
    )

    if (reason := waits.interrupted()) is not None:
        return _replace(result, note=f"interrupted by {reason}: the stored token is unchanged")
    # Step 3: publish the token from step 1; a second request would count against the rate limit.
    if not refresh:
        return _replace(
            result,
            note="--no-refresh: the stored token is unchanged; "
            "runs use the new credentials from its next refresh",
        )
    return _publish(job, store, env, checked.payload, result)


def _publish(
    job: Job, store: SecretsStore, env: EnvironmentConfig, payload: TokenPayload, result: RotationResult
) -> RotationResult:
    """Step 3 through a run's publish step (``refresh.publish_token``): never an expired token,
    then the compare-and-swap. A rotation means to replace the token, so a stored one that
    lives longer does not stop it (``force``)."""
    try:
        stored = store.read_token(env.token_secret)
        published = publish_token(store, job.clock, env, stored, payload, force=True)
    except Exception as exc:  # whatever broke, say that the credentials were stored
        reason = exc.message if isinstance(exc, SyncJobError) else f"unexpected {type(exc).__name__}"
        return _not_published(result, env, reason)
    if published.outcome is Outcome.FAILED:
        return _not_published(result, env, published.note or "not published")
    if published.outcome is not Outcome.REFRESHED:
        return _replace(
            result,
            note="another run published a longer-lived token meanwhile; kept it",
        )
    log_event(
        log,
        logging.INFO,
        "credentials.published",
        environment=env.name,
        secret=env.token_secret,
        seconds_remaining=int(payload.seconds_remaining(job.clock.now())),
    )
    return _replace(result, published=True, expires_at=payload.expires_at)


def _not_published(result: RotationResult, env: EnvironmentConfig, reason: str) -> RotationResult:
    return _failed(
        result,
        f"the new credentials are stored, the token was not published: {reason}; "
        "the next run will publish one when the stored token is due "
        f"(now: sync-job run --env {env.name} --force)",
    )


def _replace(result: RotationResult, **changes: Any) -> RotationResult:
    return replace(result, **changes)


def _failed(result: RotationResult, message: str) -> RotationResult:
    failed = _replace(result, error=" ".join(message.split()))
    log_event(log, logging.ERROR, "credentials.failed", environment=result.environment, error=failed.error)
    return failed
