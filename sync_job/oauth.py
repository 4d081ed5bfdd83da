"""The OAuth2 client-credentials grant (RFC 6749 §4.4) over HTTP: request building, client
authentication, response validation, and retry classification. Knows nothing of Secrets Manager."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sync_job import __version__
from sync_job.config import EnvironmentConfig
from sync_job.errors import (
    CredentialsError,
    InvalidTokenResponse,
    OAuthError,
    RateLimitedError,
    SyncJobError,
    TokenRequestError,
)
from sync_job.params import form_fields
from sync_job.redact import Secret, register, scrub

log = logging.getLogger("sync_job.oauth")

# A token answer is a few kB; anything far larger is a misbehaving server, not a token.
MAX_BODY_BYTES = 1 << 20
# RFC 7523 leaves the lifetime to us; short limits what a leaked assertion is worth.
ASSERTION_LIFETIME_SECONDS = 120
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: Secret | None = None
    private_key: Secret | None = None
    key_id: str | None = None
    source: str = ""
    # JOSE thumbprints of the key's X.509 certificate (RFC 7515 §4.1.7/§4.1.8), base64url SHA-1
    # and SHA-256 of its DER, when the credentials secret holds a "certificate".
    x5t: str | None = None
    x5t_s256: str | None = None


@dataclass(frozen=True)
class TokenResponse:
    access_token: Secret
    token_type: str
    expires_in: int
    scope: str | None
    expires_in_source: str = "server"


@dataclass(frozen=True)
class FetchResult:
    token: TokenResponse
    issued_at: datetime
    attempts: int
    latency_seconds: float


# --- pure parts ---------------------------------------------------------------------------------


def is_transient_status(status: int) -> bool:
    """Statuses worth another attempt: timeouts, throttling and server faults."""
    return status in (408, 425, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` named by a Retry-After header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then base64 ``id:secret``."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    value = "Basic " + base64.b64encode(raw.encode()).decode("ascii")
    register(value)
    return value


def client_assertion(env: EnvironmentConfig, creds: Credentials, now: datetime) -> str:
    """A signed JWT that authenticates the client (RFC 7523 §2.2, OIDC Core §9)."""
    try:
        import jwt  # optional dependency: only private_key_jwt needs it
    except ImportError:
        raise CredentialsError(
            "auth_method private_key_jwt needs PyJWT and cryptography: pip install 'sync-job[jwt]'"
        ) from None

    if creds.private_key is None:
        raise CredentialsError(f"credentials secret {creds.source} lacks 'private_key'")
    issued = int(now.timestamp())
    claims = {
        "iss": creds.client_id,
        "sub": creds.client_id,
        "aud": env.audience or env.token_url,
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
    }
    kid = creds.key_id or env.key_id
    headers: dict[str, str] = {"kid": kid} if kid else {}
    # Certificate-bound keys (Microsoft Entra ID) are found by thumbprint, not by kid.
    if creds.x5t:
        headers["x5t"] = creds.x5t
    if creds.x5t_s256:
        headers["x5t#S256"] = creds.x5t_s256
    try:
        assertion = jwt.encode(claims, creds.private_key.reveal(), algorithm=env.signing_alg, headers=headers)
    except Exception:
        # The exception text of a key parser may quote the key: say only what is wrong.
        raise CredentialsError(
            f"credentials secret {creds.source}: private_key cannot sign {env.signing_alg}; "
            "store a PEM private key of the matching type"
        ) from None
    register(assertion)
    return assertion


def build_request(
    env: EnvironmentConfig, creds: Credentials, now: datetime
) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """Headers and form fields of one token request; a list value is sent as repeated fields."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": f"sync-job/{__version__}",
    }
    form: dict[str, str | list[str]] = {"grant_type": "client_credentials"}
    # Config refuses the names the grant sets, so these never replace a field below.
    form.update(form_fields(env.endpoint_params))
    if env.scopes:
        form["scope"] = " ".join(env.scopes)
    if env.auth_method == "client_secret_basic":
        if creds.client_secret is None:
            raise CredentialsError(f"credentials secret {creds.source} lacks 'client_secret'")
        headers["Authorization"] = basic_authorization(creds.client_id, creds.client_secret.reveal())
    elif env.auth_method == "private_key_jwt":
        form["client_id"] = creds.client_id
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = client_assertion(env, creds, now)
    else:
        if creds.client_secret is None:
            raise CredentialsError(f"credentials secret {creds.source} lacks 'client_secret'")
        form["client_id"] = creds.client_id
        form["client_secret"] = creds.client_secret.reveal()
    return headers, form


