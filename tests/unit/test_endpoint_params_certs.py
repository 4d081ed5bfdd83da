"""Unit tests: endpoint_params validation and form building; certificate thumbprints (x5t,
x5t#S256) and their checks; PS256."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from standins.keys import certificate_pem, new_key, private_pem
from sync_job.certs import _b64url, certificate_thumbprints, thumbprints_of_der
from sync_job.config import EnvironmentConfig, parse_config
from sync_job.credentials import Credentials, parse_credentials
from sync_job.errors import ConfigError, CredentialsError
from sync_job.oauth import build_request
from sync_job.params import GRANT_FIELDS, check_endpoint_params, form_fields
from sync_job.redact import Secret

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
W = "environments.e.endpoint_params"


def config(env: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None) -> Any:
    table = {"token_url": "https://idp.example/oauth2/token", "credentials_secret": "c", "token_secret": "t"}
    doc: dict[str, Any] = {"environments": {"e": {**table, **(env or {})}}}
    if defaults:
        doc["defaults"] = defaults
    return parse_config(doc)


# --- endpoint_params --------------------------------------------------------------------------------


def test_strings_and_lists_become_pairs_in_order() -> None:
    pairs = check_endpoint_params(W, {"audience": "https://api.example.com", "resource": ["a", "b"]})
    assert pairs == (("audience", "https://api.example.com"), ("resource", "a"), ("resource", "b"))
    assert form_fields(pairs) == {"audience": "https://api.example.com", "resource": ["a", "b"]}


@pytest.mark.parametrize("name", sorted(GRANT_FIELDS))
def test_fields_the_grant_sets_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{W}\.{name}: is set by the grant itself"):
        check_endpoint_params(W, {name: "x"})


@pytest.mark.parametrize(
    "name", ["password", "Client_Secret", "refresh_token", "x-api-key", "privateKey", "secret"]
)
def test_credential_like_names_are_refused(name: str) -> None:
    # Client_Secret is a grant field whatever its case (issue 18 §5): refused as one.
    with pytest.raises(ConfigError, match="looks like a credential|is set by the grant itself"):
        check_endpoint_params(W, {name: "value-not-echoed"})


@pytest.mark.parametrize(
    "value",
    [
        "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ.c2lnbmF0dXJl",
        "Bearer abcdefghijklmnop",
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    ],
)
def test_credential_like_values_are_refused_without_echo(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_endpoint_params(W, {"audience": value})
    assert "looks like a credential" in info.value.message
    assert value not in info.value.message and value[:12] not in info.value.message


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("audience=x", "must be a table"),
        ({"audience": 3}, "audience: must be a string, got int"),
        ({"audience": True}, "audience: must be a string, got bool"),
        ({"audience": {"nested": "x"}}, "audience: must be a string, got dict"),
        ({"resource": ["a", 2]}, r"resource\[1\]: must be a string, got int"),
        ({"resource": []}, "resource: is an empty list"),
        ({"audience": ""}, "must be a non-empty string"),
        ({"audience": " https://api "}, "without surrounding spaces"),
        ({"audience": "a\tb"}, "control characters"),
        ({"audience": "a\x7fb"}, "control characters"),
        ({"": "x"}, "field names are 1-128 visible ASCII"),
        ({"my field": "x"}, "field names are 1-128 visible ASCII"),
        ({"naïve": "x"}, "field names are 1-128 visible ASCII"),
        ({"a": "x" * 2049}, "longer than 2048"),
        ({f"f{i}": "x" for i in range(33)}, "more than 32 fields"),
    ],
)
def test_bad_tables_are_one_line_errors(table: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as info:
        check_endpoint_params(W, table)
    assert info.value.message.startswith(W) and "\n" not in info.value.message


def test_config_keeps_params_hashable_and_env_table_replaces_defaults() -> None:
    inherited = config(defaults={"endpoint_params": {"audience": "A"}}).get("e")
    assert inherited.endpoint_params == (("audience", "A"),)
    hash(inherited)  # frozen, hashable: usable as a dict key like before
    own = config(
        env={"endpoint_params": {"resource": ["R1", "R2"]}}, defaults={"endpoint_params": {"audience": "A"}}
    )
    assert own.get("e").endpoint_params == (("resource", "R1"), ("resource", "R2"))
    assert config().get("e").endpoint_params == ()


def test_refused_param_in_defaults_is_reported_where_it_is_written() -> None:
    with pytest.raises(ConfigError, match=r"^defaults\.endpoint_params\.scope: is set by the grant"):
        config(defaults={"endpoint_params": {"scope": "x"}})


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_build_request_adds_params_without_touching_the_grant(method: str) -> None:
    env = config(
        env={
            "auth_method": method,
            "scopes": ["s"],
            "endpoint_params": {"audience": "A", "resource": ["x", "y"]},
        }
    )
    creds = Credentials("id", client_secret=Secret("sec"), source="c")
    _, form = build_request(env.get("e"), creds, NOW)
    assert form["audience"] == "A" and form["resource"] == ["x", "y"]
    assert form["grant_type"] == "client_credentials" and form["scope"] == "s"


# --- certificates ------------------------------------------------------------------------------------


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_x5t_encoding_matches_microsofts_documented_example() -> None:
    # learn.microsoft.com certificate-credentials: hash 84E05C1D...5534 -> x5t hOBcHZi846VCHSJbFAs26Go9VTQ
    assert _b64url(bytes.fromhex("84E05C1D98BCE3A5421D225B140B36E86A3D5534")) == "hOBcHZi846VCHSJbFAs26Go9VTQ"


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_thumbprints_equal_cryptographys_fingerprints(kind: str) -> None:
    key = new_key(kind)
    pem = certificate_pem(key)
    cert = cert_of(pem)
    x5t, x5t_s256 = thumbprints_of_der(cert.public_bytes(serialization.Encoding.DER))
    assert base64.urlsafe_b64decode(x5t + "=") == cert.fingerprint(hashes.SHA1())
    assert base64.urlsafe_b64decode(x5t_s256 + "=") == cert.fingerprint(hashes.SHA256())
    assert len(x5t) == 27 and len(x5t_s256) == 43 and "=" not in x5t + x5t_s256
    found = certificate_thumbprints(pem, Secret(private_pem(key)), "s")
    assert found is not None and (found.x5t, found.x5t_s256) == (x5t, x5t_s256)


def test_a_chain_is_accepted_and_its_first_certificate_used() -> None:
    key = new_key()
    leaf = certificate_pem(key)
    chain = leaf + certificate_pem(new_key(), name="issuer")
    found = certificate_thumbprints(chain, Secret(private_pem(key)), "s")
    assert found is not None
    der = cert_of(leaf).public_bytes(serialization.Encoding.DER)
    assert (found.x5t, found.x5t_s256) == thumbprints_of_der(der)


def test_absent_certificate_is_no_thumbprints() -> None:
    assert certificate_thumbprints(None, Secret(private_pem(new_key())), "s") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (42, "'certificate' must be a non-empty PEM string"),
        ("  ", "'certificate' must be a non-empty PEM string"),
        (
            "-----BEGIN CERTIFICATE-----\nSECRETMARK\n-----END CERTIFICATE-----\n",
            "is not a PEM X.509 certificate",
        ),
    ],
)
def test_bad_certificate_values(value: object, problem: str) -> None:
    with pytest.raises(CredentialsError, match=problem) as info:
        certificate_thumbprints(value, Secret(private_pem(new_key())), "team/creds")
    assert info.value.message.startswith("credentials secret team/creds: ")
    assert "SECRETMARK" not in info.value.message and info.value.__cause__ is None


def test_mismatch_expiry_and_not_yet_valid() -> None:
    key = new_key()
    secret = Secret(private_pem(key))
    with pytest.raises(CredentialsError, match="does not match 'private_key'"):
        certificate_thumbprints(certificate_pem(new_key()), secret, "s")
    with pytest.raises(CredentialsError, match="does not match 'private_key'"):
        certificate_thumbprints(certificate_pem(new_key("ec")), secret, "s")  # another key type
    pem = certificate_pem(key, not_before=NOW - timedelta(days=30), not_after=NOW)
    with pytest.raises(CredentialsError, match=r"expired at 2026-11-29T12:00:00Z"):
        certificate_thumbprints(pem, secret, "s", NOW)
    assert certificate_thumbprints(pem, secret, "s", NOW - timedelta(seconds=1)) is not None
    with pytest.raises(CredentialsError, match=r"not valid before 2026-10-30T12:00:00Z"):
        certificate_thumbprints(pem, secret, "s", NOW - timedelta(days=31))


def test_parse_credentials_and_assertion_header_carry_the_thumbprints() -> None:
    key = new_key()
    pem = certificate_pem(key)
    doc = {"client_id": "app", "private_key": private_pem(key), "certificate": pem, "key_id": "k1"}
    creds = parse_credentials(json.dumps(doc), "s", "private_key_jwt")
    der = cert_of(pem).public_bytes(serialization.Encoding.DER)
    assert (creds.x5t, creds.x5t_s256) == thumbprints_of_der(der)
    # Secret-based methods ignore the certificate entirely.
    plain = parse_credentials(json.dumps({**doc, "client_secret": "x"}), "s", "client_secret_post")
    assert plain.x5t is None
    env = config(env={"auth_method": "private_key_jwt", "signing_alg": "PS256"}).get("e")
    _, form = build_request(env, creds, datetime.now(UTC))
    assertion = form["client_assertion"]
    assert isinstance(assertion, str)
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": "PS256", "typ": "JWT", "kid": "k1", "x5t": creds.x5t, "x5t#S256": creds.x5t_s256}
    public = key.public_key()
    claims = jwt.decode(assertion, public, algorithms=["PS256"], audience=env.token_url)
    assert claims["iss"] == "app"


def test_ps256_is_a_signing_alg_and_needs_an_rsa_key() -> None:
    env: EnvironmentConfig = config(env={"auth_method": "private_key_jwt", "signing_alg": "PS256"}).get("e")
    creds = Credentials("app", private_key=Secret(private_pem(new_key("ec"))), source="s")
    with pytest.raises(CredentialsError, match="private_key cannot sign PS256"):
        build_request(env, creds, NOW)
    with pytest.raises(ConfigError, match="must be one of RS256, ES256, PS256"):
        config(env={"auth_method": "private_key_jwt", "signing_alg": "PS512"})
