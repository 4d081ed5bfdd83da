"""TOML configuration → frozen dataclasses. Every problem becomes one ``ConfigError`` line that
names the key, says what is wrong and what to do; secret values are never echoed."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sync_job import inputs
from sync_job.errors import ConfigError

ENV_CONFIG_PATH = "SYNC_JOB_CONFIG"
# Lambda gets its config rendered by Terraform into an environment variable: no file to ship.
ENV_CONFIG_INLINE = "SYNC_JOB_CONFIG_TOML"

AUTH_METHODS = ("client_secret_post", "client_secret_basic", "private_key_jwt")
SIGNING_ALGS = ("RS256", "ES256", "PS256")
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A config file is a few kB; anything larger (or a device such as /dev/zero) is a mistake.
MAX_CONFIG_BYTES = 1 << 20
# Keys that people sometimes paste into a config file; the value must never be echoed back.
# (client_id is not one: RFC 6749 §2.2 calls it public, and a keyless environment may set it here.)
_SECRET_KEYS = {"client_secret", "private_key", "access_token", "password"}


# --- validation -------------------------------------------------------------------------------


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}")


def _positive_int(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise _fail(where, f"must be a positive integer, got {value}")
    return value


def _non_negative_int(where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer, got {type(value).__name__}")
    if value < 0:
        raise _fail(where, f"must be zero or more, got {value}")
    return value


def _positive_number(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"must be a number, got {type(value).__name__}")
    if not value > 0 or value != value or value == float("inf"):
        raise _fail(where, f"must be a positive number, got {value}")
    return float(value)


def _bounded(check: Callable[[str, object], Any], limit: float) -> Callable[[str, object], Any]:
    """``check``, then at most ``limit``: past it a value is a typo, and some would break the
    runtime (a pool of ten million connections is allocated up front; a socket timeout must fit
    a C timeval)."""

    def checked(where: str, value: object) -> Any:
        number = check(where, value)
        if number > limit:
            raise _fail(where, f"must be at most {limit:g}, got {number:g}")
        return number

    return checked


# A message shows at most this much of a name, key or URL (a 1 MiB config can hold a 1 MiB key).
MAX_SHOWN_CHARS = 200


def shown(text: str) -> str:
    """A name from the config as it can be shown in one line (control characters escaped), cut
    to ``MAX_SHOWN_CHARS`` characters of the original (an ellipsis marks a cut)."""
    if len(text) > MAX_SHOWN_CHARS:
        return shown(text[:MAX_SHOWN_CHARS]) + "…"
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # what the escape would return (and its codec is not loaded)
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")


def _string(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, got {type(value).__name__}")
    if not value.strip() or value != value.strip():
        raise _fail(where, "must be a non-empty string without surrounding spaces")
    # It reaches log lines, error lines, AWS request fields and HTTP form fields: one printable
    # line (no control, separator or invisible character: inputs.problem), bounded.
    wrong = inputs.problem(value, max_chars=inputs.MAX_TEXT_CHARS, spaces=True)
    if wrong is not None:
        raise _fail(where, f"{wrong}; write it as one line of printable text")
    return value


def _scopes(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise _fail(where, 'must be a list of strings, e.g. ["funding:read_profile"]')
    if not isinstance(value, list):
        raise _fail(where, f"must be a list of strings, got {type(value).__name__}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or any(c.isspace() for c in item):
            raise _fail(f"{where}[{i}]", "each scope must be a non-empty string without spaces")
        if '"' in item or "\\" in item:
            raise _fail(f"{where}[{i}]", 'a scope may not contain " or \\ (RFC 6749 §3.3)')
        if not all(0x21 <= ord(c) <= 0x7E for c in item) or len(item) > inputs.MAX_TEXT_CHARS:
            # RFC 6749 §3.3: scope-token = 1*NQCHAR, visible ASCII only.
            raise _fail(
                f"{where}[{i}]",
                "a scope is visible ASCII only (RFC 6749 §3.3): no control, non-ASCII or "
                f"invisible character, at most {inputs.MAX_TEXT_CHARS} characters",
            )
        if item not in out:
            out.append(item)
    return tuple(out)


def _auth_method(where: str, value: object) -> str:
    value = _string(where, value)
    if value not in AUTH_METHODS:
        raise _fail(where, f"must be one of {', '.join(AUTH_METHODS)}, got {value!r}")
    return value


def _signing_alg(where: str, value: object) -> str:
    value = _string(where, value)
    if value not in SIGNING_ALGS:
        raise _fail(where, f"must be one of {', '.join(SIGNING_ALGS)}, got {value!r}")
    return value


# KMS key identifiers (API_Sign.html, KeyId): a key id, a key ARN, alias/NAME or an alias ARN.
# Compiled on first use: most configurations name no KMS key, and every run loads this module.
@functools.cache
def _kms_key_id_pattern() -> re.Pattern[str]:
    return re.compile(
        r"(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})"
        r"|[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})"
    )


CLIENT_ASSERTION_SOURCES = ("aws_sts",)
# sts:GetWebIdentityToken's SigningAlgorithm (API_GetWebIdentityToken.html): RS256 or ES384.
STS_SIGNING_ALGS = ("RS256", "ES384")


def _endpoint_params(where: str, value: object) -> tuple[tuple[str, str], ...]:
    """``params.check_endpoint_params``, imported when a configuration has ``endpoint_params``."""
    from sync_job.params import check_endpoint_params

    return check_endpoint_params(where, value)


def _kms_key_id(where: str, value: object) -> str:
    value = _string(where, value)
    if not _kms_key_id_pattern().fullmatch(value):
        raise _fail(
            where,
            "must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), an alias ARN, a key id or alias/NAME",
        )
    return value


def _assertion_source(where: str, value: object) -> str:
    value = _string(where, value)
    if value not in CLIENT_ASSERTION_SOURCES:
        raise _fail(where, f"must be one of {', '.join(CLIENT_ASSERTION_SOURCES)}, got {shown(value)!r}")
    return value


def _assertion_lifetime(where: str, value: object) -> int:
    number = _positive_int(where, value)
    # sts:GetWebIdentityToken's DurationSeconds: 60 to 3600.
    if not 60 <= number <= 3600:
        raise _fail(where, f"must be between 60 and 3600 seconds (sts:GetWebIdentityToken), got {number}")
    return number


def _sts_signing_alg(where: str, value: object) -> str:
    value = _string(where, value)
    if value not in STS_SIGNING_ALGS:
        raise _fail(where, f"must be one of {', '.join(STS_SIGNING_ALGS)}, got {shown(value)!r}")
    return value


def _absolute_path(where: str, value: object) -> str:
    if isinstance(value, str):
        wrong = inputs.path_problem(value)
        if wrong is not None:
            raise _fail(where, f"{wrong}; give an absolute file path")
    value = _string(where, value)
    if not os.path.isabs(value):
        raise _fail(where, f"must be an absolute file path, got {inputs.shown(value)}")
    return value


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1): the only hosts a
    plain ``http://`` token URL may name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Query parameters that would put a credential into the URL (and so into logs and errors).
_SECRET_QUERY = re.compile(
    r"(?:^|&)(?:client_secret|secret|password|passwd|token|access_token|"
    r"client_assertion|api_key|apikey)=",
    re.IGNORECASE,
)


_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def safe_url(url: str) -> str:
    """``url`` fit to print: userinfo and query removed (either may carry a credential)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rpartition("@")[2]
    shown_url = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else host + parts.path
    return shown(shown_url + ("?..." if parts.query else ""))


