"""AWS KMS as the holder of a ``private_key_jwt`` signing key: the key material never leaves KMS.

:class:`KmsKeys` reads a key's public half once per process (``kms:GetPublicKey``) and hands out
a signing key object whose ``sign`` calls ``kms:Sign``. The object is one of cryptography's own
private-key types (``RSAPrivateKey``, ``EllipticCurvePrivateKey``), so the libraries that sign
with a PEM key sign with it unchanged: PyJWT builds the client assertion exactly as for a PEM key
(and turns KMS's DER ECDSA signature into JOSE's ``r || s``, RFC 7518 §3.4), and cryptography's
``CertificateBuilder`` signs a certificate over the KMS key (``sync-job certificate``).

Algorithms (RFC 7518 §3.1 → KMS ``SigningAlgorithm``, AWS KMS Developer Guide, "Asymmetric key
specs"; https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html):

=========  ==============================  ===================
JOSE alg   KMS SigningAlgorithm            key spec
=========  ==============================  ===================
RS256      RSASSA_PKCS1_V1_5_SHA_256       RSA_2048/3072/4096
PS256      RSASSA_PSS_SHA_256 (salt 32 B)  RSA_2048/3072/4096
ES256      ECDSA_SHA_256                   ECC_NIST_P256
=========  ==============================  ===================

Calls are bounded like every other AWS call of the job (``awsclient.bounded_client``); a failure
is a :class:`SigningError` (``awserrors.kms_error``), transient when trying later may help
(throttling, timeouts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from sync_job.awserrors import kms_call
from sync_job.errors import CredentialsError, SigningError
from sync_job.redact import untrusted

# kms:Sign takes at most 4096 bytes with MessageType RAW (API_Sign.html, "Message"); a client
# assertion is a few hundred bytes, a certificate's TBS part about a kilobyte.
MAX_RAW_MESSAGE = 4096
RSA_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096")
EC_SPECS = ("ECC_NIST_P256",)
_JOSE_TO_KMS = {
    "RS256": "RSASSA_PKCS1_V1_5_SHA_256",
    "PS256": "RSASSA_PSS_SHA_256",
    "ES256": "ECDSA_SHA_256",
}


@dataclass(frozen=True)
class KmsPublicKey:
    """A KMS key's public half (``GetPublicKey``): ``key_id`` as configured (ARN, alias ARN, key
    id or ``alias/NAME``), ``key_arn`` the key's ARN as KMS answers, ``key_spec`` (e.g.
    ``RSA_2048``), ``spki_der`` the DER SubjectPublicKeyInfo, ``signing_algorithms`` KMS's names."""

    key_id: str
    key_arn: str
    key_spec: str
    spki_der: bytes
    signing_algorithms: tuple[str, ...]

    def load(self) -> PublicKeyTypes:
        """The public key (cryptography's object) from ``spki_der``."""
        return load_der_public_key(self.spki_der)


def jose_alg(configured: str, key_spec: str, key_id: str) -> str:
    """The JOSE ``alg`` a KMS key of ``key_spec`` signs with, given the configured ``signing_alg``.

    RSA keys sign RS256 or PS256 as configured. An ECC_NIST_P256 key signs ES256; ``signing_alg``
    RS256 (the default) then means ES256, since no RSA algorithm can use an EC key. Raises
    ``CredentialsError`` for PS256 on an EC key, ES256 on an RSA key, or any other key spec
    (KMS's P-384, P-521 and secp256k1 keys have no algorithm the job signs with)."""
    if key_spec in RSA_SPECS:
        if configured in ("RS256", "PS256"):
            return configured
        raise CredentialsError(
            f"KMS key {key_id} is {key_spec}: signing_alg {configured} needs an ECC_NIST_P256 key; "
            "use RS256 or PS256 with an RSA key"
        )
    if key_spec in EC_SPECS:
        if configured in ("RS256", "ES256"):
            return "ES256"
        raise CredentialsError(
            f"KMS key {key_id} is {key_spec}: signing_alg {configured} needs an RSA key; use ES256"
        )
    raise CredentialsError(
        f"KMS key {key_id} is {untrusted(key_spec, limit=32)}; private_key_jwt needs an "
        f"asymmetric SIGN_VERIFY key of spec {', '.join(RSA_SPECS + EC_SPECS)}"
    )


def _sign(client: Any, key: KmsPublicKey, message: bytes, algorithm: str) -> bytes:
    if algorithm not in key.signing_algorithms:
        raise CredentialsError(
            f"KMS key {key.key_id} does not sign {algorithm} (it signs {', '.join(key.signing_algorithms)})"
        )
    if len(message) > MAX_RAW_MESSAGE:
        raise CredentialsError(f"message of {len(message)} bytes is over kms:Sign's {MAX_RAW_MESSAGE}")
    answer = kms_call(
        "Sign",
        key.key_id,
        lambda: client.sign(
            KeyId=key.key_arn, Message=message, MessageType="RAW", SigningAlgorithm=algorithm
        ),
    )
    signature = answer.get("Signature")
    if not isinstance(signature, bytes) or not signature:
        raise SigningError(f"KMS answered kms:Sign on key {key.key_id} without a signature", transient=True)
    return signature


def _sha256_only(algorithm: object, key_id: str) -> None:
    if not isinstance(algorithm, hashes.SHA256):
        name = getattr(algorithm, "name", type(algorithm).__name__)
        raise CredentialsError(f"KMS key {key_id}: only SHA-256 signatures are supported, not {name}")