def jwt_lifetime(token: str, issued_at: datetime) -> int | None:
    """Seconds from ``issued_at`` to a JWT's ``exp`` claim, read without verifying the token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
        exp = claims["exp"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    lifetime = math.floor(exp - issued_at.timestamp())
    return lifetime if lifetime > 0 else None


def _describe_body(content_type: str, body: bytes) -> str:
    kind = content_type.split(";")[0].strip() or "no content-type"
    return f"{kind}, {len(body)} bytes"


def _error_fields(body: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
        return None
    description = doc.get("error_description")
    text = description if isinstance(description, str) else ""
    # Server text is shown to operators: keep it to one short scrubbed line.
    return scrub(doc["error"])[:64], scrub(" ".join(text.split()))[:200]


def parse_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    env: EnvironmentConfig,
    issued_at: datetime,
    now: datetime,
) -> TokenResponse:
    """Validate a token endpoint answer (RFC 6749 §5.1/§5.2) or raise the matching error."""
    host = env.host
    content_type = headers.get("Content-Type", "")
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        shown = env.rate_limit_lockout_seconds if retry_after is None else retry_after
        return _raise(
            RateLimitedError(
                f"rate limited by {host} (HTTP 429), retry after {math.ceil(shown)} s",
                transient=True,
                retry_after=shown,
                status=status,
            )
        )
    if not 200 <= status <= 299:
        fields = _error_fields(body)
        retry_after = parse_retry_after(headers.get("Retry-After"), now)
        if is_transient_status(status):
            detail = f": {fields[0]}" if fields else ""
            raise TokenRequestError(
                f"HTTP {status} from {host}{detail}",
                transient=True,
                retry_after=retry_after,
                status=status,
            )
        if fields:
            error, description = fields
            more = f": {description}" if description else ""
            raise OAuthError(
                f"token request rejected by {host}: {error}{more} (HTTP {status})",
                error=error,
                status=status,
            )
        if 300 <= status <= 399:
            raise TokenRequestError(
                f"{host} answered with a redirect (HTTP {status}); set token_url to the final URL",
                status=status,
            )
        raise TokenRequestError(
            f"HTTP {status} from {host} ({_describe_body(content_type, body)}); check token_url",
            status=status,
        )

    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidTokenResponse(
            f"{host} answered HTTP {status} with a body that is not JSON "
            f"({_describe_body(content_type, body)})",
            status=status,
        ) from None
    if not isinstance(doc, dict):
        raise InvalidTokenResponse(f"{host} answered with JSON that is not an object", status=status)
    token = doc.get("access_token")
    if not isinstance(token, str) or not token:
        raise InvalidTokenResponse(f"{host} answered without a non-empty string access_token", status=status)
    secret = Secret(token)  # registered for scrubbing before anything can print it
    token_type = doc.get("token_type")
    if not isinstance(token_type, str) or not token_type:
        raise InvalidTokenResponse(f"{host} answered without a token_type", status=status)

    raw_expires = doc.get("expires_in")
    source = "server"
    if isinstance(raw_expires, str) and raw_expires.strip().isdigit():
        # Some providers send the number as a string; its meaning is not in doubt.
        raw_expires = int(raw_expires.strip())
    if raw_expires is None:
        if env.default_lifetime_seconds is None:
            raise InvalidTokenResponse(
                f"{host} answered without expires_in; set default_lifetime_seconds "
                "if this provider never sends it",
                status=status,
            )
        from_jwt = jwt_lifetime(token, issued_at)
        if from_jwt is not None:
            expires_in, source = from_jwt, "jwt"
        else:
            expires_in, source = env.default_lifetime_seconds, "configured"
    elif isinstance(raw_expires, bool) or not isinstance(raw_expires, int | float):
        raise InvalidTokenResponse(f"{host} answered with a non-numeric expires_in", status=status)
    elif raw_expires != raw_expires or raw_expires <= 0 or raw_expires == float("inf"):
        raise InvalidTokenResponse(
            f"{host} answered with a non-positive expires_in ({raw_expires})", status=status
        )
    else:
        expires_in = math.floor(raw_expires)
        if expires_in <= 0:
            raise InvalidTokenResponse(f"{host} answered with expires_in under one second", status=status)

    scope = doc.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise InvalidTokenResponse(f"{host} answered with a scope that is not a string", status=status)
    return TokenResponse(
        access_token=secret,
        token_type=token_type,
        expires_in=expires_in,
        scope=scope,
        expires_in_source=source,
    )


def _raise(exc: SyncJobError) -> TokenResponse:
    raise exc


def missing_scopes(requested: tuple[str, ...], granted: str | None) -> tuple[str, ...]:
    """Requested scopes absent from the granted scope (RFC 6749 §5.1: omitted means as asked)."""
    if granted is None:
        return ()
    have = set(granted.split())
    return tuple(s for s in requested if s not in have)


def backoff_seconds(attempt: int, initial: float, maximum: float, rand: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(maximum, initial * 2**(attempt-1))]."""
    ceiling: float = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return rand * ceiling
