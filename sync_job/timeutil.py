"""RFC 3339 UTC timestamps, the only time format in the stored payload (rules in ``bearer.py``)."""

from __future__ import annotations

from datetime import datetime

from sync_job.bearer import format_timestamp, parse_timestamp


def format_rfc3339(moment: datetime) -> str:
    """``moment`` as RFC 3339 UTC with a ``Z`` suffix, to the second (``bearer.format_timestamp``)."""
    return format_timestamp(moment)


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; raises ValueError for anything else."""
    value = parse_timestamp(text)
    if value is None:
        raise ValueError("not an RFC 3339 timestamp with a UTC offset")
    return value
