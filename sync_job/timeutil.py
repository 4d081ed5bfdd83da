"""RFC 3339 UTC timestamps, the only time format in the stored payload."""

from __future__ import annotations

from datetime import UTC, datetime


def format_rfc3339(moment: datetime) -> str:
    # Whole seconds: consumers compare strings and parse them in many languages.
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; naive results are rejected (ValueError)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return value.astimezone(UTC)
