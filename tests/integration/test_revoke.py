"""`sync-job revoke NAME` across the real wire: moto's Secrets Manager and the Authlib token
endpoint's RFC 7009 revocation endpoint (standins/token_server.py)."""

from __future__ import annotations

import time

import pytest

from standins.harness import Harness
from standins.token_server import REVOCATION_PATH, Fault, TokenServer


def _two_tokens(harness: Harness, name: str = "sandbox") -> tuple[str, str]:
    """Two runs: the second token AWSCURRENT, the first AWSPREVIOUS; both issued by the server."""
    assert harness.cli("run", "--env", name).exit_code == 0
    first = harness.stored(name)
    assert harness.cli("run", "--env", name, "--force").exit_code == 0
    second = harness.stored(name)
    assert first and second and first["access_token"] != second["access_token"]
    previous = harness.sm.get_secret_value(SecretId=harness.token_secret(name), VersionStage="AWSPREVIOUS")
    assert previous["SecretString"].count(first["access_token"]) == 1
    return first["access_token"], second["access_token"]


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic", "private_key_jwt"])
def test_revoke_publishes_a_fresh_token_then_revokes_current_and_previous(
    harness: Harness, auth_method: str
) -> None:
    if auth_method == "private_key_jwt":
        harness.add_jwt_env("sandbox", revocation_url=harness.tokens.revocation_url)
    else:
        harness.add_env("sandbox", auth_method=auth_method, revocation_url=harness.tokens.revocation_url)
    previous, current = _two_tokens(harness)
    harness.tokens.reset_stats()

    result = harness.cli("revoke", "sandbox", "--json")

    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["published"] is True and doc["error"] is None
    assert [(t["stage"], t["outcome"]) for t in doc["tokens"]] == [
        ("AWSCURRENT", "revoked"),
        ("AWSPREVIOUS", "revoked"),
    ]
    fresh = harness.stored("sandbox")
    assert fresh is not None and fresh["access_token"] not in (previous, current)
    assert not harness.tokens.is_active(previous) and not harness.tokens.is_active(current)
    assert harness.tokens.is_active(fresh["access_token"])
    # The order the runbook argues: the fresh token is published before anything is revoked.
    paths = [r.path for r in harness.tokens.requests]
    assert paths == [harness.tokens.token_path, REVOCATION_PATH, REVOCATION_PATH]
    seen = [r for r in harness.tokens.requests if r.path == REVOCATION_PATH]
    assert all(r.status == 200 and r.form["token_type_hint"] == "access_token" for r in seen)
    assert {r.auth_method_seen for r in seen} == {auth_method}


def test_revoke_human_output_names_each_token(harness: Harness) -> None:
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url)
    _two_tokens(harness)
    result = harness.cli("revoke", "sandbox")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sandbox: published a fresh token, expires ")
    assert lines[1].startswith("sandbox: AWSCURRENT token (version ") and lines[1].endswith(": revoked")
    assert lines[2].startswith("sandbox: AWSPREVIOUS token (version ") and lines[2].endswith(": revoked")


def test_without_revocation_url_it_publishes_and_says_the_old_token_stays_valid(harness: Harness) -> None:
    harness.add_env("sandbox")
    previous, current = _two_tokens(harness)
    result = harness.cli("revoke", "sandbox", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["published"] is True
    assert {t["outcome"] for t in doc["tokens"]} == {"not_revocable"}
    (error,) = result.error_lines
    assert "not revoked: no revocation_url is configured for sandbox" in error
    assert "Auth0, Entra ID and Cognito cannot revoke access tokens" in error
    assert "the old tokens stay valid until 20" in error
    assert harness.tokens.is_active(previous) and harness.tokens.is_active(current)
    assert harness.tokens.revocations(harness.client_id("sandbox")) == 0


def test_a_provider_that_cannot_revoke_access_tokens_is_reported(harness: Harness) -> None:
    # Auth0-like: its revocation endpoint revokes refresh tokens only; an access token hint is
    # answered unsupported_token_type (RFC 7009 §2.2.1).
    with TokenServer() as server:
        server.revocable_types = ("refresh_token",)
        harness.add_env("sandbox", server=server, revocation_url=server.revocation_url)
        previous, current = _two_tokens(harness)
        result = harness.cli("revoke", "sandbox", "--json")
        assert result.exit_code == 1
        doc = result.json()
        assert {t["outcome"] for t in doc["tokens"]} == {"not_revocable"}
        assert "cannot revoke access tokens (unsupported_token_type)" in doc["tokens"][0]["detail"]
        assert server.revocations() == 2  # not retried: it will not change its mind
        assert server.is_active(previous) and server.is_active(current)


def test_nothing_is_revoked_when_no_fresh_token_can_be_published(harness: Harness) -> None:
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url, max_attempts=2)
    _previous, current = _two_tokens(harness)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.oauth_error(401, "invalid_client")])
    result = harness.cli("revoke", "sandbox", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["published"] is False
    assert {t["outcome"] for t in doc["tokens"]} == {"skipped"}
    assert "nothing revoked, so consumers keep a working token" in doc["error"]
    assert "--without-replacement" in doc["error"]
    assert harness.tokens.revocations(harness.client_id("sandbox")) == 0
    assert harness.stored("sandbox")["access_token"] == current  # type: ignore[index]
    assert harness.tokens.is_active(current)


def test_without_replacement_revokes_anyway_and_says_consumers_hold_a_revoked_token(
    harness: Harness,
) -> None:
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url, max_attempts=1)
    previous, current = _two_tokens(harness)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.oauth_error(401, "invalid_client")])
    result = harness.cli("revoke", "sandbox", "--without-replacement", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["published"] is False
    assert {t["outcome"] for t in doc["tokens"]} == {"revoked"}
    assert "consumers hold a revoked token until a run publishes one" in doc["error"]
    assert not harness.tokens.is_active(previous) and not harness.tokens.is_active(current)


def test_a_transient_revocation_failure_is_retried(harness: Harness) -> None:
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url)
    previous, current = _two_tokens(harness)
    # The token request answers normally (a zero hang), then the first revocation gets a 503.
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(0), Fault.status(503, "busy")])
    result = harness.cli("revoke", "sandbox", "--json")
    assert result.exit_code == 0, result.stderr
    assert harness.tokens.revocations(harness.client_id("sandbox")) == 3
    assert not harness.tokens.is_active(previous) and not harness.tokens.is_active(current)


def test_a_revocation_endpoint_that_never_answers_is_bounded(harness: Harness) -> None:
    harness.add_env(
        "sandbox", revocation_url=harness.tokens.revocation_url, max_attempts=2, timeout_seconds=1
    )
    previous, _current = _two_tokens(harness)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(0)] + [Fault.hang(60)] * 4)
    started = time.monotonic()
    result = harness.cli("revoke", "sandbox", "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    doc = result.json()
    assert doc["published"] is True
    assert {t["outcome"] for t in doc["tokens"]} == {"failed"}
    assert "no answer from 127.0.0.1" in doc["tokens"][0]["detail"]
    assert "stay valid until" in doc["error"]
    # Two tokens x two attempts x 1 s, plus backoff: well under the hangs' 60 s.
    assert elapsed < 10, elapsed
    assert harness.tokens.is_active(previous)


def test_revoke_of_an_unknown_environment_is_a_usage_error(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("revoke", "nope")
    assert result.exit_code == 2
    assert result.error_lines == ["sync-job: error: unknown environment 'nope'; configured: sandbox"]
