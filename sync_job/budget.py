"""The write budget of a token secret: Secrets Manager's version quota as arithmetic. Pure.

AWS, Secrets Manager quotas page
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html) and the
PutSecretValue API reference: every PutSecretValue that carries a value creates a version;
"Secrets Manager removes unlabeled versions when there are more than 100, but it does not remove
versions created less than 24 hours ago ... you will reach the quota for secret versions", and the
write then fails with ``LimitExceededException``. Read conservatively: at most ``VERSION_QUOTA``
versions created within any 24 hours, whoever wrote them (this job, ``credentials put``'s publish,
an operator's ``run --force``, a hand-made PutSecretValue).

Each token refresh the job publishes is one version (one PutSecretValue; moving AWSCURRENT with
UpdateSecretVersionStage creates none). Of the 100, ``OPERATOR_ROOM`` (20) are kept for what
operators do by hand: forced refreshes and ``credentials put`` (each publishes one token);
scheduled refreshes may use the other ``SCHEDULED_LIMIT`` (80) a day, one every 1,080 s at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sync_job.errors import SyncJobError

if TYPE_CHECKING:  # store imports this module's quota at call time
    from sync_job.store import SecretsStore

VERSION_QUOTA = 100  # versions of one secret created within WINDOW_SECONDS
WINDOW_SECONDS = 86400
# Kept for operators per secret per 24 h: 20 forced refreshes or credential rotations a day is
# far more than a runbook asks for, and leaves the scheduled refreshes 80.
OPERATOR_ROOM = 20
SCHEDULED_LIMIT = VERSION_QUOTA - OPERATOR_ROOM
# The shortest interval between scheduled writes that stays within SCHEDULED_LIMIT: 1,080 s.
MIN_WRITE_INTERVAL_SECONDS = WINDOW_SECONDS / SCHEDULED_LIMIT


@dataclass(frozen=True)
class WritePlan:
    """The writes a configuration implies for one token secret.

    ``interval_seconds`` is the shortest time between two scheduled refreshes: the time a new
    token stays fresh (lifetime less the effective margin), rounded up to whole schedule intervals
    when the schedule is known (a run refreshes only when it finds the token due), and never less
    than one schedule interval. ``writes_per_day`` = ceil(86,400 / interval): an upper bound."""

    lifetime_seconds: float
    margin_seconds: float  # as configured (refresh_margin_seconds)
    effective_margin_seconds: float  # half the lifetime when the token lives no longer than the margin
    schedule_seconds: float | None  # how often the job runs; None: unknown, any moment assumed
    interval_seconds: float
    writes_per_day: int

    @property
    def fits(self) -> bool:
        """Scheduled refreshes leave ``OPERATOR_ROOM`` versions a day under the quota."""
        return self.writes_per_day <= SCHEDULED_LIMIT


def plan(lifetime_seconds: float, margin_seconds: float, schedule_seconds: float | None = None) -> WritePlan:
    """The :class:`WritePlan` of a token living ``lifetime_seconds`` (> 0), refreshed with
    ``refresh_margin_seconds`` = ``margin_seconds`` by a job run every ``schedule_seconds``
    (None: unknown). The half-lifetime rule is freshness.effective_margin's."""
    lifetime = max(float(lifetime_seconds), 1.0)
    effective = lifetime / 2 if lifetime <= margin_seconds else float(margin_seconds)
    fresh_for = max(lifetime - effective, 1.0)
    if schedule_seconds:
        interval = max(1, math.ceil(fresh_for / schedule_seconds - 1e-9)) * float(schedule_seconds)
    else:
        interval = fresh_for
    return WritePlan(
        lifetime_seconds=lifetime,
        margin_seconds=float(margin_seconds),
        effective_margin_seconds=effective,
        schedule_seconds=schedule_seconds,
        interval_seconds=interval,
        writes_per_day=math.ceil(WINDOW_SECONDS / interval - 1e-9),
    )


