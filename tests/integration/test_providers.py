"""Every examples/providers/*.toml against a local stand-in that enforces that provider's
documented quirk (standins/providers.py), across the real wire: moto's server for Secrets
Manager, a token endpoint on 127.0.0.1 at the provider's URL path shape, the real CLI.

Only token_url and the secret names of an example are rewritten; each positive test runs the
example as written and checks the published token is one the stand-in issued, with the
provider's lifetime. Each negative test removes what the quirk needs and checks the provider's
refusal reaches the operator as one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from standins.harness import Harness
from standins.keys import certificate_pem
from standins.providers import (
    EXAMPLES,
    PROVIDERS,
    Provisioned,
    entra_require,
    load_example,
    provision,
    stand_in,
)
from standins.token_server import ClientRequest, Refusal, TokenServer
from sync_job.config import load_config


@pytest.fixture
def standins() -> Iterator[list[TokenServer]]:
    started: list[TokenServer] = []
    yield started
    for server in started:
        server.stop()


def start(standins: list[TokenServer], name: str, doc: dict[str, Any]) -> TokenServer:
    server = stand_in(name, doc).start()
    standins.append(server)
    return server


def run_example(
    harness: Harness, standins: list[TokenServer], name: str, **kw: Any
) -> tuple[TokenServer, dict[str, Provisioned], Any]:
    doc = load_example(name)
    server = start(standins, name, doc)
    provisioned = provision(harness, name, doc, server, **kw)
    return server, provisioned, harness.cli("run", "--json")


def assert_published(harness: Harness, server: TokenServer, env: str, lifetime: int) -> None:
    stored = harness.stored(env)
    assert stored is not None, f"{env}: no token published"
    assert stored["access_token"] in server.issued
    assert stored["expires_in"] == lifetime
    assert stored["token_url"] == server.url


def test_every_example_has_a_stand_in_and_parses() -> None:
    files = sorted(p.stem for p in EXAMPLES.glob("*.toml"))
    assert files == sorted(PROVIDERS)
    for name in files:
        assert load_config(EXAMPLES / f"{name}.toml").environments


def test_paxos_example_is_the_main_example() -> None:
    assert (
        load_config(EXAMPLES / "paxos.toml").environments
        == load_config(EXAMPLES.parent / "paxos.toml").environments
    )


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_example_publishes_a_token_from_its_stand_in(
    harness: Harness, standins: list[TokenServer], name: str
) -> None:
    server, provisioned, result = run_example(harness, standins, name)
    assert result.exit_code == 0, result.stderr
    outcomes = {r["environment"]: r["outcome"] for r in result.json()["results"]}
    assert outcomes == dict.fromkeys(provisioned, "refreshed")
    for env, record in provisioned.items():
        assert_published(harness, server, env, PROVIDERS[name].lifetime)
        seen = [r for r in server.requests if r.client_id == record.client_id]
        assert [r.status for r in seen] == [200]
        assert seen[0].path == server.token_path
        expected = PROVIDERS[name].forced_method or record.auth_method
        if record.auth_method == "private_key_jwt":
            expected = "private_key_jwt"
        assert seen[0].auth_method_seen == expected


# --- Auth0: audience ------------------------------------------------------------------------------


def test_auth0_sends_audience_and_keeps_the_day_long_token(
    harness: Harness, standins: list[TokenServer]
) -> None:
    server, provisioned, result = run_example(harness, standins, "auth0")
    assert result.exit_code == 0, result.stderr
    request = next(r for r in server.requests if r.client_id == provisioned["production"].client_id)
    assert request.form_lists["audience"] == ["https://api.example.com"]
    # A day-long token with a one-hour margin: the next run finds it fresh and asks for nothing.
    again = harness.cli("run", "--json")
    assert again.json()["results"][0]["outcome"] == "fresh"
    assert server.count(provisioned["production"].client_id) == 1


def test_auth0_without_audience_is_access_denied(harness: Harness, standins: list[TokenServer]) -> None:
    doc = load_example("auth0")
    server = start(standins, "auth0", doc)
    provisioned = provision(harness, "auth0", doc, server)
    del harness.envs["production"]["endpoint_params"]
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "access_denied" in error and "HTTP 403" in error and "audience" in error
    assert server.count(provisioned["production"].client_id) == 1  # refused, not retried
    assert harness.stored("production") is None


# --- Entra ID: certificate assertions -------------------------------------------------------------


def test_entra_assertion_carries_the_certificate_thumbprints(
    harness: Harness, standins: list[TokenServer]
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    doc = load_example("entra")
    server = start(standins, "entra", doc)
    record = provision(harness, "entra", doc, server)["production"]
    captured: list[dict[str, Any]] = []

    def spy(req: ClientRequest) -> Refusal | None:
        # Runs once the stand-in has verified the assertion with the certificate's public key.
        captured.append(jwt.get_unverified_header(req.form["client_assertion"][0]))
        return entra_require(req)

    server.add_client(
        record.client_id,
        scopes=doc["environments"]["production"]["scopes"],
        auth_method="private_key_jwt",
        certificate_pem=record.certificate,
        require=spy,
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert record.certificate is not None
    cert = x509.load_pem_x509_certificate(record.certificate.encode())
    header = captured[0]
    assert header["alg"] == "PS256"
    assert jwt.utils.base64url_decode(header["x5t"]) == cert.fingerprint(hashes.SHA1())
    assert jwt.utils.base64url_decode(header["x5t#S256"]) == cert.fingerprint(hashes.SHA256())
    assert_published(harness, server, "production", 3599)


def test_entra_without_certificate_is_invalid_client(harness: Harness, standins: list[TokenServer]) -> None:
    server, provisioned, result = run_example(harness, standins, "entra", certificate=False)
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_client" in error and "x5t" in error
    assert server.count(provisioned["production"].client_id) == 1
    assert harness.stored("production") is None


def test_entra_refuses_another_certificate_of_the_same_key(
    harness: Harness, standins: list[TokenServer]
) -> None:
    """The stand-in checks the thumbprint, not only the signature: a second certificate of the
    same key verifies the signature but names a certificate the app registration lacks."""
    import json

    doc = load_example("entra")
    server = start(standins, "entra", doc)
    record = provision(harness, "entra", doc, server)["production"]
    assert record.private_key is not None
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(record.private_key.encode(), password=None)
    other = certificate_pem(key, name="not-registered")
    harness.sm.put_secret_value(
        SecretId=harness.envs["production"]["credentials_secret"],
        SecretString=json.dumps(
            {"client_id": record.client_id, "private_key": record.private_key, "certificate": other}
        ),
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_client" in error and "matches no certificate" in error


def test_entra_scope_must_be_dot_default(harness: Harness, standins: list[TokenServer]) -> None:
    doc = load_example("entra")
    server = start(standins, "entra", doc)
    record = provision(harness, "entra", doc, server)["production"]
    server.add_client(  # allowed, so only the stand-in's quirk can refuse it
        record.client_id,
        scopes=["api://11111111-1111-1111-1111-111111111111/Orders.Read"],
        auth_method="private_key_jwt",
        certificate_pem=record.certificate,
        require=PROVIDERS["entra"].require({}),
    )
    harness.envs["production"]["scopes"] = ["api://11111111-1111-1111-1111-111111111111/Orders.Read"]
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_scope" in result.json()["results"][0]["error"]


# --- Cognito: Basic only, resource-server scopes ---------------------------------------------------


def test_cognito_refuses_credentials_in_the_body(harness: Harness, standins: list[TokenServer]) -> None:
    doc = load_example("cognito")
    doc["environments"]["production"]["auth_method"] = "client_secret_post"
    server = start(standins, "cognito", doc)
    provisioned = provision(harness, "cognito", doc, server)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_client" in result.json()["results"][0]["error"]
    seen = [r for r in server.requests if r.client_id == provisioned["production"].client_id]
    assert [r.auth_method_seen for r in seen] == ["client_secret_post"]


def test_cognito_refuses_scopes_without_a_resource_server(
    harness: Harness, standins: list[TokenServer]
) -> None:
    doc = load_example("cognito")
    doc["environments"]["production"]["scopes"] = ["orders.read"]
    server = start(standins, "cognito", doc)
    provision(harness, "cognito", doc, server)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_scope" in error and "resource-server-identifier/scope-name" in error


# --- Okta: a scope is required ---------------------------------------------------------------------


def test_okta_without_scope_is_invalid_scope(harness: Harness, standins: list[TokenServer]) -> None:
    doc = load_example("okta")
    server = start(standins, "okta", doc)
    provision(harness, "okta", doc, server)
    del harness.envs["orders-secret"]["scopes"]
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    by_env = {r["environment"]: r for r in result.json()["results"]}
    assert "invalid_scope" in by_env["orders-secret"]["error"]
    assert by_env["orders-jwt"]["outcome"] == "refreshed"  # one environment's fault stays its own


# --- Keycloak: the Access Token Lifespan and Secrets Manager's version quota ---------------------


def test_keycloak_example_stays_inside_the_write_budget(
    harness: Harness, standins: list[TokenServer]
) -> None:
    # The lifespan raised to an hour as keycloak.toml says: 32 versions a day, no warning.
    server, provisioned, result = run_example(harness, standins, "keycloak")
    assert result.exit_code == 0, result.stderr
    assert all(r["outcome"] == "refreshed" for r in result.json()["results"])
    assert "write budget" not in result.stderr
    again = harness.cli("run", "--json")
    assert {r["outcome"] for r in again.json()["results"]} == {"fresh"}
    assert all(server.count(p.client_id) == 1 for p in provisioned.values())
    check = harness.cli("check", "--json")
    assert check.exit_code == 0, check.stderr


def test_keycloak_realm_default_lifespan_fails_check_and_run_warns(
    harness: Harness, standins: list[TokenServer]
) -> None:
    # The realm default, 300 s: refreshed at half its lifetime on every 5-minute run, 288
    # versions a day, past Secrets Manager's 100 in 24 hours. check fails naming the setting;
    # run still publishes (consumers need the token) and warns with the arithmetic.
    doc = load_example("keycloak")
    server = stand_in("keycloak", doc)
    server.lifetime = 300
    standins.append(server.start())
    provision(harness, "keycloak", doc, server)
    check = harness.cli("check", "--json")
    assert check.exit_code != 0
    for entry in check.json()["environments"]:
        assert entry["ok"] is False
        assert "288 versions a day" in entry["error"]
        assert "Access Token Lifespan" in entry["error"]
    first = harness.cli("run", "--json")
    assert first.exit_code == 0
    for r in first.json()["results"]:
        assert r["outcome"] == "refreshed"
        assert "half its lifetime" in r["warning"]
        assert "over the write budget of 80 a day" in r["warning"]
