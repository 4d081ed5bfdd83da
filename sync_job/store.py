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
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import botocore.session
from botocore.config import Config as BotoConfig

from sync_job.awserrors import creating_client, deleted_error, retry_only_what_may_pass, secretsmanager_call
from sync_job.errors import (
    CredentialsError,
    SecretEmptyError,
    SecretNotFoundError,
    StageMovedError,
    StoreError,
    SyncJobError,
)
from sync_job.logs import log_event
from sync_job.payload import InvalidPayload, TokenPayload, parse_payload

# Types only: the published stubs (mypy-boto3-secretsmanager; not shipped in the Lambda zip) and
# the credentials (imported by parse_credentials, with the first credentials secret read).
if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import ListSecretVersionIdsResponseTypeDef

    from sync_job.credentials import Credentials

log = logging.getLogger("sync_job.store")


def parse_credentials(text: str | None, secret_id: str, auth_method: str) -> Credentials:
    """``credentials.parse_credentials``, imported with the first credentials secret read: a
    run that finds every token fresh reads none (and its first request is a token read)."""
    from sync_job import credentials

    return credentials.parse_credentials(text, secret_id, auth_method)


T = TypeVar("T")

PENDING_STAGE = "SYNCJOB_PENDING"
CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
# The rotation protocol's label of the version being created (Secrets Manager user guide,
# "How rotation works").
ROTATION_PENDING_STAGE = "AWSPENDING"
# Rounds of compare-and-swap before giving up; each loss means another run published.
_CAS_ROUNDS = 3
# BatchGetSecretValue's limit of secrets per call (SecretIdList).
BATCH_SIZE = 20
# ListSecretVersionIds pages read at most when counting versions: AWS removes unlabelled versions
# past 100 once they are 24 hours old, so a secret holds a few hundred at most.
_VERSION_PAGES = 5


@functools.cache
def botocore_session() -> botocore.session.Session:
    """The process's botocore session: the same credential, region and endpoint chain as boto3
    (environment, shared config, container and instance roles, ``AWS_ENDPOINT_URL``), without
    importing boto3, whose import pulls in s3transfer, which the job never uses. One session,
    so the service model is loaded once per process. Its data loader is
    ``botodata.make_loader``: the job's services' models and endpoints without botocore's listing
    of every service folder and parsing of every service's endpoints (about 25 ms of the first
    client; the stock loader when the installed botocore has no generated data)."""
    from sync_job import botodata

    return botodata.make_session()


def tls_verify(session: botocore.session.Session) -> bool | str:
    """The CA bundle AWS calls verify TLS with (``create_client``'s ``verify``): ``AWS_CA_BUNDLE``
    or ``ca_bundle`` in the shared config, else ``REQUESTS_CA_BUNDLE``, else True (botocore's own
    bundle). A blank value counts as unset, as requests counts it for the token requests: left
    to itself, botocore refuses an empty ``REQUESTS_CA_BUNDLE=`` with ``InvalidConfigError``
    when the client is made."""
    for value in (session.get_config_variable("ca_bundle"), os.environ.get("REQUESTS_CA_BUNDLE")):
        if isinstance(value, str) and value.strip():
            return value
    return True


def session_client(service: str, config: BotoConfig) -> Any:
    """A botocore client of ``service`` from the process's session (:func:`botocore_session`,
    made now if not yet), in the environment's region (:func:`client_region`), verifying TLS as
    :func:`tls_verify` says. Raises what botocore raises (``awserrors.creating_client``
    translates it)."""
    session = botocore_session()
    return session.create_client(
        service, region_name=client_region(session), config=config, verify=tls_verify(session)
    )


def make_client(
    *, max_attempts: int = 5, max_pool_connections: int = 16, budget_seconds: float = 600.0
) -> SecretsManagerClient:
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
    # The session is made inside creating_client: making it may already read the environment's
    # credentials and profile (botodata.make_session), whose errors are configuration errors.
    client = creating_client(
        "Secrets Manager",
        lambda: session_client("secretsmanager", config),
    )
    # A quota refusal (LimitExceededException) is final: not sent again max_attempts times.
    retry_only_what_may_pass(client, max_attempts)
    # botocore types create_client as any client; the stubs name what "secretsmanager" makes.
    return cast("SecretsManagerClient", client)


