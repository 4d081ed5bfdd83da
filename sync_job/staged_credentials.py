"""Staged credential rotation, for providers that allow token requests only from known IPs (Paxos
allowlists): the operator stages the new client credentials from a workstation whose IP the
provider refuses, and the deployed job, from its own allowlisted egress, tests and promotes them.

1. ``stage`` (``sync-job credentials put NAME --stage``, on the workstation): the new
   credentials become a version of ``credentials_secret`` labelled ``AWSPENDING`` only (the
   Secrets Manager label for a value not yet in use). Nothing is sent to the provider; runs keep
   reading AWSCURRENT, so nothing changes for them.
2. ``promote`` (``sync-job credentials promote NAME`` on the deployed host, or the Lambda event
   ``{"promote_credentials": "NAME"}``): one token request with the AWSPENDING credentials, every
   scope checked. Only if it works: AWSCURRENT moves to that version (UpdateSecretVersionStage
   with ``RemoveFromVersionId`` the version read as current, so a concurrent change is refused,
   not overwritten; the old value becomes AWSPREVIOUS), AWSPENDING is removed, and the token from
   the test is published through the run's compare-and-swap. A failed test changes nothing and
   leaves AWSPENDING for another try.

No argument parsing, no printing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from sync_job.client_identity import secret_of
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import OAuthError, SyncJobError, WriteUnknownError
from sync_job.logs import log_event
from sync_job.oauth import missing_scopes
from sync_job.payload import TokenPayload
from sync_job.refresh import check_token, publish_token
from sync_job.report import Outcome
from sync_job.secret_input import NewCredentials
from sync_job.store import (
    CURRENT_STAGE,
    ROTATION_PENDING_STAGE,
    PublishResult,
    SecretLabels,
    StoredDocument,
    StoredToken,
)
from sync_job.sync import Job

if TYPE_CHECKING:
    from sync_job.token_client import FetchResult

log = logging.getLogger("sync_job.staged_credentials")


class StagingStore(Protocol):
    """The store calls staging makes (``SecretStore`` has them all)."""

    def read_document(self, secret_id: str) -> StoredDocument: ...
    def labels(self, secret_id: str) -> SecretLabels: ...
    def stage_document(self, secret_id: str, doc: dict[str, Any], stage: str) -> str: ...
    def read_credentials_version(
        self, secret_id: str, version_id: str, stage: str, auth_method: str
    ) -> Credentials: ...
    def move_stage(self, secret_id: str, stage: str, to_version: str, from_version: str | None) -> None: ...
    def remove_stage(self, secret_id: str, stage: str, version_id: str) -> None: ...
    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken: ...
    def publish(
        self, secret_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult: ...


@dataclass(frozen=True)
class StagedResult:
    """What ``stage`` or ``promote`` did: the credentials secret's pending ``version_id``;
    ``promoted`` once it is AWSCURRENT; ``published`` when the test's token was published;
    ``error`` (one line, no secret) when a step failed."""

    environment: str
    credentials_secret: str
    version_id: str | None = None
    staged: bool = False
    tested: bool = False
    promoted: bool = False
    published: bool = False
    error: str | None = None
    # What the one credentials reader said of the staged value (stripped blanks...), no value.
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "version_id": self.version_id,
            "staged": self.staged,
            "tested": self.tested,
            "promoted": self.promoted,
            "published": self.published,
            "error": self.error,
        }

    def lines(self) -> list[str]:
        out = []
        if self.staged:
            out.append(
                f"{self.environment}: staged: version {self.version_id} is AWSPENDING of "
                f"{self.credentials_secret}; AWSCURRENT is unchanged and nothing was sent to the provider"
            )
            out.append(
                f"{self.environment}: promote it from the deployed job's egress: "
                f"`sync-job credentials promote {self.environment}` there, or "
                f"`aws lambda invoke --function-name FUNCTION --cli-binary-format raw-in-base64-out "
                f'--payload \'{{"promote_credentials": "{self.environment}"}}\' out.json`'
            )
        if self.tested:
            out.append(f"{self.environment}: tested: a token was issued for the staged credentials")
        if self.promoted:
            out.append(
                f"{self.environment}: promoted: version {self.version_id} is AWSCURRENT; "
                "the old value is AWSPREVIOUS"
            )
        if self.published:
            out.append(f"{self.environment}: published: the token from the test")
        return out


def stage(
    job: Job, name: str, new: NewCredentials, *, client_id: str | None = None, key_id: str | None = None
) -> StagedResult:
    """Write ``new`` (other keys of the current document kept; ``client_id`` replaces the stored
    one; ``key_id`` names a new key, as for ``credentials put``) as the AWSPENDING version of
    ``name``'s credentials secret. Sends nothing to the provider. The document is built and
    checked by ``rotation.new_document``, the reader ``put`` and every run use (issue 18 §3):
    blanks stripped, a certificate outside its validity or not matching the key refused, a new
    key's kid set. Raises ``UsageError`` for an unknown name; other failures are in the result."""
    from sync_job.rotation import new_document

    env = job.config.select([name])[0]
    store = cast(StagingStore, job.store)
    result = StagedResult(environment=env.name, credentials_secret=secret_of(env))
    try:
        current = store.read_document(secret_of(env)).doc
    except SyncJobError as exc:
        if client_id is None:
            return _failed(result, f"cannot read the current credentials: {exc.message}; nothing staged")
        current = {}
    try:
        doc, checked = new_document(env, current, new, client_id, key_id, job.clock.now())
    except SyncJobError as exc:
        return _failed(result, f"{exc.message}; nothing staged")
    try:
        version_id = store.stage_document(secret_of(env), doc, ROTATION_PENDING_STAGE)
    except WriteUnknownError as exc:
        # The answer was lost after AWS may have applied the write (issue 18 §4): a read of the
        # labels says which, never a guess.
        try:
            staged = ROTATION_PENDING_STAGE in store.labels(secret_of(env)).stages.get(exc.version_id, ())
        except SyncJobError:
            return _failed(
                result,
                f"staging failed: {exc.message}; its answer was lost, so whether version "
                f"{exc.version_id} is AWSPENDING of {secret_of(env)} is unknown: see "
                f"`aws secretsmanager describe-secret --secret-id {secret_of(env)}`",
            )
        if not staged:
            return _failed(result, f"staging failed: {exc.message}; a read after it shows nothing staged")
        version_id = exc.version_id
    except SyncJobError as exc:
        return _failed(result, f"staging failed: {exc.message}; nothing staged")
    log_event(log, logging.INFO, "credentials.staged", environment=env.name, version_id=version_id)
    return StagedResult(
        env.name, secret_of(env), version_id=version_id, staged=True, warnings=tuple(checked.warnings)
    )


