"""What each command reports: frozen, typed results that the CLI, the Lambda handler and the
metrics only read and render. The names of outcomes and states live here and nowhere else. The
read-only commands' results (``StatusReport``, ``CheckReport``, ``TokenLookup``) live beside
them in ``readonly.py``: a run, which every process start pays for, never builds them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sync_job.bearer import format_timestamp


class Outcome(StrEnum):
    """What ``run`` did for one environment."""

    REFRESHED = "refreshed"  # a new token was published
    FRESH = "fresh"  # the stored token had more than the margin left: nothing sent, nothing written
    KEPT = "kept"  # a token was obtained but the stored one lives longer, so it stayed
    DEFERRED = "deferred"  # due, but pacing or the budget left no room; the stored token is valid
    FAILED = "failed"  # the stored token is untouched; ``error`` says why
    WOULD_REFRESH = "would_refresh"  # dry run: a refresh is due

    @property
    def ok(self) -> bool:
        """True unless ``failed``: the environment holds a valid token after the run."""
        return self is not Outcome.FAILED


class TokenState(StrEnum):
    """The state of a stored token, as ``status`` and ``token`` see it."""

    VALID = "valid"
    EXPIRING = "expiring"  # valid, inside the refresh margin
    # Usable, but obtained with another configuration (scope, audience, token URL, ...): the next
    # run replaces it at once (freshness.configuration_change); it stays published until then.
    RECONFIGURED = "reconfigured"
    EXPIRED = "expired"
    MISSING = "missing"  # the secret has no value yet
    INVALID = "invalid"  # the stored value cannot be used (see bearer.py)
    ERROR = "error"  # the secret cannot be read

    @property
    def ok(self) -> bool:
        """True when the stored token is usable now (``valid``, ``expiring`` or
        ``reconfigured``: the old configuration's token serves until the next run replaces it)."""
        return self in (TokenState.VALID, TokenState.EXPIRING, TokenState.RECONFIGURED)


def stamp(moment: datetime | None) -> str | None:
    """``moment`` as the reports' RFC 3339 UTC text (``bearer.format_timestamp``), or None."""
    return format_timestamp(moment) if moment is not None else None


def whole_seconds(value: float | None) -> int | None:
    """Seconds as the reports show them: whole, rounded toward zero; None stays None."""
    return None if value is None else int(value)


def add_credential_end(doc: dict[str, Any], expires_at: datetime | None, days_left: int | None) -> None:
    """Add ``credential_expires_at`` and ``credential_days_left`` to a report document, where
    the credential's end is known (``expiry.py``)."""
    if expires_at is not None:
        doc["credential_expires_at"] = stamp(expires_at)
        doc["credential_days_left"] = days_left


@dataclass(frozen=True)
class EnvironmentResult:
    """One environment's ``run`` result. ``expires_at`` (UTC) and ``seconds_remaining`` describe
    the token stored after the run (None when none is); ``attempts`` counts token requests sent
    (0 on the fresh path); ``latency_seconds`` is the last request's duration."""

    environment: str
    outcome: Outcome
    expires_at: datetime | None = None
    seconds_remaining: float | None = None
    error: str | None = None
    attempts: int = 0
    latency_seconds: float | None = None
    warning: str | None = None
    # When the client credential ends and whole days left (expiry.py), where known.
    credential_expires_at: datetime | None = None
    credential_days_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as RFC 3339 UTC, seconds as integers, latency in ms;
        ``credential_expires_at`` / ``credential_days_left`` only where known."""
        doc: dict[str, Any] = {
            "environment": self.environment,
            "outcome": str(self.outcome),
            "expires_at": stamp(self.expires_at),
            "seconds_remaining": whole_seconds(self.seconds_remaining),
            "error": self.error,
            "attempts": self.attempts,
            "latency_ms": None if self.latency_seconds is None else round(self.latency_seconds * 1000, 1),
            "warning": self.warning,
        }
        add_credential_end(doc, self.credential_expires_at, self.credential_days_left)
        return doc


@dataclass(frozen=True)
class Report:
    """A ``run``: one result per environment, in the order asked for. ``interrupted`` names the
    signal that stopped the run early (None when it ran to the end)."""

    results: tuple[EnvironmentResult, ...]
    dry_run: bool = False
    interrupted: str | None = None

    @property
    def ok(self) -> bool:
        """True when no environment failed (exit code 0)."""
        return all(r.outcome.ok for r in self.results)

    @property
    def failed(self) -> tuple[EnvironmentResult, ...]:
        """The failed results, in order."""
        return tuple(r for r in self.results if not r.outcome.ok)

    def to_dict(self) -> dict[str, Any]:
        """The ``run --json`` document: ``results`` (see ``EnvironmentResult.to_dict``), and
        ``dry_run`` / ``interrupted`` when set."""
        doc: dict[str, Any] = {"results": [r.to_dict() for r in self.results]}
        if self.dry_run:
            doc["dry_run"] = True
        if self.interrupted:
            doc["interrupted"] = self.interrupted
        return doc
