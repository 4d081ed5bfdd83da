"""The client credentials secret: its JSON document, checked and carried as :class:`Credentials`.

``{"client_id": "...", "client_secret": "...", "client_secret_expires_at": 0?}``, or for
``private_key_jwt`` ``{"client_id": "...", "private_key": "<PEM>"?, "key_id": "..."?,
"certificate": "<PEM>"?}``. A ``private_key_jwt`` client whose key lives in KMS
(``kms_key_id``) or that presents a federated assertion (``client_assertion_source``,
``client_assertion_file``) stores no key: ``{"client_id": "..."}``; ``keyless.complete`` then
adds the signing key or the assertion source, and a PEM environment without ``private_key``
fails when its assertion is made (``oauth.client_assertion``). Errors name the secret and the key,
never a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync_job import redact
from sync_job.errors import CredentialsError
from sync_job.redact import Secret

if TYPE_CHECKING:
    from sync_job.certs import Certificate

_SHAPE = '{"client_id": "...", "client_secret": "..."}'


@dataclass(frozen=True)
class Credentials:
    """An OAuth client's credentials (RFC 6749 §2.3). ``source`` is the secret they came from;
    ``warnings`` say what was repaired on the way (whitespace stripped)."""

    client_id: str
    client_secret: Secret | None = None
    private_key: Secret | None = None
    key_id: str | None = None
    source: str = ""
    warnings: tuple[str, ...] = ()
    # JOSE thumbprints of the key's X.509 certificate (RFC 7515 §4.1.7/§4.1.8), base64url SHA-1
    # and SHA-256 of its DER, when the credentials secret holds a "certificate".
    x5t: str | None = None
    x5t_s256: str | None = None
    # The certificate itself (thumbprints, notAfter, public key), when the secret holds one.
    certificate: Certificate | None = None
    # "client_secret_expires_at" (RFC 7591 §3.2.1: seconds since the epoch, 0 = never), as UTC.
    client_secret_expires_at: datetime | None = None
    # Set by keyless.complete, never read from the secret: a cryptography private-key object
    # whose sign() is kms:Sign, the JOSE alg it signs with, or the source of a federated
    # client assertion (called once per token request, returns the JWT).
    signing_key: Any = None
    signing_alg: str | None = None
    assertion_source: Callable[[], str] | None = None

    @property
    def expires_at(self) -> datetime | None:
        """When this credential stops working (UTC): the earlier of the certificate's notAfter
        and the client secret's end; None when neither is known."""
        ends = [
            when
            for when in (
                self.certificate.thumbprints.not_after if self.certificate else None,
                self.client_secret_expires_at if self.client_secret is not None else None,
            )
            if when is not None
        ]
        return min(ends) if ends else None

    @property
    def scrub_safe(self) -> bool:
        """False when the client secret is too short for output to be scrubbed of it reliably:
        then no server text is shown for this client at all."""
        return self.client_secret is None or redact.scrub_safe(self.client_secret.reveal())


def parse_credentials(
    text: str | None, secret_id: str, auth_method: str, *, now: datetime | None = None
) -> Credentials:
    """The credentials secret's SecretString → :class:`Credentials`.

    The one reader of credentials, whatever their source: a run reads the stored secret with it
    and ``credentials put`` checks the document it is about to test and store with it (issue 18
    §3), so both send the same normalised values. ``now`` (UTC, default the wall clock) is when
    a ``"certificate"`` must be valid.

    Raises :class:`CredentialsError` (naming ``secret_id`` and the key) when it is not a JSON
    object with the keys ``auth_method`` needs as non-empty strings, or its private key or
    certificate is unusable (not PEM, another key's, expired or not valid yet). Leading or
    trailing whitespace around the client id or secret (a pasted newline) is never sent: it is
    stripped, with a warning.
    """
    doc = _load_object(text, secret_id)
    # private_key_jwt: a PEM key, or none when the key is in KMS or the assertion federated
    # (checked when the assertion is made, where the environment's settings are known).
    wanted = ("client_id",) if auth_method == "private_key_jwt" else ("client_id", "client_secret")
    values, warnings = _required_strings(doc, wanted, secret_id)
    key_id = _key_id(doc, secret_id)
    private_key, certificate = (
        _key_and_certificate(doc, secret_id, now) if auth_method == "private_key_jwt" else (None, None)
    )
    thumbprints = certificate.thumbprints if certificate else None
    client_secret = values.get("client_secret") or _optional_string(doc, "client_secret")
    return Credentials(
        client_id=values["client_id"],
        client_secret=Secret(client_secret) if client_secret else None,
        private_key=private_key,
        key_id=key_id,
        source=secret_id,
        warnings=tuple(warnings),
        x5t=thumbprints.x5t if thumbprints else None,
        x5t_s256=thumbprints.x5t_s256 if thumbprints else None,
        certificate=certificate,
        client_secret_expires_at=_secret_expiry(doc.get("client_secret_expires_at"), secret_id),
    )


