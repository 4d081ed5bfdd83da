"""Secrets Manager's rotation protocol for the token secrets: `aws secretsmanager rotate-secret`
is "refresh now", and a rotation schedule is a backstop beside the job's own schedule.

Secrets Manager invokes the rotation function four times with
``{"Step": ..., "SecretId": ARN, "ClientRequestToken": VERSION_ID}`` (user guide, "Lambda
rotation functions" and "How rotation works"); each step is idempotent, because Secrets Manager
retries a failed one:

- ``createSecret``: unless version VERSION_ID already holds a token, request a fresh token with
  the stored credentials and write it as that version, labelled ``AWSPENDING`` only
  (PutSecretValue with ``ClientRequestToken`` = VERSION_ID). Consumers read AWSCURRENT and never
  see it. A failed token request fails the step and writes nothing.
- ``setSecret``: nothing. The provider issues tokens; there is no service to update.
- ``testSecret``: the AWSPENDING version must hold a token consumers can use (the payload
  rules of ``payload.parse_payload`` and ``bearer.py``, more than 60 s left: the one validity
  rule, ``freshness.usable``; createSecret and finishSecret apply it too). A version without a value
  passes: only Secrets Manager's own configuration test (``rotate_immediately = false``) makes
  one, and createSecret never leaves one.
- ``finishSecret``: the job's compare-and-swap (``SecretStore.promote``): AWSCURRENT moves to
  VERSION_ID with ``RemoveFromVersionId`` the current version, unless a run published a token
  that lives at least as long meanwhile, which then stays current. Then AWSPENDING is taken off
  VERSION_ID, one of the two states RotateSecret accepts as finished (API reference,
  RotateSecret), so the next rotation can start.

The same compare-and-swap as every run: a rotation and a scheduled run at the same moment
leave the longer-lived token current, never a worse one. Only token secrets rotate this way;
the client credentials are issued by the provider (docs/runbook.md "Rotate a client secret").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast

from sync_job import freshness, inputs
from sync_job.client_identity import credentials_of
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import SyncJobError, UsageError
from sync_job.logs import log_event
from sync_job.payload import TokenPayload
from sync_job.refresh import check_token
from sync_job.store import CURRENT_STAGE, ROTATION_PENDING_STAGE, PublishResult, SecretLabels, StoredToken
from sync_job.sync import Job

log = logging.getLogger("sync_job.secret_rotation")


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


@dataclass(frozen=True)
class RotationEvent:
    """One invocation of the rotation protocol: ``step``, the secret (ARN or name, as Secrets
    Manager sends it) and ``version_id`` (the event's ``ClientRequestToken``)."""

    step: Step
    secret_id: str
    version_id: str


@dataclass(frozen=True)
class StepResult:
    """What one step did, for the log and the Lambda's return value."""

    step: Step
    environment: str
    version_id: str
    did: str

    def to_dict(self) -> dict[str, str]:
        return {
            "step": str(self.step),
            "environment": self.environment,
            "version_id": self.version_id,
            "did": self.did,
        }


class RotationStore(Protocol):
    def labels(self, secret_id: str) -> SecretLabels: ...
    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken: ...
    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials: ...
    def read_version(self, secret_id: str, version_id: str, stage: str) -> StoredToken: ...
    def put_version(self, secret_id: str, version_id: str, payload: TokenPayload, stage: str) -> None: ...
    def promote(
        self, secret_id: str, version_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult: ...
    def remove_stage(self, secret_id: str, stage: str, version_id: str) -> None: ...


def is_rotation_event(event: object) -> bool:
    """Whether a Lambda event is Secrets Manager's (it has a ``Step``); the job's own events
    (``{"environments": [...], "force": true}``) never do."""
    return isinstance(event, Mapping) and "Step" in event


def parse_rotation_event(event: Mapping[str, Any]) -> RotationEvent:
    """The event's three fields; raises ``UsageError`` naming the one that is wrong."""
    step = event.get("Step")
    if step not in {s.value for s in Step}:
        raise UsageError(
            f'rotation event "Step" must be one of {", ".join(s.value for s in Step)}, got {str(step)[:40]!r}'
        )
    secret_id = event.get("SecretId")
    version_id = event.get("ClientRequestToken")
    for key, value in (("SecretId", secret_id), ("ClientRequestToken", version_id)):
        if not isinstance(value, str) or not value or len(value) > 2048:
            raise UsageError(f'rotation event "{key}" must be a non-empty string')
        # Both go into Secrets Manager requests and every line about the step (inputs.problem).
        wrong = inputs.problem(value, max_chars=inputs.MAX_TEXT_CHARS)
        if wrong is not None:
            raise UsageError(
                f'rotation event "{key}" {wrong}; Secrets Manager sends a secret ARN and a version id'
            )
    return RotationEvent(Step(step), cast(str, secret_id), cast(str, version_id))


def handle(job: Job, event: Mapping[str, Any], *, budget_seconds: float | None = None) -> StepResult:
    """Answer one rotation step for a token secret of ``job``'s config (module docstring).
    Raises ``UsageError`` for a malformed event or a secret that is no token secret of the
    config, and ``SyncJobError`` when the step fails (Secrets Manager then retries it)."""
    parsed = parse_rotation_event(event)
    store = cast(RotationStore, job.store)
    described = store.labels(parsed.secret_id)
    env = _environment(job, parsed.secret_id, described)
    mine = list(described.stages.get(parsed.version_id, ()))
    if CURRENT_STAGE in mine and ROTATION_PENDING_STAGE not in mine:
        return _done(parsed, env, "version is already AWSCURRENT: nothing to do")
    if parsed.step is Step.CREATE:
        return _create(job, store, env, parsed, budget_seconds)
    if parsed.step is Step.SET:
        return _done(parsed, env, "nothing to set: the provider issues the tokens")
    if parsed.step is Step.TEST:
        return _test(job, store, env, parsed)
    return _finish(job, store, env, parsed, mine)


def _environment(job: Job, secret_id: str, described: SecretLabels) -> EnvironmentConfig:
    # Secrets Manager sends the ARN; the config may name the secret by ARN (infra/) or by name.
    names = {secret_id, described.arn, described.name}
    for env in job.config.environments:
        if env.token_secret in names:
            return env
    raise UsageError(
        f"rotation event for secret {described.name or secret_id}, which is no token secret of "
        "this config; only token secrets rotate with this function"
    )


def _create(
    job: Job, store: RotationStore, env: EnvironmentConfig, event: RotationEvent, budget: float | None
) -> StepResult:
    if store.read_version(env.token_secret, event.version_id, ROTATION_PENDING_STAGE).payload is not None:
        return _done(event, env, "AWSPENDING already holds a token (a retried step)")
    deadline = job.clock.monotonic() + (job.config.run_timeout_seconds if budget is None else budget)
    creds = credentials_of(env, store.read_credentials)
    fetched = job.tokens.fetch(env, creds, deadline)
    # A run's token checks (refresh.check_token: every scope, the bearer rules), then the one
    # validity rule: finishSecret makes this version AWSCURRENT, and on a secret with no
    # version the write itself does, so what consumers would refuse is never written.
    checked = check_token(env, creds, fetched)
    if checked.lacking:
        raise SyncJobError(
            f"{env.name}: createSecret: granted scope lacks {' '.join(checked.lacking)}; nothing written"
        )
    if checked.payload is None:
        message = checked.error.message if checked.error is not None else "no token"
        raise SyncJobError(f"{env.name}: createSecret: {message}; nothing written")
    payload = checked.payload
    _refuse_unusable(job, env, Step.CREATE, payload, "nothing written")
    store.put_version(env.token_secret, event.version_id, payload, ROTATION_PENDING_STAGE)
    return _done(event, env, "wrote a fresh token as AWSPENDING")


def _test(job: Job, store: RotationStore, env: EnvironmentConfig, event: RotationEvent) -> StepResult:
    pending = store.read_version(env.token_secret, event.version_id, ROTATION_PENDING_STAGE)
    if pending.problem:
        raise SyncJobError(f"{env.name}: testSecret: AWSPENDING is not a usable token: {pending.problem}")
    if pending.payload is None:
        return _done(event, env, "AWSPENDING has no value: nothing to test")
    _refuse_unusable(job, env, Step.TEST, pending.payload, "AWSCURRENT unchanged")
    return _done(event, env, "AWSPENDING holds a usable token")


def _finish(
    job: Job, store: RotationStore, env: EnvironmentConfig, event: RotationEvent, stages: list[str]
) -> StepResult:
    pending = store.read_version(env.token_secret, event.version_id, ROTATION_PENDING_STAGE)
    if pending.payload is None:
        raise SyncJobError(
            f"{env.name}: finishSecret: version {event.version_id} holds no token labelled AWSPENDING"
        )
    if CURRENT_STAGE in stages:
        # The secret had no version before createSecret: Secrets Manager made it current itself.
        did = "AWSPENDING was already AWSCURRENT"
    else:
        # It may have aged since createSecret (Secrets Manager retries a failed step for hours).
        _refuse_unusable(job, env, Step.FINISH, pending.payload, "AWSCURRENT unchanged")
        current = store.read_token(env.token_secret)
        if current.payload is not None and current.payload.expires_at >= pending.payload.expires_at:
            did = "kept AWSCURRENT: a run published a token that lives at least as long"
        else:
            result = store.promote(env.token_secret, event.version_id, pending.payload, current.version_id)
            did = (
                "moved AWSCURRENT to the new token"
                if result.published
                else "kept AWSCURRENT: a run published a longer-lived token meanwhile"
            )
    store.remove_stage(env.token_secret, ROTATION_PENDING_STAGE, event.version_id)
    return _done(event, env, did + "; AWSPENDING removed")


def _refuse_unusable(job: Job, env: EnvironmentConfig, step: Step, payload: TokenPayload, kept: str) -> None:
    """Raise ``SyncJobError`` when ``payload`` fails the one validity rule every publish path
    applies (``freshness.usable``: more than ``bearer.EXPIRY_SKEW_SECONDS`` left)."""
    now = job.clock.now()
    if not freshness.usable(payload, now):
        raise SyncJobError(f"{env.name}: {step}: {freshness.unusable_new_token(payload, now)}; {kept}")


def _done(event: RotationEvent, env: EnvironmentConfig, did: str) -> StepResult:
    result = StepResult(step=event.step, environment=env.name, version_id=event.version_id, did=did)
    log_event(log, logging.INFO, "rotation.step", **result.to_dict())
    return result
