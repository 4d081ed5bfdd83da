"""Every AWS error of the job in one place: what botocore raises on a Secrets Manager, KMS or STS
call becomes one of the job's errors (``errors.py``) here and nowhere else, and the refusals that
no retry can change are not retried by botocore.

* :func:`secretsmanager_error`, :func:`kms_error`, :func:`sts_error`: a botocore exception of one
  call → a ``StoreError`` subclass (the callers branch on its type, never on a code) or a
  ``SigningError`` (``transient`` when trying later may help). One line naming what is wrong and
  what to do; AWS's words are untrusted (``AWS_ENDPOINT_URL`` may point anywhere): only the
  error code is shown, through ``redact.untrusted``, never the message or a secret value.
* :func:`secretsmanager_call`, :func:`kms_call`, :func:`sts_call`: one botocore call, its
  exceptions translated; :func:`creating_client` for client creation (no region).
* :func:`retry_only_what_may_pass`: botocore's standard retry mode, less the quota refusals.

A module that calls AWS catches no botocore exception itself (tests/unit/test_awserrors.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import botocore.exceptions

from sync_job.errors import (
    AccessDeniedError,
    ConfigError,
    KmsError,
    SecretDeletedError,
    SecretNotFoundError,
    SigningError,
    StageMovedError,
    StoreError,
    ThrottledError,
    WriteUnknownError,
)
from sync_job.redact import untrusted

T = TypeVar("T")

AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
"""What a botocore call raises: an AWS error answer (``ClientError``) or no answer at all."""

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
"""Request-rate refusals (AWS common errors; Secrets Manager and KMS answer ThrottlingException)."""

TRANSIENT_CODES = THROTTLING_CODES | {
    "KMSInternalException",
    "DependencyTimeoutException",
    "InternalFailure",
    "ServiceUnavailable",
    "InternalError",
}
"""Codes of a KMS or STS call worth another attempt later (botocore's standard mode already
retried them within the call)."""

ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})

FINAL_CODES: Mapping[str, frozenset[str]] = {
    # PutSecretValue API reference, "LimitExceededException: The request failed because it would
    # exceed one of the Secrets Manager quotas" (the 100 versions in 24 hours of the quotas page:
    # a refusal that stands for hours); the request-rate quota answers ThrottlingException
    # (CommonErrors).
    "secrets-manager": frozenset({"LimitExceededException"}),
    # KMS API reference (e.g. CreateGrant), "LimitExceededException: The request was rejected
    # because a quota was exceeded"; KMS's request quotas answer ThrottlingException (KMS
    # Developer Guide, "Request quotas").
    "kms": frozenset({"LimitExceededException"}),
}
"""Error codes, by botocore service id (hyphenized), that no retry within a call can change.
botocore's standard retry mode counts ``LimitExceededException`` among its throttling codes and
would send the refused call ``total_max_attempts`` times, backing off up to 20 s each."""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else). Untrusted text:
    compare it, show it only through ``redact.untrusted``."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


# --- Secrets Manager ----------------------------------------------------------------------------


def secretsmanager_error(
    exc: BaseException, action: str, secret_id: str, *, version_id: str | None = None
) -> StoreError:
    """One clear line for any failure of Secrets Manager call ``action`` on ``secret_id``:
    ``SecretNotFoundError``, ``KmsError``, ``AccessDeniedError``, ``SecretDeletedError``,
    ``ThrottledError``, ``StageMovedError`` or a plain ``StoreError``. For a write of version
    ``version_id`` (its ClientRequestToken), ``WriteUnknownError`` when the answer was lost and
    AWS may have applied it (:func:`answer_lost`)."""
    error = _secretsmanager_answer(exc, action, secret_id) or _no_answer(exc, action, secret_id)
    if version_id is not None and answer_lost(exc):
        return WriteUnknownError(error.message, version_id)
    return error


def _secretsmanager_answer(exc: BaseException, action: str, secret_id: str) -> StoreError | None:
    """The error for an AWS error answer (a ``ClientError``); None for anything else."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return None
    error = exc.response.get("Error", {})
    # The endpoint's words are untrusted (AWS_ENDPOINT_URL may point anywhere).
    code = untrusted(str(error.get("Code", "")), limit=64)
    message = str(error.get("Message", ""))[:1000]
    if code == "ResourceNotFoundException":
        return SecretNotFoundError(
            f"secret {secret_id} does not exist; create it (e.g. with infra/) or fix the name in the config"
        )
    if "KMS" in code or "KMS" in message or code in ("DecryptionFailure", "EncryptionFailure"):
        return KmsError(
            f"KMS refused {action} on secret {secret_id} ({code}); the job's role needs "
            "kms:Decrypt/kms:GenerateDataKey on the secret's key, and the key must be enabled"
        )
    if code in ACCESS_DENIED_CODES:
        return AccessDeniedError(
            f"access denied: secretsmanager:{action} on secret {secret_id}; grant it to the job's role"
        )
    if code == "InvalidRequestException" and "delet" in message.lower():
        return deleted_error(secret_id)
    if code in THROTTLING_CODES:
        return ThrottledError(
            f"Secrets Manager throttled {action} on secret {secret_id} after retries; "
            "try again later or lower max_workers"
        )
    if code == "InvalidParameterException" and action == "UpdateSecretVersionStage":
        return StageMovedError(f"Secrets Manager {action} on secret {secret_id} failed: {code}")
    if code == "LimitExceededException":
        return StoreError(
            f"Secrets Manager quota reached for {action} on secret {secret_id} "
            "(too many versions?); avoid forced refreshes more than every 10 minutes"
        )
    return StoreError(f"Secrets Manager {action} on secret {secret_id} failed: {code}")


