"""The write budget's arithmetic (sync_job/budget.py), pure: the interval a configuration implies,
versions a day, the verdict and its fix, and the early-refresh rule."""

from __future__ import annotations

import pytest

from sync_job import budget
from sync_job.errors import SyncJobError


@pytest.mark.parametrize(
    ("lifetime", "margin", "schedule", "interval", "per_day"),
    [
        (3599, 900, 300, 2700, 32),  # Paxos with the defaults: 2,699 s fresh, the 9th run after
        (3599, 900, None, 2699, 33),  # schedule unknown: a run at any moment, the worst case
        (86400, 3600, 300, 82800, 2),  # Auth0's day-long tokens, a one-hour margin
        (3600, 900, 60, 2700, 32),
        (300, 900, 300, 300, 288),  # Keycloak's default: half-lifetime rule, every run refreshes
        (300, 900, 60, 180, 480),  # 150 s fresh, refreshed at the third one-minute run
        (300, 120, 60, 180, 480),  # the old keycloak.toml: margin 120 s, every minute
        (300, 120, None, 180, 480),
        (1800, 900, 300, 900, 96),  # half an hour with the default margin: over 80
        (1980, 900, 300, 1200, 72),  # margin + 1,080 s: inside
        (1200, 600, 300, 600, 144),
        (100, 900, 30, 60, 1440),  # 50 s fresh, rounded up to two 30-s runs
    ],
)
def test_plan_interval_and_versions_a_day(
    lifetime: int, margin: int, schedule: int | None, interval: float, per_day: int
) -> None:
    p = budget.plan(lifetime, margin, schedule)
    assert p.interval_seconds == interval
    assert p.writes_per_day == per_day
    assert p.fits is (per_day <= budget.SCHEDULED_LIMIT)


def test_the_room_kept_and_the_limit() -> None:
    assert budget.VERSION_QUOTA == 100
    assert budget.OPERATOR_ROOM + budget.SCHEDULED_LIMIT == budget.VERSION_QUOTA
    assert budget.MIN_WRITE_INTERVAL_SECONDS == 1080
    # Exactly 80 a day fits; 81 does not.
    assert budget.plan(1080 + 900, 900).writes_per_day == 80
    assert budget.plan(1080 + 900, 900).fits
    assert not budget.plan(1079 + 900, 900).fits


def test_over_budget_says_the_arithmetic_and_the_fix() -> None:
    line = budget.warning(300, 900, 300)
    assert line is not None
    assert "the token lives 300 s" in line
    assert "half its lifetime" in line
    assert "288 versions a day" in line
    assert "over the write budget of 80 a day" in line
    assert "100 versions created in 24 hours" in line
    assert "at least 1980 s" in line and "Access Token Lifespan" in line
    assert "refresh_margin_seconds" in line  # names the key
    assert "\n" not in line
    # A margin cannot be lowered below a schedule interval: no such advice for a 300 s token.
    assert "lower refresh_margin_seconds" not in line
    # A 30-minute token with the default margin can also be fixed by a smaller margin.
    longer = budget.warning(1800, 900, 300)
    assert longer is not None and "lower refresh_margin_seconds to at most 720 s" in longer
    with pytest.raises(SyncJobError, match="over the write budget"):
        budget.check(300, 900, 300)


@pytest.mark.parametrize(("lifetime", "margin"), [(3599, 900), (86400, 3600), (3600, 900), (1980, 900)])
def test_within_budget_no_warning(lifetime: int, margin: int) -> None:
    assert budget.warning(lifetime, margin, 300) is None
    budget.check(lifetime, margin, 300)  # does not raise
    assert "within the 80 a day" in budget.explain(budget.plan(lifetime, margin, 300))


def test_early_refresh_never_takes_the_operators_room() -> None:
    assert budget.may_refresh_early(0)
    assert budget.may_refresh_early(budget.SCHEDULED_LIMIT - 1)  # the 80th version: allowed
    assert not budget.may_refresh_early(budget.SCHEDULED_LIMIT)
    assert not budget.may_refresh_early(budget.VERSION_QUOTA - 1)
    assert not budget.may_refresh_early(None)  # uncounted: the refresh can wait