def _load_object(text: str | None, secret_id: str) -> dict[str, Any]:
    if text is None:
        raise CredentialsError(f"credentials secret {secret_id} has no SecretString; store JSON {_SHAPE}")
    try:
        doc: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise CredentialsError(f"credentials secret {secret_id} is not JSON; store {_SHAPE}") from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"credentials secret {secret_id} is not a JSON object")
    return doc


def _required_strings(
    doc: dict[str, Any], wanted: tuple[str, ...], secret_id: str
) -> tuple[dict[str, str], list[str]]:
    """The ``wanted`` keys' values, stripped, and a warning for each that had blanks around."""
    warnings: list[str] = []
    values: dict[str, str] = {}
    for key in wanted:
        if key not in doc:
            raise CredentialsError(f"credentials secret {secret_id} lacks {key!r}")
        value = doc[key]
        if not isinstance(value, str) or not value.strip():
            raise CredentialsError(f"credentials secret {secret_id}: {key!r} must be a non-empty string")
        if value != value.strip():
            warnings.append(
                f"credentials secret {secret_id}: {key!r} has leading or trailing whitespace; "
                "sent without it (store it without)"
            )
        values[key] = value.strip()
    return values, warnings


def _key_id(doc: dict[str, Any], secret_id: str) -> str | None:
    key_id = doc.get("key_id")
    if key_id is not None and not isinstance(key_id, str):
        raise CredentialsError(f"credentials secret {secret_id}: 'key_id' must be a string")
    return key_id.strip() or None if key_id else None


def _key_and_certificate(
    doc: dict[str, Any], secret_id: str, now: datetime | None
) -> tuple[Secret | None, Certificate | None]:
    """private_key_jwt: the PEM key (None when it lives in KMS or the assertion is federated)
    and the certificate, each checked (the certificate against the key and ``now``)."""
    # Imported here: a run reads no credentials before its first request, and most none at all.
    from sync_job.certs import certificate_thumbprints, read_certificate

    private_key = None
    if doc.get("private_key") is not None:
        value = doc["private_key"]
        if not isinstance(value, str) or not value.strip():
            raise CredentialsError(
                f"credentials secret {secret_id}: 'private_key' must be a non-empty string"
            )
        private_key = Secret(value.strip())
        _check_private_key(private_key, secret_id)
        certificate_thumbprints(doc.get("certificate"), private_key, secret_id, now)
    # Without a PEM key, a KMS key's certificate is matched with the key when it is used.
    return private_key, read_certificate(doc.get("certificate"), secret_id, now)


def _optional_string(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value.strip() or None if isinstance(value, str) else None


def _secret_expiry(value: object, secret_id: str) -> datetime | None:
    """``client_secret_expires_at``: seconds since the epoch, 0 for "never" (RFC 7591 §3.2.1)."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 253402300800:
        raise CredentialsError(
            f"credentials secret {secret_id}: 'client_secret_expires_at' must be whole seconds "
            "since the epoch (RFC 7591 §3.2.1), or 0 for never"
        )
    return datetime.fromtimestamp(value, UTC)


def _check_private_key(key: Secret, secret_id: str) -> None:
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - cryptography ships with the jwt extra
        return
    try:
        load_pem_private_key(key.reveal().encode(), password=None)
    except Exception:
        # Never chain: a parser's message may quote part of the key.
        raise CredentialsError(
            f"credentials secret {secret_id}: 'private_key' is not an unencrypted PEM private key"
        ) from None
