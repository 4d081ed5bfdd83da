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

import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync_job import waits
from sync_job.client_identity import secret_of
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials, parse_credentials
from sync_job.errors import CredentialsError, OAuthError, SecretNotFoundError, SyncJobError, WriteUnknownError
from sync_job.logs import log_event
from sync_job.payload import TokenPayload
from sync_job.redact import Secret, scrub
from sync_job.refresh import check_token, publish_token, request_token
from sync_job.report import Outcome
from sync_job.secret_input import NewCredentials
from sync_job.store import SecretsStore, StoredDocument
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
    # How the store step ended when not plainly (already current, answer lost but read back).
    store_note: str | None = None
    # What the credentials reader repaired (blanks stripped), one line each, no value.
    warnings: tuple[str, ...] = ()
    # The new key's kid (private_key_jwt), set with --key-id or derived (RFC 7638 thumbprint).
    key_id: str | None = None

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
            kid = f" (key_id {self.key_id})" if self.key_id else ""
            how = f" ({self.store_note})" if self.store_note else ""
            out.append(
                f"{self.environment}: stored{kid}: version {self.version_id} is AWSCURRENT of "
                f"{self.credentials_secret}; the old value is AWSPREVIOUS{how}"
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
    key_id: str | None = None,
    refresh: bool = True,
    force: bool = False,
    budget_seconds: float | None = None,
) -> RotationResult:
    """Test, store and (when ``refresh``) publish new credentials for environment ``name``.

    ``new`` holds the client secret (client_secret_post/basic) or the private key and optional
    certificate (private_key_jwt); ``client_id`` replaces the stored client id when given;
    ``key_id`` sets a new key's ``kid`` (default: its RFC 7638 thumbprint when the stored value
    had a ``key_id``, none otherwise). ``force`` publishes the test's token even when the stored
    one lives longer (never an expired one: ``refresh.publish_token``). Raises ``UsageError``
    for an unknown environment; every other failure is returned in the result's ``error``, with
    the steps done before it.
    """
    env = job.config.select([name])[0]
    store = job.store
    result = RotationResult(environment=env.name, credentials_secret=secret_of(env))
    budget = job.config.run_timeout_seconds if budget_seconds is None else budget_seconds
    deadline = job.clock.monotonic() + budget

    current = _read_current(store, env, client_id)
    if isinstance(current, str):
        return _failed(result, current)
    try:
        doc, creds = new_document(env, current.doc, new, client_id, key_id, job.clock.now())
    except SyncJobError as exc:
        return _failed(result, f"{exc.message}; nothing stored")
    result = _replace(result, warnings=creds.warnings, key_id=creds.key_id if new.private_key else None)

    # Step 1: test, with the steps a run takes (refresh.request_token, refresh.check_token).
    checked = _test(job, env, creds, deadline)
    if isinstance(checked, str):
        return _failed(result, checked)
    result = _replace(result, tested=True)

    # SIGTERM/SIGINT (cli's handlers, sync_job.waits): no later step starts.
    if (reason := waits.interrupted()) is not None:
        return _failed(result, f"interrupted by {reason} after the test; nothing stored")
    # Step 2: store as the new AWSCURRENT version, at most once whatever is retried or re-run.
    result = _store(store, env, current, doc, result)
    if not result.stored:
        return result

    if (reason := waits.interrupted()) is not None:
        return _replace(result, note=f"interrupted by {reason}: the stored token is unchanged")
    # Step 3: publish the token from step 1; a second request would count against the rate limit.
    if not refresh:
        return _replace(
            result,
            note="--no-refresh: the stored token is unchanged; "
            "runs use the new credentials from its next refresh",
        )
    return _publish(job, store, env, checked, result, force)


def _read_current(store: SecretsStore, env: EnvironmentConfig, client_id: str | None) -> StoredDocument | str:
    """Step 0: the current document, whose other keys (and client id) are kept; or the error."""
    try:
        return store.read_document(secret_of(env))
    except SecretNotFoundError as exc:
        if client_id is None:
            return (
                f"cannot read the current credentials: {exc.message}; for a first value give "
                "--client-id; nothing stored"
            )
        # The first credentials of a new secret (infra/ creates it without a value): nothing to
        # keep. Had the secret not existed, storing will say so, after the test.
        return StoredDocument(doc={}, version_id=None)
    except SyncJobError as exc:
        return f"cannot read the current credentials: {exc.message}; nothing stored"


