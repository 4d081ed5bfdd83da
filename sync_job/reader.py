"""Read the token that sync-job keeps in Secrets Manager: the consumer side of the payload contract.

Consumers need only boto3: this module imports the standard library, botocore and
``sync_job.bearer`` (the rules for a usable token, which the job applies before publishing, so
the two never disagree; standard library only), never click, requests or tenacity. ``TokenAuth`` (a
``requests`` auth class) is importable from here, but lives in ``sync_job._reader_requests`` and
is only loaded, with requests, when it is first asked for::

    from sync_job.reader import TokenReader, TokenAuth

    reader = TokenReader("paxos/sandbox/access-token")
    requests.get(url, headers=reader.authorization_header())
    requests.get(url, auth=TokenAuth(reader))
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from sync_job import bearer

if TYPE_CHECKING:
    # For type checkers only; at run time the module __getattr__ below loads it on first use.
    from sync_job._reader_requests import TokenAuth as TokenAuth

__all__ = [
    "SecretsManagerClient",
    "TokenExpiredError",
    "TokenReader",
    "TokenReaderError",
    "TokenUnavailableError",
]

VERSION_STAGE = "AWSCURRENT"
_STATUS_HINT = "sync-job may be failing: check `sync-job status`"


class SecretsManagerClient(Protocol):
    """The one call the reader makes; a boto3 ``secretsmanager`` client satisfies it."""

    def get_secret_value(self, *, SecretId: str, VersionStage: str = ...) -> Mapping[str, Any]:
        """GetSecretValue (AWS API reference): a response with ``SecretString``."""
        ...


class TokenReaderError(Exception):
    """Base class of the reader's errors. Messages name the secret, never the token."""

    def __init__(self, message: str, *, secret_id: str) -> None:
        super().__init__(message)
        self.secret_id = secret_id


class TokenUnavailableError(TokenReaderError):
    """The secret cannot be read (missing, no AWSCURRENT version, access denied, AWS unreachable)
    or its payload is unusable (not JSON, a required field missing or malformed)."""


class TokenExpiredError(TokenReaderError):
    """The stored token has expired, or has ``skew_seconds`` (by default the one validity rule's
    ``bearer.EXPIRY_SKEW_SECONDS``, 60 s) or fewer left: sync-job is behind."""

    def __init__(self, message: str, *, secret_id: str, expires_at: datetime, seconds_left: float) -> None:
        super().__init__(message, secret_id=secret_id)
        self.expires_at = expires_at
        self.seconds_left = seconds_left


