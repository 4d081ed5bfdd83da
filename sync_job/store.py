"""Secrets Manager: read credentials and stored tokens, publish new tokens safely.

Publishing is a compare-and-swap on the AWSCURRENT staging label. The new version is written
with a private label (so consumers never see it half-way), then AWSCURRENT is moved to it with
``RemoveFromVersionId`` set to the version this run read. If another run moved AWSCURRENT in
between, Secrets Manager refuses the move, and this run keeps whichever token lives longer.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

from sync_job.certs import certificate_thumbprints
from sync_job.errors import (
    AccessDeniedError,
    CredentialsError,
    KmsError,
    SecretDeletedError,
    SecretNotFoundError,
    StoreError,
    ThrottledError,
)
from sync_job.logs import log_event
from sync_job.oauth import Credentials
from sync_job.payload import InvalidPayload, TokenPayload, parse_payload
from sync_job.redact import Secret

log = logging.getLogger("sync_job.store")

PENDING_STAGE = "SYNCJOB_PENDING"
CURRENT_STAGE = "AWSCURRENT"
# Rounds of compare-and-swap before giving up; each loss means another run published.
_CAS_ROUNDS = 3


def make_client(*, max_attempts: int = 5, max_pool_connections: int = 16) -> Any:
    """A Secrets Manager client from the standard boto3 chain (region, credentials and
    AWS_ENDPOINT_URL all come from the environment), with bounded retries and timeouts."""
    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=15,
        max_pool_connections=max_pool_connections,
    )
    try:
        return boto3.client("secretsmanager", config=config)
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
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
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
        version = answer.get("VersionId")
        try:
            payload = parse_payload(answer.get("SecretString"))
        except InvalidPayload as exc:
            return StoredToken(payload=None, version_id=version, problem=str(exc))
        return StoredToken(payload=payload, version_id=version)

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        answer = self._call("GetSecretValue", secret_id, VersionStage=CURRENT_STAGE)
        return parse_credentials(answer.get("SecretString"), secret_id, auth_method)

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


_SNAKE = {
    "GetSecretValue": "get_secret_value",
    "PutSecretValue": "put_secret_value",
    "DescribeSecret": "describe_secret",
    "UpdateSecretVersionStage": "update_secret_version_stage",
}


def parse_credentials(text: str | None, secret_id: str, auth_method: str) -> Credentials:
    """The credentials secret's JSON. Errors name the secret and the key, never a value."""
    if text is None:
        raise CredentialsError(
            f"credentials secret {secret_id} has no SecretString; store JSON "
            '{"client_id": "...", "client_secret": "..."}'
        )
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise CredentialsError(
            f"credentials secret {secret_id} is not JSON; store "
            '{"client_id": "...", "client_secret": "..."}'
        ) from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"credentials secret {secret_id} is not a JSON object")
    wanted = (
        ("client_id", "private_key") if auth_method == "private_key_jwt" else ("client_id", "client_secret")
    )
    for key in wanted:
        value = doc.get(key)
        if key not in doc:
            raise CredentialsError(f"credentials secret {secret_id} lacks {key!r}")
        if not isinstance(value, str) or not value.strip():
            raise CredentialsError(f"credentials secret {secret_id}: {key!r} must be a non-empty string")
    key_id = doc.get("key_id")
    if key_id is not None and not isinstance(key_id, str):
        raise CredentialsError(f"credentials secret {secret_id}: 'key_id' must be a string")
    private_key = None
    thumbprints = None
    if auth_method == "private_key_jwt":
        private_key = Secret(doc["private_key"])
        _check_private_key(private_key, secret_id)
        thumbprints = certificate_thumbprints(doc.get("certificate"), private_key, secret_id)
    return Credentials(
        client_id=doc["client_id"],
        client_secret=Secret(doc["client_secret"])
        if isinstance(doc.get("client_secret"), str) and doc["client_secret"]
        else None,
        private_key=private_key,
        key_id=key_id or None,
        source=secret_id,
        x5t=thumbprints.x5t if thumbprints else None,
        x5t_s256=thumbprints.x5t_s256 if thumbprints else None,
    )


def _check_private_key(key: Secret, secret_id: str) -> None:
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - cryptography ships with the jwt extra
        return
    try:
        load_pem_private_key(key.reveal().encode(), password=None)
    except Exception:
        # Never chain: a parser's message may quote part of the key.
        raise CredentialsError(
            f"credentials secret {secret_id}: 'private_key' is not an unencrypted PEM private key"
        ) from None