def new_document(
    env: EnvironmentConfig,
    current: dict[str, Any],
    new: NewCredentials,
    client_id: str | None,
    key_id: str | None,
    now: datetime,
) -> tuple[dict[str, Any], Credentials]:
    """The credentials document to store (``current``'s other keys kept) and the Credentials a
    run would read from it: checked and normalised by ``credentials.parse_credentials``, the one
    reader of credentials (issue 18 §3), so the test sends what runs will send (stripped client
    id and secret, the certificate's x5t/x5t#S256, its validity at ``now``), and what is stored
    is what was tested. A new key's ``key_id``: ``key_id`` when given, else its RFC 7638
    thumbprint (``jwks.thumbprint``) when the old value had one (that kid named the old key),
    else none. Raises ``CredentialsError`` (no value quoted)."""
    doc = dict(current)
    if client_id is not None:
        doc["client_id"] = client_id
    if "client_id" not in doc:
        raise CredentialsError(f"credentials secret {secret_of(env)} has no client_id; give --client-id")
    if new.private_key is not None:
        doc["private_key"] = new.private_key.reveal()
        # A certificate or key id kept from before would name the old key: replace or drop them.
        doc.pop("certificate", None)
        if new.certificate is not None:
            doc["certificate"] = new.certificate
        kid = key_id or (_thumbprint(new.private_key) if doc.get("key_id") else None)
        doc.pop("key_id", None)
        if kid:
            doc["key_id"] = kid
    elif key_id is not None:
        doc["key_id"] = key_id
    if new.client_secret is not None:
        doc["client_secret"] = new.client_secret.reveal()
    source = f"{secret_of(env)} (new value)"
    creds = parse_credentials(json.dumps(doc), source, env.auth_method, now=now)
    # Store what was checked and is sent: without the blanks the reader strips.
    doc["client_id"] = creds.client_id
    if new.client_secret is not None and creds.client_secret is not None:
        doc["client_secret"] = creds.client_secret.reveal()
    return doc, creds


def _thumbprint(private_key: Secret) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sync_job.jwks import thumbprint

    # parse_new_credentials checked the key already; jwks raises CredentialsError for a type
    # without a JWK form here.
    return thumbprint(load_pem_private_key(private_key.reveal().encode(), password=None).public_key())


def _test(job: Job, env: EnvironmentConfig, creds: Credentials, deadline: float) -> TokenPayload | str:
    """Step 1: one token request with ``creds``, every configured scope checked; nothing is
    written before it succeeds. The token's payload, or why not (one line, no secret)."""
    what = "private key" if env.auth_method == "private_key_jwt" else "client secret"
    try:
        fetched = request_token(job.tokens, env, creds, deadline).fetched
    except Exception as exc:  # a library's bug must not hide that nothing was written
        return f"test failed: unexpected {type(exc).__name__}: {scrub(str(exc))[:200]}; nothing stored"
    checked = check_token(env, creds, fetched)
    if checked.lacking:
        return (
            f"test failed: the granted scope lacks {' '.join(checked.lacking)}; nothing stored "
            "(ask the provider to grant them or remove them from scopes)"
        )
    if checked.payload is None:
        error = checked.error
        hint = (
            f": the new {what} is not what the provider has for client {creds.client_id}"
            if isinstance(error, OAuthError) and error.error == "invalid_client"
            else ""
        )
        return f"test failed: {checked.problem}{hint}; nothing stored"
    log_event(log, logging.INFO, "credentials.tested", environment=env.name, attempt=fetched.attempts)
    return checked.payload


