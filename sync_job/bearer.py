"""What makes a token usable by a consumer: one set of rules, read by the job before it publishes
and by :class:`~sync_job.reader.TokenReader` after it reads, so the two can never disagree.

Standard library only (the reader must stay importable where only boto3 is installed).

- ``token_type`` is ``bearer`` in any case (RFC 6750 §4; RFC 6749 §7.1 makes it case-insensitive).
- ``access_token`` is one run of visible ASCII characters (``%x21-7E``: RFC 9110 §5.5 ``VCHAR``,
  what a header field value carries as it is). That is wider than RFC 6750 §2.1's ``b64token``
  because providers issue wider tokens: Salesforce's client-credentials access tokens contain
  ``!`` (``00D...!AQ...``, Salesforce Help "OAuth 2.0 Client Credentials Flow"). Still refused,
  since they cannot go into ``Authorization: Bearer <token>`` safely: CR or LF (they would end
  the header line), other control characters, a space or tab (it would split the value) and
  non-ASCII (not a ``VCHAR``; encodings differ between clients).
- ``expires_at`` is an RFC 3339 timestamp with a UTC offset (RFC 3339 §5.6) that converts to UTC.
- The token is usable while more than :data:`EXPIRY_SKEW_SECONDS` remain before ``expires_at``
  (:func:`is_usable`): the one validity rule of ``sync-job token``, ``sync-job status``,
  ``TokenReader``, the Node example and every shell recipe in the docs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import UTC, datetime
from typing import Final

# RFC 9110 §5.5: VCHAR = %x21-7E, the visible ASCII characters; no space, no control, no non-ASCII.
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
# Secrets Manager holds at most 65,536 bytes a secret; a token this long is not a token.
MAX_TOKEN_LENGTH = 32_768
# The one validity rule: a token is usable only while MORE than this many seconds remain before
# its expires_at; with this many or fewer it counts as expired everywhere (`token` prints
# nothing and exits 1, `status` says expired, TokenReader raises TokenExpiredError, the recipes
# refuse it, the job never publishes it). Why a minute: the consumer's clock may be off by
# seconds (NTP keeps EC2 within milliseconds, but not every host), the request still has to
# cross the network and be retried, and the resource server checks expiry on its own clock;
# RFC 6749 §4.2.2 and §5.1 give expires_in in whole seconds from when the server answered.
EXPIRY_SKEW_SECONDS: Final = 60
# RFC 3339 §5.6 date-time (a space for the "T" is allowed by its note; fractions of any length).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def token_type_problem(value: object) -> str | None:
    """Why ``value`` is not a usable ``token_type`` (None when it is ``bearer``, any case)."""
    if not isinstance(value, str) or not value:
        return "token_type is missing or not a string"
    if value.lower() != "bearer":
        return "token_type is not bearer"
    return None


def access_token_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as ``Authorization: Bearer <value>`` (None when it can).

    Never quotes the value: the reason names the rule only.
    """
    if not isinstance(value, str) or not value:
        return "access_token is missing or not a non-empty string"
    if len(value) > MAX_TOKEN_LENGTH:
        return f"access_token is longer than {MAX_TOKEN_LENGTH} characters"
    if not _HEADER_TOKEN.fullmatch(value):
        return (
            "access_token has characters an Authorization header cannot carry safely "
            "(only visible ASCII: no space, control character or non-ASCII)"
        )
    return None


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp with an offset, as an aware UTC datetime; None for anything else,
    including values that parse but fall outside what a datetime can hold once in UTC
    (``9999-12-31T23:59:59-23:59``)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    text = value.upper().replace(" ", "T").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_timestamp(moment: datetime) -> str:
    """``moment`` as RFC 3339 UTC with ``Z``, whole seconds (consumers compare strings too)."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_left(expires_at: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``expires_at`` (both aware datetimes); negative once expired."""
    return (expires_at - now).total_seconds()


def is_usable(expires_at: datetime, now: datetime) -> bool:
    """The one validity rule: True while more than :data:`EXPIRY_SKEW_SECONDS` remain before
    ``expires_at`` (61 s left: usable; 60 s or fewer: not). ``now`` comes from the caller's clock."""
    return seconds_left(expires_at, now) > EXPIRY_SKEW_SECONDS


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch, RFC 7519 §4.1.4) of a JWT access token, read
    without verifying it (only to bound a lifetime); None when the token is not a JWT with a
    finite numeric ``exp``."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > MAX_TOKEN_LENGTH:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error, RecursionError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        value = float(exp)
    except OverflowError:  # an int with hundreds of digits
        return None
    return value if math.isfinite(value) else None


__all__ = [
    "EXPIRY_SKEW_SECONDS",
    "MAX_TOKEN_LENGTH",
    "access_token_problem",
    "format_timestamp",
    "is_usable",
    "jwt_expiry",
    "parse_timestamp",
    "seconds_left",
    "token_type_problem",
]
