"""The OAuth client's pure parts: request building, response validation, retry decisions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from standins.fakes import env_config as env
from sync_job.bearer import jwt_expiry
from sync_job.credentials import Credentials
from sync_job.errors import InvalidTokenResponse, OAuthError, RateLimitedError, TokenRequestError
from sync_job.oauth import (
    backoff_seconds,
    build_request,
    is_transient_status,
    missing_scopes,
    parse_response,
    parse_retry_after,
)
from sync_job.redact import Secret

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def ok_body(**fields: object) -> bytes:
    doc: dict[str, object] = {
        "access_token": "tok-1234567",
        "expires_in": 3599,
        "scope": "a",
        "token_type": "bearer",
    }
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def parse(status: int, body: bytes, headers: dict[str, str] | None = None, **env_extra: object):  # type: ignore[no-untyped-def]
    return parse_response(
        status,
        headers or {"Content-Type": "application/json"},
        body,
        env=env(**env_extra),
        issued_at=NOW,
        now=NOW,
    )


CREDS = Credentials(client_id="id:%+/=&", client_secret=Secret("s3:%+/=&x-secret"), source="c")


def test_post_request_carries_the_fields_paxos_documents() -> None:
    headers, form = build_request(env(), CREDS, NOW)
    assert form == {
        "grant_type": "client_credentials",
        "scope": "funding:read_profile transfer:read_transfer",
        "client_id": "id:%+/=&",
        "client_secret": "s3:%+/=&x-secret",
    }
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in headers


def test_scope_is_omitted_when_none_configured() -> None:
    _, form = build_request(env(scopes=[]), CREDS, NOW)
    assert "scope" not in form


def test_basic_auth_form_encodes_before_base64() -> None:
    headers, form = build_request(env(auth_method="client_secret_basic"), CREDS, NOW)
    assert "client_secret" not in form and "client_id" not in form
    scheme, value = headers["Authorization"].split(" ")
    assert scheme == "Basic"
    raw = base64.b64decode(value).decode()
    user, password = raw.split(":")  # exactly one ':' survives: the separator
    assert "%3A" in user and unquote(user) == "id:%+/=&"
    assert unquote(password) == "s3:%+/=&x-secret"


def test_valid_answer() -> None:
    token = parse(200, ok_body())
    assert token.access_token.reveal() == "tok-1234567"
    assert token.expires_in == 3599
    assert token.scope == "a"
    assert token.token_type == "bearer"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>login</html>", "not JSON"),
        (ok_body()[:20], "not JSON"),
        (b"[]", "not an object"),
        (ok_body(access_token=""), "non-empty string access_token"),
        (ok_body(access_token=None), "non-empty string access_token"),
        (ok_body(token_type=None), "without a token_type"),
        (ok_body(expires_in=None), "without expires_in"),
        (ok_body(expires_in=0), "non-positive expires_in"),
        (ok_body(expires_in=-5), "non-positive expires_in"),
        (ok_body(expires_in="soon"), "non-numeric expires_in"),
        (ok_body(expires_in=True), "non-numeric expires_in"),
        (ok_body(scope=["a"]), "scope that is not a string"),
    ],
)
def test_malformed_answers_are_rejected_and_not_retried(body: bytes, message: str) -> None:
    with pytest.raises(InvalidTokenResponse, match=message) as info:
        parse(200, body, {"Content-Type": "text/html"})
    assert not info.value.transient
    assert "tok-1234567" not in str(info.value)


def test_expires_in_as_digit_string_is_accepted() -> None:
    assert parse(200, ok_body(expires_in="3600")).expires_in == 3600


def test_oauth_error_answers_are_reported_by_code() -> None:
    body = json.dumps({"error": "invalid_scope", "error_description": "scope x not allowed"}).encode()
    with pytest.raises(OAuthError) as info:
        parse(400, body)
    assert info.value.error == "invalid_scope"
    assert "invalid_scope: scope x not allowed (HTTP 400)" in str(info.value)
    assert not info.value.transient
    with pytest.raises(OAuthError, match="invalid_client"):
        parse(401, json.dumps({"error": "invalid_client"}).encode())


def test_server_errors_are_transient() -> None:
    with pytest.raises(TokenRequestError) as info:
        parse(503, b"busy", {"Retry-After": "2"})
    assert info.value.transient and info.value.retry_after == 2


def test_429_is_transient_and_carries_retry_after() -> None:
    with pytest.raises(RateLimitedError) as info:
        parse(429, b"", {"Retry-After": "7"})
    assert info.value.transient
    assert info.value.retry_after == 7
    assert "rate limited by oauth.sandbox.paxos.com (HTTP 429), retry after 7 s" == str(info.value)


def test_429_without_retry_after_assumes_the_lockout() -> None:
    with pytest.raises(RateLimitedError) as info:
        parse(429, b"")
    assert info.value.retry_after == 300


def test_other_client_errors_are_permanent() -> None:
    with pytest.raises(TokenRequestError, match="HTTP 404") as info:
        parse(404, b"nope", {"Content-Type": "text/plain"})
    assert not info.value.transient
    with pytest.raises(TokenRequestError, match="redirect"):
        parse(302, b"")


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_is_transient_status(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


def test_parse_retry_after() -> None:
    assert parse_retry_after("12", NOW) == 12
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("garbage", NOW) is None
    date = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(date, NOW) == pytest.approx(90)


def test_backoff_is_bounded_full_jitter() -> None:
    assert backoff_seconds(1, 0.5, 30, 1.0) == 0.5
    assert backoff_seconds(3, 0.5, 30, 1.0) == 2.0
    assert backoff_seconds(20, 0.5, 30, 1.0) == 30
    assert backoff_seconds(5, 0.5, 30, 0.0) == 0


def test_missing_scopes() -> None:
    assert missing_scopes(("a", "b"), "b a c") == ()
    assert missing_scopes(("a", "b"), "a") == ("b",)
    assert missing_scopes(("a",), None) == ()  # omitted scope means as requested


def test_missing_expires_in_with_configured_default_and_jwt_exp() -> None:
    token = parse(200, ok_body(expires_in=None), default_lifetime_seconds=1800)
    assert (token.expires_in, token.expires_in_source) == (1800, "configured")
    claims = (
        base64.urlsafe_b64encode(json.dumps({"exp": int(NOW.timestamp()) + 600}).encode())
        .decode()
        .rstrip("=")
    )
    jwt_token = f"eyJhbGciOiJub25lIn0.{claims}.sig"
    token = parse(200, ok_body(expires_in=None, access_token=jwt_token), default_lifetime_seconds=1800)
    assert (token.expires_in, token.expires_in_source) == (600, "jwt")
    assert jwt_expiry("not-a-jwt") is None
