"""Secrets Manager: read credentials and stored tokens, publish new tokens safely.

Publishing is a compare-and-swap on the AWSCURRENT staging label. The new version is written
with a private label (so consumers never see it half-way), then AWSCURRENT is moved to it with
``RemoveFromVersionId`` set to the version this run read. If another run moved AWSCURRENT in
between, Secrets Manager refuses the move, and this run keeps whichever token lives longer.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import botocore.session
from botocore.config import Config as BotoConfig

from sync_job.credentials import Credentials, parse_credentials
from sync_job.errors import (
    AccessDeniedError,
    CredentialsError,
    KmsError,
    SecretDeletedError,
    SecretNotFoundError,
    StoreError,
    SyncJobError,
    ThrottledError,
    WriteUnknownError,
)
from sync_job.logs import log_event
from sync_job.payload import InvalidPayload, TokenPayload, parse_payload
from sync_job.redact import untrusted

log = logging.getLogger("sync_job.store")

PENDING_STAGE = "SYNCJOB_PENDING"
CURRENT_STAGE = "AWSCURRENT"
# Rounds of compare-and-swap before giving up; each loss means another run published.
_CAS_ROUNDS = 3
# BatchGetSecretValue's limit of secrets per call (SecretIdList).
BATCH_SIZE = 20


@functools.cache
def botocore_session() -> botocore.session.Session:
    """The process's botocore session: the same credential, region and endpoint chain as boto3
    (environment, shared config, container and instance roles, ``AWS_ENDPOINT_URL``), without
    importing boto3, whose import pulls in s3transfer, which the job never uses. One session,
    so the service model is loaded once per process."""
    return botocore.session.get_session()


def make_client(
    *, max_attempts: int = 5, max_pool_connections: int = 16, budget_seconds: float = 600.0
) -> Any:
    """A botocore Secrets Manager client from the standard AWS chain (region, credentials and
    AWS_ENDPOINT_URL all come from the environment), with bounded retries and timeouts.

    Each call's socket timeouts are sized from ``budget_seconds`` (the run's budget): at most
    5 s to connect and 15 s per read, and no more than a quarter of the budget for a read, so a
    Secrets Manager that accepts and never answers costs a run a few timeouts, not minutes. The
    run itself is bounded by ``Job`` whatever botocore does. Raises ``ConfigError`` without a
    region.
    """
    quarter = max(1.0, budget_seconds / 4)
    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=min(5.0, quarter),
        read_timeout=min(15.0, quarter),
        max_pool_connections=max_pool_connections,
    )
    try:
        session = botocore_session()
        # AWS_REGION is what Lambda, the AWS CLI v2 and most SDKs read; botocore reads only
        # AWS_DEFAULT_REGION and the shared config, so fall back to it explicitly.
        region = session.get_config_variable("region") or os.environ.get("AWS_REGION") or None
        return session.create_client("secretsmanager", region_name=region, config=config)
    except botocore.exceptions.NoRegionError:
        from sync_job.errors import ConfigError

        raise ConfigError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in ~/.aws/config)"
        ) from None


@dataclass(frozen=True)
class StoredToken:
    """What AWSCURRENT of a token secret holds. ``problem`` says why ``payload`` is None when
    the secret has a value that cannot be used."""

    payload: TokenPayload | None
    version_id: str | None
    problem: str | None = None


@dataclass(frozen=True)
class PublishResult:
    published: bool
    # When not published: the newer token another run made current meanwhile.
    current: TokenPayload | None = None
    version_id: str | None = None


def classify_error(exc: Exception, action: str, secret_id: str) -> StoreError:
    """One clear line for any failure of a Secrets Manager call."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        # The endpoint's words are untrusted (AWS_ENDPOINT_URL may point anywhere).
        code = untrusted(str(error.get("Code", "")), limit=64)
        message = str(error.get("Message", ""))[:1000]
        if code == "ResourceNotFoundException":
            return SecretNotFoundError(
                f"secret {secret_id} does not exist; create it (e.g. with infra/) "
                "or fix the name in the config"
            )
        if "KMS" in code or "KMS" in message or code in ("DecryptionFailure", "EncryptionFailure"):
            return KmsError(
                f"KMS refused {action} on secret {secret_id} ({code}); the job's role needs "
                "kms:Decrypt/kms:GenerateDataKey on the secret's key, and the key must be enabled"
            )
        if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
            return AccessDeniedError(
                f"access denied: secretsmanager:{action} on secret {secret_id}; grant it to the job's role"
            )
        if code == "InvalidRequestException" and "delet" in message.lower():
            return SecretDeletedError(
                f"secret {secret_id} is scheduled for deletion; restore it with "
                f"`aws secretsmanager restore-secret --secret-id {secret_id}`"
            )
        if code in ("ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"):
            return ThrottledError(
                f"Secrets Manager throttled {action} on secret {secret_id} after retries; "
                "try again later or lower max_workers"
            )
        if code == "LimitExceededException":
            return StoreError(
                f"Secrets Manager quota reached for {action} on secret {secret_id} "
                "(too many versions?); avoid forced refreshes more than every 10 minutes"
            )
        return StoreError(f"Secrets Manager {action} on secret {secret_id} failed: {code}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AccessDeniedError(
            "no AWS credentials found; configure the standard AWS chain (env, profile or role)"
        )
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
        return StoreError(f"Secrets Manager timed out on {action} for secret {secret_id}")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return StoreError(f"cannot reach Secrets Manager for {action} on secret {secret_id}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return StoreError(f"Secrets Manager {action} on secret {secret_id} failed: {type(exc).__name__}")
    return StoreError(f"Secrets Manager {action} on secret {secret_id} failed: {type(exc).__name__}")


def _code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class SecretStore:
    """Reads and writes of the job's secrets, over a boto3 Secrets Manager client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, action: str, secret_id: str, **params: Any) -> dict[str, Any]:
        method = getattr(self._client, _SNAKE[action])
        try:
            result: dict[str, Any] = method(SecretId=secret_id, **params)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise classify_error(exc, action, secret_id) from None
        return result

    def read_token(self, secret_id: str) -> StoredToken:
        """AWSCURRENT of the token secret. A secret without a value reads as no payload."""
        try:
            answer = self._client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT_STAGE)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise classify_error(exc, "GetSecretValue", secret_id) from None
            # Either the secret is missing or it has no value yet (created by infra/ and never
            # written). Only the second is ours to fix; tell them apart before any token request.
            self._call("DescribeSecret", secret_id)
            return StoredToken(payload=None, version_id=None, problem=None)
        return _stored_token(answer)

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        answer = self._call("GetSecretValue", secret_id, VersionStage=CURRENT_STAGE)
        return parse_credentials(answer.get("SecretString"), secret_id, auth_method)

    def read_tokens(self, secret_ids: Sequence[str]) -> dict[str, StoredToken | StoreError]:
        """AWSCURRENT of each token secret, in ``ceil(n / 20)`` BatchGetSecretValue calls when
        every secret comes back; a secret the batch does not return as AWSCURRENT (in its
        ``Errors``, on another version, or a batch refused outright) is read on its own with
        :meth:`read_token`. Errors are returned per secret, not raised."""
        answers = self._batch(secret_ids)
        out: dict[str, StoredToken | StoreError] = {}
        for secret_id in dict.fromkeys(secret_ids):
            answer = answers.get(secret_id)
            try:
                out[secret_id] = _stored_token(answer) if answer else self.read_token(secret_id)
            except StoreError as exc:
                out[secret_id] = exc
        return out

    def read_credentials_many(
        self, wanted: Sequence[tuple[str, str]]
    ) -> dict[str, Credentials | SyncJobError]:
        """``(secret_id, auth_method)`` pairs → the parsed credentials (or the error) of each,
        batched like :meth:`read_tokens`."""
        answers = self._batch([secret_id for secret_id, _ in wanted])
        out: dict[str, Credentials | SyncJobError] = {}
        for secret_id, auth_method in wanted:
            answer = answers.get(secret_id)
            try:
                if answer is None:
                    out[secret_id] = self.read_credentials(secret_id, auth_method)
                else:
                    out[secret_id] = parse_credentials(answer.get("SecretString"), secret_id, auth_method)
            except SyncJobError as exc:
                out[secret_id] = exc
        return out

    def _batch(self, secret_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """BatchGetSecretValue in chunks of 20: the answers that are AWSCURRENT, by the id asked
        for. BatchGetSecretValue takes no VersionStage; each answer's VersionStages is checked
        instead, so a stale version (moto returns one after a staging-label move) is never used.
        A refused or failed batch returns nothing for its chunk (the caller reads one by one)."""
        unique = list(dict.fromkeys(secret_ids))
        if len(unique) < 2:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(unique), BATCH_SIZE):
            chunk = unique[start : start + BATCH_SIZE]
            try:
                answer = self._client.batch_get_secret_value(SecretIdList=chunk)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                log_event(
                    log,
                    logging.INFO,
                    "store.batch_refused",
                    error=classify_error(exc, "BatchGetSecretValue", "(batch)").message,
                )
                continue
            for entry in answer.get("SecretValues", []):
                if CURRENT_STAGE not in entry.get("VersionStages", []):
                    continue
                for secret_id in chunk:
                    if secret_id in (entry.get("Name"), entry.get("ARN")):
                        found[secret_id] = entry
        return found

    def describe(self, secret_id: str) -> dict[str, Any]:
        answer = self._call("DescribeSecret", secret_id)
        if answer.get("DeletedDate"):
            raise SecretDeletedError(
                f"secret {secret_id} is scheduled for deletion; restore it with "
                f"`aws secretsmanager restore-secret --secret-id {secret_id}`"
            )
        return answer

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        """Write ``payload`` and make it AWSCURRENT unless another run published a token that
        lives at least as long. ``expected_version`` is the AWSCURRENT version this run read."""
        # The version id is the idempotency key: a retried write can never add a second version.
        version_id = str(uuid.uuid4())
        put = self._call(
            "PutSecretValue",
            secret_id,
            ClientRequestToken=version_id,
            SecretString=payload.to_json(),
            VersionStages=[PENDING_STAGE],
        )
        if CURRENT_STAGE in put.get("VersionStages", []):
            # The secret had no version: Secrets Manager made the first one current itself.
            return PublishResult(published=True, version_id=version_id)
        expected = expected_version
        for _ in range(_CAS_ROUNDS):
            params: dict[str, Any] = {"VersionStage": CURRENT_STAGE, "MoveToVersionId": version_id}
            if expected:
                params["RemoveFromVersionId"] = expected
            try:
                self._client.update_secret_version_stage(SecretId=secret_id, **params)
                return PublishResult(published=True, version_id=version_id)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                if _code(exc) != "InvalidParameterException":
                    raise classify_error(exc, "UpdateSecretVersionStage", secret_id) from None
            # AWSCURRENT moved since we read it: another run published. Keep the longer-lived.
            current = self.read_token(secret_id)
            log_event(log, logging.INFO, "store.cas_conflict", secret=secret_id)
            if current.version_id == version_id:
                return PublishResult(published=True, version_id=version_id)
            if current.payload is not None and current.payload.expires_at >= payload.expires_at:
                return PublishResult(published=False, current=current.payload, version_id=current.version_id)
            expected = current.version_id
        raise StoreError(
            f"could not make the new token current in secret {secret_id}: AWSCURRENT kept "
            "moving (other runs writing at the same time?)"
        )

    def read_document(self, secret_id: str) -> dict[str, Any]:
        """AWSCURRENT of a secret holding a JSON object (the credentials secret), for a
        read-modify-write. Raises ``CredentialsError`` when it is not one; never quotes it."""
        return self.read_document_version(secret_id).doc

    def read_document_version(self, secret_id: str) -> StoredDocument:
        """Like :meth:`read_document`, with the AWSCURRENT version id the document is."""
        answer = self._call("GetSecretValue", secret_id, VersionStage=CURRENT_STAGE)
        try:
            doc = json.loads(answer.get("SecretString") or "")
        except (ValueError, RecursionError):
            raise CredentialsError(f"secret {secret_id} does not hold JSON") from None
        if not isinstance(doc, dict):
            raise CredentialsError(f"secret {secret_id} does not hold a JSON object")
        return StoredDocument(doc=doc, version_id=answer.get("VersionId"), arn=answer.get("ARN"))

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        """Write ``doc`` as a new version and make it AWSCURRENT; Secrets Manager moves
        AWSPREVIOUS to the version that was current. Returns the new version id.

        ``request_token`` is the ClientRequestToken (the new version's id, 32-64 characters):
        Secrets Manager applies a call with a token it has seen, for the same value, at most
        once (PutSecretValue, "ClientRequestToken": idempotency), so a retry or a re-run with
        the same token cannot add a second version. Default a fresh UUID. Raises
        :class:`WriteUnknownError` when the answer was lost (a timeout, a closed connection, a
        5xx) and AWS may have applied the write, other ``StoreError`` when it was refused."""
        version_id = request_token or str(uuid.uuid4())
        try:
            self._client.put_secret_value(
                SecretId=secret_id, ClientRequestToken=version_id, SecretString=json.dumps(doc)
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            error = classify_error(exc, "PutSecretValue", secret_id)
            if _answer_lost(exc):
                raise WriteUnknownError(error.message, version_id) from None
            raise error from None
        return version_id


@dataclass(frozen=True)
class StoredDocument:
    """AWSCURRENT of a JSON-object secret: the document, its version id and the secret's ARN."""

    doc: dict[str, Any]
    version_id: str | None
    arn: str | None = None


def _answer_lost(exc: Exception) -> bool:
    """True when ``exc`` leaves open whether AWS applied the call. botocore retries, so an
    earlier attempt may have been applied and its answer lost (a read timeout, a closed
    connection, a 5xx) whatever the last attempt's fault: only a refusal (4xx) on the first
    attempt, or a failure before anything was sent (no credentials, bad parameters), is sure."""
    if isinstance(exc, botocore.exceptions.ClientError):
        meta = exc.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        retried = meta.get("RetryAttempts") or 0
        return not isinstance(status, int) or status >= 500 or retried > 0
    return not isinstance(
        exc,
        botocore.exceptions.NoCredentialsError
        | botocore.exceptions.ParamValidationError
        | botocore.exceptions.NoRegionError,
    )


def _stored_token(answer: dict[str, Any]) -> StoredToken:
    version = answer.get("VersionId")
    try:
        payload = parse_payload(answer.get("SecretString"))
    except InvalidPayload as exc:
        return StoredToken(payload=None, version_id=version, problem=str(exc))
    return StoredToken(payload=payload, version_id=version)


_SNAKE = {
    "GetSecretValue": "get_secret_value",
    "PutSecretValue": "put_secret_value",
    "DescribeSecret": "describe_secret",
    "UpdateSecretVersionStage": "update_secret_version_stage",
}
