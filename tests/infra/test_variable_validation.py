"""infra/variables.tf refuses at plan time what the job would refuse at every run: each rule is
shown to fire for the input it is about, and a valid private_key_jwt environment with every
new key passes them all. `terraform plan` of a root module calling infra/ (offline: validation
comes before any AWS call, which the dead proxy would refuse anyway)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.terraform import Terraform, TerraformUnavailable, copy_infra

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ROOT_TF = """\
variable "environments" { type = any }
variable "lambda_architecture" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  skip_requesting_account_id  = true
}

module "sync_job" {
  source              = "./infra"
  lambda_package_path = "sync-job-lambda-x86_64.zip"
  lambda_architecture = var.lambda_architecture
  environments        = var.environments
}
"""
URL = "https://login.example.com/oauth2/token"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("validation")
    copy_infra(work / "infra")
    (work / "main.tf").write_text(ROOT_TF)
    (work / "sync-job-lambda-x86_64.zip").write_bytes(b"not read before validation")
    try:
        tf = Terraform.offline(work, work / "scratch")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    tf.init()

    def run(environments: dict[str, Any], architecture: str = "x86_64") -> list[str]:
        """The validation messages of `terraform plan`, whitespace collapsed."""
        (work / "test.auto.tfvars.json").write_text(
            json.dumps({"environments": environments, "lambda_architecture": architecture})
        )
        proc = tf.run("plan", "-input=false", "-no-color", timeout=300, check=False)
        blocks = proc.stderr.split("Error: ")[1:]
        return [" ".join(b.split()) for b in blocks if b.startswith("Invalid value for variable")]

    return run


def test_each_rule_refuses_its_input(plan: Any) -> None:
    errors = plan(
        {
            "secret_with_jwt_keys": {"token_url": URL, "signing_alg": "RS256", "key_id": "k1"},
            "grant_field": {"token_url": URL, "endpoint_params": {"grant_type": ["password"]}},
            "no_value": {"token_url": URL, "endpoint_params": {"audience": []}},
            "fraction": {"token_url": URL, "max_attempts": 1.5},
            "hmac": {"token_url": URL, "auth_method": "private_key_jwt", "signing_alg": "HS256"},
            "zero_timeout": {"token_url": URL, "timeout_seconds": 0},
            "two_sources": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
                "client_assertion_file": "/var/run/secrets/token",
            },
            "sts_without_audience": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "client_assertion_source": "aws_sts",
            },
        },
        architecture="arm",
    )
    expected = [
        'apply only to auth_method = "private_key_jwt"',
        "endpoint_params may not set grant_type",
        "must be positive whole numbers",
        "signing_alg must be RS256, ES256 or PS256",
        "timeout_seconds, backoff_initial_seconds, backoff_max_seconds and rate_limit_per_second must be positive",
        "lambda_architecture: x86_64 or arm64",
        "kms_key_id, client_assertion_source and client_assertion_file exclude each other",
        'client_assertion_source must be "aws_sts", with client_assertion_audience',
    ]
    for message in expected:
        assert sum(message in e for e in errors) == 1, (message, errors)
    assert len(errors) == len(expected), errors


def test_a_valid_environment_with_every_new_key_passes(plan: Any) -> None:
    errors = plan(
        {
            "entra": {
                "token_url": URL,
                "scopes": ["api://orders/.default"],
                "auth_method": "private_key_jwt",
                "signing_alg": "PS256",
                "audience": URL,
                "key_id": "k1",
                "endpoint_params": {"resource": ["https://a.example", "https://b.example"]},
                "max_attempts": 3,
                "timeout_seconds": 2.5,
                "max_lifetime_seconds": 86400,
                "refresh_margin_seconds": 0,
            },
            "paxos": {"token_url": URL, "scopes": ["funding:read_profile"]},
            "kms": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
            },
            "federated": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "client_assertion_source": "aws_sts",
                "client_assertion_audience": "api://AzureADTokenExchange",
                "client_assertion_lifetime_seconds": 600,
                "client_assertion_signing_alg": "ES384",
            },
        },
        architecture="arm64",
    )
    assert errors == []
