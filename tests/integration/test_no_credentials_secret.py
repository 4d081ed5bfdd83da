"""A keyless environment needs no credentials secret at all (issue 20 §2): with ``client_id`` in
the config and a KMS key, an STS web-identity token or an assertion file, the run reads no
credentials secret (none exists in moto here: a read would fail the environment); a config and a
secret that name different client ids fail in one line; the config refuses the kinds that keep a
credential in the secret without one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from standins.aws import kms_key
from standins.harness import Harness, assert_not_in
from standins.sts_server import ENTRA_AUDIENCE, ROLE_ARN, SERVICE_ACCOUNT, JwtIssuer, StsStandIn
from standins.token_server import FederatedTrust


def add_secretless_env(
    harness: Harness, name: str, seen: list[str] | None = None, **client: Any
) -> dict[str, Any]:
    """A private_key_jwt client registered by ``client`` (public key or federated trust), a token
    secret, and an environment naming ``client_id`` and no credentials secret."""
    token_name = f"{harness.run_id}/{name}/access-token"
    harness.sm.create_secret(Name=token_name)

    harness.add_assertion_client(name, seen, **client)
    harness.envs[name] = {
        "token_url": harness.tokens.url,
        "scopes": ["funding:read_profile"],
        "token_secret": token_name,
        "auth_method": "private_key_jwt",
        "client_id": harness.client_id(name),
    }
    return harness.envs[name]


def no_credentials_secret(harness: Harness) -> None:
    names = [s["Name"] for s in harness.sm.list_secrets()["SecretList"]]
    assert not [n for n in names if n.startswith(harness.run_id) and "client-credentials" in n]


def test_kms_env_without_a_credentials_secret_refreshes_and_checks(harness: Harness, kms: Any) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    seen: list[str] = []
    table = add_secretless_env(harness, "sandbox", seen, public_key_pem=public)
    table["kms_key_id"] = arn
    run = harness.cli("run", "--json", level="DEBUG")
    assert run.exit_code == 0, run.stderr
    assert run.json()["results"][0]["outcome"] == "refreshed"
    assert len(seen) == 1 and harness.stored("sandbox") is not None
    no_credentials_secret(harness)
    assert_not_in((run.stdout, run.stderr), *seen)
    check = harness.cli("check", "--json")
    assert check.exit_code == 0, check.stderr
    (entry,) = check.json()["environments"]
    assert entry["credential"] == "kms_key" and "reading credentials secret" not in check.stderr


def test_sts_env_without_a_credentials_secret(harness: Harness, sts: StsStandIn) -> None:
    seen: list[str] = []
    table = add_secretless_env(
        harness, "sandbox", seen, federated=FederatedTrust(sts.url, ROLE_ARN, ENTRA_AUDIENCE)
    )
    table.update(client_assertion_source="aws_sts", client_assertion_audience=ENTRA_AUDIENCE)
    run = harness.cli("run", "--json", level="DEBUG")
    assert run.exit_code == 0, run.stderr
    assert seen == sts.issued and len(seen) == 1
    no_credentials_secret(harness)
    assert_not_in((run.stdout, run.stderr), *sts.issued)
    check = harness.cli("check", "--json", level="DEBUG")
    assert check.exit_code == 0, check.stderr
    assert check.json()["environments"][0]["credential"] == "aws_sts"
    assert_not_in((check.stdout, check.stderr), *sts.issued)


def test_assertion_file_env_without_a_credentials_secret(harness: Harness, tmp_path: Path) -> None:
    with JwtIssuer() as issuer:
        path = tmp_path / "token"
        assertion = issuer.mint(SERVICE_ACCOUNT, ENTRA_AUDIENCE, 3600)
        path.write_text(assertion + "\n")
        seen: list[str] = []
        table = add_secretless_env(
            harness, "sandbox", seen, federated=FederatedTrust(issuer.url, SERVICE_ACCOUNT, ENTRA_AUDIENCE)
        )
        table["client_assertion_file"] = str(path)
        run = harness.cli("run", "--json", level="DEBUG")
    assert run.exit_code == 0, run.stderr
    assert seen == [assertion]
    no_credentials_secret(harness)
    assert_not_in((run.stdout, run.stderr), assertion)


@pytest.mark.parametrize("same", [True, False])
def test_client_id_in_config_and_secret_must_agree(harness: Harness, kms: Any, same: bool) -> None:
    arn, public = kms_key(kms, "ECC_NIST_P256")
    table = harness.add_env(
        "sandbox",
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
        credentials={"client_id": harness.client_id("sandbox")},
        kms_key_id=arn,
    )
    table["client_id"] = harness.client_id("sandbox") if same else "another-client"
    good = harness.put_due("sandbox")
    run = harness.cli("run", "--json")
    if same:
        assert run.exit_code == 0, run.stderr
        return
    assert run.exit_code == 1
    error = run.json()["results"][0]["error"]
    assert (
        "differs from the config's environments.sandbox.client_id" in error and "another-client" not in error
    )
    assert harness.stored("sandbox") == good and harness.token_requests("sandbox") == 0
    check = harness.cli("check", "--json")
    assert "differs from the config's" in check.json()["environments"][0]["error"]


def test_a_kms_certificate_end_reaches_status_and_check(harness: Harness, kms: Any) -> None:
    arn, public = kms_key(kms, "RSA_2048")
    table = harness.add_env(
        "sandbox",
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
        credentials={"client_id": harness.client_id("sandbox")},
        kms_key_id=arn,
    )
    made = harness.cli("certificate", "sandbox", "--days", "12")
    assert made.exit_code == 0, made.stderr
    doc = {"client_id": harness.client_id("sandbox"), "certificate": made.stdout}
    harness.sm.put_secret_value(SecretId=table["credentials_secret"], SecretString=json.dumps(doc))
    assert harness.cli("run", "--json").exit_code == 0
    for command, key in (("status", "environments"), ("check", "environments")):
        shown = harness.cli(command, "--json")
        assert shown.exit_code == 0, shown.stderr
        (entry,) = shown.json()[key]
        # 12 days from 5 minutes ago: 11 whole days left.
        assert entry["credential_days_left"] == 11 and entry["credential_expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("table", "defaults", "words"),
    [
        (
            {"auth_method": "client_secret_post", "client_id": "c"},
            {},
            "missing required key 'credentials_secret'",
        ),
        (
            {"auth_method": "private_key_jwt", "client_id": "c"},
            {},
            "missing required key 'credentials_secret'",
        ),
        ({"auth_method": "private_key_jwt", "kms_key_id": "alias/k"}, {}, "needs client_id in the config"),
        (
            {"auth_method": "private_key_jwt", "client_assertion_file": "/var/run/token"},
            {},
            "needs client_id in the config",
        ),
        (
            {"auth_method": "client_secret_basic", "credentials_secret": "s"},
            {"client_id": "c"},
            "defaults.client_id",
        ),
        ({"auth_method": "client_secret_basic"}, {"credentials_secret": "s"}, "defaults.credentials_secret"),
    ],
)
def test_config_without_a_needed_credentials_secret_is_one_line_exit_2(
    harness: Harness, table: dict[str, Any], defaults: dict[str, Any], words: str
) -> None:
    harness.envs["sandbox"] = {
        "token_url": harness.tokens.url,
        "token_secret": f"{harness.run_id}/t",
        **table,
    }
    harness.defaults.update(defaults)
    result = harness.cli("run")
    assert result.exit_code == 2
    (line,) = result.error_lines
    assert words in line and "Traceback" not in result.stderr


def test_commands_that_write_the_credentials_secret_refuse_a_secretless_env() -> None:
    """``credentials put``/``stage``/``promote`` go through ``secret_of``: one usage line (exit 2)."""
    from sync_job.client_identity import secret_of
    from sync_job.config import parse_config
    from sync_job.errors import UsageError

    env = {
        "token_url": "https://login.example.com/token",
        "token_secret": "t",
        "auth_method": "private_key_jwt",
        "kms_key_id": "alias/k",
        "client_id": "c",
    }
    config = parse_config({"environments": {"sandbox": env}})
    with pytest.raises(
        UsageError, match="environment sandbox has no credentials_secret .*kms_key.*nothing to put"
    ):
        secret_of(config.environments[0])
