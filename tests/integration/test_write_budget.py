"""The per-secret write budget across the wire (sync_job/budget.py): `check` fails and `run` warns
when a configuration's scheduled refreshes would leave no room under Secrets Manager's 100
versions in 24 hours, and a refresh that is not due yet never spends the last of it, counting
every version the secret holds (whoever wrote it) with ListSecretVersionIds. moto's limits are on
(standins/moto_server.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness
from sync_job import budget


def _short_lived(harness: Harness, name: str, lifetime: int, **table: Any) -> None:
    harness.add_env(name, **table)
    scopes = harness.envs[name]["scopes"]
    harness.tokens.add_client(
        harness.client_id(name), harness.secrets[name], scopes=scopes, lifetime=lifetime
    )


@pytest.mark.parametrize(("schedule", "per_day"), [(300, 288), (None, 576)])
def test_check_fails_for_tokens_that_would_exhaust_the_version_quota(
    harness: Harness, schedule: int | None, per_day: int
) -> None:
    if schedule is not None:
        harness.defaults["schedule_seconds"] = schedule
    _short_lived(harness, "keycloak", 300)  # Keycloak's default Access Token Lifespan
    result = harness.cli("check", "--json")
    assert result.exit_code != 0
    entry = result.json()["environments"][0]
    assert entry["ok"] is False
    assert entry["checks"]["token"] == "failed"
    assert f"{per_day} versions a day" in entry["error"]
    assert "over the write budget of 80 a day" in entry["error"]
    assert "Access Token Lifespan" in entry["error"]
    assert harness.moto.count("PutSecretValue") == 0  # check writes nothing


def test_check_passes_a_lifetime_inside_the_budget(harness: Harness) -> None:
    harness.defaults["schedule_seconds"] = 300
    _short_lived(harness, "keycloak", 3600)  # the lifespan raised to an hour: 32 a day
    result = harness.cli("check", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["environments"][0]["ok"] is True


def test_run_publishes_but_warns_with_the_arithmetic(harness: Harness) -> None:
    harness.defaults["schedule_seconds"] = 300
    _short_lived(harness, "keycloak", 300)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    entry = result.json()["results"][0]
    assert entry["outcome"] == "refreshed"  # the token consumers need is still published
    assert "288 versions a day" in entry["warning"]
    assert "over the write budget" in result.stderr


def _fill(harness: Harness, name: str, versions: int) -> None:
    """``versions`` versions written to the token secret by someone else (an operator, another
    job), the last a stored token that is fresh for 100 s more (1,000 s left, margin 900 s)."""
    harness.moto.freeze()  # writes 20 a second on the limits' clock: under the write rate
    for i in range(versions - 1):
        harness.moto.advance(0.05)
        harness.sm.put_secret_value(SecretId=harness.token_secret(name), SecretString=json.dumps({"n": i}))
    harness.moto.advance(0.05)
    harness.put_stored(name, valid_doc(name, remaining=1000, token=f"tok-LEAKMARK-early-{name}"))


@pytest.mark.parametrize(
    ("held", "outcome", "puts"),
    [(budget.SCHEDULED_LIMIT - 1, "refreshed", 1), (budget.SCHEDULED_LIMIT, "fresh", 0)],
)
def test_an_early_refresh_stops_where_the_operators_room_begins(
    harness: Harness, held: int, outcome: str, puts: int
) -> None:
    # A very slow pacing rate makes the job pull this fresh token forward (it could not serve
    # it in time were it to wait until due: freshness.pull_forward).
    harness.add_env("sandbox", rate_limit_per_second=0.001)
    _fill(harness, "sandbox", held)
    before = harness.moto.count("PutSecretValue")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    entry = result.json()["results"][0]
    assert entry["outcome"] == outcome
    assert harness.moto.count("PutSecretValue") - before == puts
    assert harness.moto.count("ListSecretVersionIds") == 1  # the versions held, counted once
    assert harness.token_requests("sandbox") == puts
    if puts == 0:
        assert harness.stored("sandbox")["access_token"] == "tok-LEAKMARK-early-sandbox"  # type: ignore[index]


def test_a_due_refresh_may_use_the_operators_room(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.moto.freeze()
    for i in range(budget.SCHEDULED_LIMIT + 5):
        harness.moto.advance(0.05)
        harness.sm.put_secret_value(
            SecretId=harness.token_secret("sandbox"), SecretString=json.dumps({"n": i})
        )
    harness.put_due("sandbox")  # 120 s left: due, not early
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"
    assert harness.moto.count("ListSecretVersionIds") == 0  # a due refresh costs no count


def _at_the_quota(harness: Harness, name: str) -> dict[str, Any]:
    """``name``'s token secret holding 100 versions made within 24 hours, the last a due token."""
    harness.moto.freeze()
    for i in range(budget.VERSION_QUOTA - 1):
        harness.moto.advance(0.05)
        harness.sm.put_secret_value(SecretId=harness.token_secret(name), SecretString=json.dumps({"n": i}))
    return harness.put_due(name)  # the 100th version


@pytest.mark.parametrize("args", [(), ("--force",)])
def test_the_quota_itself_fails_a_due_refresh_clearly_and_keeps_the_stored_token(
    harness: Harness, args: tuple[str, ...]
) -> None:
    # A quota refusal cannot pass by waiting a few seconds: botocore's standard retry mode would
    # take LimitExceededException for throttling and send the write aws_max_attempts times
    # (sync_job/awserrors.py stops it). The default 5 attempts: one write is sent, no more.
    harness.add_env("sandbox")
    doc = _at_the_quota(harness, "sandbox")
    before = harness.moto.count("PutSecretValue")
    result = harness.cli("run", "--json", *args)
    assert result.exit_code != 0
    entry = result.json()["results"][0]
    assert entry["outcome"] == "failed"
    assert "quota reached" in entry["error"] and "\n" not in entry["error"]
    assert harness.stored("sandbox") == doc  # nothing lost
    assert harness.moto.count("PutSecretValue") - before == 1  # refused once, not retried


def test_versions_are_counted_over_pages_and_only_within_24_hours(harness: Harness) -> None:
    from datetime import UTC, datetime, timedelta

    from sync_job.store import SecretStore

    harness.add_env("sandbox")
    secret = harness.token_secret("sandbox")
    harness.moto.freeze()
    for i in range(70):  # yesterday's: still held (unlabelled), no longer counted
        harness.moto.advance(0.05)
        harness.sm.put_secret_value(SecretId=secret, SecretString=json.dumps({"old": i}))
    harness.moto.advance(86400 + 10)
    for i in range(60):
        harness.moto.advance(0.05)
        harness.sm.put_secret_value(SecretId=secret, SecretString=json.dumps({"new": i}))
    listed = harness.sm.list_secret_version_ids(SecretId=secret, IncludeDeprecated=True)
    assert len(listed["Versions"]) == 100 and listed.get("NextToken")  # 130 held: two pages
    now = datetime.fromtimestamp(harness.moto.rules.clock(), UTC)
    store = SecretStore(harness.sm)
    before = harness.moto.count("ListSecretVersionIds")
    assert store.versions_created_since(secret, now - timedelta(seconds=budget.WINDOW_SECONDS)) == 60
    assert harness.moto.count("ListSecretVersionIds") - before == 2
    assert store.versions_created_since(secret, now - timedelta(days=3)) == 100  # stops at the quota
