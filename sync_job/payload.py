"""The document stored in the token secret: the contract with every consumer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync_job import bearer
from sync_job.redact import Secret
from sync_job.timeutil import format_rfc3339

# Not raised for ``configuration`` (an added field no consumer reads; docs/payload.schema.json:
# "new fields do not raise it"): a payload without it is one written before it existed.
SCHEMA_VERSION = 1
_REQUIRED = ("access_token", "token_type", "expires_at")


class InvalidPayload(ValueError):
    """The stored document cannot be used; the message names why, never the token."""


@dataclass(frozen=True)
class TokenPayload:
    """The stored token document (schema 1, the consumer contract: access_token, token_type,
    expires_at as RFC 3339 UTC, issued_at, scope, environment, token_url, client_id)."""

    access_token: Secret
    token_type: str
    expires_in: int
    expires_at: datetime
    issued_at: datetime
    scope: str
    environment: str
    token_url: str
    client_id: str
    schema_version: int = SCHEMA_VERSION
    # "server" (expires_in from the answer), "jwt" (the token's exp claim), "configured".
    expires_in_source: str = "server"
    # When the client credential that obtained the token ends (certificate notAfter, client
    # secret end date; expiry.py), recorded so that `status` needs no credentials. Not secret.
    credential_expires_at: datetime | None = None
    # What identifies the configuration that obtained the token: (component, digest) pairs of
    # freshness.configuration_identity (salted truncated SHA-256; no value is recoverable).
    # Empty for payloads written before the field existed (then fresh by time alone).
    configuration: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The document as JSON-ready values, the token revealed (for the secret only)."""
        doc: dict[str, Any] = {
            "access_token": self.access_token.reveal(),
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "expires_at": format_rfc3339(self.expires_at),
            "issued_at": format_rfc3339(self.issued_at),
            "scope": self.scope,
            "environment": self.environment,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "schema_version": self.schema_version,
        }
        if self.expires_in_source != "server":
            doc["expires_in_source"] = self.expires_in_source
        if self.credential_expires_at is not None:
            doc["credential_expires_at"] = format_rfc3339(self.credential_expires_at)
        if self.configuration:
            doc["configuration"] = dict(self.configuration)
        return doc

    def to_json(self) -> str:
        """The document as stored in the token secret's SecretString."""
        return json.dumps(self.to_dict(), separators=(", ", ": "))

    def seconds_remaining(self, now: datetime) -> float:
        """Seconds from ``now`` (UTC) until ``expires_at``; negative once expired."""
        return (self.expires_at - now).total_seconds()


def build_payload(
    *,
    access_token: Secret,
    token_type: str,
    expires_in: int,
    issued_at: datetime,
    scope: str,
    environment: str,
    token_url: str,
    client_id: str,
    expires_in_source: str = "server",
    credential_expires_at: datetime | None = None,
    configuration: tuple[tuple[str, str], ...] = (),
) -> TokenPayload:
    """Assemble the payload. ``issued_at`` is the moment just before the request was sent, and it
    is floored to whole seconds, so ``expires_at`` can only understate the token's lifetime."""
    issued = issued_at.replace(microsecond=0)
    return TokenPayload(
        access_token=access_token,
        token_type=token_type,
        expires_in=expires_in,
        expires_at=issued + timedelta(seconds=expires_in),
        issued_at=issued,
        scope=scope,
        environment=environment,
        token_url=token_url,
        client_id=client_id,
        expires_in_source=expires_in_source,
        credential_expires_at=credential_expires_at,
        configuration=configuration,
    )


def parse_payload(text: str | None) -> TokenPayload:
    """Parse a stored document by the same rules as ``TokenReader`` (``bearer.py``): a bearer
    ``token_type``, an ``access_token`` fit for an Authorization header, RFC 3339 timestamps that
    convert to UTC. Raises ``InvalidPayload`` with a reason that never holds the token."""
    doc = _stored_object(text)
    expires_at = bearer.parse_timestamp(doc["expires_at"])
    if expires_at is None:
        raise InvalidPayload("the stored expires_at is not an RFC 3339 timestamp that converts to UTC")
    # issued_at is informational (consumers need only the fields TokenReader reads): one that
    # cannot be read counts as absent, so the job and the reader agree on what is usable.
    issued_at = bearer.parse_timestamp(doc.get("issued_at")) or expires_at
    for problem in (
        bearer.access_token_problem(doc["access_token"]),
        bearer.token_type_problem(doc["token_type"]),
    ):
        if problem is not None:
            raise InvalidPayload(f"the stored {problem}")
    expires_in = doc.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or abs(expires_in) > 10**12:
        expires_in = int((expires_at - issued_at).total_seconds())
    version = doc.get("schema_version", SCHEMA_VERSION)
    return TokenPayload(
        access_token=Secret(doc["access_token"]),
        token_type=doc["token_type"],
        expires_in=expires_in,
        expires_at=expires_at,
        issued_at=issued_at,
        scope=_text_field(doc, "scope"),
        environment=_text_field(doc, "environment"),
        token_url=_text_field(doc, "token_url"),
        client_id=_text_field(doc, "client_id"),
        schema_version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        expires_in_source=_text_field(doc, "expires_in_source") or "server",
        # Informational: unreadable counts as unknown.
        credential_expires_at=bearer.parse_timestamp(doc.get("credential_expires_at")),
        configuration=_configuration(doc.get("configuration")),
    )


def _configuration(value: object) -> tuple[tuple[str, str], ...]:
    """The recorded configuration digests; () when absent or not an object of short strings
    (an unreadable record counts as none: fresh by time alone, as before schema 2)."""
    if not isinstance(value, dict) or len(value) > 32:
        return ()
    pairs = tuple(value.items())
    if not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 128 for k, v in pairs
    ):
        return ()
    return pairs


def _stored_object(text: str | None) -> dict[str, Any]:
    """The stored value as a JSON object with every required key. Raises ``InvalidPayload``."""
    if text is None:
        raise InvalidPayload("the secret has no string value")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidPayload("the stored value is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidPayload("the stored value is not a JSON object")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise InvalidPayload(f"the stored payload lacks {', '.join(missing)}")
    return doc


def _text_field(doc: dict[str, Any], name: str) -> str:
    """An informational text field: "" when absent or not a string. Raises ``InvalidPayload``
    when it is not valid Unicode or longer than 4096 characters."""
    value = doc.get(name, "")
    if not isinstance(value, str):
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"the stored {name} is not valid Unicode text") from None
    if len(value) > 4096:
        raise InvalidPayload(f"the stored {name} is longer than 4096 characters")
    return value
