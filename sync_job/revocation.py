"""`sync-job revoke NAME`: replace a leaked token, then revoke it at the provider (RFC 7009).

The order, and why (docs/runbook.md "Revoke a leaked token"):

1. read what consumers may hold: the token secret's AWSCURRENT and AWSPREVIOUS tokens;
2. publish a fresh token through the run's own path (a forced refresh: the compare-and-swap,
   never worse than the stored token), so consumers that read the secret get a valid token at
   once and never a revoked one;
3. revoke each old token at the configured ``revocation_url`` (RFC 7009 §2.1: ``token``, the
   ``token_type_hint`` ``access_token``, and the same client authentication as the token
   request). Revoking first would leave every consumer holding a revoked token until step 2
   succeeds, an outage if the token endpoint is down; publishing first leaves the leaked token
   valid for one token request and one write longer, about a second.

If no fresh token can be published, nothing is revoked (the leaked token keeps consumers working
while the cause is fixed) unless the caller asks to revoke anyway. A provider without a
revocation endpoint, or one that answers ``unsupported_token_type`` (RFC 7009 §2.2.1), cannot
revoke its access tokens: the result says so and until when the old token stays valid.

Each request is paced with the token requests of its origin and bounded as a whole
(``TokenClient.post_form``); transient failures are retried with the token request's backoff,
never past the deadline. No argument parsing, no printing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sync_job import freshness, redact, waits
from sync_job.client_identity import credentials_of
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import DeadlineError, SyncJobError, TokenRequestError
from sync_job.executor import Interrupt
from sync_job.logs import log_event
from sync_job.oauth import (
    KNOWN_ERRORS,
    authenticate_client,
    backoff_seconds,
    is_transient_status,
    parse_retry_after,
)
from sync_job.payload import TokenPayload
from sync_job.redact import Secret
from sync_job.store import CURRENT_STAGE, PREVIOUS_STAGE, SecretsStore, StoredToken
from sync_job.sync import Job
from sync_job.timeutil import format_rfc3339

log = logging.getLogger("sync_job.revocation")

# RFC 7009 §2.2.1: the server does not support revoking this type of token.
UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"
_REVOCATION_ERRORS = KNOWN_ERRORS | {UNSUPPORTED_TOKEN_TYPE}


class FormPoster(Protocol):
    """What sends the revocation requests (``factory.LazyTokenClient``, ``TokenClient``)."""

    def post_form(
        self,
        env: EnvironmentConfig,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, str | list[str]],
        deadline: float,
    ) -> tuple[int, Mapping[str, str], bytes]: ...


class Revoked(StrEnum):
    """What became of one old token."""

    REVOKED = "revoked"  # the provider answered 200 (RFC 7009 §2.2)
    NOT_REVOCABLE = "not_revocable"  # no revocation_url, or unsupported_token_type
    FAILED = "failed"  # the request failed; the token may still be valid
    SKIPPED = "skipped"  # not attempted: no fresh token could be published


@dataclass(frozen=True)
class OldToken:
    """One token consumers may hold: its staging label, version and expiry, and its fate."""

    stage: str
    version_id: str | None
    expires_at: datetime
    outcome: Revoked
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "version_id": self.version_id,
            "expires_at": format_rfc3339(self.expires_at),
            "outcome": str(self.outcome),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RevocationResult:
    """What ``revoke`` did. ``published``: a fresh token is AWSCURRENT (``expires_at`` its
    expiry); ``tokens``: each old token and its outcome; ``error``: one line, set unless every
    old token was revoked and a fresh one published (or revocation was asked without one)."""

    environment: str
    published: bool = False
    expires_at: datetime | None = None
    tokens: tuple[OldToken, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "published": self.published,
            "expires_at": format_rfc3339(self.expires_at) if self.expires_at else None,
            "tokens": [t.to_dict() for t in self.tokens],
            "error": self.error,
        }

    def lines(self) -> list[str]:
        out = []
        if self.published and self.expires_at is not None:
            out.append(
                f"{self.environment}: published a fresh token, expires {format_rfc3339(self.expires_at)}"
            )
        for t in self.tokens:
            detail = f" ({t.detail})" if t.detail else ""
            out.append(
                f"{self.environment}: {t.stage} token (version {t.version_id}, expires "
                f"{format_rfc3339(t.expires_at)}): {t.outcome}{detail}"
            )
        return out


# --- the pure part -----------------------------------------------------------------------------


def build_revocation_request(
    env: EnvironmentConfig, creds: Credentials, token: Secret, now: datetime
) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """Headers and form of one RFC 7009 §2.1 revocation request: ``token``, ``token_type_hint``
    ``access_token``, and the client authentication of the token request (RFC 6749 §2.3, RFC
    7523; a ``private_key_jwt`` assertion keeps the token request's ``aud``, which is what Paxos,
    Okta and Keycloak accept)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    form: dict[str, str | list[str]] = {"token": token.reveal(), "token_type_hint": "access_token"}
    authenticate_client(env, creds, now, headers, form)
    return headers, form