def _no_answer(exc: BaseException, action: str, secret_id: str) -> StoreError:
    """A Secrets Manager call that got no answer (no credentials, timeouts, unreachable)."""
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AccessDeniedError(
            "no AWS credentials found; configure the standard AWS chain (env, profile or role)"
        )
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
        return StoreError(f"Secrets Manager timed out on {action} for secret {secret_id}")
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return StoreError(f"cannot reach Secrets Manager for {action} on secret {secret_id}")
    return StoreError(f"Secrets Manager {action} on secret {secret_id} failed: {type(exc).__name__}")


def deleted_error(secret_id: str) -> SecretDeletedError:
    """The one line for a secret scheduled for deletion (an InvalidRequestException answer, or
    DescribeSecret's ``DeletedDate``)."""
    return SecretDeletedError(
        f"secret {secret_id} is scheduled for deletion; restore it with "
        f"`aws secretsmanager restore-secret --secret-id {secret_id}`"
    )


def answer_lost(exc: BaseException) -> bool:
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


def secretsmanager_call(
    action: str, secret_id: str, call: Callable[[], T], *, version_id: str | None = None
) -> T:
    """``call()`` (one botocore Secrets Manager call, ``action`` on ``secret_id``), its errors
    translated by :func:`secretsmanager_error` (``version_id``: the write's ClientRequestToken)."""
    try:
        return call()
    except AWS_ERRORS as exc:
        raise secretsmanager_error(exc, action, secret_id, version_id=version_id) from None
    except OSError as exc:
        raise local_credential_file_error(exc) from None


# --- KMS ------------------------------------------------------------------------------------------


