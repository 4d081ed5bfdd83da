"""The client credentials secret: its JSON document, checked and carried as :class:`Credentials`.

``{"client_id": "...", "client_secret": "..."}``, or for ``private_key_jwt``
``{"client_id": "...", "private_key": "<PEM>", "key_id": "..."?}``. Errors name the secret and
the key, never a value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_job import redact
from sync_job.certs import certificate_thumbprints
from sync_job.errors import CredentialsError
from sync_job.redact import Secret

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
    wanted = (
        ("client_id", "private_key") if auth_method == "private_key_jwt" else ("client_id", "client_secret")
    )
    values, warnings = _required_strings(doc, wanted, secret_id)
    key_id = _key_id(doc, secret_id)
    private_key = None
    thumbprints = None
    if auth_method == "private_key_jwt":
        private_key = Secret(values["private_key"])
        _check_private_key(private_key, secret_id)
        thumbprints = certificate_thumbprints(doc.get("certificate"), private_key, secret_id, now)
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
        if value != value.strip() and key != "private_key":
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


def _optional_string(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value.strip() or None if isinstance(value, str) else None


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
