"""Issue 12 across the real wire: most urgent first, deferred, and batched reads (moto's server,
the real botocore client, call counts taken at the server)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness


def results(out: Any) -> dict[str, dict[str, Any]]:
    return {r["environment"]: r for r in out.json()["results"]}


@pytest.mark.parametrize("count", [1, 20, 25])
def test_a_fresh_run_costs_one_batch_call_per_twenty_environments(harness: Harness, count: int) -> None:
    for i in range(count):
        harness.add_env(f"e{i:02d}")
        harness.put_stored(f"e{i:02d}", valid_doc(f"e{i:02d}", remaining=3000))
    harness.moto.clear()
    out = harness.cli("run", "--json")
    assert out.exit_code == 0, out.stderr
    assert {r["outcome"] for r in results(out).values()} == {"fresh"}
    if count == 1:
        assert (harness.moto.count(), harness.moto.count("GetSecretValue")) == (1, 1)
    else:
        assert harness.moto.count("BatchGetSecretValue") == math.ceil(count / 20)
        assert harness.moto.count() == math.ceil(count / 20)
    status = harness.cli("status", "--json")
    assert status.exit_code == 0
    assert harness.moto.count() == 2 * (1 if count == 1 else math.ceil(count / 20))


def test_a_refreshing_run_batches_its_reads_too(harness: Harness) -> None:
    names = [f"e{i}" for i in range(5)]
    for name in names:
        harness.add_env(name)
        harness.put_stored(name, valid_doc(name, remaining=300))
    harness.moto.clear()
    out = harness.cli("run", "--json")
    assert out.exit_code == 0, out.stderr
    assert {r["outcome"] for r in results(out).values()} == {"refreshed"}
    # One batch for the token secrets, one for the credentials, then each publish's two writes.
    assert harness.moto.count("BatchGetSecretValue") == 2
    assert harness.moto.count("GetSecretValue") == 0
    assert harness.moto.count("PutSecretValue") == 5
    assert harness.moto.count("UpdateSecretVersionStage") == 5
    # Only AWSCURRENT is ever used, whatever the batch returns.
    harness.moto.clear()
    again = harness.cli("run", "--json")
    assert {r["outcome"] for r in results(again).values()} == {"fresh"}
    # After the label moves, the batch answers AWSCURRENT (tests/unit/test_store_batch.py shows
    # an answer on any other version is never used).
    assert harness.moto.count("BatchGetSecretValue") == 1
    assert harness.moto.count("GetSecretValue") == 0
    for name in names:
        stored = harness.stored(name)
        assert stored is not None
        assert results(again)[name]["expires_at"] == stored["expires_at"]
    assert harness.token_requests("e0") == 1


@pytest.mark.parametrize("code", ["AccessDeniedException", "InternalServiceError"])
def test_a_refused_batch_falls_back_to_one_read_per_secret(harness: Harness, code: str) -> None:
    for i in range(3):
        harness.add_env(f"e{i}")
        harness.put_stored(f"e{i}", valid_doc(f"e{i}", remaining=3000))
    harness.moto.clear()
    harness.moto.inject("BatchGetSecretValue", code, times=10)
    out = harness.cli("run", "--json")
    assert out.exit_code == 0, out.stderr
    assert {r["outcome"] for r in results(out).values()} == {"fresh"}
    assert harness.moto.count("GetSecretValue") == 3


def test_most_urgent_first_and_deferred_under_a_tight_budget(harness: Harness) -> None:
    # One host paced at a request every 2 s with no burst, 1 s requests, a 4.5 s budget: slots
    # at 0 s and 2 s fit before the last start the budget allows (3.5 s); the third (4 s) does not. Stored tokens: one missing, one expired, three valid with
    # different time left (all inside the refresh margin), declared least urgent first.
    # "sooner" keeps more than the 60 s every consumer requires (bearer.EXPIRY_SKEW_SECONDS), so it
    # is still usable and deferred; with 60 s or less it would count as expired.
    remaining = {"later": 800, "soon": 120, "sooner": 90, "expired": -30}
    for name in [*remaining, "missing"]:
        harness.add_env(name, rate_limit_per_second=0.5, rate_limit_burst=1, timeout_seconds=1)
    for name, left in remaining.items():
        harness.put_stored(name, valid_doc(name, remaining=left))
    harness.defaults["run_timeout_seconds"] = 4.5
    harness.defaults["max_workers"] = 1
    out = harness.cli("run", "--json")
    by = results(out)
    attempted = {n for n in by if harness.token_requests(n) > 0}
    # Missing first, then expired: those two fit; every valid one found no room.
    assert attempted == {"missing", "expired"}, by
    assert {n: by[n]["outcome"] for n in ("later", "soon", "sooner")} == dict.fromkeys(
        ("later", "soon", "sooner"), "deferred"
    )
    for name in ("later", "soon", "sooner"):
        assert "its token expires at" in by[name]["warning"]
        assert by[name]["error"] is None
    assert out.exit_code == 0, out.stderr


def test_urgency_before_config_order_when_only_one_fits(harness: Harness) -> None:
    for name, left in (("a-later", 800), ("b-sooner", 100)):
        harness.add_env(name, rate_limit_per_second=0.2, rate_limit_burst=1, timeout_seconds=1)
        harness.put_stored(name, valid_doc(name, remaining=left))
    harness.defaults["run_timeout_seconds"] = 2
    harness.defaults["max_workers"] = 1
    out = harness.cli("run", "--json")
    by = results(out)
    assert by["b-sooner"]["outcome"] == "refreshed"
    assert by["a-later"]["outcome"] == "deferred"
    assert harness.token_requests("a-later") == 0
    assert out.exit_code == 0


def test_a_missing_token_that_found_no_room_fails(harness: Harness) -> None:
    for name in ("first", "second"):
        harness.add_env(name, rate_limit_per_second=0.2, rate_limit_burst=1, timeout_seconds=1)
    harness.defaults["run_timeout_seconds"] = 2
    harness.defaults["max_workers"] = 1
    out = harness.cli("run", "--json")
    by = results(out)
    assert sorted(r["outcome"] for r in by.values()) == ["failed", "refreshed"]
    failed = next(r for r in by.values() if r["outcome"] == "failed")
    assert "no request slot" in failed["error"]
    assert out.exit_code == 1
