"""Public keys as JSON Web Keys (RFC 7517) and their RFC 7638 thumbprints: what an operator
registers with a provider for a ``private_key_jwt`` client (``sync-job jwks NAME``), and the
default ``kid`` of a KMS-signed assertion, so the assertion names the key the provider holds.

cryptography is imported by the callers that hold a key; this module only reads its numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sync_job.errors import CredentialsError


def _b64url_uint(value: int, length: int | None = None) -> str:
    """RFC 7518 §2 Base64urlUInt: big-endian, no leading zeros (or ``length`` bytes for EC
    coordinates, RFC 7518 §6.2.1.2), base64url without padding."""
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


def required_members(public_key: Any) -> dict[str, str]:
    """The RFC 7638 §3.2 required members of ``public_key`` (a cryptography RSA or EC P-256
    public key): ``{"e", "kty", "n"}`` or ``{"crv", "kty", "x", "y"}``. Raises
    ``CredentialsError`` for other key types."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        point = public_key.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": _b64url_uint(point.x, 32), "y": _b64url_uint(point.y, 32)}
    raise CredentialsError("only RSA and EC P-256 keys can be published as a JWK here")


def thumbprint(public_key: Any) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding, 43 characters): the SHA-256
    of the required members as JSON with sorted keys and no whitespace (§3.1, §3.3)."""
    canonical = json.dumps(required_members(public_key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Jwk:
    """One public signing key as a JWK (RFC 7517 §4): ``members`` the key's own (RFC 7518 §6),
    ``kid`` (RFC 7638 thumbprint unless configured), ``alg`` the JOSE algorithm it signs with,
    ``x5t_s256`` the certificate's thumbprint when one is registered (RFC 7517 §4.9)."""

    members: tuple[tuple[str, str], ...]
    kid: str
    alg: str
    x5t_s256: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The JWK as a JSON object (RFC 7517 §4): its key members, ``kid``, ``alg``, ``use`` "sig",
        and ``x5t#S256`` when a certificate is known."""
        doc = dict(self.members)
        doc.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        if self.x5t_s256:
            doc["x5t#S256"] = self.x5t_s256
        return doc


def jwk_of(public_key: Any, alg: str, kid: str | None = None, x5t_s256: str | None = None) -> Jwk:
    """The :class:`Jwk` of a cryptography public key; ``kid`` defaults to its thumbprint."""
    members = required_members(public_key)
    return Jwk(tuple(sorted(members.items())), kid or thumbprint(public_key), alg, x5t_s256)


def jwks_document(keys: tuple[Jwk, ...]) -> dict[str, list[dict[str, str]]]:
    """A JWK Set (RFC 7517 §5): ``{"keys": [...]}``."""
    return {"keys": [k.to_dict() for k in keys]}