@dataclass(frozen=True)
class RevocationAnswer:
    """The judgement of one revocation answer: ``outcome`` and a one-line ``detail``;
    ``transient`` when another attempt may help, ``retry_after`` (s) when the server said."""

    outcome: Revoked
    detail: str | None = None
    transient: bool = False
    retry_after: float | None = None


def judge_revocation(
    status: int, headers: Mapping[str, str], body: bytes, *, host: str, now: datetime, show_server_text: bool
) -> RevocationAnswer:
    """RFC 7009 §2.2: 200 means revoked (also for a token the server no longer knows: the
    client cannot tell, and need not). §2.2.1: an RFC 6749 §5.2 error object;
    ``unsupported_token_type`` means this server cannot revoke access tokens; 503 (with
    ``Retry-After``), other 5xx, 408 and 429 may pass. Server text is untrusted: only registered
    error codes are shown as sent, anything else through ``redact.untrusted``, or withheld."""
    if status == 200:
        return RevocationAnswer(Revoked.REVOKED)
    code = _error_code(body)
    if code == UNSUPPORTED_TOKEN_TYPE:
        return RevocationAnswer(
            Revoked.NOT_REVOCABLE, f"{host} cannot revoke access tokens ({UNSUPPORTED_TOKEN_TYPE})"
        )
    shown = ""
    if code is not None:
        shown = (
            f" {code}"
            if code in _REVOCATION_ERRORS
            else (f" {redact.untrusted(code, limit=64)}" if show_server_text else " [withheld]")
        )
    retry_after = parse_retry_after(headers.get("Retry-After"), now)
    if 300 <= status < 400:
        return RevocationAnswer(
            Revoked.FAILED, f"{host} answered HTTP {status} (a redirect): revocation_url is not the endpoint"
        )
    if status in (404, 405):
        return RevocationAnswer(
            Revoked.FAILED, f"{host} answered HTTP {status}: revocation_url is not an RFC 7009 endpoint"
        )
    return RevocationAnswer(
        Revoked.FAILED,
        f"{host} answered HTTP {status}{shown}",
        transient=is_transient_status(status),
        retry_after=retry_after,
    )


def _error_code(body: bytes) -> str | None:
    import json

    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    return None


# --- the command -----------------------------------------------------------------------------------


def revoke(
    job: Job,
    name: str,
    poster: FormPoster,
    *,
    without_replacement: bool = False,
    budget_seconds: float | None = None,
    interrupt: Interrupt | None = None,
) -> RevocationResult:
    """Publish a fresh token for environment ``name``, then revoke the tokens that were
    AWSCURRENT and AWSPREVIOUS (module docstring). ``without_replacement`` revokes even when no
    fresh token could be published. Returns within the budget (default ``run_timeout_seconds``)
    plus the run's grace. ``interrupt`` (the CLI's SIGTERM/SIGINT) ends the refresh's waits as
    for a run, and once set no revocation starts (the result's error says what was done).
    Raises ``UsageError`` for an unknown name; every other failure is in the result."""
    env = job.config.select([name])[0]
    budget = job.config.run_timeout_seconds if budget_seconds is None else budget_seconds
    deadline = job.clock.monotonic() + budget
    result = RevocationResult(environment=env.name)
    try:
        held = read_held(job.store, env.token_secret)
    except SyncJobError as exc:
        return _failed(result, f"cannot read the stored tokens: {exc.message}; nothing changed")

    report = job.run([env.name], force=True, budget_seconds=budget, interrupt=interrupt)
    try:
        fresh = read_fresh(job.store, env.token_secret, held, job.clock.now())
    except SyncJobError as exc:
        return _failed(
            result, f"cannot read the stored token after the refresh: {exc.message}; nothing revoked"
        )
    result = _replace(result, published=fresh.published, expires_at=fresh.expires_at)
    stopped = report.interrupted or waits.interrupted()
    if stopped is not None:
        # Nothing new starts after a signal (as in a run): revoking now could leave consumers
        # with a revoked token and no replacement if the process is killed between the steps.
        return _interrupted(result, stopped)
    ran = report.results[0]
    stop = stop_before_revoking(
        env, held, fresh.published, str(ran.error or ran.outcome), without_replacement
    )
    if stop is not None:
        result = _replace(result, tokens=stop.tokens)
        return result if stop.error is None else _failed(result, stop.error)

    try:
        creds = _credentials(env, job.store, poster)
    except SyncJobError as exc:
        return _failed(result, f"cannot read the credentials: {exc.message}; nothing revoked")
    done = _revoke_held(job, poster, env, creds, held, deadline)
    result = _replace(result, tokens=done.tokens)
    if done.interrupted is not None:
        return _interrupted(result, done.interrupted)
    error = revocation_error(done.tokens, fresh.published)
    return result if error is None else _failed(result, error)


