"""Fault injection across the real wire. For every case: the stored token is unchanged or is the
new valid one, the number of token requests, the exit code, the error line, and no leak (the
harness scans every output for the token and secret markers)."""

from __future__ import annotations

import itertools
import json
import signal
import time
from typing import Any

import pytest

from standins.harness import Harness, Result, assert_no_leak
from standins.token_server import Fault, TokenServer


def outcome(result: Result) -> dict[str, Any]:
    return result.json()["results"][0]  # type: ignore[no-any-return]


def assert_unchanged(harness: Harness, before: dict[str, Any], versions: int, name: str = "sandbox") -> None:
    assert harness.stored(name) == before
    assert harness.versions(name) == versions


def assert_new_valid(harness: Harness, before: dict[str, Any], name: str = "sandbox") -> None:
    after = harness.stored(name)
    assert after is not None and after["access_token"] != before["access_token"]
    assert after["access_token"] in harness.tokens.issued
    assert after["expires_at"] > before["expires_at"]


# --- the token endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "requests", "exit_code", "error"),
    [
        ([Fault.status(503), Fault.status(502)], 3, 0, None),
        # Past max_attempts: failed after two rounds, the second later in the run.
        ([Fault.status(503)] * 6, 6, 1, "HTTP 503 from 127.0.0.1"),
        ([Fault.reset()], 2, 0, None),
        ([Fault.reset()] * 6, 6, 1, "cannot reach 127.0.0.1"),
        ([Fault.hang(5)] * 6, 6, 1, "within 0.5 s (gave up after 3 attempts); tried again later in the run"),
        # A first round that fails and a second that succeeds.
        ([Fault.reset()] * 4, 5, 0, None),
        ([Fault.rate_limited(retry_after=1)], 2, 0, None),
        ([Fault.html()], 1, 1, "not JSON (text/html"),
        ([Fault.truncated()], 1, 1, "not JSON"),
        ([Fault.token(expires_in=None)], 1, 1, "without expires_in; set default_lifetime_seconds"),
        ([Fault.token(expires_in=0)], 1, 1, "non-positive expires_in (0)"),
        ([Fault.token(expires_in=-30)], 1, 1, "non-positive expires_in (-30)"),
        ([Fault.token(scope="funding:read_profile")], 1, 1, "granted scope lacks transfer:read_transfer"),
        ([Fault.huge(3 * 1024 * 1024)], 1, 1, "more than 1048576 bytes"),
        ([Fault.oauth_error(401, "invalid_client")], 1, 1, "invalid_client"),
        (
            [Fault.oauth_error(403, "unauthorized_client", "not allowed")],
            1,
            1,
            "unauthorized_client: not allowed",
        ),
    ],
    ids=[
        "5xx-burst",
        "5xx-past-max-attempts",
        "reset",
        "resets-past-max",
        "hangs",
        "second-round-succeeds",
        "429-short",
        "html",
        "truncated",
        "no-expires_in",
        "zero-expires_in",
        "negative-expires_in",
        "narrow-scope",
        "huge-body",
        "401",
        "403",
    ],
)
def test_token_endpoint_faults(
    harness: Harness, faults: list[Fault], requests: int, exit_code: int, error: str | None
) -> None:
    harness.add_env("sandbox", max_attempts=3, timeout_seconds=0.5)
    before = harness.put_due()
    versions = harness.versions("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), faults)
    result = harness.cli("run", "--json")
    assert result.exit_code == exit_code, result.stderr
    assert harness.token_requests("sandbox") == requests
    doc = outcome(result)
    if error is None:
        assert doc["outcome"] == "refreshed" and doc["error"] is None
        assert_new_valid(harness, before)
    else:
        assert doc["outcome"] == "failed"
        assert error in doc["error"]
        assert any(error in line for line in result.error_lines)
        assert_unchanged(harness, before, versions)


def test_long_retry_after_closes_the_host_for_the_rest_of_the_run(harness: Harness) -> None:
    # Three environments on one host: the first 429 with a 5-minute Retry-After ends them all,
    # and no further request reaches the host in this run.
    for name in ("a", "b", "c"):
        harness.add_env(name)
        harness.put_due(name)
    harness.defaults["max_workers"] = 1  # one after the other, so the order is known
    harness.defaults["run_timeout_seconds"] = 60
    harness.tokens.script(harness.client_id("a"), [Fault.rate_limited(retry_after=300)])
    started = time.monotonic()
    result = harness.cli("run", "--json")
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    results = {r["environment"]: r for r in result.json()["results"]}
    errors = {name: r["error"] for name, r in results.items()}
    assert "rate limited by 127.0.0.1" in errors["a"] and "retry after 300 s" in errors["a"]
    for name in ("b", "c"):
        # Their stored tokens are still valid: not attempted is deferred, not failed (issue 12).
        assert results[name]["outcome"] == "deferred"
        assert "deferred (rate limited by 127.0.0.1:" in results[name]["warning"], results[name]
        assert "retry after" in results[name]["warning"]
        assert harness.token_requests(name) == 0
    assert harness.token_requests("a") == 1


def test_other_hosts_are_not_affected_by_a_429(harness: Harness) -> None:
    other = TokenServer().start()
    try:
        harness.add_env("locked")
        harness.add_env("elsewhere", server=other)
        harness.defaults["run_timeout_seconds"] = 30
        harness.tokens.script(harness.client_id("locked"), [Fault.rate_limited(retry_after=300)])
        result = harness.cli("run", "--json")
    finally:
        other.stop()
    outcomes = {r["environment"]: r["outcome"] for r in result.json()["results"]}
    assert outcomes == {"locked": "failed", "elsewhere": "refreshed"}


def test_pacing_spaces_requests_to_one_host(harness: Harness) -> None:
    for i in range(4):
        harness.add_env(f"e{i}", rate_limit_per_second=5, rate_limit_burst=1)
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    ours = {harness.client_id(f"e{i}") for i in range(4)}
    times = sorted(r.time for r in harness.tokens.requests if r.client_id in ours)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4 and min(gaps) >= 0.18  # 5/s with burst 1: at least 0.2 s apart


def test_deadline_stops_attempts_and_reports_every_environment(harness: Harness) -> None:
    harness.add_env("slow", timeout_seconds=2, max_attempts=10)
    harness.add_env("queued", timeout_seconds=2)
    harness.defaults["run_timeout_seconds"] = 3
    harness.defaults["max_workers"] = 1
    harness.tokens.script(harness.client_id("slow"), [Fault.hang(1.5)] * 10)
    started = time.monotonic()
    result = harness.cli("run", "--json")
    assert time.monotonic() - started < 6
    results = {r["environment"]: r for r in result.json()["results"]}
    assert set(results) == {"slow", "queued"}
    assert results["queued"]["outcome"] == "failed"
    assert "deadline" in results["queued"]["error"]
    assert harness.token_requests("queued") == 0


# --- Secrets Manager faults, injected with botocore event hooks (the sm_hooks fixture) -------------


def test_throttling_is_retried_by_botocore(harness: Harness, sm_hooks: Any) -> None:
    harness.add_env("sandbox")
    before = harness.put_due()
    sm_hooks("GetSecretValue", "ThrottlingException", 400, times=2, message="Rate exceeded")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert sm_hooks.calls == ["GetSecretValue", "GetSecretValue"]
    assert harness.token_requests("sandbox") == 1
    assert_new_valid(harness, before)


def test_persistent_throttling_is_one_clear_error(harness: Harness, sm_hooks: Any) -> None:
    harness.add_env("sandbox")
    before = harness.put_due()
    versions = harness.versions("sandbox")
    harness.defaults["aws_max_attempts"] = 3
    sm_hooks("GetSecretValue", "ThrottlingException", 400, times=100, message="Rate exceeded")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert len(sm_hooks.calls) == 3  # exactly the configured attempts
    assert "Secrets Manager throttled GetSecretValue on secret" in outcome(result)["error"]
    assert harness.token_requests("sandbox") == 0
    assert_unchanged(harness, before, versions)


@pytest.mark.parametrize(
    ("operation", "code", "requests", "error"),
    [
        (
            "GetSecretValue",
            "AccessDeniedException",
            0,
            "access denied: secretsmanager:GetSecretValue on secret",
        ),
        (
            "PutSecretValue",
            "AccessDeniedException",
            1,
            "access denied: secretsmanager:PutSecretValue on secret",
        ),
        (
            "UpdateSecretVersionStage",
            "AccessDeniedException",
            1,
            "access denied: secretsmanager:UpdateSecretVersionStage",
        ),
        ("GetSecretValue", "DecryptionFailure", 0, "KMS refused GetSecretValue on secret"),
        ("PutSecretValue", "EncryptionFailure", 1, "KMS refused PutSecretValue"),
    ],
)
def test_access_and_kms_failures(
    harness: Harness, sm_hooks: Any, operation: str, code: str, requests: int, error: str
) -> None:
    harness.add_env("sandbox")
    before = harness.put_due()
    versions = harness.versions("sandbox")
    sm_hooks(operation, code, 400, times=1)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert error in outcome(result)["error"]
    assert len(result.error_lines) == 1
    assert harness.token_requests("sandbox") == requests
    # A failed write may leave an unlabelled version behind, never a new current one.
    assert harness.stored("sandbox") == before
    assert harness.versions("sandbox") <= versions + 1


def test_access_denied_on_credentials_names_that_secret(harness: Harness, moto_server: Any) -> None:
    harness.add_env("sandbox")
    harness.put_due()
    creds = harness.envs["sandbox"]["credentials_secret"]
    moto_server.inject("GetSecretValue", "AccessDeniedException", secret_id=creds)
    result = harness.cli("run", "--json")
    assert f"secretsmanager:GetSecretValue on secret {creds}" in outcome(result)["error"]
    assert harness.token_requests("sandbox") == 0


def test_secret_scheduled_for_deletion(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.put_due()
    harness.sm.delete_secret(SecretId=harness.token_secret("sandbox"), RecoveryWindowInDays=7)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    assert (
        "is scheduled for deletion; restore it with `aws secretsmanager restore-secret"
        in outcome(result)["error"]
    )
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("not json", "is not JSON"),
        ('["x"]', "is not a JSON object"),
        ('{"client_id": "x"}', "lacks 'client_secret'"),
        ('{"client_secret": "SECRETMARK-abc"}', "lacks 'client_id'"),
        ('{"client_id": "x", "client_secret": 5}', "'client_secret' must be a non-empty string"),
    ],
)
def test_malformed_credentials_secret(harness: Harness, value: str, error: str) -> None:
    harness.add_env("sandbox")
    harness.sm.put_secret_value(SecretId=harness.envs["sandbox"]["credentials_secret"], SecretString=value)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    message = outcome(result)["error"]
    assert error in message and harness.envs["sandbox"]["credentials_secret"] in message
    assert "abc" not in message
    assert harness.token_requests("sandbox") == 0


