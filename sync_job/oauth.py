"""The OAuth2 client-credentials grant (RFC 6749 §4.4) as pure functions: the token request's
headers and form (with the client authentication of §2.3 and RFC 7523), the judgement of the
answer (§5.1 success, §5.2 error, and RFC 6750's bearer rules from ``bearer.py``), and retry
classification. It sends nothing: ``token_client.py`` does, and knows nothing of these rules.

Everything a server sends is untrusted: any of its text that reaches an error message is passed
through :func:`sync_job.redact.untrusted` (scrubbed, stripped of control characters and terminal
escapes, capped), or withheld when the client's secret is too short to scrub reliably.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote_plus

from sync_job import __version__, bearer, redact
from sync_job.credentials import Credentials
from sync_job.errors import (
    CredentialsError,
    InvalidTokenResponse,
    OAuthError,
    RateLimitedError,
    SyncJobError,
    TokenRequestError,
)
from sync_job.params import form_fields
from sync_job.redact import Secret, register

# A token answer is a few kB; anything far larger is a misbehaving server, not a token.
MAX_BODY_BYTES = 1 << 20
# RFC 7523 leaves the lifetime to us; short limits what a leaked assertion is worth.
ASSERTION_LIFETIME_SECONDS = 120
# A client assertion's iat and nbf are set this far in the past: a token server whose clock is
# behind ours would otherwise refuse an assertion stamped "now" as not yet valid (Keycloak
# answers "Token is not active" with its clock 1 s behind: keycloak/keycloak#8966). RFC 7523 §3
# lets servers allow "some small leeway, usually no more than a few minutes"; a minute covers
# hosts kept by NTP with room to spare, while exp stays ASSERTION_LIFETIME_SECONDS from now, so
# the assertion still lives only 180 s (exp - iat).
ASSERTION_BACKDATE_SECONDS = 60
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A server's Retry-After is honoured up to a day; past that it is a bug or hostile.
MAX_RETRY_AFTER_SECONDS = 86400.0
# Error codes registered for the token endpoint (RFC 6749 §5.2, RFC 8707 §2, RFC 6750 §3.1):
# the vocabulary an operator acts on, shown even when other server text is withheld.
KNOWN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
    }
)
_WITHHELD = "server text withheld: the client secret is too short to scrub from it"


# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
@functools.cache
def _scope_token() -> re.Pattern[str]:
    return re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@functools.cache
def _digits() -> re.Pattern[str]:
    return re.compile(r"[0-9]{1,4000}")


@functools.cache
def _delta_seconds() -> re.Pattern[str]:
    return re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")


class GrantSettings(Protocol):
    """What building a token request needs (an ``EnvironmentConfig`` is one)."""

    @property
    def token_url(self) -> str:
        """The token endpoint (RFC 6749 §3.2)."""
        ...

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes requested (RFC 6749 §3.3)."""
        ...

    @property
    def auth_method(self) -> str:
        """Client_secret_post, client_secret_basic (RFC 6749 §2.3.1) or private_key_jwt (RFC 7523)."""
        ...

    @property
    def signing_alg(self) -> str:
        """The JOSE alg of a client assertion (RS256, ES256, PS256)."""
        ...

    @property
    def audience(self) -> str | None:
        """The assertion's aud when not the token URL."""
        ...

    @property
    def key_id(self) -> str | None:
        """The assertion header's kid."""
        ...

    @property
    def endpoint_params(self) -> tuple[tuple[str, str], ...]:
        """Extra form fields, (name, value) pairs."""
        ...


class AnswerRules(Protocol):
    """What judging a token answer needs (an ``EnvironmentConfig`` is one)."""

    @property
    def host(self) -> str:
        """Host[:port] of the token URL, as messages name it."""
        ...

    @property
    def default_lifetime_seconds(self) -> int | None:
        """The lifetime assumed when the answer has no expires_in (seconds)."""
        ...

    @property
    def max_lifetime_seconds(self) -> int:
        """The longest lifetime believed, whatever the answer says (seconds)."""
        ...

    @property
    def rate_limit_lockout_seconds(self) -> int:
        """The lock-out assumed after a 429 without Retry-After (seconds)."""
        ...


@dataclass(frozen=True)
class TokenResponse:
    """A usable token answer. ``expires_in`` (seconds) is the lifetime the job counts on:
    ``expires_in_source`` says where it came from ("server", "jwt": the token's own ``exp``,
    "configured": ``default_lifetime_seconds``, "max_lifetime": capped), ``warnings`` what was
    adjusted."""

    access_token: Secret
    token_type: str
    expires_in: int
    scope: str | None
    expires_in_source: str = "server"
    warnings: tuple[str, ...] = ()