def promote(job: Job, name: str, *, budget_seconds: float | None = None) -> StagedResult:
    """Test the AWSPENDING credentials of ``name`` with one token request and, only if it
    works, make them AWSCURRENT and publish the token (module docstring). Raises ``UsageError``
    for an unknown name; other failures are in the result, with what was changed."""
    env = job.config.select([name])[0]
    store = cast(StagingStore, job.store)
    staged = _read_staged(store, env)
    if isinstance(staged, StagedResult):
        return staged
    result, creds, current = staged
    deadline = job.clock.monotonic() + (
        job.config.run_timeout_seconds if budget_seconds is None else budget_seconds
    )
    fetched = job.tokens.fetch(env, creds, deadline)
    refusal = _test_refusal(env, fetched)
    if refusal is not None or fetched.token is None or fetched.issued_at is None:
        return _failed(result, f"test failed: {refusal}; nothing changed, AWSPENDING kept")
    result = _with(result, tested=True)
    version_id = result.version_id
    assert version_id is not None
    try:
        store.move_stage(secret_of(env), CURRENT_STAGE, version_id, current)
        result = _with(result, promoted=True)
        store.remove_stage(secret_of(env), ROTATION_PENDING_STAGE, version_id)
    except SyncJobError as exc:
        done = "AWSCURRENT moved; AWSPENDING is still on it" if result.promoted else "nothing changed"
        return _failed(result, f"promoting failed: {exc.message}; {done}")
    log_event(log, logging.INFO, "credentials.promoted", environment=env.name, version_id=version_id)
    # The one publish path (refresh.publish_token, issue 18 §2): the bearer rules, never a token
    # with 60 s or fewer left, never one that expires before the valid stored one, then the
    # compare-and-swap.
    checked = check_token(env, creds, fetched)
    try:
        if checked.payload is None:
            raise checked.error or SyncJobError("the token from the test is not usable")
        stored = store.read_token(env.token_secret)
        published = publish_token(job.store, job.clock, env, stored, checked.payload, force=False)
    except SyncJobError as exc:
        return _failed(
            result,
            f"the staged credentials are AWSCURRENT, the token was not published: {exc.message}; "
            "the next run refreshes with them",
        )
    if published.outcome is Outcome.FAILED:
        return _failed(
            result,
            f"the staged credentials are AWSCURRENT, the token was not published: {published.note}; "
            "the next run refreshes with them",
        )
    return _with(result, published=published.outcome is Outcome.REFRESHED)


def _read_staged(
    store: StagingStore, env: EnvironmentConfig
) -> StagedResult | tuple[StagedResult, Credentials, str | None]:
    """(the result so far, the AWSPENDING credentials, the AWSCURRENT version id), or the failed
    result when there is nothing to promote or it cannot be read."""
    result = StagedResult(environment=env.name, credentials_secret=secret_of(env))
    try:
        stages = store.labels(secret_of(env)).stages
        pending = [v for v, labels in stages.items() if ROTATION_PENDING_STAGE in labels]
        current = [v for v, labels in stages.items() if CURRENT_STAGE in labels]
        if not pending:
            return _failed(
                result,
                f"{secret_of(env)} has no AWSPENDING version: stage one with "
                f"`sync-job credentials put {env.name} --stage`; nothing changed",
            )
        result = _with(result, version_id=pending[0])
        if pending[0] in current:
            store.remove_stage(secret_of(env), ROTATION_PENDING_STAGE, pending[0])
            return _failed(result, "the AWSPENDING version was already AWSCURRENT; removed the label")
        creds = store.read_credentials_version(
            secret_of(env), pending[0], ROTATION_PENDING_STAGE, env.auth_method
        )
    except SyncJobError as exc:
        return _failed(result, f"cannot read the staged credentials: {exc.message}; nothing changed")
    return result, creds, current[0] if current else None


def _test_refusal(env: EnvironmentConfig, fetched: FetchResult) -> str | None:
    """Why the test token request does not prove the staged credentials, or None."""
    if fetched.error is not None or fetched.token is None:
        error = fetched.error
        message = error.message if isinstance(error, SyncJobError) else "no token"
        if isinstance(error, OAuthError) and error.error == "invalid_client":
            return f"{message}: the staged secret is not what the provider has for this client"
        return message
    lacking = missing_scopes(env.scopes, fetched.token.scope)
    return f"the granted scope lacks {' '.join(lacking)}" if lacking else None


def _with(result: StagedResult, **changes: Any) -> StagedResult:
    from dataclasses import replace

    return replace(result, **changes)


def _failed(result: StagedResult, message: str) -> StagedResult:
    failed = _with(result, error=" ".join(message.split()))
    log_event(
        log, logging.ERROR, "credentials.staging_failed", environment=result.environment, error=failed.error
    )
    return failed
