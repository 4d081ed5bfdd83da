"""The dummy AWS settings every test, benchmark and demo client uses against moto on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import boto3

REGION = "us-east-1"
# moto's documented dummy credentials: nothing here can reach a real account.
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for ``service`` at ``endpoint_url`` with the dummy credentials, whatever the
    process environment holds."""
    # boto3-stubs type client() per service name (a Literal); tests ask for several by a str.
    make: Any = boto3.client
    return make(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_AWS["AWS_SESSION_TOKEN"],
    )


def kms_key(kms: Any, spec: str) -> tuple[str, str]:
    """A fresh asymmetric signing key (``spec``: RSA_2048, ECC_NIST_P256, ...) in the KMS that
    ``kms`` (a boto3 client, e.g. on moto) talks to: (key ARN, public key PEM, SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec=spec)["KeyMetadata"]["Arn"]
    der = kms.get_public_key(KeyId=arn)["PublicKey"]
    pem = load_der_public_key(der).public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return str(arn), pem
