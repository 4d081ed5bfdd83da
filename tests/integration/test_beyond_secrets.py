"""private_key_jwt client authentication and providers without expires_in, across the real wire."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from standins.fakes import env_config
from standins.harness import Harness, assert_no_leak
from standins.keys import key_body, keypair
from standins.token_server import Fault
from sync_job.credentials import Credentials, parse_credentials
from sync_job.errors import CredentialsError
from sync_job.oauth import build_request
from sync_job.redact import Secret
from sync_job.timeutil import parse_rfc3339


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256")])
def test_private_key_jwt_end_to_end(harness: Harness, kind: str, alg: str) -> None:
    private = harness.add_jwt_env("sandbox", kind, signing_alg=alg)
    first = harness.cli("run", "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["results"][0]["outcome"] == "refreshed"
    # A second, forced run signs a new assertion (new jti), which the server accepts.
    second = harness.cli("run", "--force", "--json")
    assert second.exit_code == 0, second.stderr
    seen = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert [r.status for r in seen] == [200, 200]
    assert all(r.auth_method_seen == "private_key_jwt" for r in seen)
    assert all("client_secret" not in r.form for r in seen)
    for piece in key_body(private):
        for out in (first, second):
            assert piece not in out.stdout and piece not in out.stderr


def test_wrong_audience_is_rejected_and_not_retried(harness: Harness) -> None:
    harness.add_jwt_env("sandbox", audience="https://someone-else.example/oauth2/token")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_client" in result.json()["results"][0]["error"]
    assert harness.token_requests("sandbox") == 1
    assert harness.stored("sandbox") is None


@pytest.mark.parametrize(
    ("stored_key", "alg", "error"),
    [
        (
            "-----BEGIN PRIVATE KEY-----\nSECRETMARKnotakey\n-----END PRIVATE KEY-----\n",
            "RS256",
            "'private_key' is not an unencrypted PEM private key",
        ),
        (None, "ES256", "private_key cannot sign ES256"),  # an RSA key where EC is configured
    ],
)
def test_bad_private_key_is_a_clear_error_naming_the_secret(
    harness: Harness, stored_key: str | None, alg: str, error: str
) -> None:
    harness.add_jwt_env("sandbox", "rsa", stored_key=stored_key, signing_alg=alg)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    message = result.json()["results"][0]["error"]
    assert error in message
    assert harness.envs["sandbox"]["credentials_secret"] in message
    assert harness.token_requests("sandbox") == 0


def test_assertion_claims() -> None:
    private, _ = keypair("ec")
    env = env_config(
        "e",
        token_url="https://idp.example/oauth2/token",
        scopes=None,
        auth_method="private_key_jwt",
        signing_alg="ES256",
    )
    creds = Credentials("client-1", private_key=Secret(private), key_id="k1", source="c")
    now = datetime.now(UTC)
    _, form = build_request(env, creds, now)
    _, form2 = build_request(env, creds, now)
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form
    assertion, other_assertion = form["client_assertion"], form2["client_assertion"]
    assert isinstance(assertion, str) and isinstance(other_assertion, str)
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "ES256" and header["kid"] == "k1"
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["iss"] == claims["sub"] == "client-1"
    assert claims["aud"] == "https://idp.example/oauth2/token"
    assert 0 < claims["exp"] - claims["iat"] <= 300
    other = jwt.decode(other_assertion, options={"verify_signature": False})
    assert other["jti"] != claims["jti"]


def test_private_key_is_redacted_in_reprs() -> None:
    private, _ = keypair("rsa")
    creds = parse_credentials(json.dumps({"client_id": "c", "private_key": private}), "s", "private_key_jwt")
    body = key_body(private)[0]
    assert body not in repr(creds) and body not in str(creds)
    # A private_key_jwt secret may hold no key (KMS or federated); a PEM environment then
    # fails when its assertion is made.
    keyless = parse_credentials(json.dumps({"client_id": "c", "client_secret": "x"}), "s", "private_key_jwt")
    assert keyless.private_key is None
    with pytest.raises(CredentialsError, match="lacks 'private_key'"):
        build_request(env_config("x", auth_method="private_key_jwt"), keyless, datetime.now(UTC))


# --- providers that omit expires_in ---------------------------------------------------------------


def test_missing_expires_in_uses_the_configured_lifetime(harness: Harness) -> None:
    harness.add_env("sandbox", default_lifetime_seconds=1800)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=None)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = harness.stored("sandbox")
    assert doc is not None
    assert doc["expires_in"] == 1800 and doc["expires_in_source"] == "configured"
    assert parse_rfc3339(doc["expires_at"]) - parse_rfc3339(doc["issued_at"]) == timedelta(seconds=1800)


def test_missing_expires_in_prefers_the_jwt_exp_claim(harness: Harness) -> None:
    harness.add_env("sandbox", default_lifetime_seconds=1800)
    exp = int(time.time()) + 600
    claims = base64.urlsafe_b64encode(json.dumps({"exp": exp, "sub": "x"}).encode()).decode().rstrip("=")
    access_token = f"eyJhbGciOiJSUzI1NiJ9.{claims}.LEAKMARK{uuid.uuid4().hex}"
    harness.tokens.script(
        harness.client_id("sandbox"), [Fault.token(expires_in=None, access_token=access_token)]
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = harness.stored("sandbox")
    assert doc is not None and doc["expires_in_source"] == "jwt"
    assert abs(parse_rfc3339(doc["expires_at"]).timestamp() - exp) <= 2
    assert_no_leak(result.stdout, result.stderr)


def test_server_expires_in_wins_over_the_configured_lifetime(harness: Harness) -> None:
    harness.add_env("sandbox", default_lifetime_seconds=1800)
    assert harness.cli("run").exit_code == 0
    doc = harness.stored("sandbox")
    assert doc is not None and doc["expires_in"] == 3599 and "expires_in_source" not in doc
