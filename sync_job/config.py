"""TOML configuration → frozen dataclasses. Every problem becomes one ``ConfigError`` line that
names the key, says what is wrong and what to do; secret values are never echoed."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sync_job.errors import ConfigError
from sync_job.params import check_endpoint_params

ENV_CONFIG_PATH = "SYNC_JOB_CONFIG"
# Lambda gets its config rendered by Terraform into an environment variable: no file to ship.
ENV_CONFIG_INLINE = "SYNC_JOB_CONFIG_TOML"

AUTH_METHODS = ("client_secret_post", "client_secret_basic", "private_key_jwt")
SIGNING_ALGS = ("RS256", "ES256", "PS256")
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Keys that people sometimes paste into a config file; the value must never be echoed back.
_SECRET_KEYS = {"client_secret", "client_id", "private_key", "access_token", "password"}


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    token_url: str
    credentials_secret: str
    token_secret: str
    scopes: tuple[str, ...] = ()
    auth_method: str = "client_secret_post"
    refresh_margin_seconds: int = 900
    max_attempts: int = 5
    timeout_seconds: float = 10.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    # Token bucket per token host. Paxos allows 1 request/s averaged over 5 minutes and blocks
    # the whole IP for 5 minutes past it: burst + 300 * rate must stay well under 300.
    rate_limit_per_second: float = 0.5
    rate_limit_burst: int = 10
    # A 429 without Retry-After: assume Paxos's documented 5-minute lock-out.
    rate_limit_lockout_seconds: int = 300
    default_lifetime_seconds: int | None = None
    signing_alg: str = "RS256"
    audience: str | None = None
    key_id: str | None = None
    # Extra token-request form fields, as (name, value) pairs; a repeated name is a repeated field.
    endpoint_params: tuple[tuple[str, str], ...] = ()

    @property
    def origin(self) -> str:
        """scheme://host:port of the token URL: the unit of rate limiting."""
        parts = urlsplit(self.token_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{parts.hostname}:{port}"

    @property
    def host(self) -> str:
        parts = urlsplit(self.token_url)
        return parts.netloc


@dataclass(frozen=True)
class Config:
    environments: tuple[EnvironmentConfig, ...]
    source: str = "<memory>"
    # Total budget of one run; Lambda replaces it with the invocation's remaining time.
    run_timeout_seconds: float = 600.0
    max_workers: int = 64
    aws_max_attempts: int = 5

    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.environments)

    def get(self, name: str) -> EnvironmentConfig:
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
            raise UsageError(f"unknown environment {unknown[0]!r}; configured: {', '.join(known)}")
        seen: dict[str, EnvironmentConfig] = {}
        for n in names:
            seen.setdefault(n, self.get(n))
        return tuple(seen.values())


# --- validation -------------------------------------------------------------------------------

_REQUIRED = ("token_url", "credentials_secret", "token_secret")
_RUN_KEYS = ("run_timeout_seconds", "max_workers", "aws_max_attempts")


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


