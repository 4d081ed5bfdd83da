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


def certificate_thumbprints(
    value: object, private_key: Secret, secret_id: str, now: datetime | None = None
) -> Thumbprints | None:
    """Check the credentials secret's ``"certificate"`` and return its thumbprints.

    ``value``: the JSON value (None when the key is absent, which returns None). ``now``: UTC,
    default the wall clock. Raises ``CredentialsError`` naming ``secret_id`` and never quoting
    the key or certificate when the value is not a PEM certificate, belongs to another key, is
    not valid yet, or has expired. A PEM chain is accepted; its first certificate is the key's.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' must be a non-empty PEM string"
        )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_private_key,
    )

    try:
        cert = x509.load_pem_x509_certificates(value.encode())[0]
    except Exception:
        # Never chain: a parser's message may quote the input.
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' is not a PEM X.509 certificate "
            "(-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        key = load_pem_private_key(private_key.reveal().encode(), password=None)
        mine = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        theirs = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except Exception:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' has a public key of a type that "
            "cannot be compared with 'private_key'"
        ) from None
    if mine != theirs:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'certificate' does not match 'private_key' "
            "(different public key); store the certificate issued for this key"
        )
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
    return Thumbprints(x5t=x5t, x5t_s256=x5t_s256, not_after=not_after)


def jwk_thumbprint(private_key: Secret) -> str:
    """The RFC 7638 JWK thumbprint of ``private_key``'s public key: base64url (no padding) of
    the SHA-256 of its required JWK members (RFC 7638 §3.2: RSA ``e``, ``kty``, ``n``; EC
    ``crv``, ``kty``, ``x``, ``y``; OKP ``crv``, ``kty``, ``x``) as JSON with sorted keys and no
    whitespace. ``credentials put`` uses it as a new key's ``key_id`` when none is given.
    Raises ``CredentialsError`` (never quoting the key) for a key it cannot read or a type
    without a JWK form."""
    import json

    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

    try:
        public = load_pem_private_key(private_key.reveal().encode(), password=None).public_key()
    except Exception:
        raise CredentialsError("the private key is not an unencrypted PEM private key") from None
    members: dict[str, str]
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        members = {"e": _b64url(_uint(numbers.e)), "kty": "RSA", "n": _b64url(_uint(numbers.n))}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8  # RFC 7518 §6.2.1.2: full-length coordinates
        point = public.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(public.curve.name)
        if crv is None:
            raise CredentialsError(f"the private key's curve {public.curve.name} has no JWK name")
        members = {
            "crv": crv,
            "kty": "EC",
            "x": _b64url(point.x.to_bytes(size, "big")),
            "y": _b64url(point.y.to_bytes(size, "big")),
        }
    elif isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        crv = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        members = {"crv": crv, "kty": "OKP", "x": _b64url(raw)}
    else:
        raise CredentialsError("the private key's type has no JWK form (RSA, EC or Ed25519)")
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _uint(value: int) -> bytes:
    # RFC 7518 §6.3.1: the unsigned big-endian value in the fewest octets.
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
