"""The configuration record of a token (issue 19 §1) as pure functions: what identifies a
token's configuration, which change makes it due, and where a reconfigured token comes in the
run's order. Tables; the wire is tests/integration/test_token_configuration.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from standins.fakes import ManualClock, stored_payload
from sync_job import freshness
from sync_job.config import EnvironmentConfig, parse_config
from sync_job.plan import Decision, plan_run
from sync_job.report import TokenState
from sync_job.store import StoredToken

CLOCK = ManualClock()


def _env(name: str = "a", **table: Any) -> EnvironmentConfig:
    doc = {
        "token_url": "https://idp.example/oauth2/token",
        "credentials_secret": f"c-{name}",
        "token_secret": f"t-{name}",
        "scopes": ["read", "write"],
    }
    return parse_config({"environments": {name: doc | table}}).environments[0]


def _recorded(env: EnvironmentConfig, seconds_left: float) -> StoredToken:
    payload = replace(
        stored_payload(CLOCK, seconds_left, environment=env.name),
        configuration=freshness.configuration_identity(env),
    )
    return StoredToken(payload=payload, version_id="v1", problem=None)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"token_url": "https://idp.example/tenant-b/oauth2/token"}, ("token_url",)),
        ({"auth_method": "client_secret_basic"}, ("auth_method",)),
        ({"scopes": ["read"]}, ("scopes",)),
        ({"scopes": ["read", "write", "admin"]}, ("scopes",)),
        ({"endpoint_params": {"audience": "https://api"}}, ("endpoint_params",)),
        ({"token_url": "https://other.example/t", "scopes": ["x"]}, ("token_url", "scopes")),
        ({"scopes": ["write", "read"]}, ()),
        ({"refresh_margin_seconds": 60, "timeout_seconds": 3, "max_attempts": 1}, ()),
        ({"rate_limit_per_second": 5.0, "backoff_max_seconds": 1.0}, ()),
    ],
    ids=["url", "auth", "scope-less", "scope-more", "params", "two", "order", "margins", "pacing"],
)
def test_which_change_is_named(change: dict[str, Any], named: tuple[str, ...]) -> None:
    stored = _recorded(_env(), 3000).payload
    assert freshness.configuration_change(stored, freshness.configuration_identity(_env(**change))) == named


def test_key_identity_of_private_key_jwt_without_the_key() -> None:
    jwt = {"auth_method": "private_key_jwt"}
    base = _recorded(_env(**jwt), 3000).payload
    for change, named in (
        ({"key_id": "k2"}, ("auth_method",)),
        ({"audience": "https://aud"}, ("auth_method",)),
    ):
        identity = freshness.configuration_identity(_env(**jwt, **change))
        assert freshness.configuration_change(base, identity) == named


def test_no_record_is_fresh_by_time_and_the_salt_is_the_secret() -> None:
    old = stored_payload(CLOCK, 3000)
    assert old.configuration == ()
    assert freshness.configuration_change(old, freshness.configuration_identity(_env(scopes=["x"]))) == ()
    # Two secrets with the same configuration record different digests (no shared table).
    assert freshness.configuration_identity(_env("a")) != freshness.configuration_identity(_env("b"))


def test_a_reconfigured_token_comes_before_expiring_ones_and_after_expired() -> None:
    envs = [_env(n, refresh_margin_seconds=900) for n in ("expiring", "reconfigured", "expired", "fresh")]
    stored = {
        "t-expiring": _recorded(envs[0], 100),
        "t-reconfigured": _recorded(_env("reconfigured", scopes=["old"]), 3000),
        "t-expired": _recorded(envs[2], 10),
        "t-fresh": _recorded(envs[3], 3000),
    }
    plan = plan_run(envs, stored, CLOCK.now())
    assert [e.name for e in plan.to_refresh] == ["expired", "reconfigured", "expiring"]
    (entry,) = [e for e in plan.entries if e.name == "reconfigured"]
    assert entry.decision is Decision.DUE and entry.reason == "configuration changed: scopes"
    assert freshness.state(entry.payload, CLOCK.now(), 900, entry.changed) is TokenState.RECONFIGURED
    assert TokenState.RECONFIGURED.ok  # it serves until the next run replaces it


def test_a_token_of_another_configuration_is_never_kept_over_the_new_one() -> None:
    old = _recorded(_env(scopes=["old"]), 3000).payload
    assert old is not None
    new = replace(stored_payload(CLOCK, 1200), configuration=freshness.configuration_identity(_env()))
    assert freshness.publish_refusal(new, old, CLOCK.now(), force=False) is None
    same = replace(old, configuration=new.configuration)
    assert freshness.publish_refusal(new, same, CLOCK.now(), force=False) is not None
