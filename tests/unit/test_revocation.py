"""The pure half of `sync-job revoke`: the RFC 7009 request and the judgement of its answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.payload import TokenPayload
from sync_job.redact import Secret
from sync_job.revocation import (
    HeldToken,
    Revoked,
    build_revocation_request,
    judge_revocation,
    revocation_error,
    stop_before_revoking,
)
from sync_job.store import StoredToken

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _env(auth_method: str = "client_secret_post") -> EnvironmentConfig:
    return EnvironmentConfig(
        name="sandbox",
        token_url="https://oauth.sandbox.paxos.com/oauth2/token",
        credentials_secret="c",
        token_secret="t",
        auth_method=auth_method,
        scopes=("funding:read_profile",),
        endpoint_params=(("audience", "https://api"),),
        revocation_url="https://oauth.sandbox.paxos.com/oauth2/revoke",
    )


def _judge(status: int, body: object = b"", headers: dict[str, str] | None = None) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return judge_revocation(status, headers or {}, raw, host="h", now=NOW, show_server_text=True)


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_request_carries_the_token_the_hint_and_the_token_request_s_client_auth(auth_method: str) -> None:
    creds = Credentials(client_id="id", client_secret=Secret("s3cret-value"), source="c")
    headers, form = build_revocation_request(_env(auth_method), creds, Secret("tok-abc"), NOW)
    assert form["token"] == "tok-abc" and form["token_type_hint"] == "access_token"
    # Nothing of the grant: no grant_type, scope or endpoint_params (RFC 7009 §2.1).
    assert not {"grant_type", "scope", "audience"} & set(form)
    if auth_method == "client_secret_basic":
        assert headers["Authorization"].startswith("Basic ") and "client_secret" not in form
    else:
        assert form["client_id"] == "id" and form["client_secret"] == "s3cret-value"
        assert "Authorization" not in headers


def test_200_is_revoked_whatever_the_body() -> None:
    assert _judge(200, b"").outcome is Revoked.REVOKED  # type: ignore[attr-defined]
    assert _judge(200, b"<html>").outcome is Revoked.REVOKED  # type: ignore[attr-defined]


def test_unsupported_token_type_is_not_revocable_and_not_retried() -> None:
    answer = _judge(400, {"error": "unsupported_token_type"})
    assert answer.outcome is Revoked.NOT_REVOCABLE and not answer.transient  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "headers", "transient", "retry_after"),
    [
        (503, {"Retry-After": "7"}, True, 7.0),
        (500, {}, True, None),
        (408, {}, True, None),
        (401, {}, False, None),
    ],
)
def test_statuses(status: int, headers: dict[str, str], transient: bool, retry_after: float | None) -> None:
    answer = _judge(status, {"error": "invalid_client"}, headers)
    assert answer.outcome is Revoked.FAILED  # type: ignore[attr-defined]
    assert answer.transient is transient and answer.retry_after == retry_after  # type: ignore[attr-defined]
    assert answer.detail == f"h answered HTTP {status} invalid_client"  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [301, 302, 404, 405])
def test_not_an_endpoint(status: int) -> None:
    answer = _judge(status, b"")
    assert answer.outcome is Revoked.FAILED and not answer.transient  # type: ignore[attr-defined]
    assert "revocation_url is not" in answer.detail  # type: ignore[attr-defined]


def test_server_text_is_untrusted() -> None:
    answer = _judge(400, {"error": "\x1b[31mevil\nline"})
    assert "\x1b" not in answer.detail and "\n" not in answer.detail  # type: ignore[attr-defined]
    withheld = judge_revocation(
        400, {}, json.dumps({"error": "odd"}).encode(), host="h", now=NOW, show_server_text=False
    )
    assert withheld.detail == "h answered HTTP 400 [withheld]"


# --- revoke's decisions between the steps (pure) -------------------------------------------------


def _held(stage: str, hours: int) -> HeldToken:
    payload = TokenPayload(
        access_token=Secret(f"tok-held-{stage}"),
        token_type="Bearer",
        expires_in=3600,
        expires_at=NOW + timedelta(hours=hours),
        issued_at=NOW,
        scope="funding:read_profile",
        environment="sandbox",
        token_url="https://oauth.sandbox.paxos.com/oauth2/token",
        client_id="id",
    )
    return HeldToken(stage, StoredToken(payload=payload, version_id=f"v-{stage}"), payload)


_BOTH = (_held("AWSCURRENT", 2), _held("AWSPREVIOUS", 1))


@pytest.mark.parametrize(
    ("held", "published", "without_replacement", "url", "outcomes", "error"),
    [
        ((), True, False, True, (), None),  # nothing held, a fresh token: done
        ((), False, False, True, (), "no fresh token: failed; nothing stored to revoke"),
        (_BOTH, False, False, True, (Revoked.SKIPPED,) * 2, "no fresh token could be published (failed)"),
        (_BOTH, False, True, True, None, None),  # asked to revoke anyway: go on
        (_BOTH, True, False, False, (Revoked.NOT_REVOCABLE,) * 2, "no revocation_url is configured"),
        (_BOTH, True, False, True, None, None),  # go on
    ],
)
def test_stop_before_revoking(
    held: tuple[HeldToken, ...],
    published: bool,
    without_replacement: bool,
    url: bool,
    outcomes: tuple[Revoked, ...] | None,
    error: str | None,
) -> None:
    env = _env() if url else replace(_env(), revocation_url=None)
    stop = stop_before_revoking(env, held, published, "failed", without_replacement)
    if outcomes is None:
        assert stop is None
        return
    assert stop is not None
    assert tuple(t.outcome for t in stop.tokens) == outcomes
    assert [t.stage for t in stop.tokens] == [h.stage for h in held]
    if error is None:
        assert stop.error is None
    else:
        assert stop.error is not None and error in stop.error and "\n" not in stop.error
    if not url:  # the later expiry is when the old tokens stop working
        assert stop.error is not None and stop.error.endswith("2026-01-01T02:00:00Z")


def test_revocation_error_names_what_stays_valid_until_when() -> None:
    revoked = tuple(h.fate(Revoked.REVOKED) for h in _BOTH)
    assert revocation_error(revoked, published=True) is None
    assert "no fresh token is stored" in (revocation_error(revoked, published=False) or "")
    mixed = (_BOTH[0].fate(Revoked.REVOKED), _BOTH[1].fate(Revoked.FAILED, "h answered HTTP 500"))
    error = revocation_error(mixed, published=True)
    assert error == (
        "1 of 2 old token(s) not revoked (h answered HTTP 500); they stay valid until 2026-01-01T01:00:00Z"
    )