# --- the request ---------------------------------------------------------------------------------


def basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode id and secret, then base64 ``id:secret`` (RFC 7617)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    redact.register_basic(client_id, client_secret)
    return "Basic " + base64.b64encode(raw.encode()).decode("ascii")


def client_assertion(grant: GrantSettings, creds: Credentials, now: datetime) -> str:
    """A signed JWT that authenticates the client (RFC 7523 §2.2, OIDC Core §9): signed here
    with the PEM ``private_key``, or by KMS through ``creds.signing_key`` (the same header and
    claims; ``kms.py``), or taken whole from ``creds.assertion_source`` (a federated assertion
    issued by a trusted third party, RFC 7521 §5.2: STS or a projected token file)."""
    if creds.assertion_source is not None:
        federated = creds.assertion_source()
        register(federated)
        return federated
    try:
        import jwt  # optional dependency: only private_key_jwt needs it
    except ImportError:
        raise CredentialsError(
            "auth_method private_key_jwt needs PyJWT and cryptography: pip install 'sync-job[jwt]'"
        ) from None

    key: Any
    if creds.signing_key is not None:
        key = creds.signing_key
    elif creds.private_key is not None:
        key = creds.private_key.reveal()
    else:
        raise CredentialsError(f"credentials secret {creds.source} lacks 'private_key'")
    algorithm = creds.signing_alg or grant.signing_alg
    issued = int(now.timestamp())
    backdated = issued - ASSERTION_BACKDATE_SECONDS
    claims = {
        "iss": creds.client_id,
        "sub": creds.client_id,
        "aud": grant.audience or grant.token_url,
        "jti": uuid.uuid4().hex,
        "iat": backdated,
        "nbf": backdated,
        "exp": issued + ASSERTION_LIFETIME_SECONDS,
    }
    kid = creds.key_id or grant.key_id
    headers: dict[str, str] = {"kid": kid} if kid else {}
    # Certificate-bound keys (Microsoft Entra ID) are found by thumbprint, not by kid.
    if creds.x5t:
        headers["x5t"] = creds.x5t
    if creds.x5t_s256:
        headers["x5t#S256"] = creds.x5t_s256
    try:
        assertion = jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    except SyncJobError:
        raise  # a KMS signing key's own one-line error (kms.py)
    except Exception:
        # The exception text of a key parser may quote the key: say only what is wrong.
        raise CredentialsError(
            f"credentials secret {creds.source}: private_key cannot sign {algorithm}; "
            "store a PEM private key of the matching type"
        ) from None
    register(assertion)
    return assertion


