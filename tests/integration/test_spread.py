"""Spreading a fleet over its refresh cycle, one run ahead of due (freshness.spread_share,
spread_cycle; issue 17 §4), across the wire: moto's Secrets Manager and a real token endpoint on
127.0.0.1, every environment on the one token host."""

from __future__ import annotations

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness


# Hour-long tokens (3599 s), margin 900 s, a run every 300 s: each environment is
# 300 / (2699 - 300) of a run's even share, so 8 on one host make one refresh a run (refreshed
# as each came due, 300 / 2699 each, it took 9), and 7 never move.
@pytest.mark.parametrize(("environments", "refreshed"), [(8, ["e0"]), (7, [])])
def test_a_fleet_on_one_host_refreshes_its_even_share_one_run_ahead(
    harness: Harness, environments: int, refreshed: list[str]
) -> None:
    harness.defaults["schedule_seconds"] = 300
    names = [f"e{i}" for i in range(environments)]
    for i, name in enumerate(names):
        harness.add_env(name)
        # All fresh, the soonest due in 1,100 s: no run would refresh any of them were it not
        # spreading (the pacing could serve each in time).
        harness.put_stored(name, valid_doc(name, remaining=2000 + 60 * i, token=f"tok-LEAKMARK-{name}"))
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    outcomes = {r["environment"]: r["outcome"] for r in result.json()["results"]}
    assert [n for n in names if outcomes[n] == "refreshed"] == refreshed
    assert all(outcomes[n] == "fresh" for n in names if n not in refreshed)
    for name in names:
        assert harness.token_requests(name) == (name in refreshed)
        kept = harness.stored(name)["access_token"] == f"tok-LEAKMARK-{name}"  # type: ignore[index]
        assert kept is (name not in refreshed)