# --- the steps of revoke -----------------------------------------------------------------------


@dataclass(frozen=True)
class HeldToken:
    """Step 1: one distinct token consumers may hold: the staging label it was read under
    (AWSCURRENT or AWSPREVIOUS), the version read and its payload."""

    stage: str
    found: StoredToken
    payload: TokenPayload

    def fate(self, outcome: Revoked, detail: str | None = None) -> OldToken:
        """This token with ``outcome`` (and a one-line ``detail``), as the result reports it."""
        return OldToken(
            stage=self.stage,
            version_id=self.found.version_id,
            expires_at=self.payload.expires_at,
            outcome=outcome,
            detail=detail,
        )


def read_held(store: SecretsStore, secret_id: str) -> tuple[HeldToken, ...]:
    """Step 1: what consumers may hold: the token secret's AWSCURRENT and AWSPREVIOUS tokens,
    each distinct token once (GetSecretValue by stage). Raises ``StoreError``."""
    held: list[HeldToken] = []
    for stage in (CURRENT_STAGE, PREVIOUS_STAGE):
        found = store.read_token(secret_id, stage)
        if found.payload is not None and all(
            found.payload.access_token.reveal() != h.payload.access_token.reveal() for h in held
        ):
            held.append(HeldToken(stage, found, found.payload))
    return tuple(held)


@dataclass(frozen=True)
class FreshToken:
    """Step 2, after the forced refresh: ``published`` when AWSCURRENT now holds a usable token
    none of the held ones; ``expires_at`` the expiry of a usable AWSCURRENT token (None without)."""

    published: bool
    expires_at: datetime | None


def read_fresh(store: SecretsStore, secret_id: str, held: tuple[HeldToken, ...], now: datetime) -> FreshToken:
    """Step 2: what consumers read after the forced refresh (GetSecretValue of AWSCURRENT). What
    is stored decides, not the run's outcome: a write whose answer was lost after AWS applied it
    leaves a fresh token current under a ``failed`` outcome (issue 18 §4). Raises ``StoreError``."""
    after = store.read_token(secret_id)
    if after.payload is None or not freshness.usable(after.payload, now):
        return FreshToken(published=False, expires_at=None)
    current = after.payload.access_token.reveal()
    published = all(current != h.payload.access_token.reveal() for h in held)
    return FreshToken(published=published, expires_at=after.payload.expires_at)


@dataclass(frozen=True)
class Stop:
    """Revoke stops before sending any revocation: each held token's fate, and the one-line
    error (None: nothing to revoke and a fresh token is published, a success)."""

    tokens: tuple[OldToken, ...]
    error: str | None


def stop_before_revoking(
    env: EnvironmentConfig,
    held: tuple[HeldToken, ...],
    published: bool,
    run_failure: str,
    without_replacement: bool,
) -> Stop | None:
    """Pure: whether revoke stops before step 3, and why (None: go on and revoke). Nothing held
    means nothing to revoke; no fresh token means revoking would leave consumers a revoked
    token (unless ``without_replacement``); no ``revocation_url`` means the provider is not
    asked (RFC 7009 is optional: Auth0, Entra ID and Cognito have none). ``run_failure`` is the
    forced refresh's error or outcome, for the message."""
    if not held:
        if published:
            return Stop(tokens=(), error=None)
        return Stop(tokens=(), error=f"no fresh token: {run_failure}; nothing stored to revoke")
    if not published and not without_replacement:
        return Stop(
            tokens=tuple(h.fate(Revoked.SKIPPED) for h in held),
            error=f"no fresh token could be published ({run_failure}); nothing revoked, so consumers "
            "keep a working token: fix that and run revoke again, or add --without-replacement to revoke "
            "anyway (consumers then hold a revoked token until a run publishes a fresh one)",
        )
    if env.revocation_url is None:
        tokens = tuple(h.fate(Revoked.NOT_REVOCABLE, "no revocation_url configured") for h in held)
        last = max(t.expires_at for t in tokens)
        return Stop(
            tokens=tokens,
            error=f"not revoked: no revocation_url is configured for {env.name} (the provider may have "
            "none: Auth0, Entra ID and Cognito cannot revoke access tokens); the old tokens stay valid "
            f"until {format_rfc3339(last)}",
        )
    return None


