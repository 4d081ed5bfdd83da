"""Many environments on one token host (issue 12 §4): the pull-forward rule, and a smaller
fleet run through the real Job on a manual clock (the week of 1,000: `python -m bench.fleet_sim`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from standins.fleet import LIMIT, simulate_fleet
from sync_job.freshness import PULL_FORWARD_HEADROOM, pull_forward


@pytest.fixture(autouse=True)
def quiet() -> Iterator[None]:
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def test_a_lone_environment_is_never_pulled_forward_by_more_than_a_few_seconds() -> None:
    pace = 0.5 * PULL_FORWARD_HEADROOM
    assert pull_forward([("a", 1 / pace + 0.1)], rate=0.5) == set()
    assert pull_forward([("a", 1 / pace - 0.1)], rate=0.5) == {"a"}
    assert pull_forward([("a", 600.0), ("b", 1200.0)], rate=0.5) == set()


def test_a_bunched_fleet_is_pulled_forward_earliest_first() -> None:
    # 300 tokens due within the same minute: a host paced at 0.5/s cannot serve them when due,
    # so the earliest ones up to the last that would be late start now.
    bunch = [(f"e{i}", 600.0 + i * 0.2) for i in range(300)]
    pulled = pull_forward(bunch, rate=0.5)
    assert pulled and pulled == {name for name, _ in bunch[: len(pulled)]}
    assert "e0" in pulled
    # Work already queued on the host counts against it.
    assert len(pull_forward(bunch, rate=0.5, ahead=50)) >= len(pulled)
    # Spread evenly over the lifetime, the same fleet fits and nothing moves.
    spread = [(f"e{i}", 10.0 + i * 10.0) for i in range(300)]
    assert pull_forward(spread, rate=0.5) == set()


def test_two_hundred_environments_for_half_a_day_never_lapse_and_stay_under_the_limit() -> None:
    result = simulate_fleet(environments=200, days=0.5, seed=2)
    assert result.all_held_after is not None and result.all_held_after < 900
    assert result.lapses == 0
    assert 0 < result.busiest_5_minutes < LIMIT
    assert result.answered_429 == 0
    assert 1.0 < result.requests_per_env_hour < 2.0
