"""What a run will do, decided before any token request: a pure function of the configuration,
the stored tokens and the clock's ``now``. :func:`plan_run` is the freshness decision of a run;
:func:`retry_at` decides whether a failed environment is tried again later in the same run.
No I/O, no logging: the run (``sync.Job.run``) carries the plan out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sync_job import freshness
from sync_job.config import EnvironmentConfig
from sync_job.errors import StoreError
from sync_job.payload import TokenPayload
from sync_job.report import Outcome
from sync_job.store import StoredToken


class Decision(StrEnum):
    """What a run does with one environment."""

    FRESH = "fresh"  # more than its margin left: nothing sent, nothing written
    DUE = "due"  # refreshed this run (missing, unreadable payload, expired, inside the margin, forced)
    PULLED_FORWARD = "pulled_forward"  # fresh, but refreshed early with the host's spare capacity
    DRY_RUN = "dry_run"  # due, but the run only says it would refresh
    UNREADABLE = "unreadable"  # its token secret could not be read: nothing is attempted


@dataclass(frozen=True)
class PlannedEnvironment:
    """One environment's decision and why (one short line). ``stored`` is what its token
    secret holds (None when ``UNREADABLE``, then ``error`` says why)."""

    env: EnvironmentConfig
    decision: Decision
    reason: str
    stored: StoredToken | None = None
    error: str | None = None
    # Components of the configuration that differ from what the stored token records
    # (freshness.configuration_change): such a token is due at once, ahead of expiring ones.
    changed: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.env.name

    @property
    def payload(self) -> TokenPayload | None:
        """The stored token (None when missing, unusable or unreadable)."""
        return self.stored.payload if self.stored is not None else None


@dataclass(frozen=True)
class RunPlan:
    """Every environment asked for, in config order (``entries``), and the order refreshes
    are attempted in (``to_refresh``: the due ones most urgent first, then the ones pulled
    forward, most urgent first)."""

    entries: tuple[PlannedEnvironment, ...]
    to_refresh: tuple[PlannedEnvironment, ...]

    def having(self, decision: Decision) -> tuple[PlannedEnvironment, ...]:
        """The entries with ``decision``, in config order."""
        return tuple(e for e in self.entries if e.decision is decision)


def plan_run(
    envs: Sequence[EnvironmentConfig],
    stored: Mapping[str, StoredToken | StoreError],
    now: datetime,
    *,
    force: bool = False,
    dry_run: bool = False,
    urgency_order: bool = True,
    interval: float | None = None,
) -> RunPlan:
    """The run's plan for ``envs`` given ``stored`` (what each token secret holds, by secret id,
    or why it could not be read) at ``now`` (UTC).

    Rules: an unreadable secret is not attempted; a token with more than its effective margin
    left is fresh unless ``force`` (``freshness.is_fresh``) or its configuration changed since
    it was issued (``freshness.configuration_change``: then it is due at once); a due one is ``DRY_RUN`` when
    ``dry_run``; due ones are attempted most urgent first (``freshness.urgency``) unless
    ``urgency_order`` is False (config order, for comparison); fresh ones that their token
    host's pacing could not serve in time were each waited for until due are pulled forward
    (``freshness.pull_forward``, per origin), never in a dry run or without urgency order. With
    ``interval`` (the schedule's seconds between runs), a host with fewer due than its even share
    (``freshness.spread_share``) also has its soonest-due fresh ones pulled forward up to it, so a
    bunched fleet spreads over its refresh cycle."""
    entries = [_decide(env, stored[env.token_secret], now, force=force, dry_run=dry_run) for env in envs]
    due = [e for e in entries if e.decision is Decision.DUE]
    if urgency_order:
        due.sort(key=lambda e: freshness.urgency(e.payload, now, reconfigured=bool(e.changed)))
    fresh = [e for e in entries if e.decision is Decision.FRESH]
    early = {} if dry_run or not urgency_order else _pull_forward(due, fresh, now, interval)
    entries = [_pulled(e, early[e.name]) if e.name in early else e for e in entries]
    pulled = [e for e in entries if e.decision is Decision.PULLED_FORWARD]
    pulled.sort(key=lambda e: freshness.urgency(e.payload, now))
    return RunPlan(entries=tuple(entries), to_refresh=(*due, *pulled))


def _decide(
    env: EnvironmentConfig, found: StoredToken | StoreError, now: datetime, *, force: bool, dry_run: bool
) -> PlannedEnvironment:
    if isinstance(found, StoreError):
        return PlannedEnvironment(env, Decision.UNREADABLE, "token secret unreadable", error=found.message)
    found = own_token(found, env.name)
    payload = found.payload
    changed = freshness.configuration_change(payload, freshness.configuration_identity(env))
    if not force and not changed and freshness.is_fresh(payload, now, env.refresh_margin_seconds):
        return PlannedEnvironment(env, Decision.FRESH, "more than the refresh margin left", found)
    reason = _why_due(payload, found.problem, now, force=force)
    if changed and reason in ("inside the refresh margin", "forced"):
        reason = freshness.configuration_reason(changed)
    decision = Decision.DRY_RUN if dry_run else Decision.DUE
    return PlannedEnvironment(env, decision, reason, found, changed=changed)


def own_token(found: StoredToken, environment: str) -> StoredToken:
    """``found`` when its token is ``environment``'s (the payload's ``environment``), else an
    unusable value: a token secret that holds another environment's token (a shared secret, a
    renamed environment) is never served or kept as this one's, and is replaced by its next
    refresh (issue 18 §5)."""
    payload = found.payload
    if payload is None or payload.environment == environment:
        return found
    problem = f"it holds environment {payload.environment!r}'s token, not {environment!r}'s"
    return StoredToken(payload=None, version_id=found.version_id, problem=problem)


def _why_due(payload: TokenPayload | None, problem: str | None, now: datetime, *, force: bool) -> str:
    if problem:
        return "the stored value is unusable"
    if payload is None:
        return "no token stored"
    if not freshness.usable(payload, now):
        return "the stored token has expired (or has 60 s or fewer left)"
    return "forced" if force else "inside the refresh margin"


_IN_TIME = "its token host could not serve every token in time if each waited until due"
_SPREAD = "fewer of its token host's tokens due than a run's even share: spread over their cycle"


def _pulled(entry: PlannedEnvironment, reason: str) -> PlannedEnvironment:
    return PlannedEnvironment(entry.env, Decision.PULLED_FORWARD, reason, entry.stored)


def _pull_forward(
    due: Sequence[PlannedEnvironment],
    fresh: Sequence[PlannedEnvironment],
    now: datetime,
    interval: float | None = None,
) -> dict[str, str]:
    """Fresh environments to refresh early with this run's spare capacity (and why), per token host
    (``origin``): those that, were every one waited for until due, the host's pacing could not
    serve in time (``freshness.pull_forward``); with ``interval``, then the soonest due up to the
    host's even share of a run (``freshness.spread_share``) less what is already due or pulled."""
    pulled: dict[str, str] = {}
    by_origin: dict[str, list[PlannedEnvironment]] = {}
    for entry in fresh:
        by_origin.setdefault(entry.env.origin, []).append(entry)
    for origin, group in by_origin.items():
        ahead = sum(1 for e in due if e.env.origin == origin)
        rate = min(e.env.rate_limit_per_second for e in group)
        until_due = [(e.name, _seconds_until_due(e, now)) for e in group]
        early = freshness.pull_forward(until_due, rate=rate, ahead=ahead)
        pulled.update(dict.fromkeys(early, _IN_TIME))
        if interval is not None:
            cycles = [_cycle(e) for e in (*group, *(d for d in due if d.env.origin == origin))]
            share = freshness.spread_share([c for c in cycles if c is not None], interval)
            rest = sorted((item for item in until_due if item[0] not in early), key=lambda item: item[1])
            pulled.update((name, _SPREAD) for name, _ in rest[: max(share - ahead - len(early), 0)])
    return pulled