def kms_error(exc: BaseException, action: str, key_id: str) -> SigningError:
    """One line for a failed ``kms:{action}`` on ``key_id``; ``transient`` for throttling, KMS's
    internal errors, timeouts and an unreachable endpoint (KMS API reference, each action's
    "Errors"). Never the message text (the endpoint is untrusted)."""
    code = error_code(exc)
    if code:
        return _kms_answer(code, action, key_id)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return SigningError("no AWS credentials found for KMS; configure the standard AWS chain")
    if isinstance(exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
        return SigningError(f"KMS timed out on kms:{action} for key {key_id}", transient=True)
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return SigningError(f"cannot reach KMS for kms:{action} on key {key_id}", transient=True)
    return SigningError(f"KMS kms:{action} on key {key_id} failed: {type(exc).__name__}", transient=True)


def _kms_answer(code: str, action: str, key_id: str) -> SigningError:
    shown = untrusted(code, limit=64)
    if code in TRANSIENT_CODES:
        return SigningError(
            f"KMS throttled or failed kms:{action} on key {key_id} ({shown}) after retries", transient=True
        )
    if code in ACCESS_DENIED_CODES:
        return SigningError(f"access denied: kms:{action} on key {key_id}; grant it to the job's role")
    if code == "NotFoundException":
        return SigningError(f"KMS key {key_id} does not exist; fix kms_key_id or create the key")
    if code in ("DisabledException", "KMSInvalidStateException"):
        return SigningError(f"KMS key {key_id} is disabled or pending deletion ({shown}); enable it")
    if code == "InvalidKeyUsageException":
        return SigningError(f"KMS key {key_id} is not a SIGN_VERIFY key; create an asymmetric signing key")
    return SigningError(f"KMS kms:{action} on key {key_id} failed: {shown}")


def kms_call(action: str, key_id: str, call: Callable[[], T]) -> T:
    """``call()`` (one botocore KMS call, ``kms:{action}`` on ``key_id``), its errors translated
    by :func:`kms_error`."""
    try:
        return call()
    except AWS_ERRORS as exc:
        raise kms_error(exc, action, key_id) from None
    except OSError as exc:
        raise local_credential_file_error(exc) from None


# --- STS ------------------------------------------------------------------------------------------


def sts_error(exc: BaseException, action: str) -> SigningError:
    """One line for a failed ``sts:{action}`` (``GetWebIdentityToken``, STS API reference
    "Errors": OutboundWebIdentityFederationDisabledException when the account has not enabled
    outbound identity federation); ``transient`` for throttling and STS's internal errors."""
    code = error_code(exc)
    shown = untrusted(code, limit=64)
    if code == "OutboundWebIdentityFederationDisabledException":
        return SigningError(
            f"sts:{action}: outbound identity federation is disabled for this AWS account; "
            "enable it (iam:EnableOutboundWebIdentityFederation)"
        )
    if code in ACCESS_DENIED_CODES:
        return SigningError(f"access denied: sts:{action}; grant it to the job's role")
    if code in TRANSIENT_CODES:
        return SigningError(f"STS throttled or failed sts:{action} ({shown}) after retries", transient=True)
    if code:
        return SigningError(f"sts:{action} failed: {shown}")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return SigningError("no AWS credentials found for STS; configure the standard AWS chain")
    return SigningError(f"sts:{action} failed: {type(exc).__name__}", transient=True)


def sts_call(action: str, call: Callable[[], T]) -> T:
    """``call()`` (one botocore STS call, ``sts:{action}``), its errors translated by
    :func:`sts_error`."""
    try:
        return call()
    except AWS_ERRORS as exc:
        raise sts_error(exc, action) from None
    except OSError as exc:
        raise local_credential_file_error(exc) from None


# --- clients --------------------------------------------------------------------------------------


def local_credential_file_error(exc: OSError) -> AccessDeniedError:
    """An ``OSError`` out of a botocore call: its credential chain reads a local file only when
    the first call needs credentials (``AWS_WEB_IDENTITY_TOKEN_FILE``; network faults come as
    ``BotoCoreError``). One line with the system's reason, never the path or the file's text."""
    reason = untrusted(exc.strerror or type(exc).__name__, limit=80)
    return AccessDeniedError(
        f"cannot read a file the AWS credential chain names ({reason}); check "
        "AWS_WEB_IDENTITY_TOKEN_FILE (and the profile's web_identity_token_file) exists and is "
        "readable, or configure other credentials"
    )


def creating_client(service: str, create: Callable[[], T]) -> T:
    """``create()`` (a botocore ``create_client`` of ``service``, named as in a message:
    "Secrets Manager", "KMS", "STS"; it may make the botocore session too). Raises ``ConfigError``
    (exit 2) when no region is set, for credentials in the environment or a profile that lack a
    part (``PartialCredentialsError``), ``AccessDeniedError`` when a credential provider fails
    (``CredentialRetrievalError``: e.g. a container endpoint that does not answer), for an
    ``AWS_PROFILE`` that names no profile or a shared config file that does not parse, or
    for botocore's ValueError of an endpoint that is not a URL, whose text (the URL, which may
    carry user:password@) is not repeated."""
    try:
        return create()
    except botocore.exceptions.PartialCredentialsError as exc:
        # botocore names the missing variable or key (e.g. AWS_SECRET_ACCESS_KEY), never a value.
        missing = getattr(exc, "kwargs", {}).get("cred_var", "a key")
        raise ConfigError(
            f"incomplete AWS credentials: {untrusted(str(missing), limit=64)} is missing; set both "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or unset both), or fix the profile"
        ) from None
    except botocore.exceptions.CredentialRetrievalError as exc:
        # botocore's message holds the provider's URL or command and its answer: only the
        # provider's name (botocore's own: container-role, custom-process, sso, ...) is shown.
        provider = getattr(exc, "kwargs", {}).get("provider", "?")
        raise AccessDeniedError(
            f"cannot get AWS credentials from the {untrusted(str(provider), limit=64)} provider; "
            "check that source (e.g. AWS_CONTAINER_CREDENTIALS_FULL_URI, credential_process, the "
            "SSO session) or configure another in the standard AWS chain"
        ) from None
    except botocore.exceptions.ConfigParseError:
        # botocore's message names the file's path only; the file itself may hold keys.
        raise ConfigError(
            "an AWS shared config or credentials file cannot be parsed (AWS_CONFIG_FILE or "
            "~/.aws/config, AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials); fix it"
        ) from None
    except botocore.exceptions.ProfileNotFound:
        raise ConfigError(
            "the AWS profile named by AWS_PROFILE (or AWS_DEFAULT_PROFILE) is not in ~/.aws/config "
            "or ~/.aws/credentials; set an existing profile or unset it"
        ) from None
    except botocore.exceptions.NoRegionError:
        raise ConfigError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in ~/.aws/config)"
        ) from None
    except ValueError:
        raise ConfigError(
            f"cannot make the {service} client: its endpoint is not a valid http(s) URL; check "
            "AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (or endpoint_url in ~/.aws/config)"
        ) from None