@dataclass(frozen=True)
class _Token:
    access_token: str = field(repr=False)
    expires_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _ca_bundle() -> bool | str | None:
    """``verify`` for the boto3 client: None (botocore's own chain) unless ``AWS_CA_BUNDLE`` or
    ``REQUESTS_CA_BUNDLE`` is set blank, which botocore refuses with ``InvalidConfigError``;
    then a blank one counts as unset, as requests counts it (the other, else True)."""
    names = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")
    values = [os.environ.get(name) for name in names]
    if not any(value is not None and not value.strip() for value in values):
        return None
    return next((value for value in values if value and value.strip()), True)


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenReader:
    """The access token stored by sync-job in ``secret_id`` (its AWSCURRENT version).

    ``token()`` reads the secret once and serves the token from memory while more than
    ``skew_seconds`` remain before ``expires_at``, then reads it again. Thread-safe: when the
    cached token is stale, one thread reads and the others wait for its result. A read that
    finds a token with ``skew_seconds`` or fewer left raises :class:`TokenExpiredError` instead
    of returning it. ``skew_seconds`` defaults to, and may not be below, the one validity rule's
    ``bearer.EXPIRY_SKEW_SECONDS`` (60 s): the reader never serves what ``sync-job token``
    refuses. ``invalidate()`` drops the cached token (on a "Secret Label Updated" event for
    AWSCURRENT, docs/consumers.md), so the next ``token()`` reads the secret.
    """

    def __init__(
        self,
        secret_id: str,
        client: SecretsManagerClient | None = None,
        skew_seconds: float = bearer.EXPIRY_SKEW_SECONDS,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not isinstance(secret_id, str) or not secret_id.strip():
            raise ValueError("secret_id must be a non-empty secret name or ARN")
        if isinstance(skew_seconds, bool) or not isinstance(skew_seconds, int | float):
            raise TypeError("skew_seconds must be a number of seconds")
        if not math.isfinite(skew_seconds) or skew_seconds < bearer.EXPIRY_SKEW_SECONDS:
            raise ValueError(
                f"skew_seconds must be a finite number >= {bearer.EXPIRY_SKEW_SECONDS} "
                "(the validity rule of sync_job.bearer.EXPIRY_SKEW_SECONDS)"
            )
        self._secret_id = secret_id
        self._client = client
        self._skew = timedelta(seconds=skew_seconds)
        self._clock: Callable[[], datetime] = clock if clock is not None else _utc_now
        self._lock = threading.Lock()
        self._cached: _Token | None = None

    @property
    def secret_id(self) -> str:
        """The token secret read (name or ARN), as given."""
        return self._secret_id

    @property
    def skew_seconds(self) -> float:
        """How many seconds before ``expires_at`` a token counts as expired."""
        return self._skew.total_seconds()

    @property
    def expires_at(self) -> datetime | None:
        """``expires_at`` of the cached token; None before the first successful read."""
        cached = self._cached
        return cached.expires_at if cached is not None else None

    def token(self) -> str:
        """The access token: from memory while fresh, else read from Secrets Manager."""
        cached = self._cached
        if cached is not None and self._is_fresh(cached):
            return cached.access_token
        with self._lock:
            # Another thread may have read it while this one waited for the lock.
            cached = self._cached
            if cached is not None and self._is_fresh(cached):
                return cached.access_token
            return self._read_locked().access_token

    def refresh(self) -> str:
        """Read the secret now, whatever the cache holds, and return the token read."""
        with self._lock:
            return self._read_locked().access_token

    def invalidate(self) -> None:
        """Drop the cached token: the next ``token()`` reads the secret (one ``GetSecretValue``).

        For a consumer told that AWSCURRENT moved (the EventBridge "Secret Label Updated" event,
        docs/consumers.md). Unlike ``refresh()`` it makes no call and raises nothing, so an
        event handler can call it whatever the state of Secrets Manager."""
        with self._lock:
            self._cached = None

    def authorization_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` (RFC 6750 §2.1) with a usable token; raises
        as :meth:`token` does."""
        return {"Authorization": f"Bearer {self.token()}"}

    def __repr__(self) -> str:
        cached = self._cached
        until = _format(cached.expires_at - self._skew) if cached is not None else None
        return (
            f"{type(self).__name__}(secret_id={self._secret_id!r}, "
            f"skew_seconds={self.skew_seconds:g}, cached_until={until!r})"
        )

    # -- internals ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
            raise TypeError("the reader's clock must return a timezone-aware datetime")
        return now

    def _is_fresh(self, token: _Token) -> bool:
        return self._now() < token.expires_at - self._skew

    def _get_client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3  # only when no client was given; region and endpoint from the environment

            session = boto3.session.Session()
            # AWS_REGION is what Lambda, the AWS CLI v2 and most SDKs read, and what the job
            # honours (store.make_client); boto3 reads only AWS_DEFAULT_REGION and ~/.aws/config.
            region = session.region_name or os.environ.get("AWS_REGION") or None
            client: SecretsManagerClient = session.client(
                "secretsmanager", region_name=region, verify=_ca_bundle()
            )
            self._client = client
        return self._client

    def _read_locked(self) -> _Token:
        """One GetSecretValue; the caller holds the lock. Caches and returns a fresh token."""
        sid = self._secret_id
        try:
            response = self._get_client().get_secret_value(SecretId=sid, VersionStage=VERSION_STAGE)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "unknown error")
            if code == "ResourceNotFoundException":
                detail = f"secret {sid!r} was not found, or has no {VERSION_STAGE} version"
            else:
                detail = f"reading secret {sid!r} failed: {code}"
            raise TokenUnavailableError(f"{detail} ({_STATUS_HINT})", secret_id=sid) from exc
        except NoRegionError as exc:
            raise TokenUnavailableError(
                f"reading secret {sid!r} failed: no AWS region; set AWS_REGION (or "
                "AWS_DEFAULT_REGION, or a region in ~/.aws/config), or pass a client",
                secret_id=sid,
            ) from exc
        except BotoCoreError as exc:
            raise TokenUnavailableError(
                f"reading secret {sid!r} failed: {type(exc).__name__}", secret_id=sid
            ) from exc
        token = self._parse(response)
        now = self._now()
        left = (token.expires_at - now).total_seconds()
        if now >= token.expires_at - self._skew:
            when = (
                f"expired at {_format(token.expires_at)}, {-left:.0f}s ago"
                if left <= 0
                else (
                    f"expires at {_format(token.expires_at)}, in {left:.0f}s, "
                    f"within the reader's {self.skew_seconds:g}s skew"
                )
            )
            raise TokenExpiredError(
                f"the token in secret {sid!r} {when}; {_STATUS_HINT}",
                secret_id=sid,
                expires_at=token.expires_at,
                seconds_left=left,
            )
        self._cached = token
        return token

    def _parse(self, response: Mapping[str, Any]) -> _Token:
        sid = self._secret_id

        def unusable(problem: str) -> TokenUnavailableError:
            return TokenUnavailableError(
                f"secret {sid!r} ({VERSION_STAGE}) is not a usable sync-job payload: {problem}",
                secret_id=sid,
            )

        text = response.get("SecretString")
        if not isinstance(text, str):
            raise unusable("it has no SecretString")
        try:
            doc = json.loads(text)
        except ValueError:
            raise unusable("its SecretString is not JSON") from None
        if not isinstance(doc, dict):
            raise unusable("its SecretString is not a JSON object")
        access_token = doc.get("access_token")
        if access_token is None:
            raise unusable("field 'access_token' is missing")
        problem = bearer.access_token_problem(access_token)
        if problem is not None:
            raise unusable("field 'access_token' " + problem.removeprefix("access_token "))
        token_type = doc.get("token_type")
        if token_type is None:
            raise unusable("field 'token_type' is missing")
        if bearer.token_type_problem(token_type) is not None:
            raise unusable("field 'token_type' is not 'bearer'")
        raw_expiry = doc.get("expires_at")
        if raw_expiry is None:
            raise unusable("field 'expires_at' is missing")
        expires_at = bearer.parse_timestamp(raw_expiry)
        if expires_at is None:
            raise unusable("field 'expires_at' is not an RFC 3339 timestamp that converts to UTC")
        assert isinstance(access_token, str)
        return _Token(access_token=access_token, expires_at=expires_at)


def __getattr__(name: str) -> Any:
    # PEP 562: load TokenAuth, and requests with it, only when asked for.
    if name == "TokenAuth":
        from sync_job._reader_requests import TokenAuth

        return TokenAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
