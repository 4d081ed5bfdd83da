"""private_key_jwt signed by AWS KMS, across the wire: moto's KMS signs (kms:Sign), and the token
endpoint verifies each assertion with nothing but the public key (GetPublicKey's), as a provider
does; the credentials secret holds only the client id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from joserfc import jwk as jose_jwk

from tests.support import aws
from tests.support.harness import Harness
from tests.support.keys import keypair
from tests.support.moto_server import MotoServer
from tests.support.token_server import ClientRequest, Refusal


@pytest.fixture
def kms(moto_server: MotoServer) -> Any:
    return aws.client("kms", moto_server.endpoint)


def kms_key(kms: Any, spec: str) -> tuple[str, str]:
    """A fresh asymmetric signing key in moto's KMS: (key ARN, public key PEM)."""
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["Arn"]
    der = kms.get_public_key(KeyId=arn)["PublicKey"]
    pem = load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return arn, pem


def add_kms_env(
    harness: Harness, name: str, kms_key_id: str, public_pem: str, **table: Any
) -> dict[str, Any]:
    return harness.add_env(
        name,
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public_pem,
        credentials={"client_id": harness.client_id(name)},
        kms_key_id=kms_key_id,
        **table,
    )


def spy_headers(harness: Harness, name: str, public_pem: str, **client: Any) -> list[dict[str, Any]]:
    """Re-register the client with a hook that keeps each verified assertion's header."""
    seen: list[dict[str, Any]] = []

    def spy(req: ClientRequest) -> Refusal | None:
        # Called only once the endpoint has verified the assertion's signature and claims.
        seen.append(jwt.get_unverified_header(req.form["client_assertion"][0]))
        return None

    harness.tokens.add_client(
        harness.client_id(name),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public_pem,
        require=spy,
        **client,
    )
    return seen


@pytest.mark.parametrize(
    ("spec", "signing_alg", "expected"),
    [
        ("RSA_2048", None, "RS256"),
        ("RSA_3072", "PS256", "PS256"),
        ("ECC_NIST_P256", None, "ES256"),  # RS256, the default, means ES256 on an EC key
        ("ECC_NIST_P256", "ES256", "ES256"),
    ],
)
def test_kms_signed_assertion_is_verified_with_the_public_key_only(
    harness: Harness, kms: Any, spec: str, signing_alg: str | None, expected: str
) -> None:
    arn, public = kms_key(kms, spec)
    extra = {"signing_alg": signing_alg} if signing_alg else {}
    add_kms_env(harness, "sandbox", arn, public, **extra)
    headers = spy_headers(harness, "sandbox", public)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"
    assert harness.stored("sandbox") is not None
    # kid: the RFC 7638 thumbprint, computed here by joserfc, not by our code.
    assert headers == [
        {
            "alg": expected,
            "typ": "JWT",
            "kid": jose_jwk.import_key(public, "RSA" if spec.startswith("RSA") else "EC").thumbprint(),
        }
    ]


def test_kms_alias_and_configured_kid(harness: Harness, kms: Any) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    alias = f"alias/sync-job-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    add_kms_env(harness, "sandbox", alias, public, key_id="registered-kid")
    headers = spy_headers(harness, "sandbox", public)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert headers[0]["kid"] == "registered-kid"


def test_another_key_is_invalid_client_and_nothing_is_published(harness: Harness, kms: Any) -> None:
    arn, _ = kms_key(kms, "RSA_2048")
    _, other_public = keypair("rsa")
    add_kms_env(harness, "sandbox", arn, other_public)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_client" in result.json()["results"][0]["error"]
    assert harness.stored("sandbox") is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("AccessDeniedException", "access denied: kms:Sign on key"),
        ("DisabledException", "is disabled or pending deletion"),
        ("ThrottlingException", "throttled"),
    ],
)
def test_kms_refusal_is_one_line_and_keeps_the_stored_token(
    harness: Harness, moto_server: MotoServer, kms: Any, code: str, words: str
) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    add_kms_env(harness, "sandbox", arn, public, max_attempts=2)
    harness.defaults["aws_max_attempts"] = 2  # botocore's standard retries, kept short here
    good = harness.put_due("sandbox")
    moto_server.inject("Sign", code, times=100)  # every call of every attempt
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert words in error and arn in error
    assert harness.stored("sandbox") == good
    assert harness.token_requests("sandbox") == 0  # nothing sent unsigned


def test_kms_throttling_for_a_moment_is_retried(harness: Harness, moto_server: MotoServer, kms: Any) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    add_kms_env(harness, "sandbox", arn, public, max_attempts=2)
    harness.defaults["aws_max_attempts"] = 2
    moto_server.inject("Sign", "ThrottlingException", times=2)  # botocore's two tries of one attempt
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert harness.token_requests("sandbox") == 1  # the throttled attempt sent nothing unsigned


def test_kms_key_of_an_unusable_spec_is_named(harness: Harness, kms: Any) -> None:
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P384")["KeyMetadata"]["Arn"]
    _, public = keypair("ec")
    add_kms_env(harness, "sandbox", arn, public)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "ECC_NIST_P384" in result.json()["results"][0]["error"]


def test_ps256_on_an_ec_key_is_refused_before_any_request(harness: Harness, kms: Any) -> None:
    arn, public = kms_key(kms, "ECC_NIST_P256")
    add_kms_env(harness, "sandbox", arn, public, signing_alg="PS256")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "needs an RSA key" in result.json()["results"][0]["error"]
    assert harness.token_requests("sandbox") == 0


def test_assertions_never_reach_the_logs(harness: Harness, kms: Any) -> None:
    arn, public = kms_key(kms, "ECC_NIST_P256")
    add_kms_env(harness, "sandbox", arn, public)
    assertions: list[str] = []

    def keep(req: ClientRequest) -> Refusal | None:
        assertions.append(req.form["client_assertion"][0])
        return None

    harness.tokens.add_client(
        harness.client_id("sandbox"),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
        require=keep,
    )
    result = harness.cli("run", "--json", level="DEBUG")
    assert result.exit_code == 0, result.stderr
    (assertion,) = assertions
    for part in [assertion, *assertion.split(".")[1:]]:
        assert part not in result.stdout and part not in result.stderr
    secret = json.loads(
        harness.sm.get_secret_value(SecretId=harness.envs["sandbox"]["credentials_secret"])["SecretString"]
    )
    assert secret == {"client_id": harness.client_id("sandbox")}
