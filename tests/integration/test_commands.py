"""status, token, check, bad configs and the Lambda handler, across the real wire."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from standins.fakes import valid_doc
from standins.harness import Harness, assert_no_leak, render_toml
from standins.token_server import Fault


def test_status_states(harness: Harness) -> None:
    harness.add_env("valid")
    harness.add_env("expiring")
    harness.add_env("expired")
    harness.add_env("missing")
    harness.put_stored("valid", valid_doc("valid", remaining=3000))
    harness.put_stored("expiring", valid_doc("expiring", remaining=100))
    harness.put_stored("expired", valid_doc("expired", remaining=-5))
    harness.moto.clear()
    result = harness.cli("status", "--json")
    assert result.exit_code == 1  # expired and missing are not valid
    entries = {e["environment"]: e for e in result.json()["environments"]}
    assert {n: e["state"] for n, e in entries.items()} == {
        "valid": "valid",
        "expiring": "expiring",
        "expired": "expired",
        "missing": "missing",
    }
    assert 2900 < entries["valid"]["seconds_remaining"] <= 3000
    assert entries["missing"]["expires_at"] is None
    assert harness.token_requests("valid") == 0
    assert harness.moto.count("PutSecretValue") == 0

    ok = harness.cli("status", "--env", "valid", "--env", "expiring")
    assert ok.exit_code == 0
    assert ok.stdout.splitlines()[0].split()[:2] == ["ENVIRONMENT", "STATE"]
    assert "valid" in ok.stdout and "expiring" in ok.stdout


def test_status_of_invalid_payload(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.put_stored("sandbox", '{"access_token": "tok-LEAKMARK-x"}')
    result = harness.cli("status", "--json")
    assert result.exit_code == 1
    entry = result.json()["environments"][0]
    assert entry["state"] == "invalid" and "lacks" in entry["error"]


def test_token_prints_the_token_alone(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.cli("run")
    result = harness.cli("token", "sandbox", level="WARNING")
    assert result.exit_code == 0
    stored = harness.stored("sandbox")
    assert stored is not None
    assert result.stdout == stored["access_token"] + "\n"


@pytest.mark.parametrize("remaining", [None, -10])
def test_token_missing_or_expired_prints_nothing(harness: Harness, remaining: int | None) -> None:
    harness.add_env("sandbox")
    if remaining is not None:
        harness.put_stored("sandbox", valid_doc("sandbox", remaining=remaining, token="tok-LEAKMARK-expired"))
    result = harness.cli("token", "sandbox")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no valid token stored" in result.error_lines[0]
    assert_no_leak(result.stderr)


def test_token_unknown_environment(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("token", "nope")
    assert result.exit_code == 2 and result.stdout == ""


def test_check_success_writes_nothing(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = harness.cli("check", "--json")
    assert result.exit_code == 0, result.stderr
    entry = result.json()["environments"][0]
    assert entry["ok"] is True
    assert entry["checks"] == {"config": "ok", "credentials": "ok", "token": "ok", "token_secret": "ok"}
    assert harness.token_requests("sandbox") == 1
    assert harness.stored("sandbox") is None
    assert harness.moto.count("PutSecretValue") == 0
    # The step's own, and the one reading the stored token's configuration makes to tell "no
    # value yet" from "missing" (store.read_token).
    assert harness.moto.count("DescribeSecret") == 2


def test_check_after_rotation_and_missing_secret(harness: Harness) -> None:
    harness.add_env("rotated")
    harness.add_env("nosecret", create_token_secret=False)
    harness.tokens.set_secret(harness.client_id("rotated"), "SECRETMARK-new-one")
    result = harness.cli("check", "--json")
    assert result.exit_code == 1
    entries = {e["environment"]: e for e in result.json()["environments"]}
    assert entries["rotated"]["checks"]["token"] == "failed"
    assert "invalid_client" in entries["rotated"]["error"]
    assert entries["nosecret"]["checks"]["token_secret"] == "failed"
    assert "does not exist" in entries["nosecret"]["error"]
    # Store the rotated secret, as the runbook says, and check proves it.
    harness.sm.put_secret_value(
        SecretId=harness.envs["rotated"]["credentials_secret"],
        SecretString=json.dumps(
            {"client_id": harness.client_id("rotated"), "client_secret": "SECRETMARK-new-one"}
        ),
    )
    assert harness.cli("check", "--env", "rotated").exit_code == 0


@pytest.mark.parametrize(
    ("table_change", "message"),
    [
        ({"colour": "blue"}, "environments.sandbox.colour: unknown key"),
        ({"token_secret": None}, "missing required key 'token_secret'"),
        ({"max_attempts": "five"}, "max_attempts: must be an integer, got str"),
        ({"auth_method": "magic"}, "auth_method: must be one of"),
        ({"token_url": "http://oauth.example.com/token"}, "must be an https:// URL"),
        ({"client_secret": "SECRETMARK-in-config"}, "secrets do not belong in the config file"),
    ],
)
def test_bad_config_exit_2_one_line(harness: Harness, table_change: dict[str, object], message: str) -> None:
    table = harness.add_env("sandbox")
    for key, value in table_change.items():
        if value is None:
            table.pop(key)
        else:
            table[key] = value
    for command in (["run"], ["status"], ["check"], ["token", "sandbox"]):
        result = harness.cli(*command)
        assert result.exit_code == 2, (command, result.stderr)
        assert result.stdout == ""
        assert len(result.error_lines) == 1
        assert message in result.error_lines[0]
    assert harness.token_requests("sandbox") == 0


def test_unreadable_config_paths(harness: Harness, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sync_job.cli import main

    runner = CliRunner()
    for args, message in (
        (["--config", str(tmp_path / "nope.toml"), "run"], "does not exist"),
        (["--config", str(tmp_path), "run"], "is a directory"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 2
        assert message in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[environments.x\n")
    result = runner.invoke(main, ["--config", str(bad), "status"])
    assert result.exit_code == 2 and "is not valid TOML" in result.stderr
    result = runner.invoke(main, ["run", "--bogus"])
    assert result.exit_code == 2


class Context(SimpleNamespace):
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def test_lambda_handler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sync_job import lambda_handler

    harness.add_env("sandbox")
    harness.add_env("production")
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setenv("SYNC_JOB_LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    result = lambda_handler.handler({"environments": ["sandbox"]}, Context())
    assert [r["outcome"] for r in result["results"]] == ["refreshed"]
    assert harness.stored("production") is None
    again = lambda_handler.handler({}, Context())
    assert {r["environment"]: r["outcome"] for r in again["results"]} == {
        "sandbox": "fresh",
        "production": "refreshed",
    }
    forced = lambda_handler.handler({"force": True, "environments": ["sandbox"]}, Context())
    assert forced["results"][0]["outcome"] == "refreshed"

    harness.tokens.script(harness.client_id("production"), [Fault.oauth_error(401, "invalid_client")])
    with pytest.raises(lambda_handler.SyncFailedError, match="production: .*invalid_client"):
        lambda_handler.handler({"force": True}, Context())
    with pytest.raises(lambda_handler.SyncFailedError, match="unknown environment"):
        lambda_handler.handler({"environments": ["nope"]}, Context())
    with pytest.raises(lambda_handler.SyncFailedError, match='"force" must be true or false'):
        lambda_handler.handler({"force": "yes"}, Context())
    captured = capsys.readouterr()
    assert_no_leak(captured.out, captured.err)
