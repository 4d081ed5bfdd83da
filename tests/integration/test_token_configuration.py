"""Issue 19 §1 across the real wire: a stored token is fresh only for the configuration that
produced it. The real CLI against moto's Secrets Manager server and the token endpoint on
127.0.0.1; the configuration is changed between runs as an operator would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness
from standins.token_server import Fault, TokenServer
from sync_job.reader import TokenReader

SCOPES = ["funding:read_profile", "transfer:read_transfer"]
ALLOWED = [*SCOPES, "transfer:write_transfer"]


def first_run(harness: Harness, **table: Any) -> dict[str, Any]:
    harness.add_env("sandbox", scopes=list(SCOPES), allowed=ALLOWED, **table)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and set(stored["configuration"]) == {
        "token_url",
        "auth_method",
        "scopes",
        "endpoint_params",
    }
    return stored


def only(result: Any, key: str = "results") -> dict[str, Any]:
    return result.json()[key][0]  # type: ignore[no-any-return]


@pytest.fixture
def other_host(harness: Harness) -> Iterator[TokenServer]:
    """A second token endpoint (another tenant) that knows the same client."""
    server = TokenServer(token_path="/tenant-b/oauth2/token").start()
    yield server
    server.stop()


Change = Callable[[dict[str, Any], TokenServer], None]
CHANGES: dict[str, tuple[str, Change]] = {
    "scope-added": ("scopes", lambda env, other: env.update(scopes=[*SCOPES, "transfer:write_transfer"])),
    "scope-removed": ("scopes", lambda env, other: env.update(scopes=SCOPES[:1])),
    "audience": (
        "endpoint_params",
        lambda env, other: env.update(endpoint_params={"audience": "https://api-b.example"}),
    ),
    "token-url": ("token_url", lambda env, other: env.update(token_url=other.url)),
    "auth-method": ("auth_method", lambda env, other: env.update(auth_method="client_secret_basic")),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_configuration_makes_the_stored_token_due_at_once(
    harness: Harness, other_host: TokenServer, change: str
) -> None:
    before = first_run(harness, endpoint_params={"audience": "https://api-a.example"})
    client_id = harness.client_id("sandbox")
    other_host.add_client(client_id, harness.secrets["sandbox"], scopes=ALLOWED)
    if change == "auth-method":  # the provider's app switched to Basic authentication too
        harness.tokens.add_client(
            client_id, harness.secrets["sandbox"], scopes=ALLOWED, auth_method="client_secret_basic"
        )
    component, apply = CHANGES[change]
    apply(harness.envs["sandbox"], other_host)
    reason = f"configuration changed: {component}"

    status = harness.cli("status", "--json")
    assert status.exit_code == 0, status.stderr  # the old token still serves until replaced
    assert only(status, "environments")["state"] == "reconfigured"
    assert reason in only(status, "environments")["warning"]
    check = harness.cli("check", "--json")
    assert check.exit_code == 0, check.stdout
    assert reason in only(check, "environments")["warning"]
    dry = harness.cli("run", "--dry-run", "--json")
    assert only(dry)["outcome"] == "would_refresh" and reason in only(dry)["warning"]
    assert harness.stored("sandbox") == before  # nothing replaced before the run

    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert only(result)["outcome"] == "refreshed"
    assert only(result)["warning"].startswith(reason)
    after = harness.stored("sandbox")
    assert after is not None and after["access_token"] != before["access_token"]
    assert after["configuration"][component] != before["configuration"][component]
    again = harness.cli("run", "--json")
    assert only(again)["outcome"] == "fresh"  # the new token matches: fresh by time again
    assert harness.cli("status", "--json").json()["environments"][0]["state"] == "valid"


@pytest.mark.parametrize(
    "settings",
    [
        {"refresh_margin_seconds": 60},
        {"timeout_seconds": 7, "max_attempts": 2},
        {"rate_limit_per_second": 2.0, "rate_limit_burst": 3},
        {"backoff_initial_seconds": 0.1, "backoff_max_seconds": 0.3},
        {"scopes": list(reversed(SCOPES))},  # RFC 6749 §3.3: the order of scopes means nothing
    ],
    ids=["margin", "timeouts", "pacing", "backoff", "scope-order"],
)
def test_settings_that_do_not_change_the_token_leave_it_fresh(
    harness: Harness, settings: dict[str, Any]
) -> None:
    before = first_run(harness)
    harness.envs["sandbox"].update(settings)
    result = harness.cli("run", "--json")
    assert only(result)["outcome"] == "fresh" and only(result)["warning"] is None
    assert harness.stored("sandbox") == before
    assert harness.token_requests("sandbox") == 1


def test_a_payload_written_before_the_record_is_fresh_by_time(harness: Harness) -> None:
    harness.add_env("sandbox", scopes=list(SCOPES))
    old = valid_doc("sandbox", remaining=3000, token="tok-LEAKMARK-old")
    assert "configuration" not in old
    harness.put_stored("sandbox", old)
    harness.envs["sandbox"]["scopes"] = SCOPES[:1]
    result = harness.cli("run", "--json")
    assert only(result)["outcome"] == "fresh"
    assert harness.cli("status", "--json").json()["environments"][0]["state"] == "valid"
    harness.put_stored("sandbox", valid_doc("sandbox", remaining=120, token="tok-LEAKMARK-old2"))
    due = harness.cli("run", "--json")  # once due by time, the new token records its configuration
    assert only(due)["outcome"] == "refreshed"
    stored = harness.stored("sandbox")
    assert stored is not None and "configuration" in stored


def test_the_old_token_stays_when_the_new_configuration_fails(harness: Harness) -> None:
    before = first_run(harness)
    harness.envs["sandbox"]["scopes"] = [*SCOPES, "admin:everything"]  # not granted to the client
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert only(result)["outcome"] == "failed"
    assert "invalid_scope" in only(result)["error"]
    assert "configuration changed: scopes" in only(result)["warning"]
    assert harness.stored("sandbox") == before  # nothing lost
    status = harness.cli("status", "--json")
    assert only(status, "environments")["state"] == "reconfigured"


def test_a_shorter_lived_token_of_the_new_configuration_replaces_the_old_one(harness: Harness) -> None:
    # Without the configuration record a token expiring before the stored one is kept (not
    # worse); a token of another configuration is never kept over the new one.
    first_run(harness)
    harness.envs["sandbox"]["scopes"] = SCOPES[:1]
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=1200)])
    result = harness.cli("run", "--json")
    assert only(result)["outcome"] == "refreshed", result.stdout
    stored = harness.stored("sandbox")
    assert stored is not None and stored["expires_in"] == 1200


def test_the_record_reveals_no_configured_value_and_the_reader_reads_it(harness: Harness) -> None:
    audience = "https://private-api.internal.example/v7"
    stored = first_run(harness, endpoint_params={"audience": audience, "resource": "urn:secret:thing"})
    text = json.dumps(stored["configuration"])
    for value in (audience, "private-api", "urn:secret:thing", "read_transfer", "client_secret_post"):
        assert value not in text
    assert all(len(digest) == 16 for digest in stored["configuration"].values())
    reader = TokenReader(harness.token_secret("sandbox"), client=harness.sm)
    assert reader.token() == stored["access_token"]
