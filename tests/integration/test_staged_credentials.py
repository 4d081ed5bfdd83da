"""Staged credential rotation across the real wire (sync_job/staged_credentials.py): `credentials
put --stage` on a workstation the provider refuses, then the deployed job tests and promotes
from its own egress (`credentials promote`, or the Lambda event). moto's Secrets Manager and the
local token endpoint; the workstation's refusal is played by a token endpoint that answers
nothing to the stage step (it must send nothing at all)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from standins.harness import Harness, render_toml
from tests.integration.test_credentials_put import new_secret, put


def _stages(harness: Harness) -> dict[str, list[str]]:
    answer = harness.sm.describe_secret(SecretId=harness.envs["sandbox"]["credentials_secret"])
    return {k: sorted(v) for k, v in answer["VersionIdsToStages"].items()}


def _current_doc(harness: Harness) -> dict[str, Any]:
    answer = harness.sm.get_secret_value(SecretId=harness.envs["sandbox"]["credentials_secret"])
    return json.loads(answer["SecretString"])  # type: ignore[no-any-return]


def _stage(harness: Harness, secret: str) -> str:
    harness.tokens.reset_stats()
    out = put(harness, "sandbox", secret + "\n", "--stage", "--json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["staged"] is True and doc["tested"] is False and doc["promoted"] is False
    assert harness.tokens.count() == 0  # nothing was sent to the provider from the workstation
    return str(doc["version_id"])


def test_stage_writes_awspending_only_and_sends_nothing(harness: Harness) -> None:
    harness.add_env("sandbox")
    before = _current_doc(harness)
    secret = new_secret()
    version = _stage(harness, secret)
    assert _stages(harness)[version] == ["AWSPENDING"]
    assert _current_doc(harness) == before  # runs keep reading the old credentials
    assert harness.cli("run").exit_code == 0
    human = put(harness, "sandbox", new_secret() + "\n", "--stage")
    assert (
        "credentials promote sandbox" in human.stdout and '{"promote_credentials": "sandbox"}' in human.stdout
    )


def test_promote_tests_from_the_job_then_makes_it_current_and_publishes(harness: Harness) -> None:
    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    old_token = harness.stored("sandbox")
    old_doc = _current_doc(harness)
    secret = new_secret()
    version = _stage(harness, secret)
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)  # rotated at the provider

    out = harness.cli("credentials", "promote", "sandbox", "--json")

    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc == {
        "environment": "sandbox",
        "version_id": version,
        "staged": False,
        "tested": True,
        "promoted": True,
        "published": True,
        "error": None,
    }
    stages = _stages(harness)
    assert stages[version] == ["AWSCURRENT"]
    assert "AWSPREVIOUS" in [s for v in stages.values() for s in v]
    assert _current_doc(harness) == {**old_doc, "client_secret": secret}
    assert harness.stored("sandbox") != old_token
    assert harness.token_requests("sandbox") == 1  # the test's token is the one published
    harness.secrets["sandbox"] = secret
    assert harness.cli("run", "--force").exit_code == 0  # runs now use the promoted credentials


def test_a_staged_secret_the_provider_refuses_changes_nothing(harness: Harness) -> None:
    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    old_doc, old_token = _current_doc(harness), harness.stored("sandbox")
    version = _stage(harness, new_secret())  # never registered at the provider
    out = harness.cli("credentials", "promote", "sandbox", "--json")
    assert out.exit_code == 1
    error = out.json()["error"]
    assert (
        "test failed" in error and "invalid_client" in error and "nothing changed, AWSPENDING kept" in error
    )
    assert _stages(harness)[version] == ["AWSPENDING"]
    assert _current_doc(harness) == old_doc and harness.stored("sandbox") == old_token


def test_promote_without_a_staged_version_says_how_to_stage(harness: Harness) -> None:
    harness.add_env("sandbox")
    out = harness.cli("credentials", "promote", "sandbox")
    assert out.exit_code == 1
    assert out.error_lines == [
        f"sync-job: error: sandbox: {harness.envs['sandbox']['credentials_secret']} has no AWSPENDING "
        "version: stage one with `sync-job credentials put sandbox --stage`; nothing changed"
    ]
    assert harness.token_requests("sandbox") == 0


class Context(SimpleNamespace):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_the_lambda_promotes_on_its_event(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_job import lambda_handler

    harness.add_env("sandbox")
    secret = new_secret()
    version = _stage(harness, secret)
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    done = lambda_handler.handler({"promote_credentials": "sandbox"}, Context())
    assert done["promoted"] is True and done["version_id"] == version
    with pytest.raises(lambda_handler.SyncFailedError, match="has no AWSPENDING version"):
        lambda_handler.handler({"promote_credentials": "sandbox"}, Context())
    with pytest.raises(lambda_handler.SyncFailedError, match="must be an environment name"):
        lambda_handler.handler({"promote_credentials": ["sandbox"]}, Context())


# --- the staged value goes through the one credentials reader (issue 18 §3) ------------------------


@pytest.mark.parametrize(
    ("valid", "message"),
    [((-40, -1), "expired at"), ((2, 30), "not valid before")],  # days from now: not_before, not_after
)
def test_a_staged_certificate_outside_its_validity_is_refused(
    harness: Harness, valid: tuple[int, int], message: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import serialization

    from standins.keys import certificate_pem, keypair

    harness.add_jwt_env("sandbox")
    before = _stages(harness)
    private, _ = keypair("rsa")
    key: Any = serialization.load_pem_private_key(private.encode(), password=None)
    now = datetime.now(UTC)
    certificate = certificate_pem(
        key, not_before=now + timedelta(days=valid[0]), not_after=now + timedelta(days=valid[1])
    )
    result = put(harness, "sandbox", private + certificate, "--stage")
    assert result.exit_code == 1
    assert message in result.stderr and "nothing staged" in result.stderr
    assert _stages(harness) == before  # no AWSPENDING written


@pytest.mark.parametrize("pasted", ["  {}  ", "  {}  \n", " {}"])
def test_blanks_around_a_staged_secret_are_not_staged(harness: Harness, pasted: str) -> None:
    harness.add_env("sandbox")
    secret = new_secret()
    result = put(harness, "sandbox", pasted.format(secret), "--stage")
    assert result.exit_code == 0, result.stderr
    assert "whitespace" in result.stderr
    answer = harness.sm.get_secret_value(
        SecretId=harness.envs["sandbox"]["credentials_secret"], VersionStage="AWSPENDING"
    )
    assert json.loads(answer["SecretString"])["client_secret"] == secret


def test_a_staged_key_gets_its_own_kid(harness: Harness) -> None:
    from standins.keys import keypair

    harness.add_jwt_env("sandbox")  # its stored value names its key by key_id
    private, _ = keypair("rsa")
    result = put(harness, "sandbox", private, "--stage", "--key-id", "new-key-2")
    assert result.exit_code == 0, result.stderr
    answer = harness.sm.get_secret_value(
        SecretId=harness.envs["sandbox"]["credentials_secret"], VersionStage="AWSPENDING"
    )
    assert json.loads(answer["SecretString"])["key_id"] == "new-key-2"