def explain(p: WritePlan) -> str:
    """One line: the arithmetic of ``p`` against the budget, and (when over it) the fix."""
    margin = (
        f"refreshed at half its lifetime ({p.effective_margin_seconds:g} s left, as it lives no "
        f"longer than refresh_margin_seconds {p.margin_seconds:g} s)"
        if p.effective_margin_seconds != p.margin_seconds
        else f"refreshed {p.margin_seconds:g} s before it expires"
    )
    runs = f"runs every {p.schedule_seconds:g} s" if p.schedule_seconds else "runs at any moment"
    head = (
        f"the token lives {p.lifetime_seconds:g} s, {margin}; with {runs} that is a write every "
        f"{p.interval_seconds:g} s, {p.writes_per_day} versions a day"
    )
    if p.fits:
        return (
            f"{head}, within the {SCHEDULED_LIMIT} a day left after {OPERATOR_ROOM} kept for "
            "--force and credentials put"
        )
    needed = p.margin_seconds + MIN_WRITE_INTERVAL_SECONDS
    fix = (
        f"raise the token lifetime at the provider to at least {math.ceil(needed)} s "
        f"(margin + {MIN_WRITE_INTERVAL_SECONDS:g} s; Keycloak: the client's Access Token Lifespan, "
        "Cognito: the app client's access token expiration)"
    )
    lowest = p.lifetime_seconds - MIN_WRITE_INTERVAL_SECONDS
    floor = p.schedule_seconds or 300.0  # a margin under the schedule lets tokens lapse between runs
    if lowest > floor:
        fix += f", or lower refresh_margin_seconds to at most {math.floor(lowest)} s"
    return (
        f"{head}: over the write budget of {SCHEDULED_LIMIT} a day (Secrets Manager refuses a "
        f"PutSecretValue past {VERSION_QUOTA} versions created in 24 hours, and {OPERATOR_ROOM} are "
        f"kept for --force and credentials put); {fix}"
    )


def warning(lifetime_seconds: float, margin_seconds: float, schedule_seconds: float | None) -> str | None:
    """``run``'s note on a published token whose lifetime makes scheduled refreshes exceed the
    budget (None when they fit)."""
    p = plan(lifetime_seconds, margin_seconds, schedule_seconds)
    return None if p.fits else explain(p)


def check(lifetime_seconds: float, margin_seconds: float, schedule_seconds: float | None) -> None:
    """``check``'s verdict: raises ``SyncJobError`` with :func:`explain`'s line when scheduled
    refreshes would leave less than ``OPERATOR_ROOM`` versions a day."""
    over = warning(lifetime_seconds, margin_seconds, schedule_seconds)
    if over is not None:
        raise SyncJobError(over)


def may_refresh_early(versions_in_window: int | None) -> bool:
    """Whether a refresh the stored token does not need yet (pulled forward to use a token
    host's idle capacity) may be written, given the versions the secret holds that were created
    in the last 24 hours (None: unknown). Only while it leaves ``OPERATOR_ROOM`` untouched: an
    early refresh never spends the last of a secret's budget, which a due refresh or an operator
    may need."""
    return versions_in_window is not None and versions_in_window + 1 <= SCHEDULED_LIMIT


def early_refusal(store: SecretsStore, secret_id: str, now: datetime) -> str | None:
    """Why a refresh that is not due yet must not be written to ``secret_id`` (None: it may):
    counts the secret's versions created in the 24 hours before ``now`` (one
    ListSecretVersionIds, ``SecretStore.versions_created_since``) and applies
    :func:`may_refresh_early`. A count that fails refuses (the refresh can wait)."""
    try:
        held: int | None = store.versions_created_since(secret_id, now - timedelta(seconds=WINDOW_SECONDS))
    except SyncJobError:
        held = None
    if may_refresh_early(held):
        return None
    if held is None:
        return "early refresh skipped: the secret's versions could not be counted"
    return (
        f"early refresh skipped: the secret holds {held} versions created in the last 24 hours; "
        f"refreshes that are not due yet stop at {SCHEDULED_LIMIT}, keeping {OPERATOR_ROOM} for "
        "--force and credentials put"
    )
