"""Pure decisions about a stored token: is it fresh, and what state is it in."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sync_job.payload import TokenPayload

State = Literal["valid", "expiring", "expired", "missing"]

# Secrets Manager advises against writing a secret more often than every 10 minutes: each write
# is a version, and versions count toward a quota until they age out.
VERSION_CHURN_SECONDS = 600


def is_fresh(payload: TokenPayload | None, now: datetime, margin_seconds: float) -> bool:
    """True when the stored token has more than ``margin_seconds`` left."""
    return payload is not None and payload.seconds_remaining(now) > margin_seconds


def state(payload: TokenPayload | None, now: datetime, margin_seconds: float) -> State:
    if payload is None:
        return "missing"
    remaining = payload.seconds_remaining(now)
    if remaining <= 0:
        return "expired"
    if remaining <= margin_seconds:
        return "expiring"
    return "valid"


def churn_warning(payload: TokenPayload | None, now: datetime) -> str | None:
    """A note for a forced write that comes soon after the previous one."""
    if payload is None:
        return None
    age = (now - payload.issued_at).total_seconds()
    if 0 <= age < VERSION_CHURN_SECONDS:
        return (
            f"forced refresh {int(age)} s after the previous token was issued; Secrets Manager "
            f"advises at most one write per {VERSION_CHURN_SECONDS // 60} minutes per secret"
        )
    return None