def _string(where: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string, got {type(value).__name__}")
    if not value.strip() or value != value.strip():
        raise _fail(where, "must be a non-empty string without surrounding spaces")
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


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_url(where: str, value: object) -> str:
    value = _string(where, value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _fail(where, f"is not a valid URL: {value!r}") from None
    if parts.username or parts.password:
        # Never echo it: the userinfo may be a credential.
        raise _fail(where, "must not contain user:password@; put credentials in the secret")
    if not parts.hostname:
        raise _fail(where, f"must be an absolute https:// URL, got {value!r}")
    if parts.fragment:
        raise _fail(where, "must not contain a #fragment (RFC 6749 §3.2)")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return value
    raise _fail(
        where,
        f"must be an https:// URL (plain http:// is allowed only for loopback hosts), got {value!r}",
    )


_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "token_url": _token_url,
    "credentials_secret": _string,
    "token_secret": _string,
    "scopes": _scopes,
    "auth_method": _auth_method,
    "refresh_margin_seconds": _non_negative_int,
    "max_attempts": _positive_int,
    "timeout_seconds": _positive_number,
    "backoff_initial_seconds": _positive_number,
    "backoff_max_seconds": _positive_number,
    "rate_limit_per_second": _positive_number,
    "rate_limit_burst": _positive_int,
    "rate_limit_lockout_seconds": _positive_int,
    "default_lifetime_seconds": _positive_int,
    "signing_alg": _signing_alg,
    "audience": _string,
    "key_id": _string,
    "endpoint_params": check_endpoint_params,
}
_RUN_CHECKS: dict[str, Callable[[str, object], Any]] = {
    "run_timeout_seconds": _positive_number,
    "max_workers": _positive_int,
    "aws_max_attempts": _positive_int,
}
_ENV_FIELDS = tuple(f.name for f in fields(EnvironmentConfig) if f.name != "name")
assert set(_ENV_FIELDS) == set(_CHECKS), "every environment key needs a check"


def _unknown_key(where: str, key: str, allowed: Sequence[str]) -> ConfigError:
    if key in _SECRET_KEYS:
        return _fail(
            f"{where}.{key}",
            "secrets do not belong in the config file; put them in the credentials secret "
            "(credentials_secret) and remove this key",
        )
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
    return _fail(f"{where}.{key}", f"unknown key{hint}")


def _table(where: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _fail(where, f"must be a table ([{where}]), got {type(value).__name__}")
    return value


def parse_config(data: Mapping[str, object], source: str = "<memory>") -> Config:
    """Validate a parsed TOML document. Raises ``ConfigError`` naming the first problem."""
    for key in data:
        if key not in ("defaults", "environments"):
            raise _unknown_key("config", key, ("defaults", "environments"))

    defaults = dict(_table("defaults", data.get("defaults", {})))
    run_settings: dict[str, Any] = {}
    for key in _RUN_KEYS:
        if key in defaults:
            run_settings[key] = _RUN_CHECKS[key](f"defaults.{key}", defaults.pop(key))
    for key, value in defaults.items():
        if key in _REQUIRED:
            raise _fail(
                f"defaults.{key}",
                "must be set per environment, not in [defaults] (each environment has its own)",
            )
        if key not in _CHECKS:
            raise _unknown_key("defaults", key, tuple(_CHECKS) + _RUN_KEYS)
        _CHECKS[key](f"defaults.{key}", value)

    if "environments" not in data:
        raise _fail("config", "no [environments.NAME] table; configure at least one environment")
    envs_table = _table("environments", data["environments"])
    if not envs_table:
        raise _fail("environments", "is empty; configure at least one [environments.NAME]")

    environments: list[EnvironmentConfig] = []
    for name, raw in envs_table.items():
        where = f"environments.{name}"
        if not _ENV_NAME.match(name):
            raise _fail(where, "environment names use letters, digits, '-', '_' and '.' only")
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
        if env.auth_method != "private_key_jwt":
            for key in ("signing_alg", "audience", "key_id"):
                if key in table:
                    raise _fail(f"{where}.{key}", 'applies only to auth_method = "private_key_jwt"')
        environments.append(env)

    return Config(environments=tuple(environments), source=source, **run_settings)


def load_config_text(text: str, source: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {source} is not valid TOML: {exc}") from None
    try:
        return parse_config(data, source)
    except ConfigError as exc:
        raise ConfigError(f"config {source}: {exc.message}") from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from ``path``, else $SYNC_JOB_CONFIG (a path), else $SYNC_JOB_CONFIG_TOML."""
    if path is None:
        path = os.environ.get(ENV_CONFIG_PATH) or None
    if path is None:
        inline = os.environ.get(ENV_CONFIG_INLINE)
        if inline:
            return load_config_text(inline, f"${ENV_CONFIG_INLINE}")
        raise ConfigError(
            f"no configuration: pass --config PATH or set {ENV_CONFIG_PATH} (see examples/paxos.toml)"
        )
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist; pass --config PATH") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {file} is a directory; pass a TOML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"config file {file} cannot be read: {reason}") from None
    return load_config_text(text, str(file))


__all__ = [
    "AUTH_METHODS",
    "Config",
    "EnvironmentConfig",
    "is_loopback_host",
    "load_config",
    "load_config_text",
    "parse_config",
]