def client_request_token(current: StoredDocument, doc: dict[str, Any]) -> str:
    """The ClientRequestToken (and so the version id) of writing ``doc`` over ``current``: the
    same for the same new value over the same version, so a retry or a re-run of one put
    creates at most one version (AWS API reference, PutSecretValue "ClientRequestToken": a
    token already used for the same value is a no-op; for another value, an error). An HMAC
    keyed by the current value, not a bare hash: version ids are readable with
    ListSecretVersionIds alone, and must not let that reader test guesses of the new secret."""
    key = json.dumps(current.doc, sort_keys=True).encode()
    message = f"{current.version_id or ''}\0{json.dumps(doc, sort_keys=True)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _store(
    store: SecretsStore,
    env: EnvironmentConfig,
    current: StoredDocument,
    doc: dict[str, Any],
    result: RotationResult,
) -> RotationResult:
    """Step 2. Says what is known: stored, not stored, or (the answer lost and no read to
    tell) unknown, with how to find out (issue 18 §4)."""
    secret = secret_of(env)
    if current.version_id is not None and doc == current.doc:
        # A re-run of a put whose answer was lost: writing again would push the real old value
        # out of AWSPREVIOUS.
        return _stored(
            result, env, current.version_id, "the new value was already AWSCURRENT; nothing written"
        )
    token = client_request_token(current, doc)
    try:
        return _stored(result, env, store.put_document(secret, doc, request_token=token))
    except WriteUnknownError as exc:
        lost = exc
    except SyncJobError as exc:
        return _failed(result, f"storing failed: {exc.message}; the credentials secret is unchanged")
    try:
        now_current = store.read_document(secret).version_id
    except SyncJobError:
        return _failed(
            result,
            f"storing failed: {lost.message}; its answer was lost, so whether version {token} is "
            f"AWSCURRENT of {secret} is unknown: see `aws secretsmanager describe-secret --secret-id "
            f"{secret}` (VersionIdsToStages); re-running this same put is safe (it writes that "
            "version at most once)",
        )
    if now_current == token:
        return _stored(result, env, token, "its answer was lost; a read after it shows it is AWSCURRENT")
    return _failed(
        result,
        f"storing failed: {lost.message}; a read after it shows AWSCURRENT is still the old "
        "version: nothing stored (re-running this same put is safe)",
    )


def _stored(
    result: RotationResult, env: EnvironmentConfig, version_id: str, note: str | None = None
) -> RotationResult:
    log_event(
        log,
        logging.INFO,
        "credentials.stored",
        environment=env.name,
        secret=secret_of(env),
        version_id=version_id,
    )
    return _replace(result, stored=True, version_id=version_id, store_note=note)


def _publish(
    job: Job,
    store: SecretsStore,
    env: EnvironmentConfig,
    payload: TokenPayload,
    result: RotationResult,
    force: bool,
) -> RotationResult:
    """Step 3 through a run's publish step (``refresh.publish_token``, the one publish path of
    issue 18 §2): never an expired token, never one that expires before the valid stored one
    unless ``force``, then the compare-and-swap."""
    try:
        stored = store.read_token(env.token_secret)
        published = publish_token(store, job.clock, env, stored, payload, force=force)
    except Exception as exc:  # whatever broke, say that the credentials were stored
        reason = exc.message if isinstance(exc, SyncJobError) else f"unexpected {type(exc).__name__}"
        return _failed(
            result,
            f"the new credentials are stored; publishing the token failed: {reason}; "
            f"`sync-job status --env {env.name}` shows the token stored now, and the next run "
            f"publishes one when it is due (now: sync-job run --env {env.name} --force)",
        )
    if published.outcome is Outcome.FAILED:  # it had expired (or nearly): nothing written
        return _failed(
            result,
            f"the new credentials are stored, the token was not published: {published.note}; "
            "the next run will publish one when the stored token is due "
            f"(now: sync-job run --env {env.name} --force)",
        )
    if published.outcome is not Outcome.REFRESHED:
        # Shorter-lived than the stored one (KEPT) or a lost race (FRESH): the better token
        # stays, which is no failure of the rotation.
        return _replace(result, note=published.note or "not published")
    log_event(
        log,
        logging.INFO,
        "credentials.published",
        environment=env.name,
        secret=env.token_secret,
        seconds_remaining=int(payload.seconds_remaining(job.clock.now())),
    )
    return _replace(result, published=True, expires_at=payload.expires_at)


def _replace(result: RotationResult, **changes: Any) -> RotationResult:
    return replace(result, **changes)


def _failed(result: RotationResult, message: str) -> RotationResult:
    failed = _replace(result, error=" ".join(message.split()))
    log_event(log, logging.ERROR, "credentials.failed", environment=result.environment, error=failed.error)
    return failed
