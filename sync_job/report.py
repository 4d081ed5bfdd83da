"""What a run did, per environment: the one structure the CLI, the Lambda handler and metrics read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sync_job.timeutil import format_rfc3339

Outcome = Literal["refreshed", "fresh", "failed", "would_refresh"]


@dataclass(frozen=True)
class EnvironmentResult:
    environment: str
    outcome: Outcome
    # expiry of the token that is stored after the run (None when none is).
    expires_at: datetime | None = None
    seconds_remaining: float | None = None
    error: str | None = None
    # token requests sent for this environment in this run (0 on the fresh path).
    attempts: int = 0
    # seconds the final token request took, when one was sent.
    latency_seconds: float | None = None
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "outcome": self.outcome,
            "expires_at": format_rfc3339(self.expires_at) if self.expires_at else None,
            "seconds_remaining": (None if self.seconds_remaining is None else int(self.seconds_remaining)),
            "error": self.error,
            "attempts": self.attempts,
            "latency_ms": (None if self.latency_seconds is None else round(self.latency_seconds * 1000, 1)),
            "warning": self.warning,
        }


@dataclass(frozen=True)
class Report:
    results: tuple[EnvironmentResult, ...]
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(r.outcome != "failed" for r in self.results)

    @property
    def failed(self) -> tuple[EnvironmentResult, ...]:
        return tuple(r for r in self.results if r.outcome == "failed")

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"results": [r.to_dict() for r in self.results]}
        if self.dry_run:
            doc["dry_run"] = True
        return doc
