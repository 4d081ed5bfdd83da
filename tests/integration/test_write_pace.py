"""Secrets Manager's write quota across the real wire: "Combined rate of PutSecretValue, ...,
UpdateSecret, and UpdateSecretVersionStage API requests: 50 per second" per Region
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html), which the
moto wrapper enforces (standins/sm_limits.py). A refresh makes two writes, so before the job
paced them a run of 100 environments sent 200 in about a second and half of them failed."""

from __future__ import annotations

from typing import Any

from standins.harness import Harness


def test_a_hundred_environments_refresh_without_one_throttled_write(harness: Harness) -> None:
    # One attempt per call: a single throttled write fails its environment.
    harness.defaults["aws_max_attempts"] = 1
    # One token host for all: its pacing must not be what spreads the writes.
    harness.defaults["rate_limit_per_second"] = 1000
    harness.defaults["rate_limit_burst"] = 100
    names = [f"w{i:03d}" for i in range(100)]
    for name in names:
        harness.add_env(name)
    harness.cli("run", "--json", "--force")  # every token secret gets a first version
    harness.moto.clear()
    out = harness.cli("run", "--json", "--force")
    results: list[dict[str, Any]] = out.json()["results"]
    assert {r["environment"]: r["outcome"] for r in results} == dict.fromkeys(names, "refreshed"), out.stderr[
        -2000:
    ]
    assert out.exit_code == 0
    assert (
        harness.moto.count("PutSecretValue") == harness.moto.count("UpdateSecretVersionStage") == len(names)
    )
    assert "Throttling" not in out.stderr