def _cycle(entry: PlannedEnvironment) -> float | None:
    """Seconds between refreshes of this environment's token when each is refreshed as it comes
    due (its lifetime less its effective margin), or None without a token."""
    payload = entry.payload
    if payload is None:
        return None
    lifetime = (payload.expires_at - payload.issued_at).total_seconds()
    return lifetime - freshness.effective_margin(payload, entry.env.refresh_margin_seconds)


def _seconds_until_due(entry: PlannedEnvironment, now: datetime) -> float:
    payload = entry.payload
    assert payload is not None  # a fresh entry has a token
    return payload.seconds_remaining(now) - freshness.effective_margin(
        payload, entry.env.refresh_margin_seconds
    )


def retry_at(
    env: EnvironmentConfig,
    outcome: Outcome,
    *,
    transient: bool,
    first_round: bool,
    early: bool,
    interrupted: bool,
    now: float,
    deadline: float,
) -> float | None:
    """When (the clock's monotonic seconds) to try a failed environment once more in this run,
    or None. Only after a transient fault of its host (unreachable, 5xx, timeouts), only once a
    run (so at most ``2 x max_attempts`` requests), never for an early refresh, never after an
    interrupt, and only when ``backoff_max_seconds`` later a whole request still fits before
    ``deadline``. So a host back from an outage serves the most urgent first, while a dead host
    still fails a run quickly; pacing bounds what the host sees in all."""
    later = now + env.backoff_max_seconds
    if (
        transient
        and first_round
        and not early
        and outcome is Outcome.FAILED
        and not interrupted
        and later + env.timeout_seconds < deadline
    ):
        return later
    return None