def _token_url(where: str, value: object) -> str:
    value = _string(where, value)
    authority = _AUTHORITY.match(value)
    if authority and "@" in authority.group(1):
        # Checked before anything that could echo the URL: the userinfo may be a credential.
        raise _fail(where, "must not contain user:password@; put credentials in the secret")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _fail(where, f"is not a valid URL: {safe_url(value)!r}") from None
    if parts.username or parts.password:
        raise _fail(where, "must not contain user:password@; put credentials in the secret")
    if _SECRET_QUERY.search(parts.query):
        raise _fail(where, "must not carry credentials in its query; put them in the secret")
    if not parts.hostname:
        raise _fail(where, f"must be an absolute https:// URL, got {safe_url(value)!r}")
    if parts.fragment:
        raise _fail(where, "must not contain a #fragment (RFC 6749 §3.2)")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise _fail(where, "must not contain spaces or control characters")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return value
    raise _fail(
        where,
        "must be an https:// URL (plain http:// is allowed only for loopback hosts), "
        f"got {safe_url(value)!r}",
    )


# --- the keys, each declared once -------------------------------------------------------------
# A key is a dataclass field: its name, type and default, and in its metadata its check (with the
# upper bound past which a value is a typo), the default as the reference shows it and its line
# of docs/configuration.md. The parser's tables, the bounds, the reference table
# (``reference_table``) and the schema-parity test (tests/infra/test_schema_parity.py) are all
# read from these fields.

