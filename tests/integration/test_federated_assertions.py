"""Federated client assertions, across the wire: no client credential at all. The assertion is
a JWT of a trusted issuer (AWS STS's GetWebIdentityToken, from standins/sts_server.py, or a
token file a Kubernetes-like issuer writes), and the token endpoint verifies it the way Entra ID
verifies a federated identity credential: the issuer's JWKS, then iss, sub, aud and lifetime."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from standins.harness import Harness, assert_not_in
from standins.sts_server import ENTRA_AUDIENCE, ROLE_ARN, SERVICE_ACCOUNT, JwtIssuer, StsStandIn
from standins.token_server import FederatedTrust


@pytest.fixture
def issuer() -> Iterator[JwtIssuer]:
    with JwtIssuer() as server:
        yield server


def add_federated_env(
    harness: Harness, name: str, trust: FederatedTrust, seen: list[str] | None = None, **table: Any
) -> dict[str, Any]:
    """An environment whose credentials secret holds only the client id, registered at the token
    endpoint by ``trust`` alone; ``seen`` collects each accepted assertion."""
    creds_name = f"{harness.run_id}/{name}/client-credentials"
    token_name = f"{harness.run_id}/{name}/access-token"
    harness.sm.create_secret(Name=creds_name, SecretString=json.dumps({"client_id": harness.client_id(name)}))
    harness.sm.create_secret(Name=token_name)

    harness.add_assertion_client(name, seen, federated=trust)
    harness.envs[name] = {
        "token_url": harness.tokens.url,
        "scopes": ["funding:read_profile"],
        "credentials_secret": creds_name,
        "token_secret": token_name,
        "auth_method": "private_key_jwt",
        **table,
    }
    return harness.envs[name]


# --- AWS STS: sts:GetWebIdentityToken ---------------------------------------------------------------


def test_sts_token_is_the_client_assertion_and_nothing_is_stored(harness: Harness, sts: StsStandIn) -> None:
    seen: list[str] = []
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(sts.url, ROLE_ARN, ENTRA_AUDIENCE),
        seen,
        client_assertion_source="aws_sts",
        client_assertion_audience=ENTRA_AUDIENCE,
    )
    result = harness.cli("run", "--json", level="DEBUG")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"
    assert seen == sts.issued  # one web-identity token, fetched for the one request, sent as is
    (request,) = sts.requests
    assert request["Audience.member.1"] == [ENTRA_AUDIENCE]
    assert request["DurationSeconds"] == ["300"] and request["SigningAlgorithm"] == ["RS256"]
    assert_not_in((result.stdout, result.stderr), *sts.issued)


def test_sts_es384_with_a_longer_lifetime(harness: Harness, sts: StsStandIn) -> None:
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(sts.url, ROLE_ARN, "api://keycloak-broker"),
        client_assertion_source="aws_sts",
        client_assertion_audience="api://keycloak-broker",
        client_assertion_lifetime_seconds=900,
        client_assertion_signing_alg="ES384",
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    (request,) = sts.requests
    assert request["DurationSeconds"] == ["900"] and request["SigningAlgorithm"] == ["ES384"]


@pytest.mark.parametrize(
    ("trust", "words"),
    [
        (lambda url: FederatedTrust(url, ROLE_ARN, "api://other-audience"), "aud"),
        (lambda url: FederatedTrust(url, "arn:aws:iam::123456789012:role/other", ENTRA_AUDIENCE), "sub"),
        (lambda url: FederatedTrust("http://127.0.0.1:9/not-the-issuer", ROLE_ARN, ENTRA_AUDIENCE), "issuer"),
    ],
)
def test_endpoint_refuses_a_token_for_another_trust(
    harness: Harness, sts: StsStandIn, trust: Any, words: str
) -> None:
    add_federated_env(
        harness,
        "sandbox",
        trust(sts.url),
        client_assertion_source="aws_sts",
        client_assertion_audience=ENTRA_AUDIENCE,
    )
    good = harness.put_due("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_client" in error and words in error
    assert harness.stored("sandbox") == good


def test_federation_disabled_is_one_line_naming_the_fix(harness: Harness, sts: StsStandIn) -> None:
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(sts.url, ROLE_ARN, ENTRA_AUDIENCE),
        client_assertion_source="aws_sts",
        client_assertion_audience=ENTRA_AUDIENCE,
    )
    sts.fail_next("OutboundWebIdentityFederationDisabledException", 403, times=10)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "iam:EnableOutboundWebIdentityFederation" in result.json()["results"][0]["error"]
    assert harness.token_requests("sandbox") == 0


def test_sts_throttling_is_retried(harness: Harness, sts: StsStandIn) -> None:
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(sts.url, ROLE_ARN, ENTRA_AUDIENCE),
        client_assertion_source="aws_sts",
        client_assertion_audience=ENTRA_AUDIENCE,
    )
    sts.fail_next("Throttling", 400, times=1)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert len(sts.requests) == 2 and sts.calls == 1


def test_check_names_the_credential_kind(harness: Harness, sts: StsStandIn) -> None:
    add_federated_env(
        harness,
        "federated",
        FederatedTrust(sts.url, ROLE_ARN, ENTRA_AUDIENCE),
        client_assertion_source="aws_sts",
        client_assertion_audience=ENTRA_AUDIENCE,
    )
    harness.add_env("secret")
    harness.add_jwt_env("pem")
    result = harness.cli("check", "--json")
    assert result.exit_code == 0, result.stderr
    kinds = {e["environment"]: e["credential"] for e in result.json()["environments"]}
    assert kinds == {"federated": "aws_sts", "secret": "client_secret", "pem": "private_key"}
    table = harness.cli("check")
    assert "aws_sts" in table.stdout and "client_secret" in table.stdout


# --- a token file: Kubernetes projected service-account token, SPIFFE JWT-SVID ------------------------


def test_token_file_is_reread_for_every_request(harness: Harness, issuer: JwtIssuer, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(issuer.mint(SERVICE_ACCOUNT, ENTRA_AUDIENCE, 3600) + "\n")
    seen: list[str] = []
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(issuer.url, SERVICE_ACCOUNT, ENTRA_AUDIENCE),
        seen,
        client_assertion_file=str(path),
    )
    first = harness.cli("run", "--json")
    assert first.exit_code == 0, first.stderr
    # kubelet rotates the projected token: the next request sends the new one.
    path.write_text(issuer.mint(SERVICE_ACCOUNT, ENTRA_AUDIENCE, 3600))
    second = harness.cli("run", "--json", "--force")
    assert second.exit_code == 0, second.stderr
    assert seen == issuer.issued and len(set(seen)) == 2
    assert_not_in((first.stdout, first.stderr, second.stdout, second.stderr), *issuer.issued)


def test_spiffe_jwt_svid_from_a_file(harness: Harness, issuer: JwtIssuer, tmp_path: Path) -> None:
    spiffe_id = "spiffe://example.org/ns/payments/sa/sync-job"
    path = tmp_path / "svid.jwt"
    path.write_text(issuer.mint(spiffe_id, "https://idp.example/token", 300, alg="ES384"))
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(issuer.url, spiffe_id, "https://idp.example/token"),
        client_assertion_file=str(path),
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("not a jwt", "is not a compact JWT"),
        ("expired", "expired"),
        ("x" * 70000, "larger than"),
    ],
)
def test_unusable_token_file_is_one_line_and_sends_nothing(
    harness: Harness, issuer: JwtIssuer, tmp_path: Path, content: str | None, words: str
) -> None:
    path = tmp_path / "token"
    if content == "expired":
        content = issuer.mint(SERVICE_ACCOUNT, ENTRA_AUDIENCE, 60, now=time.time() - 3600)
    if content is not None:
        path.write_text(content)
    add_federated_env(
        harness,
        "sandbox",
        FederatedTrust(issuer.url, SERVICE_ACCOUNT, ENTRA_AUDIENCE),
        client_assertion_file=str(path),
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert words in error and str(path) in error
    assert harness.token_requests("sandbox") == 0
    assert_not_in((result.stdout, result.stderr), *issuer.issued)