class KmsRsaKey(rsa.RSAPrivateKey):
    """An RSA private key whose material stays in KMS: ``sign`` is ``kms:Sign``. Everything that
    would reveal the private key (numbers, bytes, decryption) raises ``TypeError``."""

    def __init__(self, client: Any, key: KmsPublicKey) -> None:
        public = key.load()
        if not isinstance(public, rsa.RSAPublicKey):
            raise CredentialsError(f"KMS key {key.key_id} is not an RSA key")
        self._client = client
        self._key = key
        self._public = public

    def sign(
        self, data: bytes | bytearray | memoryview, padding: padding.AsymmetricPadding, algorithm: Any
    ) -> bytes:
        """``kms:Sign`` of ``data`` with SHA-256 (API_Sign.html); the signature as cryptography's
        own keys return it. Raises ``CredentialsError`` for another hash or padding."""
        _sha256_only(algorithm, self._key.key_id)
        if isinstance(padding, _PSS):
            # KMS's PSS salt is the digest's length (API_Sign.html), as RFC 7518 §3.5 requires.
            kms_alg = "RSASSA_PSS_SHA_256"
        elif isinstance(padding, _PKCS1v15):
            kms_alg = "RSASSA_PKCS1_V1_5_SHA_256"
        else:
            raise CredentialsError(f"KMS key {self._key.key_id}: padding {padding.name} is not supported")
        return _sign(self._client, self._key, bytes(data), kms_alg)

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, from KMS's ``GetPublicKey``."""
        return self._public

    @property
    def key_size(self) -> int:
        """The key's size in bits."""
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        """Not a signing key's job: raises ``TypeError``."""
        raise TypeError("a KMS signing key does not decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        """Never available: raises ``TypeError`` (the key stays in KMS)."""
        raise TypeError("a KMS key's private numbers never leave KMS")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        """Never available: raises ``TypeError`` (the key stays in KMS)."""
        raise TypeError("a KMS key's private bytes never leave KMS")

    def __copy__(self) -> KmsRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsRsaKey:
        return self


class KmsEcKey(ec.EllipticCurvePrivateKey):
    """An EC P-256 private key whose material stays in KMS: ``sign`` is ``kms:Sign`` and returns
    KMS's DER ``ECDSA-Sig-Value`` (RFC 3279 §2.2.3), as cryptography's own keys do."""

    def __init__(self, client: Any, key: KmsPublicKey) -> None:
        public = key.load()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
            raise CredentialsError(f"KMS key {key.key_id} is not an ECC_NIST_P256 key")
        self._client = client
        self._key = key
        self._public = public

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        """``kms:Sign`` of ``data`` with SHA-256 (API_Sign.html); the signature as cryptography's
        own keys return it. Raises ``CredentialsError`` for another hash or padding."""
        _sha256_only(signature_algorithm.algorithm, self._key.key_id)
        return _sign(self._client, self._key, bytes(data), "ECDSA_SHA_256")

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, from KMS's ``GetPublicKey``."""
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        """The curve (P-256)."""
        return self._public.curve

    @property
    def key_size(self) -> int:
        """The key's size in bits."""
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Not a signing key's job: raises ``TypeError``."""
        raise TypeError("a KMS signing key does not do key agreement")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """Never available: raises ``TypeError`` (the key stays in KMS)."""
        raise TypeError("a KMS key's private numbers never leave KMS")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        """Never available: raises ``TypeError`` (the key stays in KMS)."""
        raise TypeError("a KMS key's private bytes never leave KMS")

    def __copy__(self) -> KmsEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsEcKey:
        return self


_PSS = padding.PSS
_PKCS1v15 = padding.PKCS1v15


class KmsKeys:
    """KMS keys by configured id: the public half read once per process, signing keys on demand.

    ``client`` is a botocore KMS client (``awsclient.bounded_client("kms", ...)``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._public: dict[str, KmsPublicKey] = {}

    def public_key(self, key_id: str) -> KmsPublicKey:
        """``GetPublicKey`` of ``key_id``, cached. Raises :class:`SigningError` when KMS refuses
        or cannot be reached, ``CredentialsError`` when the key is not a signing key."""
        with self._lock:
            found = self._public.get(key_id)
        if found is not None:
            return found
        answer = kms_call("GetPublicKey", key_id, lambda: self._client.get_public_key(KeyId=key_id))
        if answer.get("KeyUsage") != "SIGN_VERIFY":
            raise CredentialsError(
                f"KMS key {key_id} is not a SIGN_VERIFY key; private_key_jwt needs an asymmetric signing key"
            )
        spki = answer.get("PublicKey")
        if not isinstance(spki, bytes):
            raise SigningError(f"KMS answered kms:GetPublicKey on key {key_id} without a public key")
        found = KmsPublicKey(
            key_id=key_id,
            key_arn=str(answer.get("KeyId") or key_id),
            key_spec=str(answer.get("KeySpec") or answer.get("CustomerMasterKeySpec") or ""),
            spki_der=spki,
            signing_algorithms=tuple(str(a) for a in answer.get("SigningAlgorithms") or ()),
        )
        try:
            found.load()
        except ValueError:
            raise SigningError(
                f"KMS answered kms:GetPublicKey on key {key_id} with an unreadable key"
            ) from None
        with self._lock:
            self._public[key_id] = found
        return found

    def signing_key(self, key_id: str) -> KmsRsaKey | KmsEcKey:
        """A cryptography private key for ``key_id`` whose ``sign`` is ``kms:Sign``."""
        key = self.public_key(key_id)
        if key.key_spec in RSA_SPECS:
            return KmsRsaKey(self._client, key)
        if key.key_spec in EC_SPECS:
            return KmsEcKey(self._client, key)
        jose_alg("ES256", key.key_spec, key_id)  # raises the one-line error for this spec
        raise AssertionError("unreachable")