_DAY = 86400


def _key(
    check: Callable[[str, object], Any],
    doc: str,
    *,
    limit: float | None = None,
    shown_default: str | None = None,
) -> dict[str, Any]:
    """A key's metadata: ``check(where, value)`` (bounded by ``limit`` when given), its docs
    line, and how the reference shows its default (when the value alone would not say it)."""
    return {
        "check": check if limit is None else _bounded(check, limit),
        "limit": limit,
        "doc": doc,
        "shown_default": shown_default,
    }


@dataclass(frozen=True)
class EnvironmentConfig:
    """One ``[environments.NAME]`` table, merged over ``[defaults]`` and checked; each key's
    meaning, unit, bound and default are in its declaration below (docs/configuration.md)."""

    name: str
    token_url: str = field(
        metadata=_key(
            _token_url, "RFC 6749 token endpoint; `https://` only (`http://` only for loopback hosts)"
        )
    )
    token_secret: str = field(
        metadata=_key(_string, "secret the job writes the payload to; must exist (infra/ creates it)")
    )
    # None only for a keyless private_key_jwt environment with client_id below (client_identity.py).
    credentials_secret: str | None = field(
        default=None,
        metadata=_key(
            _string,
            'secret holding `{"client_id": "...", "client_secret": "...", "client_secret_expires_at"?}` '
            '(for `private_key_jwt`: `{"client_id", "private_key", "key_id"?, "certificate"?}`; with '
            '`kms_key_id` or a federated assertion only `{"client_id", "certificate"?}`). '
            "`client_secret_expires_at`: seconds since the epoch when the secret ends (RFC 7591 "
            "§3.2.1), `0` for never ([credential ends](#every-credentials-end-seen-coming)). Required, "
            "per environment, except with `kms_key_id`, `client_assertion_source` or "
            "`client_assertion_file` and `client_id` set in the config: then no secret is read",
            shown_default="required (see meaning)",
        ),
    )
    client_id: str | None = field(
        default=None,
        metadata=_key(
            _string,
            "per environment only: the OAuth client id (RFC 6749 §2.2, not a secret). With "
            "`kms_key_id`, `client_assertion_source` or `client_assertion_file` the environment then "
            "needs no `credentials_secret` at all; with a credentials secret that also holds "
            "`client_id`, the two must be equal (a differing one fails the environment, naming both)",
        ),
    )
    scopes: tuple[str, ...] = field(
        default=(),
        metadata=_key(
            _scopes,
            "requested scopes, sent space-joined; omitted when empty. A token lacking any of them is "
            "not published",
            shown_default="`[]`",
        ),
    )
    auth_method: str = field(
        default="client_secret_post",
        metadata=_key(
            _auth_method,
            "`client_secret_post` (Paxos), `client_secret_basic` (RFC 6749 §2.3.1 encoding), "
            "`private_key_jwt`",
        ),
    )
    refresh_margin_seconds: int = field(
        default=900,
        metadata=_key(
            _non_negative_int,
            "refresh when this much or less is left; a token that lives no longer than the margin is "
            "refreshed at half its lifetime instead (with a warning)",
            limit=30 * _DAY,
        ),
    )
    max_attempts: int = field(
        default=5,
        metadata=_key(_positive_int, "token requests per environment per run, first included", limit=20),
    )
    timeout_seconds: float = field(
        default=10.0,
        metadata=_key(_positive_number, "per token request (connect ≤ 5 s)", limit=300),
    )
    backoff_initial_seconds: float = field(
        default=0.5,
        metadata=_key(
            _positive_number, "first wait of the full-jitter exponential backoff between attempts", limit=300
        ),
    )
    backoff_max_seconds: float = field(
        default=30.0,
        metadata=_key(
            _positive_number,
            "longest wait of that backoff; also how long a run waits before trying an environment "
            "whose host failed once more",
            limit=3600,
        ),
    )
    # Token bucket per token host. Paxos allows 1 request/s averaged over 5 minutes and blocks
    # the whole IP for 5 minutes past it: burst + 300 * rate must stay well under 300.
    rate_limit_per_second: float = field(
        default=0.5,
        metadata=_key(
            _positive_number,
            "token bucket per token host (scheme, host, port), shared by all environments and "
            "workers of a run: its rate",
            limit=1000,
        ),
    )
    rate_limit_burst: int = field(
        default=10,
        metadata=_key(_positive_int, "that token bucket's size (requests sent at once)", limit=10_000),
    )
    rate_limit_lockout_seconds: int = field(
        default=300,
        metadata=_key(
            _positive_int,
            "wait assumed after a 429 without `Retry-After` (Paxos blocks the IP for 5 minutes)",
            limit=_DAY,
        ),
    )
    default_lifetime_seconds: int | None = field(
        default=None,
        metadata=_key(
            _positive_int,
            "lifetime to assume when the server omits `expires_in` (else that is an error)",
            limit=366 * _DAY,
        ),
    )
    # A token never counts as living longer than this, whatever the server says (a provider bug
    # or a hostile answer must not make a token look valid for centuries).
    max_lifetime_seconds: int = field(
        default=30 * _DAY,
        metadata=_key(
            _positive_int,
            "the longest lifetime a token is counted as having: a longer `expires_in` (a provider bug "
            "or a hostile answer) is capped to it with a warning. A JWT access token's own `exp` also "
            "bounds the lifetime when earlier",
            limit=366 * _DAY,
            shown_default="2592000 (30 days)",
        ),
    )
    signing_alg: str = field(
        default="RS256",
        metadata=_key(
            _signing_alg,
            "`private_key_jwt` only: `RS256`, `ES256` or `PS256` (RSA-PSS; Entra ID's recommended algorithm)",
        ),
    )
    audience: str | None = field(
        default=None,
        metadata=_key(
            _string,
            "`private_key_jwt` only: the assertion's JWT `aud` claim, not Auth0's `audience` request "
            "field (that one goes in `endpoint_params`)",
            shown_default="`token_url`",
        ),
    )
    key_id: str | None = field(
        default=None,
        metadata=_key(_string, "`private_key_jwt` only: the assertion header's `kid`"),
    )
    # Extra token-request form fields, as (name, value) pairs; a repeated name is a repeated field.
    endpoint_params: tuple[tuple[str, str], ...] = field(
        default=(),
        metadata=_key(
            _endpoint_params,
            'extra form fields sent with every token request: `{ name = "value" }`, a list of strings '
            'is sent as repeated fields (`{ resource = ["https://a", "https://b"] }`, RFC 8707). Auth0 '
            "needs `audience` here. In `[defaults]` or per environment; an environment's table "
            "**replaces** the `[defaults]` one as a whole (like `scopes`), so repeat shared fields",
            shown_default="none",
        ),
    )
    # private_key_jwt without an extractable key (keyless.py): the assertion signed by this
    # asymmetric KMS key, or a federated assertion from STS (sts:GetWebIdentityToken) or a file.
    kms_key_id: str | None = field(
        default=None,
        metadata=_key(
            _kms_key_id,
            "`private_key_jwt` only: the assertion is signed by this asymmetric AWS KMS key "
            "(`kms:Sign`; key ARN, alias ARN, key id or `alias/NAME`), and the credentials secret "
            'holds only `{"client_id": "..."}` (and `"certificate"` for providers that name the key '
            "by certificate). RSA keys sign `RS256` or `PS256`, an `ECC_NIST_P256` key `ES256` "
            "(`signing_alg` `RS256`, the default, then means `ES256`). The job's role needs "
            "`kms:Sign` and `kms:GetPublicKey` on the key. `kid` is the key's RFC 7638 thumbprint "
            "unless `key_id` is set. `sync-job jwks NAME` prints the public key to register, "
            "`sync-job certificate NAME` a certificate over it signed through KMS. Excludes the two below",
        ),
    )
    client_assertion_source: str | None = field(
        default=None,
        metadata=_key(
            _assertion_source,
            '`private_key_jwt` only: `"aws_sts"`: the assertion is a JWT that AWS STS issues to the '
            "job's role (IAM outbound identity federation, `sts:GetWebIdentityToken`, fetched for "
            "every token request); for providers that trust AWS as an issuer (Entra ID federated "
            "identity credentials, Keycloak federated client authentication). Needs "
            "`client_assertion_audience` (Entra ID: `api://AzureADTokenExchange`); "
            "`client_assertion_lifetime_seconds` 60 to 3600 (default 300); "
            "`client_assertion_signing_alg` `RS256` (default) or `ES384`. The credentials secret "
            'holds only `{"client_id": "..."}`; no key, no secret',
        ),
    )
    client_assertion_audience: str | None = field(
        default=None,
        metadata=_key(
            _string,
            'with `client_assertion_source = "aws_sts"` only: the web-identity token\'s `aud` '
            "(STS's `Audience`)",
        ),
    )
    client_assertion_lifetime_seconds: int = field(
        default=300,
        metadata=_key(
            _assertion_lifetime,
            'with `client_assertion_source = "aws_sts"` only: the web-identity token\'s lifetime in '
            "seconds, 60 to 3600 (STS's `DurationSeconds`)",
        ),
    )
    client_assertion_signing_alg: str = field(
        default="RS256",
        metadata=_key(
            _sts_signing_alg,
            'with `client_assertion_source = "aws_sts"` only: `RS256` or `ES384` (STS\'s `SigningAlgorithm`)',
        ),
    )
    client_assertion_file: str | None = field(
        default=None,
        metadata=_key(
            _absolute_path,
            "`private_key_jwt` only: absolute path of a file holding the assertion, re-read for every "
            "token request (a Kubernetes projected service-account token, a SPIFFE JWT-SVID, a CI "
            "provider's OIDC token written to a file; its writer renews it). At most 64 KiB, a compact "
            'JWT, not expired. The credentials secret holds only `{"client_id": "..."}`',
        ),
    )
    # The provider's RFC 7009 token revocation endpoint (`sync-job revoke`); None when the
    # provider has none or cannot revoke access tokens (Auth0, Entra ID, Cognito).
    revocation_url: str | None = field(
        default=None,
        metadata=_key(
            _token_url,
            "the provider's RFC 7009 token revocation endpoint, used only by `sync-job revoke` (e.g. "
            "Paxos `https://oauth.paxos.com/oauth2/revoke`); the client authenticates there as at the "
            "token endpoint. Leave it out for providers that cannot revoke access tokens (Auth0, "
            "Microsoft Entra ID, Amazon Cognito's client-credentials tokens): `revoke` then says so "
            "([docs/runbook.md](runbook.md#revoke-a-leaked-token))",
        ),
    )

    @property
    def credential_kind(self) -> str:
        """Which credential the client authenticates with: "client_secret", "private_key" (PEM
        in the credentials secret), "kms_key", "aws_sts" or "assertion_file"."""
        if self.auth_method != "private_key_jwt":
            return "client_secret"
        if self.kms_key_id is not None:
            return "kms_key"
        if self.client_assertion_source is not None:
            return self.client_assertion_source
        if self.client_assertion_file is not None:
            return "assertion_file"
        return "private_key"

    @property
    def origin(self) -> str:
        """scheme://host:port of the token URL: the unit of rate limiting."""
        parts = urlsplit(self.token_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{parts.hostname}:{port}"

    @property
    def host(self) -> str:
        """``host[:port]`` of the token URL, as shown in messages."""
        parts = urlsplit(self.token_url)
        return parts.netloc


@dataclass(frozen=True)
class Config:
    """The whole configuration: the environments in file order and the run-wide keys of
    ``[defaults]``, each declared below."""

    environments: tuple[EnvironmentConfig, ...]
    source: str = "<memory>"
    # Total budget of one run; Lambda replaces it with the invocation's remaining time.
    run_timeout_seconds: float = field(
        default=600.0,
        metadata=_key(
            _positive_number,
            "`[defaults]` only: total budget of a run (Lambda: the invocation's remaining time minus 10 s)",
            limit=_DAY,
        ),
    )
    max_workers: int = field(
        default=64,
        metadata=_key(
            _positive_int,
            "`[defaults]` only: environments processed at once (threads waiting on I/O; 100 "
            "environments then cost about 2 token round trips)",
            limit=256,
        ),
    )
    aws_max_attempts: int = field(
        default=5,
        metadata=_key(
            _positive_int,
            "`[defaults]` only: botocore standard-mode attempts per Secrets Manager call",
            limit=20,
        ),
    )
    # How often the job is run (cron, EventBridge); the write-budget arithmetic reads it
    # (budget.py). None: unknown, and the arithmetic assumes a run at any moment (the worst case).
    # The plan spreads a fleet's refreshes over their cycle by it (plan.py); None: no spreading.
    schedule_seconds: int | None = field(
        default=None,
        metadata=_key(
            _positive_int,
            "`[defaults]` only: how often the job is run (cron, EventBridge; infra/'s default is 300). "
            "Read by the write-budget arithmetic (`sync_job/budget.py`, "
            "[behaviour](behaviour.md#the-write-budget-of-a-token-secret)): without it a run is assumed "
            "at any moment, the worst case; and by the plan, which spreads a fleet's refreshes over "
            "their cycle ([scale](scale.md)): without it they are not spread",
            limit=_DAY,
        ),
    )

    def names(self) -> tuple[str, ...]:
        """The environment names, in file order."""
        return tuple(e.name for e in self.environments)

    def get(self, name: str) -> EnvironmentConfig:
        """The environment called ``name``; raises ``KeyError`` when there is none."""
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def select(self, names: Sequence[str] | None) -> tuple[EnvironmentConfig, ...]:
        """The named environments in the given order (all when none are named)."""
        from sync_job.errors import UsageError

        if not names:
            return self.environments
        known = self.names()
        unknown = [n for n in names if n not in known]
        if unknown:
            # The name is user or event input: escaped (repr) and cut, so a 5,000-character or
            # escape-laden name still gives one short line.
            shown = repr(unknown[0][:80])
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            raise UsageError(f"unknown environment {shown}; configured: {', '.join(known)}")
        seen: dict[str, EnvironmentConfig] = {}
        for n in names:
            seen.setdefault(n, self.get(n))
        return tuple(seen.values())


def _declared(cls: type[Any]) -> dict[str, Field[Any]]:
    return {f.name: f for f in fields(cls) if "check" in f.metadata}


_ENV_KEYS = _declared(EnvironmentConfig)
_RUN_FIELDS = _declared(Config)
_CHECKS: dict[str, Callable[[str, object], Any]] = {k: f.metadata["check"] for k, f in _ENV_KEYS.items()}
_RUN_CHECKS: dict[str, Callable[[str, object], Any]] = {
    k: f.metadata["check"] for k, f in _RUN_FIELDS.items()
}
_RUN_KEYS = tuple(_RUN_CHECKS)
_REQUIRED = tuple(k for k, f in _ENV_KEYS.items() if f.default is MISSING)
# Upper bounds, by key (keys without one are absent).
LIMITS: dict[str, float] = {
    k: f.metadata["limit"] for k, f in (_ENV_KEYS | _RUN_FIELDS).items() if f.metadata["limit"] is not None
}


def _shown_default(item: Field[Any]) -> str:
    shown_default: str | None = item.metadata["shown_default"]
    if shown_default is not None:
        return shown_default
    if item.default is MISSING:
        return "required"
    if item.default is None:
        return "none"
    if isinstance(item.default, str):
        return f"`{item.default}`"
    return f"{item.default:g}"


def reference_table() -> str:
    """docs/configuration.md's table of keys (markdown), rendered from the declarations: one row
    per key, its default and its bound (``≤ N``) in the order of the dataclasses."""
    rows = ["| key | default | bound | meaning |", "|---|---|---|---|"]
    for key, item in (_ENV_KEYS | _RUN_FIELDS).items():
        limit = item.metadata["limit"]
        bound = "" if limit is None else f"≤ {limit:g}" if limit < 1e6 else f"≤ {int(limit)}"
        rows.append(f"| `{key}` | {_shown_default(item)} | {bound} | {item.metadata['doc']} |")
    return "\n".join(rows) + "\n"


_JWT_ONLY = (
    "signing_alg",
    "audience",
    "key_id",
    "kms_key_id",
    "client_assertion_source",
    "client_assertion_audience",
    "client_assertion_lifetime_seconds",
    "client_assertion_signing_alg",
    "client_assertion_file",
)
_STS_ONLY = ("client_assertion_audience", "client_assertion_lifetime_seconds", "client_assertion_signing_alg")


def _unknown_key(where: str, key: str, allowed: Sequence[str]) -> ConfigError:
    if key in _SECRET_KEYS:
        return _fail(
            f"{where}.{key}",
            "secrets do not belong in the config file; put them in the credentials secret "
            "(credentials_secret) and remove this key",
        )
    import difflib  # for this error only

    # Every key is short: a long one gets no guess (difflib's cost grows with the square).
    close = difflib.get_close_matches(key, allowed, n=1) if len(key) <= 100 else []
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return _fail(f"{where}.{shown(key)}", f"unknown key{hint}")


def _table(where: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _fail(where, f"must be a table ([{where}]), got {type(value).__name__}")
    return value


def parse_config(data: Mapping[str, object], source: str = "<memory>") -> Config:
    """Validate a parsed TOML document, in the order of the configuration reference: the top
    level, ``[defaults]`` (run-wide keys, then environment defaults), then each
    ``[environments.NAME]``. Raises ``ConfigError`` naming the first problem."""
    for key in data:
        if key not in ("defaults", "environments"):
            raise _unknown_key("config", key, ("defaults", "environments"))
    defaults = dict(_table("defaults", data.get("defaults", {})))
    run_settings = _run_settings(defaults)
    _check_defaults(defaults)
    environments = tuple(_environment(name, raw, defaults) for name, raw in _environment_tables(data).items())
    _check_distinct_token_secrets(environments)
    return Config(environments=environments, source=source, **run_settings)


def _check_distinct_token_secrets(environments: Sequence[EnvironmentConfig]) -> None:
    # Two environments publishing to one secret would each read the other's token as fresh, and
    # `token beta` would print alpha's. Compared by identity, not spelling (secret_ids.py): a
    # name, its full ARN and its partial ARN are one secret.
    if len(environments) < 2:
        return  # nothing to compare (and secret_ids need not be imported)
    from sync_job.secret_ids import may_be_same, secret_ref

    seen: dict[str, list[tuple[str, str]]] = {}  # name -> (environment, its token_secret)
    for env in environments:
        ref = secret_ref(env.token_secret)
        for name in sorted(ref.names):
            for other, other_id in seen.get(name, []):
                if other != env.name and may_be_same(env.token_secret, other_id):
                    spelled = "" if other_id == env.token_secret else f" (as {shown(other_id)})"
                    raise _fail(
                        f"environments.{shown(env.name)}.token_secret",
                        f"is also environment {shown(other)}'s{spelled}; each environment needs a "
                        "token secret of its own (name secrets in other accounts or regions by full ARN)",
                    )
            seen.setdefault(name, []).append((env.name, env.token_secret))


def _run_settings(defaults: dict[str, object]) -> dict[str, Any]:
    """Pop and check the run-wide keys of ``[defaults]``."""
    return {
        key: _RUN_CHECKS[key](f"defaults.{key}", defaults.pop(key)) for key in _RUN_KEYS if key in defaults
    }


# Per-environment keys that are optional: each environment has its own, so never in [defaults].
_PER_ENVIRONMENT = ("credentials_secret", "client_id")


def _check_defaults(defaults: Mapping[str, object]) -> None:
    for key, value in defaults.items():
        if key in _REQUIRED or key in _PER_ENVIRONMENT:
            raise _fail(
                f"defaults.{key}",
                "must be set per environment, not in [defaults] (each environment has its own)",
            )
        if key not in _CHECKS:
            raise _unknown_key("defaults", key, tuple(_CHECKS) + _RUN_KEYS)
        _CHECKS[key](f"defaults.{key}", value)


def _environment_tables(data: Mapping[str, object]) -> Mapping[str, object]:
    if "environments" not in data:
        raise _fail("config", "no [environments.NAME] table; configure at least one environment")
    envs_table = _table("environments", data["environments"])
    if not envs_table:
        raise _fail("environments", "is empty; configure at least one [environments.NAME]")
    return envs_table


def _environment(name: str, raw: object, defaults: Mapping[str, object]) -> EnvironmentConfig:
    where = f"environments.{shown(name)}"
    if not _ENV_NAME.fullmatch(name):
        raise _fail(where, "environment names use letters, digits, '-', '_' and '.' only (at most 64)")
    table = _table(where, raw)
    for key in table:
        if key in _RUN_KEYS:
            raise _fail(f"{where}.{key}", "is run-wide; set it in [defaults], not per environment")
        if key not in _CHECKS:
            raise _unknown_key(where, key, tuple(_CHECKS))
    for key in _REQUIRED:
        if key not in table:
            raise _fail(where, f"missing required key {key!r}")
    merged = {**defaults, **table}
    values = {key: _CHECKS[key](f"{where}.{key}", value) for key, value in merged.items()}
    env = EnvironmentConfig(name=name, **values)
    if env.backoff_initial_seconds > env.backoff_max_seconds:
        raise _fail(where, "backoff_initial_seconds must not exceed backoff_max_seconds")
    if env.default_lifetime_seconds is not None and env.default_lifetime_seconds > env.max_lifetime_seconds:
        raise _fail(where, "default_lifetime_seconds must not exceed max_lifetime_seconds")
    if env.auth_method != "private_key_jwt":
        for key in _JWT_ONLY:
            if key in table:
                raise _fail(f"{where}.{key}", 'applies only to auth_method = "private_key_jwt"')
    _check_key_source(where, env, merged, table)
    _check_credentials_secret(where, env)
    return env


_SECRETLESS = ("kms_key", "aws_sts", "assertion_file")


def _check_credentials_secret(where: str, env: EnvironmentConfig) -> None:
    """``credentials_secret`` may be left out only when nothing is secret and the client id is
    in the config (a KMS key or a federated assertion, ``client_id`` set)."""
    if env.credentials_secret is not None:
        return
    if env.credential_kind not in _SECRETLESS:
        raise _fail(
            where,
            f"missing required key 'credentials_secret' (a {env.credential_kind} credential is kept "
            "in it); only kms_key_id, client_assertion_source or client_assertion_file with client_id "
            "need none",
        )
    if env.client_id is None:
        raise _fail(
            where,
            f"a {env.credential_kind} credential needs client_id in the config or a "
            "credentials_secret holding it; set one",
        )


def _check_key_source(
    where: str, env: EnvironmentConfig, merged: Mapping[str, object], table: Mapping[str, object]
) -> None:
    """One source of the client assertion per environment, with the keys that source needs
    (keys from ``[defaults]`` that do not apply are ignored; the environment's own are refused)."""
    if env.auth_method != "private_key_jwt":
        return
    sources = [k for k in ("kms_key_id", "client_assertion_source", "client_assertion_file") if k in merged]
    if len(sources) > 1:
        raise _fail(where, f"{sources[0]} and {sources[1]} exclude each other; keep one")
    if env.client_assertion_source == "aws_sts" and env.client_assertion_audience is None:
        raise _fail(
            where,
            'client_assertion_source = "aws_sts" needs client_assertion_audience (for Microsoft '
            'Entra ID: "api://AzureADTokenExchange")',
        )
    if env.client_assertion_source is None:
        for key in _STS_ONLY:
            if key in table:
                raise _fail(f"{where}.{key}", 'applies only with client_assertion_source = "aws_sts"')
    if env.client_assertion_source is not None or env.client_assertion_file is not None:
        # The assertion is made by its issuer: nothing here signs it.
        for key in ("signing_alg", "key_id", "audience"):
            if key in table:
                raise _fail(
                    f"{where}.{key}",
                    "does not apply to a federated client assertion (its issuer signs it); remove it",
                )


def load_config_text(text: str, source: str) -> Config:
    """Parse TOML ``text`` (named ``source`` in messages) into a :class:`Config`. Raises
    ``ConfigError`` naming the source and the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {source} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config {source} is not valid TOML: nested too deeply") from None
    try:
        return parse_config(data, source)
    except ConfigError as exc:
        raise ConfigError(f"config {source}: {exc.message}") from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from ``path``, else $SYNC_JOB_CONFIG (a path), else $SYNC_JOB_CONFIG_TOML.

    The file must be a regular file of at most ``MAX_CONFIG_BYTES`` (a device or a FIFO would
    be read forever). Raises ``ConfigError``.
    """
    if path is None:
        path = os.environ.get(ENV_CONFIG_PATH) or None
    if path is None:
        return _inline_config()
    wrong = inputs.path_problem(os.fspath(path))
    if wrong is not None:
        # Before any file call: a NUL raises ValueError there, not OSError.
        raise ConfigError(
            f"config file path {inputs.shown(os.fspath(path))} {wrong}; pass --config PATH "
            f"(or ${ENV_CONFIG_PATH}) naming a TOML file"
        )
    file = Path(path)
    name = shown(str(file))
    return load_config_text(_read_config_file(file, name), name)


def _inline_config() -> Config:
    inline = os.environ.get(ENV_CONFIG_INLINE)
    if not inline:
        raise ConfigError(
            f"no configuration: pass --config PATH or set {ENV_CONFIG_PATH} (see examples/paxos.toml)"
        )
    if len(inline) > MAX_CONFIG_BYTES:
        raise ConfigError(f"${ENV_CONFIG_INLINE} is larger than {MAX_CONFIG_BYTES} bytes")
    return load_config_text(inline, f"${ENV_CONFIG_INLINE}")


def _read_config_file(file: Path, name: str) -> str:
    """The text of the config file ``file`` (shown as ``name``): a regular file of at most
    ``MAX_CONFIG_BYTES`` of UTF-8. Raises ``ConfigError``."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise ConfigError(f"config file {name} does not exist; pass --config PATH") from None
    except OSError as exc:
        raise ConfigError(f"config file {name} cannot be read: {exc.strerror or 'error'}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config file {name} is a directory; pass a TOML file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config file {name} is not a regular file; pass a TOML file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {name} is larger than {MAX_CONFIG_BYTES} bytes; pass a TOML file")
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {name} is larger than {MAX_CONFIG_BYTES} bytes")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"config file {name} cannot be read: {reason}") from None


__all__ = [
    "AUTH_METHODS",
    "Config",
    "EnvironmentConfig",
    "is_loopback_host",
    "load_config",
    "load_config_text",
    "parse_config",
]