# botocore.utils.validate_region_name's rule, anchored at both ends (its re.match lets a trailing
# newline through, which then breaks the endpoint URL).
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def client_region(session: botocore.session.Session) -> str | None:
    """The region every client of the job is made for: the session's (AWS_DEFAULT_REGION, the
    profile), else AWS_REGION (what Lambda, the AWS CLI v2 and most SDKs read; botocore reads
    only the first two). Raises ``ConfigError`` (exit 2) for one that is not a region name: it
    becomes a host name in every request (a control character, a '/', a space)."""
    from sync_job.errors import ConfigError

    region = session.get_config_variable("region") or os.environ.get("AWS_REGION") or None
    if region is not None and not _REGION.fullmatch(region):
        from sync_job import inputs

        raise ConfigError(
            f"AWS region {inputs.shown(region, 40)} is not a region name such as us-east-1; "
            "fix AWS_REGION (or AWS_DEFAULT_REGION, or the region in ~/.aws/config)"
        )
    return region


@dataclass(frozen=True)
class StoredDocument:
    """AWSCURRENT of a JSON-object secret: the document, its version id and the secret's ARN."""

    doc: dict[str, Any]
    version_id: str | None
    arn: str | None = None


@dataclass(frozen=True)
class StoredToken:
    """What AWSCURRENT of a token secret holds. ``problem`` says why ``payload`` is None when
    the secret has a value that cannot be used."""

    payload: TokenPayload | None
    version_id: str | None
    problem: str | None = None


@dataclass(frozen=True)
class SecretLabels:
    """A secret's identity and its staging labels by version id (DescribeSecret)."""

    arn: str
    name: str
    stages: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class PublishResult:
    """What :meth:`SecretsStore.publish` did: ``published`` when the new token is AWSCURRENT
    (``version_id`` its version); otherwise ``current`` is the token another run made current
    meanwhile, living at least as long, and ``version_id`` its version."""

    published: bool
    current: TokenPayload | None = None
    version_id: str | None = None


class SecretsStore(Protocol):
    """Secrets Manager as the job uses it: the one interface that a run, ``check``, ``status``,
    ``credentials put`` and ``revoke`` call, that :class:`SecretStore` implements over botocore and
    every test fake in memory. Every failure is a ``StoreError`` (a ``SyncJobError``) with one
    line (``awserrors.secretsmanager_error``); none returns botocore's types."""

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        """The version of token secret ``secret_id`` that ``stage`` labels (GetSecretValue);
        no payload when the secret has no such version. Raises ``StoreError``."""
        ...

    def read_tokens(self, secret_ids: Sequence[str]) -> dict[str, StoredToken | StoreError]:
        """AWSCURRENT of each token secret, by id (BatchGetSecretValue, 20 a call); errors are
        returned per secret, not raised."""
        ...

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        """AWSCURRENT of a credentials secret, parsed for ``auth_method``. Raises
        ``StoreError`` (``SecretEmptyError`` when it has no value) or ``CredentialsError``."""
        ...

    def read_credentials_many(
        self, wanted: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Credentials | SyncJobError]:
        """``(secret_id, auth_method)`` pairs → each pair's credentials or error, batched. Keyed
        by the pair: environments sharing a credentials secret with different auth methods each
        get theirs, and one's trouble (a certificate only it uses) stays its own."""
        ...

    def describe(self, secret_id: str) -> None:
        """Check that ``secret_id`` exists and is not scheduled for deletion (DescribeSecret).
        Raises ``StoreError``."""
        ...

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        """How many versions of ``secret_id`` were created at or after ``since`` (aware UTC),
        counted up to the version quota (ListSecretVersionIds). Raises ``StoreError``."""
        ...

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        """Make ``payload`` AWSCURRENT by compare-and-swap against ``expected_version`` (the
        AWSCURRENT version read), unless another run's token living at least as long is current
        now. Raises ``StoreError``."""
        ...

    def read_document(self, secret_id: str) -> StoredDocument:
        """AWSCURRENT of a secret holding a JSON object, with its version id. Raises
        ``StoreError`` or ``CredentialsError``; never quotes the value."""
        ...

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        """Write ``doc`` as the new AWSCURRENT version with ClientRequestToken ``request_token``
        (default a fresh UUID); its version id. Raises ``WriteUnknownError`` when the answer was
        lost after the write may have been applied, other ``StoreError`` when refused."""
        ...


def empty_credentials_error(secret_id: str) -> SecretEmptyError:
    """The one line for a credentials secret that exists but holds no value yet."""
    return SecretEmptyError(
        f"credentials secret {secret_id} exists but has no value yet (infra/ creates it empty); "
        "store the client credentials with `sync-job credentials put ENVIRONMENT --client-id CLIENT_ID`"
    )


