"""The X.509 certificate of a ``private_key_jwt`` key, for certificate-bound client assertions.

Microsoft Entra ID finds the key of a client assertion by the thumbprint of its certificate in the
JOSE header: ``x5t`` (base64url SHA-1 of the certificate's DER, RFC 7515 §4.1.7) with RS256, and
``x5t#S256`` (base64url SHA-256, RFC 7515 §4.1.8) with PS256. The credentials secret may hold the
certificate as ``"certificate"`` (PEM); this module checks it belongs to ``"private_key"`` and is
valid now, and computes both thumbprints.

cryptography is imported inside the functions: only private_key_jwt needs it, and a run whose
tokens are all fresh should not pay for the import.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sync_job.errors import CredentialsError
from sync_job.redact import Secret


@dataclass(frozen=True)
class Thumbprints:
    """A certificate's thumbprints for the JOSE header (RFC 7515 §4.1.7-8) and its expiry."""

    x5t: str  # base64url SHA-1 of the DER, no padding (27 characters)
    x5t_s256: str  # base64url SHA-256 of the DER, no padding (43 characters)
    not_after: datetime  # UTC


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def thumbprints_of_der(der: bytes) -> tuple[str, str]:
    """``(x5t, x5t#S256)`` of a certificate's DER bytes (RFC 7515 §4.1.7, §4.1.8)."""
    # SHA-1 here names a certificate, as RFC 7515 defines x5t; it protects nothing.
    return _b64url(hashlib.sha1(der, usedforsecurity=False).digest()), _b64url(hashlib.sha256(der).digest())


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Certificate:
    """A checked certificate of the credentials secret: its thumbprints, ``not_after`` (UTC) and
    its public key as DER SubjectPublicKeyInfo (compared with the signing key's)."""

    thumbprints: Thumbprints
    spki_der: bytes


def read_certificate(value: object, secret_id: str, now: datetime | None = None) -> Certificate | None:
    """The credentials secret's ``"certificate"`` (PEM; a chain's first certificate is the key's)
    read and checked for its validity period, without a private key to compare with (a KMS key's
    certificate is compared with the key's public half when the key is used).

    ``value``: the JSON value (None when the key is absent, which returns None). Raises
    ``CredentialsError`` naming ``secret_id``, never quoting the value, when it is not a PEM
    certificate, is not valid yet, or has expired."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' must be a non-empty PEM string"
        )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        cert = x509.load_pem_x509_certificates(value.encode())[0]
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except Exception:
        # Never chain: a parser's message may quote the input.
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' is not a PEM X.509 certificate "
            "(-----BEGIN CERTIFICATE-----)"
        ) from None
    now = now or datetime.now(UTC)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' is not valid before {_iso(not_before)}"
        )
    if now >= not_after:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' expired at {_iso(not_after)}; "
            "issue a new one, register it with the provider and store it here"
        )
    x5t, x5t_s256 = thumbprints_of_der(cert.public_bytes(Encoding.DER))
    return Certificate(Thumbprints(x5t=x5t, x5t_s256=x5t_s256, not_after=not_after), spki)


def certificate_thumbprints(
    value: object, private_key: Secret, secret_id: str, now: datetime | None = None
) -> Thumbprints | None:
    """Check the credentials secret's ``"certificate"`` and return its thumbprints.

    ``value``: the JSON value (None when the key is absent, which returns None). ``now``: UTC,
    default the wall clock. Raises ``CredentialsError`` naming ``secret_id`` and never quoting
    the key or certificate when the value is not a PEM certificate, belongs to another key, is
    not valid yet, or has expired. A PEM chain is accepted; its first certificate is the key's.
    """
    cert = read_certificate(value, secret_id, now)
    if cert is None:
        return None
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    try:
        key = load_pem_private_key(private_key.reveal().encode(), password=None)
        mine = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except Exception:
        # Never chain: a parser's message may quote the key.
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' has a public key of a type that "
            "cannot be compared with 'private_key'"
        ) from None
    check_matches(cert, mine, secret_id, "'private_key'")
    return cert.thumbprints


def check_matches(cert: Certificate, spki_der: bytes, secret_id: str, key_name: str) -> None:
    """Raise ``CredentialsError`` unless ``cert`` is over the public key ``spki_der`` (DER
    SubjectPublicKeyInfo) of ``key_name``."""
    if cert.spki_der != spki_der:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' does not match {key_name} "
            "(different public key); store the certificate issued for this key"
        )


# A certificate for a provider that names the key by certificate: long enough to be registered
# once a year, short enough that the expiry alarms (30 and 7 days) are seen.
DEFAULT_CERTIFICATE_DAYS = 365
MAX_CERTIFICATE_DAYS = 3650


def self_signed_certificate(signing_key: object, subject: str, days: int, now: datetime) -> str:
    """A self-signed X.509 v3 certificate (PEM) over ``signing_key``'s public key, signed with
    it (SHA-256; RSA PKCS#1 v1.5 or ECDSA): what Microsoft Entra ID registers for a
    certificate credential. ``signing_key`` is a cryptography private key, e.g. ``kms.KmsRsaKey``
    (then signed by ``kms:Sign``). ``subject`` an RFC 4514 DN (``CN=sync-job prod``); valid from
    ``now`` minus 5 minutes (clock skew) for ``days`` days. Raises ``ValueError`` (a one-line
    message) for a DN that does not parse or ``days`` outside 1..``MAX_CERTIFICATE_DAYS``."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import Encoding

    from sync_job.config import shown

    if not 1 <= days <= MAX_CERTIFICATE_DAYS:
        raise ValueError(f"--days must be between 1 and {MAX_CERTIFICATE_DAYS}, got {days}")
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        raise ValueError(
            f"--subject {shown(subject)!r} is not an RFC 4514 DN (e.g. CN=sync-job prod)"
        ) from None
    if not name.rdns:
        raise ValueError("--subject must name at least one attribute (e.g. CN=sync-job prod)")
    if not isinstance(signing_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CredentialsError("only RSA and EC keys can sign a certificate here")
    public = signing_key.public_key()
    start = now - timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    cert = builder.sign(signing_key, hashes.SHA256())
    return cert.public_bytes(Encoding.PEM).decode("ascii")
