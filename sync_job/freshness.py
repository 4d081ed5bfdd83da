"""Pure decisions about a stored token: is it fresh, what state is it in, and may a new token
replace it. Every function takes ``now`` (UTC) from the caller's clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sync_job import bearer
from sync_job.payload import TokenPayload
from sync_job.report import TokenState

# Secrets Manager advises against writing a secret more often than every 10 minutes: each write
# is a version, and versions count toward a quota until they age out.
VERSION_CHURN_SECONDS = 600


def effective_margin(payload: TokenPayload, margin_seconds: float) -> float:
    """The refresh margin (seconds) for this token: ``margin_seconds``, or half the token's
    lifetime when it lives no longer than the margin. Otherwise every run would refresh it and
    it would read as expiring right after each refresh."""
    lifetime = (payload.expires_at - payload.issued_at).total_seconds()
    if 0 < lifetime <= margin_seconds:
        return lifetime / 2
    return margin_seconds


def short_lifetime_warning(lifetime_seconds: float, margin_seconds: float) -> str | None:
    """The note for a token that lives no longer than the configured margin."""
    if 0 < lifetime_seconds <= margin_seconds:
        return (
            f"the token lives {int(lifetime_seconds)} s, no longer than refresh_margin_seconds "
            f"({int(margin_seconds)} s): it is refreshed at half its lifetime instead"
        )
    return None


def usable(payload: TokenPayload, now: datetime) -> bool:
    """The one validity rule (``bearer.is_usable``): more than ``bearer.EXPIRY_SKEW_SECONDS``
    (60 s) left. What consumers refuse, the job treats as expired."""
    return bearer.is_usable(payload.expires_at, now)


def is_fresh(payload: TokenPayload | None, now: datetime, margin_seconds: float) -> bool:
    """True when the stored token has more than its effective margin left, and is usable by the
    one rule (a margin below 60 s, or half a short lifetime, must not keep a token consumers
    refuse)."""
    return (
        payload is not None
        and usable(payload, now)
        and payload.seconds_remaining(now) > effective_margin(payload, margin_seconds)
    )


def state(payload: TokenPayload | None, now: datetime, margin_seconds: float) -> TokenState:
    """``status``'s state of a stored token at ``now``: ``missing``; ``expired`` when not usable
    by the one rule (60 s or fewer left, see ``bearer.is_usable``); ``expiring`` inside its
    effective refresh margin; else ``valid``."""
    if payload is None:
        return TokenState.MISSING
    remaining = payload.seconds_remaining(now)
    if not usable(payload, now):
        return TokenState.EXPIRED
    if remaining <= effective_margin(payload, margin_seconds):
        return TokenState.EXPIRING
    return TokenState.VALID


def urgency(payload: TokenPayload | None, now: datetime) -> tuple[int, float]:
    """Sort key of a due environment, most urgent first: no usable token (missing, unreadable,
    invalid), then expired (by the one rule), then by seconds left (soonest ``expires_at`` first)."""
    if payload is None:
        return (0, 0.0)
    remaining = payload.seconds_remaining(now)
    return (2, remaining) if usable(payload, now) else (1, remaining)


# Plan a token host at this share of its pacing rate, leaving room for retries and outages.
PULL_FORWARD_HEADROOM = 0.5


def pull_forward(until_due: Sequence[tuple[str, float]], *, rate: float, ahead: int = 0) -> set[str]:
    """Which fresh environments to refresh early, on one token host paced at ``rate`` requests
    a second, with ``ahead`` due environments already queued. ``until_due`` gives each one's
    seconds until it becomes due.

    Earliest deadline first: the i-th to come due needs ``(ahead + i + 1) / (rate *
    PULL_FORWARD_HEADROOM)`` seconds of the host before it. If any would not get them in time,
    the host cannot wait for each to come due: the earliest ones up to the last such are pulled
    forward, to use the capacity idle now. So a fleet whose tokens all came due together (a first
    fill, an outage) spreads itself out, while a lone environment is never pulled forward by more
    than a few seconds."""
    pace = rate * PULL_FORWARD_HEADROOM
    ordered = sorted(until_due, key=lambda item: item[1])
    last = -1
    for i, (_, seconds) in enumerate(ordered):
        if seconds < (ahead + i + 1) / pace:
            last = i
    return {name for name, _ in ordered[: last + 1]}


def publish_refusal(
    new: TokenPayload, stored: TokenPayload | None, now: datetime, *, force: bool
) -> str | None:
    """Why ``new`` must not replace ``stored`` (None when it may): a token that is not usable by
    the one rule (``bearer.is_usable``: 60 s or fewer left) is never published, since every
    consumer would refuse it; without ``force`` neither is one that expires before the usable
    stored one."""
    if not usable(new, now):
        return unusable_new_token(new, now)
    if force or stored is None or not usable(stored, now):
        return None
    if new.expires_at < stored.expires_at:
        return (
            f"the new token expires in {int(new.seconds_remaining(now))} s, before the stored one "
            f"({int(stored.seconds_remaining(now))} s left); kept the stored token (--force publishes it)"
        )
    return None


def unusable_new_token(new: TokenPayload, now: datetime) -> str:
    """Why a freshly obtained token is not published: it has ``EXPIRY_SKEW_SECONDS`` or fewer left."""
    left = new.seconds_remaining(now)
    if left <= 0:
        return "the new token had expired by the time it could be published; not published"
    return (
        f"the new token has {int(left)} s left by the time it could be published, not more than "
        f"the {bearer.EXPIRY_SKEW_SECONDS} s every consumer requires; not published"
    )


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
