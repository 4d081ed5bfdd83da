"""`sync-job run` across the real wire: moto's server and a local OAuth2 token endpoint."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness
from standins.token_server import Fault, TokenServer
from sync_job.timeutil import parse_rfc3339


def test_two_environments_refreshed_then_fresh(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    first = harness.cli("run", "--json")
    assert first.exit_code == 0, first.stderr
    results = {r["environment"]: r for r in first.json()["results"]}
    assert {r["outcome"] for r in results.values()} == {"refreshed"}
    assert all(r["error"] is None for r in results.values())
    for name in ("sandbox", "production"):
        doc = harness.stored(name)
        assert doc is not None
        assert doc["access_token"] in harness.tokens.issued
        assert doc["token_type"] == "bearer"
        assert doc["expires_in"] == 3599
        assert doc["scope"] == "funding:read_profile transfer:read_transfer"
        assert doc["environment"] == name
        assert doc["token_url"] == harness.tokens.url
        assert doc["client_id"] == harness.client_id(name)
        assert doc["schema_version"] == 1
        issued, expires = parse_rfc3339(doc["issued_at"]), parse_rfc3339(doc["expires_at"])
        assert expires - issued == timedelta(seconds=3599)
        assert abs((issued - datetime.now(UTC)).total_seconds()) < 30
        assert doc["expires_at"].endswith("Z") and doc["issued_at"].endswith("Z")
        assert results[name]["expires_at"] == doc["expires_at"]
        assert harness.token_requests(name) == 1
    versions = {n: harness.versions(n) for n in ("sandbox", "production")}

    harness.moto.clear()  # count the second run's calls alone
    second = harness.cli("run", "--json")
    assert second.exit_code == 0
    assert [r["outcome"] for r in second.json()["results"]] == ["fresh", "fresh"]
    fresh_path_calls = harness.moto.count()
    assert harness.token_requests("sandbox") == 1 and harness.token_requests("production") == 1
    assert {n: harness.versions(n) for n in versions} == versions
    # The fresh path reads every token secret in one BatchGetSecretValue call (20 a call; with
    # one environment, one GetSecretValue: tests/integration/test_scale.py).
    assert fresh_path_calls > 0
    assert fresh_path_calls == 1 == harness.moto.count("BatchGetSecretValue")


def test_fresh_path_is_one_aws_call_and_refresh_path_at_most_four(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.cli("run")
    harness.moto.clear()
    assert harness.cli("run").exit_code == 0
    assert harness.moto.count() == 1
    harness.moto.clear()
    assert harness.cli("run", "--force").exit_code == 0
    assert harness.moto.count() == 4
    assert harness.moto.count("UpdateSecretVersionStage") == 1


def test_force_refreshes_a_fresh_token_and_keeps_previous(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.cli("run")
    old = harness.stored("sandbox")
    assert old is not None
    forced = harness.cli("run", "--force", "--json")
    assert forced.exit_code == 0
    assert forced.json()["results"][0]["outcome"] == "refreshed"
    new = harness.stored("sandbox")
    assert new is not None and new["access_token"] != old["access_token"]
    assert harness.token_requests("sandbox") == 2
    previous = harness.sm.get_secret_value(
        SecretId=harness.token_secret("sandbox"), VersionStage="AWSPREVIOUS"
    )
    assert json.loads(previous["SecretString"])["access_token"] == old["access_token"]
    # Forced within 10 minutes of the previous issue: the output says so.
    assert "Secrets Manager advises" in (forced.json()["results"][0]["warning"] or "")


def test_force_warning_in_human_output(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.cli("run")
    forced = harness.cli("run", "--force")
    assert "advises at most one write per 10 minutes" in forced.stdout


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_both_auth_methods_with_awkward_secret(harness: Harness, auth_method: str) -> None:
    harness.add_env("sandbox", auth_method=auth_method, secret="SECRETMARK:%+/=&tail")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"
    seen = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert seen[-1].auth_method_seen == auth_method


def test_transient_503s_are_retried(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.status(503), Fault.status(503)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()["results"][0]
    assert doc["outcome"] == "refreshed"
    assert doc["attempts"] == 3
    assert harness.token_requests("sandbox") == 3
    retries = [e for e in result.events() if e.get("event") == "token.retry"]
    assert len(retries) == 2 and "HTTP 503" in retries[0]["error"]


def test_429_retry_after_is_honoured(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.rate_limited(retry_after=1)])
    started = time.monotonic()
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    times = [r.time for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert len(times) == 2
    assert times[1] - times[0] >= 1.0  # never sooner than Retry-After
    assert time.monotonic() - started < 10


def test_429_longer_than_budget_gives_up_at_once(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.defaults["run_timeout_seconds"] = 30
    harness.tokens.script(harness.client_id("sandbox"), [Fault.rate_limited(retry_after=600)])
    started = time.monotonic()
    result = harness.cli("run", "--json")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    doc = result.json()["results"][0]
    assert doc["outcome"] == "failed"
    assert "rate limited by 127.0.0.1" in doc["error"] and "retry after 600 s" in doc["error"]
    assert harness.token_requests("sandbox") == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.oauth_error(401, "invalid_client", "bad secret"), "invalid_client"),
        (Fault.oauth_error(400, "invalid_scope", "scope not allowed"), "invalid_scope"),
    ],
)
def test_client_errors_not_retried_and_stored_token_untouched(
    harness: Harness, fault: Fault, code: str
) -> None:
    harness.add_env("sandbox")
    harness.put_stored("sandbox", valid_doc("sandbox", remaining=60))  # expiring: needs refresh
    before = harness.stored("sandbox")
    versions = harness.versions("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [fault])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    doc = result.json()["results"][0]
    assert doc["outcome"] == "failed" and code in doc["error"]
    assert harness.token_requests("sandbox") == 1
    assert harness.stored("sandbox") == before
    assert harness.versions("sandbox") == versions
    assert any(code in line for line in result.error_lines)


def test_real_invalid_client_from_wrong_secret(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.tokens.set_secret(harness.client_id("sandbox"), "SECRETMARK-rotated-elsewhere")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_client" in result.json()["results"][0]["error"]
    assert harness.token_requests("sandbox") == 1


def test_real_invalid_scope(harness: Harness) -> None:
    harness.add_env(
        "sandbox",
        scopes=["funding:read_profile", "transfer:write_fiat_withdrawal"],
        allowed=["funding:read_profile"],
    )
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert "invalid_scope" in result.json()["results"][0]["error"]
    assert harness.stored("sandbox") is None


@pytest.mark.parametrize("fault", [Fault.html(), Fault.truncated()])
def test_html_and_truncated_answers_rejected(harness: Harness, fault: Fault) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [fault])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    doc = result.json()["results"][0]
    assert "not JSON" in doc["error"]
    assert harness.token_requests("sandbox") == 1  # malformed answers are not retried
    assert harness.stored("sandbox") is None


def test_hang_is_cut_off_by_the_timeout(harness: Harness) -> None:
    # No room in the budget for a later round: the two attempts are all there is.
    harness.defaults.update(run_timeout_seconds=5, backoff_max_seconds=30)
    harness.add_env("sandbox", timeout_seconds=0.5, max_attempts=2)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(5), Fault.hang(5)])
    started = time.monotonic()
    result = harness.cli("run", "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert "no answer from 127.0.0.1" in result.json()["results"][0]["error"]
    assert elapsed < 4
    assert harness.token_requests("sandbox") == 2


def test_one_bad_environment_beside_a_good_one(harness: Harness) -> None:
    harness.add_env("good")
    harness.add_env("bad")
    harness.tokens.script(harness.client_id("bad"), [Fault.oauth_error(401, "invalid_client")])
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    outcomes = {r["environment"]: r["outcome"] for r in result.json()["results"]}
    assert outcomes == {"good": "refreshed", "bad": "failed"}
    assert harness.stored("good") is not None
    assert harness.stored("bad") is None
    assert [ln for ln in result.error_lines if "bad" in ln]


def test_env_selection_and_unknown_env(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    result = harness.cli("run", "--env", "production", "--json")
    assert [r["environment"] for r in result.json()["results"]] == ["production"]
    assert harness.token_requests("sandbox") == 0
    unknown = harness.cli("run", "--env", "staging")
    assert unknown.exit_code == 2
    assert unknown.error_lines == [
        "sync-job: error: unknown environment 'staging'; configured: sandbox, production"
    ]


def test_dry_run_fetches_and_writes_nothing(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--dry-run", "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert doc["dry_run"] is True
    assert doc["results"][0]["outcome"] == "would_refresh"
    assert harness.token_requests("sandbox") == 0
    assert harness.stored("sandbox") is None
    assert harness.moto.count("PutSecretValue") == 0
    assert harness.moto.count("GetSecretValue", harness.envs["sandbox"]["credentials_secret"]) == 0


def test_missing_token_secret_fails_before_any_token_request(harness: Harness) -> None:
    harness.add_env("sandbox", create_token_secret=False)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert f"secret {harness.token_secret('sandbox')} does not exist; create it (e.g. with infra/)" in error
    assert harness.token_requests("sandbox") == 0


def test_invalid_stored_payload_is_refreshed_with_one_warning(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.put_stored("sandbox", "{not json")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0
    assert result.json()["results"][0]["outcome"] == "refreshed"
    warnings = [e for e in result.events() if e.get("event") == "sync.stored_payload_invalid"]
    assert len(warnings) == 1 and "not JSON" in warnings[0]["error"]


def test_human_output_is_a_table(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", level="WARNING")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ENVIRONMENT", "OUTCOME", "EXPIRES", "AT", "REMAINING", "DETAIL"]
    assert lines[1].split()[:2] == ["sandbox", "refreshed"]
    assert result.stderr == ""


def test_json_stdout_is_exactly_one_document(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--json")
    assert len(result.stdout.strip().splitlines()) == 1
    json.loads(result.stdout)


def test_console_script_in_a_subprocess(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli_process("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"


def test_environments_run_concurrently(harness: Harness) -> None:
    slow = TokenServer(latency=0.5).start()
    try:
        for i in range(4):
            harness.add_env(f"env{i}", server=slow)
        result = harness.cli("run", "--json")
        arrivals = [r.time for r in slow.requests]
    finally:
        slow.stop()
    assert result.exit_code == 0, result.stderr
    assert len(arrivals) == 4
    # All four arrive before the first is answered: sequential requests would be 0.5 s apart.
    assert max(arrivals) - min(arrivals) < 0.45


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_netrc_credentials_never_reach_the_token_host(
    harness: Harness, auth_method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests would put a ~/.netrc entry for the host in the Authorization header.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-intruder password netrc-password-7f3a\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    harness.add_env("sandbox", auth_method=auth_method)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    (seen,) = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert seen.auth_method_seen == auth_method
    assert seen.status == 200


def test_proxy_variables_are_honoured_per_token_host(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    host = TokenServer(host="127.0.0.2").start()
    try:
        harness.add_env("sandbox", server=host)
        # A proxy nobody listens on, for everything but moto (127.0.0.1): the token request goes
        # to the proxy and fails as unreachable.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        result = harness.cli("run", "--json")
        assert result.exit_code == 1
        assert "cannot reach 127.0.0.2" in json.loads(result.stdout)["results"][0]["error"]
        assert host.count(harness.client_id("sandbox")) == 0
        # NO_PROXY naming the token host too: the same run goes direct.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,127.0.0.2")
        result = harness.cli("run", "--json")
        assert result.exit_code == 0, result.stderr
        assert host.count(harness.client_id("sandbox")) == 1
    finally:
        host.stop()


def test_a_host_fault_is_tried_again_later_in_the_run_most_urgent_first(harness: Harness) -> None:
    harness.defaults.update(max_attempts=1, max_workers=1)
    for name, left in (("urgent", 100), ("later", 300)):
        harness.add_env(name)
        harness.put_stored(name, valid_doc(name, remaining=left))
    harness.tokens.script(harness.client_id("urgent"), [Fault.status(503)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    docs = {d["environment"]: d for d in result.json()["results"]}
    assert docs["urgent"]["outcome"] == "refreshed" and docs["urgent"]["attempts"] == 2
    assert docs["later"]["outcome"] == "refreshed" and docs["later"]["attempts"] == 1
    urgent, later = harness.client_id("urgent"), harness.client_id("later")
    seen = [(r.client_id, r.status) for r in harness.tokens.requests if r.client_id in (urgent, later)]
    assert seen == [(urgent, 503), (later, 200), (urgent, 200)]
    events = result.events()
    (again,) = [e for e in events if e.get("event") == "sync.retry_later"]
    assert again["environment"] == "urgent" and "HTTP 503" in again["error"]
    # One result line per environment, and no failure logged for the one that recovered.
    assert sorted(e["environment"] for e in events if e.get("event") == "sync.result") == ["later", "urgent"]
    assert not [e for e in events if e.get("level") == "error"]


def test_a_host_fault_is_tried_again_once_and_only_when_the_budget_has_room(harness: Harness) -> None:
    harness.defaults.update(max_attempts=1)
    harness.add_env("sandbox")
    harness.put_stored("sandbox", valid_doc("sandbox", remaining=100))
    harness.tokens.script(harness.client_id("sandbox"), [Fault.status(503)] * 2)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    (doc,) = result.json()["results"]
    assert doc["outcome"] == "failed" and doc["attempts"] == 2
    assert doc["error"].endswith("; tried again later in the run") and "HTTP 503" in doc["error"]
    assert harness.token_requests("sandbox") == 2
    # A client error is not the host's fault: no second round.
    harness.tokens.script(harness.client_id("sandbox"), [Fault.oauth_error(400, "invalid_request")])
    result = harness.cli("run", "--json")
    assert result.json()["results"][0]["attempts"] == 1
    assert harness.token_requests("sandbox") == 3
    # No room left in the run for a second round (it would start past the budget): none.
    harness.defaults.update(backoff_max_seconds=30, run_timeout_seconds=20)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.status(503)])
    result = harness.cli("run", "--json")
    assert result.json()["results"][0]["attempts"] == 1
    assert harness.token_requests("sandbox") == 4
