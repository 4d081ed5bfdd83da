"""Deployment paths tried as a new user would (issue 21 §2), across the real wire (moto's server)."""

from __future__ import annotations

import json

import pytest

from standins.harness import Harness


@pytest.mark.parametrize("batched", [False, True], ids=["one-secret", "batch"])
def test_credentials_secret_without_value_says_so_with_the_put_command(
    harness: Harness, batched: bool
) -> None:
    # What `terraform apply` leaves: the credentials secret exists with no version at all
    # (the module never holds a client secret). GetSecretValue then answers
    # ResourceNotFoundException, the same code as for a missing secret.
    harness.add_env("sandbox")
    creds = harness.envs["sandbox"]["credentials_secret"]
    harness.sm.delete_secret(SecretId=creds, ForceDeleteWithoutRecovery=True)
    harness.sm.create_secret(Name=creds)
    if batched:  # two due environments: the credentials are read with BatchGetSecretValue first
        harness.add_env("production")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = {r["environment"]: r["error"] for r in result.json()["results"]}["sandbox"]
    assert error == (
        f"credentials secret {creds} exists but has no value yet (infra/ creates it empty); "
        "store the client credentials with `sync-job credentials put ENVIRONMENT --client-id CLIENT_ID`"
    )
    assert "does not exist" not in error
    assert harness.token_requests("sandbox") == 0


def test_credentials_secret_that_does_not_exist_still_says_so(harness: Harness) -> None:
    harness.add_env("sandbox")
    creds = harness.envs["sandbox"]["credentials_secret"]
    harness.sm.delete_secret(SecretId=creds, ForceDeleteWithoutRecovery=True)
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert error.startswith(f"secret {creds} does not exist; create it (e.g. with infra/)")


def test_empty_then_put_then_run_works(harness: Harness) -> None:
    # The documented follow-up of the message above, end to end.
    harness.add_env("sandbox")
    creds = harness.envs["sandbox"]["credentials_secret"]
    harness.sm.delete_secret(SecretId=creds, ForceDeleteWithoutRecovery=True)
    harness.sm.create_secret(Name=creds)
    from click.testing import CliRunner

    from sync_job.cli import main

    runner = CliRunner()
    put = runner.invoke(
        main,
        [
            "--config",
            str(harness.config_path()),
            "credentials",
            "put",
            "sandbox",
            "--client-id",
            harness.client_id("sandbox"),
            "--json",
        ],
        input=harness.secrets["sandbox"] + "\n",
        catch_exceptions=False,
    )
    assert put.exit_code == 0, put.stderr
    harness.assert_no_secret(put.stdout, put.stderr)
    assert json.loads(put.stdout)["published"] is True
    assert harness.cli("status").exit_code == 0