# --- a crash between the token request and the write ----------------------------------------------


@pytest.mark.parametrize("action", ["PutSecretValue", "UpdateSecretVersionStage"])
def test_sigkill_mid_write_leaves_the_good_token_current(harness: Harness, action: str) -> None:
    harness.add_env("sandbox")
    before = harness.put_due()
    arrived, release = harness.moto.hold(action)
    proc = harness.start_process("run", "--json")
    try:
        assert arrived.wait(timeout=30), "the write never started"
        assert harness.token_requests("sandbox") == 1  # the token was fetched, not yet published
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate(timeout=10)
    assert_no_leak(out, err)
    assert proc.returncode == -signal.SIGKILL
    harness.moto.clear()
    assert harness.stored("sandbox") == before  # consumers still read the good token
    # The next run recovers: exactly one more request, a new valid current token.
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    assert harness.token_requests("sandbox") == 2
    assert_new_valid(harness, before)


# --- overlapping runs ---------------------------------------------------------------------------


def test_four_concurrent_runs(harness: Harness) -> None:
    slow = TokenServer(latency=0.3).start()
    try:
        names = ("sandbox", "production")
        for name in names:
            harness.add_env(name, server=slow)
            harness.put_due(name)
        versions = {n: harness.versions(n) for n in names}
        procs = [harness.start_process("run", "--json") for _ in range(4)]
        outputs = [p.communicate(timeout=60) for p in procs]
        requests = {n: slow.count(harness.client_id(n)) for n in names}
    finally:
        slow.stop()
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert_no_leak(out, err)
        assert proc.returncode == 0, err
        for r in json.loads(out)["results"]:
            assert r["outcome"] in ("refreshed", "fresh")
            assert r["attempts"] <= 1  # at most one token request per environment per run
    for name in names:
        assert requests[name] <= 4
        new_versions = harness.versions(name) - versions[name]
        assert 1 <= new_versions <= 4  # at most one new version per environment per run
        current = harness.stored(name)
        assert current is not None and current["access_token"] in slow.issued
        # Never an older token current: AWSCURRENT expires last among every version written.
        all_versions = harness.sm.list_secret_version_ids(
            SecretId=harness.token_secret(name), IncludeDeprecated=True
        )
        expiries = []
        for v in all_versions["Versions"]:
            doc = json.loads(
                harness.sm.get_secret_value(SecretId=harness.token_secret(name), VersionId=v["VersionId"])[
                    "SecretString"
                ]
            )
            expiries.append(doc["expires_at"])
        assert current["expires_at"] == max(expiries)
