"""Every examples/providers/*.toml stays inside the per-secret write budget: a simulated week of
the real Job (standins/simulation.py) on the in-memory Secrets Manager that enforces the
version quota (standins/sm_limits.py), the provider issuing its lifetime as the example
configures it (standins/providers.py). `python -m bench.freshness_sim --examples` prints
the same figures (docs/behaviour.md)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from standins.providers import EXAMPLES, PROVIDERS
from standins.simulation import simulate_example
from sync_job import budget


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.CRITICAL)  # a week of runs would be a lot of log lines
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_week_of_each_example_writes_inside_the_budget(name: str) -> None:
    rows = simulate_example(EXAMPLES / f"{name}.toml", PROVIDERS[name].lifetime)
    assert rows
    for row in rows:
        r = row.result
        assert r.quota_errors == 0, row
        assert r.max_writes_24h <= budget.SCHEDULED_LIMIT, row
        assert r.max_writes_24h <= row.planned_per_day, row  # the arithmetic is an upper bound
        assert r.writes_per_day > 0
        assert budget.plan(row.lifetime, row.margin, row.interval).fits


def test_the_realm_default_keycloak_lifespan_would_hit_the_quota() -> None:
    # The same example with Keycloak's default 300 s tokens: the simulated Secrets Manager
    # refuses writes past 100 versions in 24 hours, so tokens lapse. The limits do bite.
    rows = simulate_example(EXAMPLES / "keycloak.toml", 300, days=2)
    for row in rows:
        assert row.planned_per_day == 288
        assert row.result.quota_errors > 0
        assert row.result.max_writes_24h == budget.VERSION_QUOTA
        assert row.result.valid_fraction < 0.9