def build_request(
    grant: GrantSettings, creds: Credentials, now: datetime
) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """Headers and form fields of one token request (RFC 6749 §4.4.2, client authentication
    per §2.3: ``client_secret_post``, ``client_secret_basic`` or RFC 7523 ``private_key_jwt``);
    ``endpoint_params`` first, and a list value is sent as repeated fields."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": f"sync-job/{__version__}",
    }
    form: dict[str, str | list[str]] = {"grant_type": "client_credentials"}
    # Config refuses the names the grant sets, so these never replace a field below.
    form.update(form_fields(grant.endpoint_params))
    if grant.scopes:
        form["scope"] = " ".join(grant.scopes)
    authenticate_client(grant, creds, now, headers, form)
    return headers, form


def authenticate_client(
    grant: GrantSettings,
    creds: Credentials,
    now: datetime,
    headers: dict[str, str],
    form: dict[str, str | list[str]],
) -> None:
    """Add the client authentication of ``grant.auth_method`` to a request's ``headers`` and
    ``form``: RFC 6749 §2.3.1 (``client_secret_basic``, ``client_secret_post``) or RFC 7523
    §2.2 (``private_key_jwt``). The token request uses it, and so does every other endpoint
    that authenticates the client the same way (RFC 7009 §2.1 revocation). Raises
    ``CredentialsError`` when the credentials lack what the method needs."""
    if grant.auth_method == "private_key_jwt":
        form["client_id"] = creds.client_id
        form["client_assertion_type"] = JWT_BEARER
        form["client_assertion"] = client_assertion(grant, creds, now)
        return
    if creds.client_secret is None:
        raise CredentialsError(f"credentials secret {creds.source} lacks 'client_secret'")
    if grant.auth_method == "client_secret_basic":
        headers["Authorization"] = basic_authorization(creds.client_id, creds.client_secret.reveal())
    else:
        form["client_id"] = creds.client_id
        form["client_secret"] = creds.client_secret.reveal()


# --- the answer ----------------------------------------------------------------------------------


def parse_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    env: AnswerRules,
    issued_at: datetime,
    now: datetime,
    show_server_text: bool = True,
) -> TokenResponse:
    """Judge a token endpoint answer, in the order RFC 6749 reads: the status (§5.2 errors,
    429), the JSON object (§5.1), an error object sent with 200, the bearer token (RFC 6750
    §2.1), its type, its lifetime, its scope. Returns a :class:`TokenResponse` the job may
    publish, or raises the matching :class:`TokenRequestError` (``transient`` when another
    attempt may help). ``show_server_text`` False withholds every server-provided string but
    registered error codes."""
    text = _ServerText(show_server_text)
    _check_status(status, headers, body, env, now, text)
    doc = _json_object(status, headers, body, env.host, text)
    _check_error_object(doc, status, env.host, text)
    token = _access_token(doc, status, env.host)
    token_type = _token_type(doc, status, env.host, text)
    expires_in, source, warnings = _lifetime(doc, token.reveal(), env, issued_at, status)
    scope = _scope(doc, status, env.host)
    return TokenResponse(
        access_token=token,
        token_type=token_type,
        expires_in=expires_in,
        scope=scope,
        expires_in_source=source,
        warnings=warnings,
    )


@dataclass(frozen=True)
class _ServerText:
    show: bool

    def __call__(self, value: str, limit: int) -> str:
        return redact.untrusted(value, limit=limit) if self.show else "[withheld]"

    def error_code(self, value: str) -> str:
        return value if value in KNOWN_ERRORS else self(value, 64)

    def detail(self, description: str) -> str:
        if not self.show:
            return f" ({_WITHHELD})"
        shown = redact.untrusted(description, limit=200)
        return f": {shown}" if shown else ""


def _check_status(
    status: int, headers: Mapping[str, str], body: bytes, env: AnswerRules, now: datetime, text: _ServerText
) -> None:
    host = env.host
    if status == 429:
        retry_after = rate_limit_wait(headers, now)
        shown = env.rate_limit_lockout_seconds if retry_after is None else retry_after
        raise RateLimitedError(
            f"rate limited by {host} (HTTP 429), retry after {math.ceil(shown)} s",
            transient=True,
            retry_after=shown,
            status=status,
        )
    if 200 <= status <= 299:
        return
    fields = _error_fields(body)
    if is_transient_status(status):
        detail = f": {text.error_code(fields[0])}" if fields else ""
        raise TokenRequestError(
            f"HTTP {status} from {host}{detail}",
            transient=True,
            retry_after=parse_retry_after(headers.get("Retry-After"), now),
            status=status,
        )
    if fields:
        error = text.error_code(fields[0])
        raise OAuthError(
            f"token request rejected by {host}: {error}{text.detail(fields[1])} (HTTP {status})",
            error=error,
            status=status,
        )
    if status == 401:
        # RFC 6749 §5.2: 401 is the answer to a client that failed to authenticate; some servers
        # send it with no error object at all (an empty body, a WWW-Authenticate header only).
        raise OAuthError(
            f"token request rejected by {host}: the client credentials were refused (HTTP 401, "
            f"{_describe_body(headers, body, text)}); check client_id and the client secret or "
            "key in the credentials secret, and that the client is registered at this token_url",
            error="invalid_client",
            status=status,
        )
    if status == 407:
        # RFC 9110 §15.5.8: 407 comes from a proxy between the job and the token host, which
        # was never reached.
        raise TokenRequestError(
            f"the HTTP proxy refused the request to {host} (HTTP 407 Proxy Authentication "
            "Required); give the proxy's credentials in HTTPS_PROXY/HTTP_PROXY "
            "(http://user:password@proxy:port) or exempt the host in NO_PROXY",
            status=status,
        )
    if 300 <= status <= 399:
        raise TokenRequestError(
            f"{host} answered with a redirect (HTTP {status}); set token_url to the final URL",
            status=status,
        )
    raise TokenRequestError(
        f"HTTP {status} from {host} ({_describe_body(headers, body, text)}); check token_url",
        status=status,
    )


def _json_object(
    status: int, headers: Mapping[str, str], body: bytes, host: str, text: _ServerText
) -> dict[str, Any]:
    try:
        doc: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidTokenResponse(
            f"{host} answered HTTP {status} with a body that is not JSON "
            f"({_describe_body(headers, body, text)})",
            status=status,
        ) from None
    if not isinstance(doc, dict):
        raise InvalidTokenResponse(f"{host} answered with JSON that is not an object", status=status)
    return doc


def _check_error_object(doc: Mapping[str, Any], status: int, host: str, text: _ServerText) -> None:
    # Some servers send a §5.2 error object with 200: it is an error, whatever the status says.
    error = doc.get("error")
    if error is None:
        return
    description = doc.get("error_description")
    code = text.error_code(error) if isinstance(error, str) else "a non-string error"
    detail = text.detail(description) if isinstance(description, str) else ""
    raise OAuthError(
        f"token request rejected by {host}: {code}{detail} (HTTP {status} with an error object)",
        error=code,
        status=status,
    )


def _access_token(doc: Mapping[str, Any], status: int, host: str) -> Secret:
    value = doc.get("access_token")
    if not isinstance(value, str) or not value:
        raise InvalidTokenResponse(f"{host} answered without a non-empty string access_token", status=status)
    # Registered for scrubbing before anything can print it, usable or not.
    register(value)
    problem = bearer.access_token_problem(value)
    if problem is not None:
        raise InvalidTokenResponse(f"{host} answered with an unusable token: {problem}", status=status)
    assert isinstance(value, str)
    return Secret(value)


def _token_type(doc: Mapping[str, Any], status: int, host: str, text: _ServerText) -> str:
    value = doc.get("token_type")
    if not isinstance(value, str) or not value:
        raise InvalidTokenResponse(f"{host} answered without a token_type", status=status)
    problem = bearer.token_type_problem(value)
    if problem is None:
        return value
    problem = f"token_type {text(value, 32)!r} is not bearer (RFC 6750); only bearer tokens are published"
    raise InvalidTokenResponse(f"{host} answered with an unusable token: {problem}", status=status)


def _scope(doc: Mapping[str, Any], status: int, host: str) -> str | None:
    value = doc.get("scope")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidTokenResponse(f"{host} answered with a scope that is not a string", status=status)
    if redact.scrub(value) != value:
        # A server that puts what the job sent into the granted scope would publish it to every
        # consumer of the token secret.
        raise InvalidTokenResponse(
            f"{host} answered with a scope that echoes a credential; not published", status=status
        )
    tokens = value.split()
    if len(value) > 4096 or not all(_scope_token().fullmatch(t) for t in tokens):
        raise InvalidTokenResponse(
            f"{host} answered with a scope RFC 6749 §3.3 does not allow (characters or length)", status=status
        )
    return " ".join(tokens)


def _lifetime(
    doc: Mapping[str, Any], token: str, env: AnswerRules, issued_at: datetime, status: int
) -> tuple[int, str, tuple[str, ...]]:
    """(seconds, source, warnings): ``expires_in`` (RFC 6749 §5.1), else the JWT's ``exp``,
    else ``default_lifetime_seconds``; bounded by the JWT's ``exp`` when that is earlier, and
    capped at ``max_lifetime_seconds``."""
    host = env.host
    raw = doc.get("expires_in")
    if raw is None and env.default_lifetime_seconds is None:
        raise InvalidTokenResponse(
            f"{host} answered without expires_in; set default_lifetime_seconds "
            "if this provider never sends it",
            status=status,
        )
    seconds = env.default_lifetime_seconds if raw is None else _expires_in(raw, host, status)
    assert seconds is not None
    source = "configured" if raw is None else "server"
    exp = bearer.jwt_expiry(token)
    if exp is not None:
        # Counted from issued_at floored to the whole second, as the payload counts expires_in
        # (payload.build_payload): then expires_at = issued_at + left never passes exp, and a
        # JWT whose exp - iat equals expires_in, iat stamped in the second the request was sent
        # or later, agrees with expires_in instead of cutting it by the fraction of a second.
        left = math.floor(exp) - math.floor(issued_at.timestamp())
        if left <= 0:
            raise InvalidTokenResponse(
                f"{host} issued an access token whose own exp claim passed {min(-left, 10**9)} s "
                "before the request; not published",
                status=status,
            )
        # A JWT's exp is the token's own word: it wins when the server sent no expires_in, and
        # bounds expires_in when it is earlier.
        if raw is None or left < seconds:
            seconds, source = left, "jwt"
    warnings: tuple[str, ...] = ()
    if seconds > env.max_lifetime_seconds:
        warnings = (
            f"{host} gave the token a lifetime of {min(seconds, 10**12)} s; counted as "
            f"max_lifetime_seconds = {env.max_lifetime_seconds} (raise it if the provider "
            "really issues such tokens)",
        )
        seconds, source = env.max_lifetime_seconds, "max_lifetime"
    return seconds, source, warnings


def _expires_in(raw: object, host: str, status: int) -> int:
    if isinstance(raw, str) and _digits().fullmatch(raw.strip()):
        # Some providers send the number as a string; its meaning is not in doubt.
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidTokenResponse(f"{host} answered with a non-numeric expires_in", status=status)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidTokenResponse(f"{host} answered with a non-finite expires_in", status=status)
    if raw <= 0:
        shown = raw if abs(raw) < 10**12 else "far below zero"
        raise InvalidTokenResponse(f"{host} answered with a non-positive expires_in ({shown})", status=status)
    seconds = math.floor(raw)
    if seconds <= 0:
        raise InvalidTokenResponse(f"{host} answered with expires_in under one second", status=status)
    return seconds


def _error_fields(body: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), str):
        return None
    description = doc.get("error_description")
    return doc["error"], description if isinstance(description, str) else ""


def _describe_body(headers: Mapping[str, str], body: bytes, text: _ServerText) -> str:
    kind = headers.get("Content-Type", "").split(";")[0].strip()
    return f"{text(kind, 64) if kind else 'no content-type'}, {len(body)} bytes"


# --- retry decisions -----------------------------------------------------------------------------


def is_transient_status(status: int) -> bool:
    """Statuses worth another attempt: timeouts, throttling and server faults."""
    return status in (408, 425, 429) or 500 <= status <= 599


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``now`` named by a Retry-After header (RFC 9110 §10.2.3: delta-seconds or an
    HTTP-date; a decimal is accepted too). ``0`` (or a date in the past) means "now" and is 0.0,
    not absent. Capped at a day. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if _delta_seconds().fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    if len(value) > 64:
        return None
    import email.utils  # only a 429 or 503 with an HTTP-date needs it

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, (when - now).total_seconds()))
    except OverflowError:
        return None


# Okta: "X-Rate-Limit-Reset: the time at which the rate limit resets, specified in UTC epoch
# time (in seconds)", sent with its 429s instead of Retry-After (Okta Developer, "Rate limits",
# "Check your rate limits with Okta's rate limit headers").
RATE_LIMIT_RESET_HEADER = "X-Rate-Limit-Reset"
# An epoch second before this (2001-09-09) is not a reset time but a misread delta.
_EPOCH_FLOOR = 1_000_000_000


@functools.cache
def _epoch_seconds() -> re.Pattern[str]:
    # Compiled on first use, not at import: keeps `sync-job run` start-up lean (issue 17 §3).
    return re.compile(r"[0-9]{1,15}")


def rate_limit_wait(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds from ``now`` to wait after a 429: ``Retry-After`` (RFC 9110 §10.2.3, RFC 6585 §4)
    when sent, else the provider's own ``X-Rate-Limit-Reset`` (Okta; UTC epoch seconds), at
    least 0 and capped at a day. None when neither is readable: the caller assumes
    ``rate_limit_lockout_seconds``."""
    retry_after = parse_retry_after(headers.get("Retry-After"), now)
    if retry_after is not None:
        return retry_after
    reset = (headers.get(RATE_LIMIT_RESET_HEADER) or "").strip()
    if not _epoch_seconds().fullmatch(reset):
        return None
    epoch = int(reset)
    if epoch < _EPOCH_FLOOR:
        return None
    return min(MAX_RETRY_AFTER_SECONDS, max(0.0, epoch - now.timestamp()))


def missing_scopes(requested: tuple[str, ...], granted: str | None) -> tuple[str, ...]:
    """Requested scopes absent from the granted scope (RFC 6749 §5.1: omitted means as asked)."""
    if granted is None:
        return ()
    have = set(granted.split())
    return tuple(s for s in requested if s not in have)


def backoff_seconds(attempt: int, initial: float, maximum: float, rand: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(maximum, initial * 2**(attempt-1))]."""
    ceiling: float = min(maximum, initial * 2.0 ** min(max(0, attempt - 1), 64))
    return rand * ceiling
