"""Keys and self-signed certificates for private_key_jwt tests (generated per call, never stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ["certificate_pem", "key_body", "keypair", "new_key", "private_pem", "public_pem"]


def new_key(kind: str = "rsa") -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def public_pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def certificate_pem(
    key: Any, *, not_before: datetime | None = None, not_after: datetime | None = None, name: str = "sync-job"
) -> str:
    """A self-signed certificate of ``key`` (valid from an hour ago for 30 days by default), as
    an Entra app registration would hold it."""
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(hours=1))
        .not_valid_after(not_after or now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def keypair(kind: str = "rsa") -> tuple[str, str]:
    """A fresh key (``rsa`` or ``ec``) as (private PKCS#8 PEM, public PEM)."""
    key = new_key(kind)
    return private_pem(key), public_pem(key)


def key_body(pem: str) -> list[str]:
    """Pieces of a PEM key's base64 body: none may appear in any output."""
    lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    return [ln[8:40] for ln in lines[1:-1]]