class _UnlessFinal:
    """botocore's standard-mode ``needs-retry`` handler, except for an answer whose error code
    is in ``codes``: for that, no retry (None: botocore's endpoint then returns the answer)."""

    def __init__(self, retry: Callable[..., Any], codes: frozenset[str]) -> None:
        self._retry = retry
        self._codes = codes

    def needs_retry(self, **kwargs: Any) -> Any:
        response = kwargs.get("response")
        if response is not None and isinstance(response[1], Mapping):
            error = response[1].get("Error")
            if isinstance(error, Mapping) and error.get("Code") in self._codes:
                return None
        return self._retry(**kwargs)


def retry_only_what_may_pass(client: Any, max_attempts: int) -> None:
    """Keep botocore's standard retry mode on ``client`` (throttling, 5xx, timeouts: up to
    ``max_attempts`` attempts with backoff) but never retry the service's :data:`FINAL_CODES`.
    ``client`` must have been made with ``retries={"mode": "standard", "total_max_attempts":
    max_attempts}``.

    botocore registers its standard handler on ``needs-retry.<service>`` under the unique id
    ``retry-config-<service>`` (``botocore.retries.standard.register_retry_handler``), and
    ``needs-retry``'s first non-None answer wins whatever the later handlers say. So that handler
    is replaced by one that asks it only about answers that may pass: a registration of our own
    could not veto it on every botocore the job supports, and left beside it, it would still
    take retry quota for each refusal. botocore's first handler's ``after-call`` quota release
    stays registered, for a quota nothing draws on any more."""
    from botocore.retries import standard  # imported by botocore.client already

    service = client.meta.service_model.service_id.hyphenize()
    codes = FINAL_CODES.get(service)
    if not codes:
        return
    events = client.meta.events
    event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
    events.unregister(event, unique_id=unique_id)
    handler = standard.register_retry_handler(client, max_attempts=max_attempts)
    events.unregister(event, unique_id=unique_id)
    events.register(event, _UnlessFinal(handler.needs_retry, codes).needs_retry, unique_id=unique_id)