def _credentials(env: EnvironmentConfig, store: SecretsStore, poster: FormPoster) -> Credentials:
    """The client authentication of the token request: the credentials secret, completed with a
    KMS signing key or a federated assertion as for a token request (keyless.py)."""
    creds = credentials_of(env, store.read_credentials)
    complete = getattr(poster, "complete", None)
    if complete is not None:
        creds = complete(env, creds)
    return creds


@dataclass(frozen=True)
class RevokedTokens:
    """Step 3: each held token's fate, in order, up to ``interrupted`` (the signal that stopped
    it before the next revocation, None when every one was tried)."""

    tokens: tuple[OldToken, ...]
    interrupted: str | None = None


def _revoke_held(
    job: Job,
    poster: FormPoster,
    env: EnvironmentConfig,
    creds: Credentials,
    held: tuple[HeldToken, ...],
    deadline: float,
) -> RevokedTokens:
    """Step 3: RFC 7009 revocation of each held token in turn, each logged; none starts once
    the process is interrupted."""
    done: list[OldToken] = []
    for h in held:
        stopped = waits.interrupted()
        if stopped is not None:
            return RevokedTokens(tokens=tuple(done), interrupted=stopped)
        answer = _revoke_one(job, poster, env, creds, h.payload.access_token, deadline)
        done.append(h.fate(answer.outcome, answer.detail))
        log_event(
            log,
            logging.WARNING if answer.outcome is not Revoked.REVOKED else logging.INFO,
            "token.revocation",
            environment=env.name,
            stage=h.stage,
            version_id=h.found.version_id,
            outcome=str(answer.outcome),
            error=answer.detail,
        )
    return RevokedTokens(tokens=tuple(done))


def revocation_error(tokens: tuple[OldToken, ...], published: bool) -> str | None:
    """Pure: the one-line error once every held token was tried (None: all revoked and a fresh
    token published): tokens not revoked stay valid until the last one expires."""
    left = [t for t in tokens if t.outcome is not Revoked.REVOKED]
    if left:
        last = max(t.expires_at for t in left)
        return (
            f"{len(left)} of {len(tokens)} old token(s) not revoked ({left[0].detail}); they stay valid "
            f"until {format_rfc3339(last)}"
        )
    if not published:
        return (
            "revoked, but no fresh token is stored: consumers hold a revoked token until a run publishes one"
        )
    return None


def _revoke_one(
    job: Job, poster: FormPoster, env: EnvironmentConfig, creds: Credentials, token: Secret, deadline: float
) -> RevocationAnswer:
    """At most ``max_attempts`` requests, retried with full-jitter backoff (or the server's
    ``Retry-After``) while transient and while the deadline leaves room for another request."""
    assert env.revocation_url is not None
    answer = RevocationAnswer(Revoked.FAILED, "not attempted: no time left in the budget")
    for attempt in range(1, env.max_attempts + 1):
        now = job.clock.now()
        headers, form = build_revocation_request(env, creds, token, now)
        try:
            status, answer_headers, body = poster.post_form(env, env.revocation_url, headers, form, deadline)
        except DeadlineError as exc:
            return RevocationAnswer(Revoked.FAILED, exc.message)
        except TokenRequestError as exc:
            answer = RevocationAnswer(
                Revoked.FAILED, exc.message, transient=exc.transient, retry_after=exc.retry_after
            )
        else:
            answer = judge_revocation(
                status,
                answer_headers,
                body,
                host=env.host,
                now=job.clock.now(),
                show_server_text=creds.scrub_safe,
            )
        if not answer.transient or attempt == env.max_attempts:
            break
        wait = max(
            answer.retry_after or 0.0,
            backoff_seconds(attempt, env.backoff_initial_seconds, env.backoff_max_seconds, 0.5),
        )
        if job.clock.monotonic() + wait + env.timeout_seconds > deadline:
            break
        # The process's interruptible wait: SIGTERM ends the backoff (sync_job/waits.py).
        if waits.sleep(job.clock, wait) is not None:
            break
    return answer


def _replace(result: RevocationResult, **changes: Any) -> RevocationResult:
    from dataclasses import replace

    return replace(result, **changes)


def _interrupted(result: RevocationResult, reason: str) -> RevocationResult:
    """The result of a revoke stopped by ``reason`` (``"SIGTERM"``): its error says what was
    done, in words (the CLI prefixes ``interrupted by REASON``)."""
    revoked = [t for t in result.tokens if t.outcome is Revoked.REVOKED]
    published = "a fresh token was published" if result.published else "no fresh token was published"
    what = f"{len(revoked)} old token(s) revoked" if revoked else "nothing was revoked"
    return _failed(result, f"{published} and {what}")


def _failed(result: RevocationResult, message: str) -> RevocationResult:
    failed = _replace(result, error=" ".join(message.split()))
    log_event(
        log, logging.ERROR, "token.revocation_failed", environment=result.environment, error=failed.error
    )
    return failed
