"""endpoint_params and certificate-bound client assertions across the real wire: the CLI against
moto's server and the local token endpoint, which records every form field (repeated ones too)
and verifies assertions with the registered certificate's public key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from standins.harness import Harness
from standins.keys import certificate_pem, new_key, private_pem
from standins.token_server import RecordedRequest

RESOURCES = ["https://api.example.com/a", "https://api.example.com/b"]


def requests_of(harness: Harness, name: str) -> list[RecordedRequest]:
    return [r for r in harness.tokens.requests if r.client_id == harness.client_id(name)]


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_string_and_list_values_arrive_as_fields(harness: Harness, auth_method: str) -> None:
    harness.add_env(
        "sandbox",
        auth_method=auth_method,
        endpoint_params={"audience": "https://api.example.com", "resource": RESOURCES},
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    [seen] = requests_of(harness, "sandbox")
    assert seen.status == 200
    assert seen.form_lists["audience"] == ["https://api.example.com"]
    assert seen.form_lists["resource"] == RESOURCES  # repeated fields, in order (RFC 8707)
    assert seen.form_lists["grant_type"] == ["client_credentials"]
    assert seen.form_lists["scope"] == ["funding:read_profile transfer:read_transfer"]


def test_environment_table_replaces_the_defaults_table(harness: Harness) -> None:
    harness.defaults["endpoint_params"] = {"audience": "https://api.example.com"}
    harness.add_env("inherits")
    harness.add_env("own", endpoint_params={"resource": RESOURCES[0]})
    assert harness.cli("run").exit_code == 0
    [inherits] = requests_of(harness, "inherits")
    [own] = requests_of(harness, "own")
    assert inherits.form_lists["audience"] == ["https://api.example.com"]
    assert "resource" not in inherits.form_lists
    assert own.form_lists["resource"] == [RESOURCES[0]]
    assert "audience" not in own.form_lists


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"client_secret": "SECRETMARK-x"}, "endpoint_params.client_secret: is set by the grant itself"),
        ({"scope": "a b"}, "endpoint_params.scope: is set by the grant itself"),
        ({"grant_type": "password"}, "endpoint_params.grant_type: is set by the grant itself"),
        ({"api_key": "SECRETMARK-x"}, "endpoint_params.api_key: looks like a credential"),
        (
            {"audience": "-----BEGIN PRIVATE KEY-----SECRETMARK"},
            "endpoint_params.audience: looks like a credential",
        ),
        ({"audience": 3}, "endpoint_params.audience: must be a string, got int"),
        ({"resource": []}, "endpoint_params.resource: is an empty list"),
        ({"audience": "a\nb"}, "endpoint_params.audience: must not contain control characters"),
    ],
)
def test_refused_params_exit_2_with_one_line(harness: Harness, params: dict[str, Any], expect: str) -> None:
    harness.add_env("sandbox", endpoint_params=params)
    result = harness.cli("run", "--json")  # the harness fails the test if SECRETMARK is echoed
    assert result.exit_code == 2
    assert len(result.error_lines) == 1 and len(result.stderr.strip().splitlines()) == 1
    assert expect in result.error_lines[0]
    assert harness.token_requests("sandbox") == 0


def test_refused_param_in_defaults_names_the_defaults_table(harness: Harness) -> None:
    harness.defaults["endpoint_params"] = {"client_id": "x"}
    harness.add_env("sandbox")
    result = harness.cli("run")
    assert result.exit_code == 2
    assert "defaults.endpoint_params.client_id: is set by the grant itself" in result.error_lines[0]


# --- certificate-bound assertions ---------------------------------------------------------------------


def add_cert_env(
    harness: Harness,
    name: str,
    *,
    alg: str = "PS256",
    stored_cert: str | None = None,
    registered_cert: str | None = None,
    with_cert: bool = True,
    key: Any = None,
) -> None:
    """A private_key_jwt environment whose client the token endpoint knows by certificate."""
    key = key or new_key()
    cert = certificate_pem(key)
    client_id = harness.client_id(name)
    harness.tokens.add_client(
        client_id,
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        certificate_pem=registered_cert or cert,
    )
    doc = {"client_id": client_id, "private_key": private_pem(key)}
    if with_cert:
        doc["certificate"] = stored_cert or cert
    creds = f"{harness.run_id}/{name}/client-credentials"
    harness.sm.create_secret(Name=creds, SecretString=json.dumps(doc))
    harness.sm.create_secret(Name=f"{harness.run_id}/{name}/access-token")
    harness.envs[name] = {
        "token_url": harness.tokens.url,
        "scopes": ["funding:read_profile"],
        "credentials_secret": creds,
        "token_secret": f"{harness.run_id}/{name}/access-token",
        "auth_method": "private_key_jwt",
        "signing_alg": alg,
    }


@pytest.mark.parametrize("alg", ["PS256", "RS256"])
def test_certificate_assertion_is_accepted(harness: Harness, alg: str) -> None:
    add_cert_env(harness, "entra", alg=alg)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    [seen] = requests_of(harness, "entra")
    assert seen.status == 200 and seen.auth_method_seen == "private_key_jwt"


def test_assertion_without_certificate_is_refused_by_a_certificate_endpoint(harness: Harness) -> None:
    add_cert_env(harness, "entra", with_cert=False)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_client" in result.json()["results"][0]["error"]


def test_certificate_of_another_key_is_an_error_naming_the_secret(harness: Harness) -> None:
    other = certificate_pem(new_key())
    add_cert_env(harness, "entra", stored_cert=other)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert error == (
        f"credentials secret {harness.envs['entra']['credentials_secret']}: 'certificate' does not "
        "match 'private_key' (different public key); store the certificate issued for this key"
    )
    assert requests_of(harness, "entra") == []  # found before any token request


@pytest.mark.parametrize(
    ("days", "expect"),
    [((-60, -1), "'certificate' expired at "), ((1, 60), "'certificate' is not valid before ")],
)
def test_certificate_out_of_validity_is_an_error_naming_the_secret(
    harness: Harness, days: tuple[int, int], expect: str
) -> None:
    key = new_key()
    now = datetime.now(UTC)
    stale = certificate_pem(
        key, not_before=now + timedelta(days=days[0]), not_after=now + timedelta(days=days[1])
    )
    add_cert_env(harness, "entra", key=key, stored_cert=stale)
    creds = harness.envs["entra"]["credentials_secret"]
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert error.startswith(f"credentials secret {creds}: {expect}")
    assert requests_of(harness, "entra") == []
