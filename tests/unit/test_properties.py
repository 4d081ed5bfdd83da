"""Property-based: any input yields a valid object or the project's own error, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standins.fakes import env_config
from sync_job.config import Config, load_config_text, parse_config
from sync_job.errors import ConfigError, SyncJobError, TokenRequestError
from sync_job.oauth import TokenResponse, parse_response
from sync_job.payload import InvalidPayload, TokenPayload, parse_payload

NOW = datetime(2026, 11, 29, tzinfo=UTC)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = [
    "token_url",
    "credentials_secret",
    "token_secret",
    "scopes",
    "auth_method",
    "refresh_margin_seconds",
    "max_attempts",
    "timeout_seconds",
    "rate_limit_burst",
    "default_lifetime_seconds",
    "signing_alg",
    "run_timeout_seconds",
    "colour",
]
plausible = st.fixed_dictionaries(
    {},
    optional={
        "token_url": st.sampled_from(
            ["https://a.example/t", "http://127.0.0.1:1/t", "http://x/t", "nope", ""]
        )
        | json_values,
        "credentials_secret": st.text(max_size=8) | json_values,
        "token_secret": st.text(max_size=8) | json_values,
        "scopes": st.lists(st.text(max_size=6), max_size=3) | json_values,
        "auth_method": st.sampled_from(["client_secret_post", "client_secret_basic", "private_key_jwt", "x"]),
        "max_attempts": st.integers(-2, 5) | json_values,
        "timeout_seconds": st.floats(allow_nan=True) | json_values,
    },
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "defaults": st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3) | json_values,
        "environments": st.dictionaries(st.text(max_size=6), plausible | json_values, max_size=3)
        | json_values,
    },
) | st.dictionaries(st.text(max_size=8), json_values, max_size=3)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_config_loader_never_raises_anything_else(doc: dict[str, object]) -> None:
    try:
        config = parse_config(doc)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert isinstance(config, Config) and config.environments


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_config_text_never_raises_anything_else(text: str) -> None:
    try:
        load_config_text(text, "fuzz.toml")
    except ConfigError:
        pass


ENV = env_config("e", token_url="https://a.example/t", scopes=None)

answers = st.dictionaries(
    st.sampled_from(["access_token", "token_type", "expires_in", "scope", "error", "error_description", "x"]),
    json_values,
    max_size=6,
)
bodies = answers.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=64)


@settings(max_examples=400)
@given(st.integers(100, 599), bodies, st.sampled_from([None, "5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]))
def test_token_response_parser_never_raises_anything_else(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    try:
        token = parse_response(status, headers, body, env=ENV, issued_at=NOW, now=NOW)
    except TokenRequestError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(token, TokenResponse)
        assert 200 <= status <= 299 and token.expires_in > 0 and token.access_token.reveal()


@settings(max_examples=300)
@given(answers.map(json.dumps) | st.text(max_size=50) | st.none())
def test_stored_payload_parser_never_raises_anything_else(text: str | None) -> None:
    try:
        assert isinstance(parse_payload(text), TokenPayload)
    except InvalidPayload:
        pass


def test_project_errors_share_one_base() -> None:
    assert issubclass(ConfigError, SyncJobError) and issubclass(TokenRequestError, SyncJobError)
