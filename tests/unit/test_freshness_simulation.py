"""A week of schedule on a manual clock: the stored token never lapses unless an outage lasts
longer than margin - interval, and steady state stays near one token per token lifetime."""

from __future__ import annotations

import pytest

from standins.fakes import Outages
from standins.simulation import simulate


@pytest.mark.parametrize(("margin", "interval"), [(900, 900), (900, 300), (1800, 900), (2400, 300)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_lapse_is_explained_by_a_long_outage(margin: int, interval: int, seed: int) -> None:
    result = simulate(margin=margin, interval=interval, days=7, seed=seed)
    assert result.expiries_without_long_outage == 0


@pytest.mark.parametrize(("margin", "interval"), [(900, 900), (900, 300), (1800, 900)])
def test_without_outages_the_token_never_lapses(margin: int, interval: int) -> None:
    result = simulate(
        margin=margin, interval=interval, days=7, seed=0, token_outages=Outages(), store_outages=Outages()
    )
    assert result.expiries == 0
    assert result.valid_fraction == 1.0
    assert result.min_remaining_read > margin - interval


def test_steady_state_cost_at_the_default_schedule() -> None:
    result = simulate(
        margin=900, interval=900, days=7, seed=0, token_outages=Outages(), store_outages=Outages()
    )
    assert result.requests_per_hour <= 1.34


def test_the_bound_is_tight() -> None:
    # M=1800, I=900: the token issued at t=0 expires at 3599; runs at 1800 and 2700 may refresh it.
    short = simulate(
        margin=1800,
        interval=900,
        days=0.2,
        seed=0,
        token_outages=Outages([(1790.0, 2650.0)]),
        store_outages=Outages(),
    )
    assert short.expiries == 0  # 860 s < M - I: the run at 2700 succeeds
    long = simulate(
        margin=1800,
        interval=900,
        days=0.2,
        seed=0,
        token_outages=Outages([(1790.0, 3650.0)]),
        store_outages=Outages(),
    )
    assert long.expiries == 1 and long.expiries_without_long_outage == 0
    store_out = simulate(
        margin=1800,
        interval=900,
        days=0.2,
        seed=0,
        token_outages=Outages(),
        store_outages=Outages([(1790.0, 3650.0)]),
    )
    assert store_out.expiries == 1