class SecretStore:
    """Reads and writes of the job's secrets, over a boto3 Secrets Manager client."""

    def __init__(self, client: SecretsManagerClient, write_slot: Callable[[], None] | None = None) -> None:
        """``write_slot`` is called before each write (PutSecretValue, UpdateSecretVersionStage)
        and returns when it may be sent: ``pacing.secrets_write_slot`` keeps a run under Secrets
        Manager's writes-per-second quota. None: writes are not paced."""
        self._client = client
        self._write_slot = write_slot

    def _write(self, action: str, secret_id: str, call: Callable[[], T]) -> T:
        if self._write_slot is not None:
            self._write_slot()
        return secretsmanager_call(action, secret_id, call)

    def _value(self, secret_id: str, stage: str = CURRENT_STAGE) -> Mapping[str, Any]:
        return secretsmanager_call(
            "GetSecretValue",
            secret_id,
            lambda: self._client.get_secret_value(SecretId=secret_id, VersionStage=stage),
        )

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        """The version of the token secret that ``stage`` labels (AWSCURRENT unless told:
        ``revoke`` reads AWSPREVIOUS too). A secret without such a version reads as no payload."""
        try:
            answer = self._value(secret_id, stage)
        except SecretNotFoundError:
            # Either the secret is missing or it has no value yet (created by infra/ and never
            # written). Only the second is ours to fix; tell them apart before any token request.
            self._describe(secret_id)
            return StoredToken(payload=None, version_id=None, problem=None)
        return _stored_token(answer)

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        """AWSCURRENT of the credentials secret, parsed. Raises ``SecretEmptyError`` when the
        secret exists without a value (what infra/ leaves: the module never holds the client
        secret), ``SecretNotFoundError`` when it does not exist, ``CredentialsError`` when its
        document is malformed."""
        try:
            answer = self._value(secret_id)
        except SecretNotFoundError:
            # GetSecretValue says ResourceNotFoundException both for a missing secret and for
            # one without an AWSCURRENT version (AWS API reference, GetSecretValue "Errors");
            # DescribeSecret tells them apart (it raises for the missing one).
            self._describe(secret_id)
            raise empty_credentials_error(secret_id) from None
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
    ) -> dict[tuple[str, str], Credentials | SyncJobError]:
        """``(secret_id, auth_method)`` pairs → the parsed credentials (or the error) of each
        pair, batched like :meth:`read_tokens`; each pair parsed for its own auth method."""
        answers = self._batch([secret_id for secret_id, _ in wanted])
        out: dict[tuple[str, str], Credentials | SyncJobError] = {}
        for secret_id, auth_method in dict.fromkeys(wanted):
            answer = answers.get(secret_id)
            try:
                if answer is None:
                    out[(secret_id, auth_method)] = self.read_credentials(secret_id, auth_method)
                else:
                    text = answer.get("SecretString")
                    out[(secret_id, auth_method)] = parse_credentials(text, secret_id, auth_method)
            except SyncJobError as exc:
                out[(secret_id, auth_method)] = exc
        return out

    def _batch(self, secret_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """BatchGetSecretValue in chunks of 20: the answers that are AWSCURRENT, by the id asked
        for. BatchGetSecretValue takes no VersionStage; each answer's VersionStages is checked
        instead, so a stale version (moto returns one after a staging-label move) is never used.
        A refused or failed batch returns nothing for its chunk (the caller reads one by one)."""
        unique = list(dict.fromkeys(secret_ids))
        if len(unique) < 2:
            return {}
        found: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(unique), BATCH_SIZE):
            chunk = unique[start : start + BATCH_SIZE]
            try:
                call = functools.partial(self._client.batch_get_secret_value, SecretIdList=chunk)
                answer = secretsmanager_call("BatchGetSecretValue", "(batch)", call)
            except StoreError as exc:
                log_event(log, logging.INFO, "store.batch_refused", error=exc.message)
                continue
            for entry in answer.get("SecretValues", []):
                if CURRENT_STAGE not in entry.get("VersionStages", []):
                    continue
                for secret_id in chunk:
                    if secret_id in (entry.get("Name"), entry.get("ARN")):
                        found[secret_id] = entry
        return found

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        """How many versions of the secret were created at or after ``since`` (aware UTC),
        whoever wrote them: ListSecretVersionIds with ``IncludeDeprecated`` (versions without a
        staging label count toward the quota too), pages of 100, counting stopped once the
        version quota is reached (``budget.VERSION_QUOTA``; at most a few pages). Raises
        ``StoreError``. Source: Secrets Manager quotas page, ListSecretVersionIds API reference."""
        from sync_job.budget import VERSION_QUOTA

        count = 0
        token: str | None = None
        for _ in range(_VERSION_PAGES):
            page = secretsmanager_call(
                "ListSecretVersionIds", secret_id, functools.partial(self._versions, secret_id, token)
            )
            for version in page.get("Versions", []):
                created = version.get("CreatedDate")
                if isinstance(created, datetime) and created >= since:
                    count += 1
            token = page.get("NextToken")
            if count >= VERSION_QUOTA or not token:
                break
        return count

    def _versions(self, secret_id: str, token: str | None) -> ListSecretVersionIdsResponseTypeDef:
        if token is None:
            return self._client.list_secret_version_ids(
                SecretId=secret_id, IncludeDeprecated=True, MaxResults=100
            )
        return self._client.list_secret_version_ids(
            SecretId=secret_id, IncludeDeprecated=True, MaxResults=100, NextToken=token
        )

    def _describe(self, secret_id: str) -> Mapping[str, Any]:
        return secretsmanager_call(
            "DescribeSecret", secret_id, lambda: self._client.describe_secret(SecretId=secret_id)
        )

    def describe(self, secret_id: str) -> None:
        """Check that ``secret_id`` exists and is not scheduled for deletion (DescribeSecret's
        ``DeletedDate``). Raises ``StoreError``."""
        if self._describe(secret_id).get("DeletedDate"):
            raise deleted_error(secret_id)

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        """Write ``payload`` and make it AWSCURRENT unless another run published a token that
        lives at least as long. ``expected_version`` is the AWSCURRENT version this run read.

        The compare-and-swap: PutSecretValue with a private label (consumers never see it half
        way), then UpdateSecretVersionStage moving AWSCURRENT with ``RemoveFromVersionId`` set
        to the version read; Secrets Manager refuses the move when another writer moved it."""
        # The version id is the idempotency key: a retried write can never add a second version.
        version_id = str(uuid.uuid4())
        put = self._write(
            "PutSecretValue",
            secret_id,
            lambda: self._client.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=payload.to_json(),
                VersionStages=[PENDING_STAGE],
            ),
        )
        if CURRENT_STAGE in put.get("VersionStages", []):
            # The secret had no version: Secrets Manager made the first one current itself.
            return PublishResult(published=True, version_id=version_id)
        return self.promote(secret_id, version_id, payload, expected_version)

    def promote(
        self, secret_id: str, version_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult:
        """Move AWSCURRENT to the written version ``version_id`` (holding ``payload``) with
        ``RemoveFromVersionId=expected_version``: the compare-and-swap of :meth:`publish`, also
        the rotation protocol's finishSecret. When another run moved AWSCURRENT meanwhile, the
        token that lives longer stays current (``published`` False and ``current`` set when it
        is the other one). Raises ``StoreError`` when AWSCURRENT keeps moving."""
        expected = expected_version
        for _ in range(_CAS_ROUNDS):
            if self._move_current(secret_id, version_id, expected):
                return PublishResult(published=True, version_id=version_id)
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

    def _move_current(self, secret_id: str, version_id: str, expected: str | None) -> bool:
        """Move AWSCURRENT to ``version_id`` from ``expected`` (from no version when None);
        False when it no longer sat on ``expected``. Raises ``StoreError``."""
        try:
            self.move_stage(secret_id, CURRENT_STAGE, version_id, expected)
        except StageMovedError:
            return False
        return True

    def labels(self, secret_id: str) -> SecretLabels:
        """The secret's ARN, name and staging labels by version (DescribeSecret
        ``VersionIdsToStages``). Raises ``StoreError``."""
        answer = self._describe(secret_id)
        stages = answer.get("VersionIdsToStages") or {}
        return SecretLabels(
            arn=str(answer.get("ARN") or ""),
            name=str(answer.get("Name") or ""),
            stages={str(v): tuple(labels) for v, labels in stages.items()},
        )

    def read_version(self, secret_id: str, version_id: str, stage: str) -> StoredToken:
        """The version ``version_id`` of a token secret if ``stage`` labels it (the rotation
        protocol's AWSPENDING version); no payload when that version has no value yet."""
        try:
            answer = secretsmanager_call(
                "GetSecretValue",
                secret_id,
                lambda: self._client.get_secret_value(
                    SecretId=secret_id, VersionId=version_id, VersionStage=stage
                ),
            )
        except SecretNotFoundError:
            self._describe(secret_id)  # raises for a secret that does not exist
            return StoredToken(payload=None, version_id=None)
        return _stored_token(answer)

    def put_version(self, secret_id: str, version_id: str, payload: TokenPayload, stage: str) -> None:
        """Write ``payload`` as version ``version_id`` labelled ``stage`` only (the rotation
        protocol's createSecret: ``ClientRequestToken`` is the version id Secrets Manager chose,
        so a retried step cannot add a second version)."""
        self._write(
            "PutSecretValue",
            secret_id,
            lambda: self._client.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=payload.to_json(),
                VersionStages=[stage],
            ),
        )

    def stage_document(self, secret_id: str, doc: dict[str, Any], stage: str) -> str:
        """Write ``doc`` as a new version labelled ``stage`` only (AWSCURRENT does not move);
        returns its version id. ``credentials put --stage`` writes AWSPENDING so. Raises
        :class:`WriteUnknownError` when the answer was lost and AWS may have applied it (as
        :meth:`put_document`: a read of the labels then tells), other ``StoreError`` when refused."""
        return self._put_value(secret_id, str(uuid.uuid4()), json.dumps(doc), [stage])

    def read_credentials_version(
        self, secret_id: str, version_id: str, stage: str, auth_method: str
    ) -> Credentials:
        """The credentials of version ``version_id`` when ``stage`` labels it, parsed."""
        answer = secretsmanager_call(
            "GetSecretValue",
            secret_id,
            lambda: self._client.get_secret_value(
                SecretId=secret_id, VersionId=version_id, VersionStage=stage
            ),
        )
        return parse_credentials(answer.get("SecretString"), secret_id, auth_method)

    def move_stage(self, secret_id: str, stage: str, to_version: str, from_version: str | None) -> None:
        """Move ``stage`` to ``to_version``; with ``from_version`` (where this caller read it),
        Secrets Manager refuses the move if it is elsewhere by then (``StageMovedError``)."""
        if from_version:
            self._write(
                "UpdateSecretVersionStage",
                secret_id,
                lambda: self._client.update_secret_version_stage(
                    SecretId=secret_id,
                    VersionStage=stage,
                    MoveToVersionId=to_version,
                    RemoveFromVersionId=from_version,
                ),
            )
        else:
            self._write(
                "UpdateSecretVersionStage",
                secret_id,
                lambda: self._client.update_secret_version_stage(
                    SecretId=secret_id, VersionStage=stage, MoveToVersionId=to_version
                ),
            )

    def remove_stage(self, secret_id: str, stage: str, version_id: str) -> None:
        """Take ``stage`` off ``version_id`` (UpdateSecretVersionStage RemoveFromVersionId)."""
        self._write(
            "UpdateSecretVersionStage",
            secret_id,
            lambda: self._client.update_secret_version_stage(
                SecretId=secret_id, VersionStage=stage, RemoveFromVersionId=version_id
            ),
        )

    def read_document(self, secret_id: str) -> StoredDocument:
        """AWSCURRENT of a secret holding a JSON object (the credentials secret), for a
        read-modify-write, with its version id. Raises ``CredentialsError`` when it is not one;
        never quotes it."""
        answer = self._value(secret_id)
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
        return self._put_value(secret_id, request_token or str(uuid.uuid4()), json.dumps(doc), None)

    def _put_value(self, secret_id: str, version_id: str, value: str, stages: list[str] | None) -> str:
        """PutSecretValue of ``value`` as version ``version_id`` (labelled ``stages``, default
        AWSCURRENT), paced like every write; :class:`WriteUnknownError` when the answer was lost
        and AWS may have applied it, other ``StoreError`` when refused."""
        if self._write_slot is not None:
            self._write_slot()
        if stages is None:
            call = functools.partial(
                self._client.put_secret_value,
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=value,
            )
        else:
            call = functools.partial(
                self._client.put_secret_value,
                SecretId=secret_id,
                ClientRequestToken=version_id,
                SecretString=value,
                VersionStages=stages,
            )
        secretsmanager_call("PutSecretValue", secret_id, call, version_id=version_id)
        return version_id


def _stored_token(answer: Mapping[str, Any]) -> StoredToken:
    version = answer.get("VersionId")
    try:
        payload = parse_payload(answer.get("SecretString"))
    except InvalidPayload as exc:
        return StoredToken(payload=None, version_id=version, problem=str(exc))
    return StoredToken(payload=payload, version_id=version)
