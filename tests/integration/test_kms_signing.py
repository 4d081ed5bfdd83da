"""private_key_jwt signed by AWS KMS, across the wire: moto's KMS signs (kms:Sign), and the token
endpoint verifies each assertion with nothing but the public key (GetPublicKey's), as a provider
does; the credentials secret holds only the client id."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jwk as jose_jwk

from standins.aws import kms_key
from standins.harness import Harness
from standins.keys import keypair
from standins.moto_server import MotoServer
from standins.token_server import REVOCATION_PATH, ClientRequest, Refusal


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


def test_a_kms_quota_refusal_is_not_retried(harness: Harness, moto_server: MotoServer, kms: Any) -> None:
    # KMS answers LimitExceededException for a quota no retry changes (its request-rate quota
    # answers ThrottlingException): botocore's standard mode would send it again, and the one
    # injected refusal would pass unseen on the second attempt (awserrors.FINAL_CODES).
    arn, public = kms_key(kms, "RSA_2048")
    add_kms_env(harness, "sandbox", arn, public, max_attempts=1)
    harness.defaults["aws_max_attempts"] = 3
    good = harness.put_due("sandbox")
    moto_server.inject("Sign", "LimitExceededException", times=1)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert f"KMS kms:Sign on key {arn} failed: LimitExceededException" in error
    assert harness.stored("sandbox") == good
    assert harness.token_requests("sandbox") == 0


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
    signing_input = assertion.rsplit(".", 1)[0].encode()
    # What kms:Sign was sent (botocore logs request bodies at DEBUG) is the assertion too.
    sent = [base64.b64encode(signing_input).decode(), signing_input.decode()]
    for part in [assertion, *assertion.split(".")[1:], *sent]:
        for line in result.stderr.splitlines():
            assert part not in line, line[:600]
        assert part not in result.stdout
    secret = json.loads(
        harness.sm.get_secret_value(SecretId=harness.envs["sandbox"]["credentials_secret"])["SecretString"]
    )
    assert secret == {"client_id": harness.client_id("sandbox")}


# --- what the operator registers: `sync-job jwks`, `sync-job certificate` -------------------------


def test_jwks_of_a_kms_key_is_all_the_endpoint_needs(harness: Harness, kms: Any) -> None:
    arn, _ = kms_key(kms, "ECC_NIST_P256")
    add_kms_env(harness, "sandbox", arn, keypair("ec")[1])  # registered below from the JWKS
    printed = harness.cli("jwks", "sandbox")
    assert printed.exit_code == 0, printed.stderr
    (key,) = json.loads(printed.stdout)["keys"]
    assert key["alg"] == "ES256" and key["use"] == "sig" and "d" not in key
    # The endpoint knows the client by this JWK alone (imported by joserfc, not by our code).
    public = jose_jwk.ECKey.import_key(key).as_pem(private=False).decode()
    headers = spy_headers(harness, "sandbox", public)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert headers[0]["kid"] == key["kid"]


def test_jwks_of_a_pem_key_has_no_private_part(harness: Harness) -> None:
    harness.add_jwt_env("sandbox", "rsa", key_id="k-2026")
    printed = harness.cli("jwks", "sandbox")
    assert printed.exit_code == 0, printed.stderr
    (key,) = json.loads(printed.stdout)["keys"]
    assert key["kid"] == "k-2026" and key["kty"] == "RSA"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_entra_accepts_a_certificate_made_through_kms(harness: Harness, kms: Any) -> None:
    """`sync-job certificate` makes a certificate over the KMS key, signed by kms:Sign; stored
    under "certificate", it is sent as x5t/x5t#S256 and the Entra-like endpoint (which knows the
    client only by that certificate) accepts the PS256 assertion."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from standins.providers import entra_require

    arn, public = kms_key(kms, "RSA_2048")
    scopes = ["api://11111111-1111-1111-1111-111111111111/.default"]
    table = add_kms_env(harness, "production", arn, public, signing_alg="PS256")
    table["scopes"] = scopes
    made = harness.cli(
        "certificate", "production", "--subject", "CN=sync-job production,O=Example", "--days", "30"
    )
    assert made.exit_code == 0, made.stderr
    cert = x509.load_pem_x509_certificate(made.stdout.encode())
    cert.verify_directly_issued_by(cert)  # signed by the KMS key itself
    assert cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode() == public
    assert cert.subject.rfc4514_string() == "CN=sync-job production,O=Example"
    assert 29 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 30
    harness.sm.put_secret_value(
        SecretId=table["credentials_secret"],
        SecretString=json.dumps({"client_id": harness.client_id("production"), "certificate": made.stdout}),
    )
    seen: list[dict[str, Any]] = []

    def entra(req: ClientRequest) -> Refusal | None:
        seen.append(jwt.get_unverified_header(req.form["client_assertion"][0]))
        return entra_require(req)

    harness.tokens.add_client(
        harness.client_id("production"),
        scopes=scopes,
        auth_method="private_key_jwt",
        certificate_pem=made.stdout,
        require=entra,
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert seen[0]["alg"] == "PS256"
    assert jwt.utils.base64url_decode(seen[0]["x5t#S256"]) == cert.fingerprint(hashes.SHA256())
    assert jwt.utils.base64url_decode(seen[0]["x5t"]) == cert.fingerprint(hashes.SHA1())
    # Its notAfter is the credential's end: 30 days from 5 minutes ago is 29 whole days left.
    assert result.json()["results"][0]["credential_days_left"] == 29


def test_a_certificate_of_another_key_is_refused_before_any_request(harness: Harness, kms: Any) -> None:
    from standins.keys import certificate_pem, new_key

    arn, public = kms_key(kms, "RSA_2048")
    table = add_kms_env(harness, "sandbox", arn, public)
    harness.sm.put_secret_value(
        SecretId=table["credentials_secret"],
        SecretString=json.dumps(
            {"client_id": harness.client_id("sandbox"), "certificate": certificate_pem(new_key())}
        ),
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert f"does not match KMS key {arn}" in result.json()["results"][0]["error"]
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("certificate", "pem"), "has no kms_key_id"),
        (("certificate", "kms", "--days", "0"), "--days must be between 1 and 3650"),
        (("certificate", "kms", "--subject", "not a dn"), "is not an RFC 4514 DN"),
        (("jwks", "secret"), "signs nothing"),
    ],
)
def test_registration_commands_refuse_in_one_line(
    harness: Harness, kms: Any, args: tuple[str, ...], words: str
) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    add_kms_env(harness, "kms", arn, public)
    harness.add_jwt_env("pem")
    harness.add_env("secret")
    result = harness.cli(*args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert words in line and result.stdout == ""


def test_revoke_authenticates_with_the_kms_key(harness: Harness, kms: Any) -> None:
    """RFC 7009 revocation authenticates as the token request does: the KMS-signed assertion."""
    arn, public = kms_key(kms, "RSA_2048")
    add_kms_env(harness, "sandbox", arn, public, revocation_url=harness.tokens.revocation_url)
    assert harness.cli("run").exit_code == 0
    assert harness.cli("run", "--force").exit_code == 0
    # The token server is shared by the tests of a worker: only this revoke's requests count.
    before = len(harness.tokens.requests)
    result = harness.cli("revoke", "sandbox", "--json")
    assert result.exit_code == 0, result.stderr
    assert [t["outcome"] for t in result.json()["tokens"]] == ["revoked", "revoked"]
    seen = [r for r in harness.tokens.requests[before:] if r.path == REVOCATION_PATH]
    assert seen and {r.auth_method_seen for r in seen} == {"private_key_jwt"}
