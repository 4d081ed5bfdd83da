"""Pure parts of keyless credentials: RFC 7638 thumbprints, the JOSE alg of a KMS key spec, the
config rules of the assertion's source, the credentials secret's optional keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from standins.keys import new_key
from sync_job.config import parse_config
from sync_job.credentials import parse_credentials
from sync_job.errors import ConfigError, CredentialsError
from sync_job.jwks import jwk_of, required_members, thumbprint
from sync_job.kms import jose_alg

# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _uint(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_thumbprint_of_the_rfc_7638_example() -> None:
    key = rsa.RSAPublicNumbers(e=_uint("AQAB"), n=_uint(RFC7638_N)).public_key()
    assert thumbprint(key) == RFC7638_THUMBPRINT
    assert required_members(key) == {"e": "AQAB", "kty": "RSA", "n": RFC7638_N}


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_jwk_matches_joserfc(kind: str) -> None:
    from joserfc import jwk as jose_jwk

    public = new_key(kind).public_key()
    mine = jwk_of(public, "ES256" if kind == "ec" else "RS256").to_dict()
    theirs = jose_jwk.import_key(public, "EC" if kind == "ec" else "RSA")
    assert mine["kid"] == theirs.thumbprint()
    assert {k: v for k, v in mine.items() if k not in ("kid", "alg", "use")} == theirs.as_dict(private=False)


@pytest.mark.parametrize(
    ("configured", "spec", "expected"),
    [
        ("RS256", "RSA_2048", "RS256"),
        ("PS256", "RSA_4096", "PS256"),
        ("RS256", "ECC_NIST_P256", "ES256"),
        ("ES256", "ECC_NIST_P256", "ES256"),
    ],
)
def test_jose_alg_of_a_key_spec(configured: str, spec: str, expected: str) -> None:
    assert jose_alg(configured, spec, "k") == expected


@pytest.mark.parametrize(
    ("configured", "spec", "words"),
    [
        ("ES256", "RSA_2048", "needs an ECC_NIST_P256 key"),
        ("PS256", "ECC_NIST_P256", "needs an RSA key"),
        ("RS256", "ECC_NIST_P384", "ECC_NIST_P384"),
        ("RS256", "SYMMETRIC_DEFAULT", "asymmetric SIGN_VERIFY"),
        ("RS256", "\x1b[31mRSA", "is RSA; private_key_jwt needs"),
    ],
)
def test_jose_alg_refuses_what_kms_cannot_sign(configured: str, spec: str, words: str) -> None:
    with pytest.raises(CredentialsError, match=None) as raised:
        jose_alg(configured, spec, "k")
    assert words in str(raised.value) and "\x1b" not in str(raised.value)


def config(**table: Any) -> Any:
    env = {
        "token_url": "https://login.example.com/token",
        "credentials_secret": "c",
        "token_secret": "t",
        "auth_method": "private_key_jwt",
        **table,
    }
    return parse_config({"environments": {"prod": env}}).get("prod")


def test_credential_kinds() -> None:
    assert config().credential_kind == "private_key"
    assert config(auth_method="client_secret_post").credential_kind == "client_secret"
    assert config(kms_key_id="alias/sync-job").credential_kind == "kms_key"
    sts = config(client_assertion_source="aws_sts", client_assertion_audience="api://AzureADTokenExchange")
    assert sts.credential_kind == "aws_sts" and sts.client_assertion_lifetime_seconds == 300
    assert config(client_assertion_file="/var/run/secrets/token").credential_kind == "assertion_file"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (
            {"auth_method": "client_secret_post", "kms_key_id": "alias/x"},
            'only to auth_method = "private_key_jwt"',
        ),
        ({"kms_key_id": "arn:aws:kms:us-east-1:12:key/x"}, "must be a KMS key ARN"),
        ({"kms_key_id": "alias/x", "client_assertion_file": "/t"}, "exclude each other"),
        ({"client_assertion_source": "aws_sts"}, "needs client_assertion_audience"),
        ({"client_assertion_source": "gcp"}, "must be one of aws_sts"),
        ({"client_assertion_audience": "x"}, 'only with client_assertion_source = "aws_sts"'),
        (
            {
                "client_assertion_source": "aws_sts",
                "client_assertion_audience": "a",
                "client_assertion_lifetime_seconds": 30,
            },
            "between 60 and 3600",
        ),
        (
            {
                "client_assertion_source": "aws_sts",
                "client_assertion_audience": "a",
                "client_assertion_signing_alg": "PS256",
            },
            "RS256, ES384",
        ),
        ({"client_assertion_file": "token.jwt"}, "absolute file path"),
        ({"client_assertion_file": "/t", "signing_alg": "ES256"}, "its issuer signs it"),
    ],
)
def test_assertion_source_rules(table: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config(**table)
    assert words in str(raised.value)


def test_client_secret_expires_at() -> None:
    doc = {"client_id": "c", "client_secret": "s" * 24, "client_secret_expires_at": 1893456000}
    creds = parse_credentials(json.dumps(doc), "s", "client_secret_post")
    assert creds.expires_at is not None and creds.expires_at.isoformat() == "2030-01-01T00:00:00+00:00"
    never = parse_credentials(json.dumps({**doc, "client_secret_expires_at": 0}), "s", "client_secret_post")
    assert never.expires_at is None
    for bad in (-1, "1893456000", 1.5, True, 10**20):
        with pytest.raises(CredentialsError, match="RFC 7591"):
            parse_credentials(json.dumps({**doc, "client_secret_expires_at": bad}), "s", "client_secret_post")


def test_kms_key_object_never_reveals_a_private_part() -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from sync_job.kms import KmsEcKey, KmsPublicKey

    public = new_key("ec").public_key()
    key = KmsEcKey(
        None,
        KmsPublicKey(
            "k",
            "arn",
            "ECC_NIST_P256",
            public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
            ("ECDSA_SHA_256",),
        ),
    )
    for reveal in (key.private_numbers, lambda: key.private_bytes(None, None, None)):
        with pytest.raises(TypeError, match="never leave KMS"):
            reveal()
