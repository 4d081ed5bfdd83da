"""infra/variables.tf refuses at plan time what the job would refuse at every run: each rule is
shown to fire for the input it is about, and a valid private_key_jwt environment with every
new key passes them all. `terraform plan` of a root module calling a module made of
infra/variables.tf alone, copied verbatim: the rules live there and reference nothing else, and
without the module's resources no provider is started, so each plan takes about a second instead
of the 25 s the AWS provider's start costs (the whole module is planned and applied by
test_terraform_apply.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from standins.terraform import ROOT, Terraform, TerraformUnavailable

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ROOT_TF = """\
variable "environments" { type = any }
variable "lambda_architecture" { type = string }
variable "schedule_expression" { type = string }
variable "token_rotation_schedule_expression" { type = string }
variable "job_defaults" { type = any }
variable "metrics_namespace" { type = string }
variable "log_level" { type = string }

module "sync_job" {
  source              = "./infra"
  lambda_package_path = "sync-job-lambda-x86_64.zip"
  lambda_architecture = var.lambda_architecture
  environments        = var.environments
  job_defaults        = var.job_defaults
  metrics_namespace   = var.metrics_namespace
  log_level           = var.log_level

  schedule_expression                = var.schedule_expression
  token_rotation_schedule_expression = var.token_rotation_schedule_expression
}
"""
URL = "https://login.example.com/oauth2/token"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("validation")
    (work / "infra").mkdir()
    (work / "infra" / "variables.tf").write_text((ROOT / "infra" / "variables.tf").read_text())
    (work / "main.tf").write_text(ROOT_TF)
    (work / "sync-job-lambda-x86_64.zip").write_bytes(b"not read before validation")
    try:
        tf = Terraform.offline(work, work / "scratch")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    tf.init()

    def run(
        environments: dict[str, Any],
        architecture: str = "x86_64",
        *,
        schedule: str = "rate(5 minutes)",
        rotation: str = "rate(4 hours)",
        job_defaults: dict[str, Any] | None = None,
        metrics_namespace: str = "SyncJob",
        log_level: str = "INFO",
    ) -> list[str]:
        """The validation messages of `terraform plan`, whitespace collapsed."""
        (work / "test.auto.tfvars.json").write_text(
            json.dumps(
                {
                    "environments": environments,
                    "lambda_architecture": architecture,
                    "schedule_expression": schedule,
                    "token_rotation_schedule_expression": rotation,
                    "job_defaults": job_defaults or {},
                    "metrics_namespace": metrics_namespace,
                    "log_level": log_level,
                }
            )
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
            "spec_with_a_secret": {"token_url": URL, "signing_key_spec": "RSA_2048"},
            "alias_cannot_be_granted": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:alias/sync-job",
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
        "signing_key_spec (RSA_2048, RSA_3072, RSA_4096 or ECC_NIST_P256) creates a signing key",
        "kms_key_id must be a key ARN",
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
                # Above the schedule's 300 s: a margin of 0 would lapse every token (refused).
                "refresh_margin_seconds": 600,
            },
            "paxos": {"token_url": URL, "scopes": ["funding:read_profile"]},
            "kms": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
            },
            "created_key": {
                "token_url": URL,
                "auth_method": "private_key_jwt",
                "signing_key_spec": "ECC_NIST_P256",
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


@pytest.mark.parametrize(
    ("schedule", "margin", "interval"),
    [
        ("rate(20 minutes)", 900, 1200),  # issue 21's example: the default margin, a 20-minute rate
        ("rate(15 minutes)", 900, 900),  # I = M: the token expires while the run requests its successor
        ("rate(1 hour)", 900, 3600),
        ("cron(7,37 * * * ? *)", 900, 1800),  # the old CI example's twice an hour
        ("cron(0/30 * * * ? *)", 900, 1800),
        ("cron(10,25,40 * * * ? *)", 900, 1800),  # the longest gap is across the hour: 40 -> 10
    ],
)
def test_a_schedule_that_guarantees_lapses_is_refused_with_the_arithmetic(
    plan: Any, schedule: str, margin: int, interval: int
) -> None:
    errors = plan({"paxos": {"token_url": URL}}, schedule=schedule)
    assert len(errors) == 1, errors
    assert f"schedule_expression: {schedule} runs up to {interval} s apart" in errors[0]
    assert f"the smallest refresh_margin_seconds is {margin} s" in errors[0]
    assert f"({margin} - {interval} = {margin - interval} s, must be > 0)" in errors[0]


def test_the_smallest_margin_of_any_environment_counts(plan: Any) -> None:
    envs = {"wide": {"token_url": URL}, "narrow": {"token_url": URL, "refresh_margin_seconds": 240}}
    (error,) = plan(envs, schedule="rate(5 minutes)")
    assert "the smallest refresh_margin_seconds is 240 s" in error
    # A wider margin in job_defaults lets a slower schedule through, and an environment's own wins.
    assert (
        plan(
            {"paxos": {"token_url": URL}},
            schedule="rate(20 minutes)",
            job_defaults={"refresh_margin_seconds": 1800},
        )
        == []
    )


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(5 minutes)",
        "rate(1 minute)",
        "cron(0/5 * * * ? *)",
        "cron(* * * * ? *)",
        "cron(0 8 ? * MON-FRI *)",
    ],
)
def test_schedules_that_keep_tokens_fresh_pass(plan: Any, schedule: str) -> None:
    # The last one is not computed (hours restricted): not refused, the docs say so.
    assert plan({"paxos": {"token_url": URL}}, schedule=schedule) == []


@pytest.mark.parametrize("rotation", ["rate(1 hour)", "rate(3 hours)", "every day"])
def test_a_rotation_schedule_secrets_manager_refuses_is_refused(plan: Any, rotation: str) -> None:
    (error,) = plan({"paxos": {"token_url": URL}}, rotation=rotation)
    assert "token_rotation_schedule_expression: rate(N hours) with N of 4 or more" in error


def test_revocation_url_must_be_https(plan: Any) -> None:
    (error,) = plan({"paxos": {"token_url": URL, "revocation_url": "http://oauth.example.com/revoke"}})
    assert "revocation_url must be https://" in error
    assert plan({"paxos": {"token_url": URL, "revocation_url": "https://oauth.example.com/revoke"}}) == []


SECRETLESS = {
    "token_url": URL,
    "auth_method": "private_key_jwt",
    "signing_key_spec": "ECC_NIST_P256",
    "client_id": "sync-job-prod",
}


@pytest.mark.parametrize(
    "named", ["credentials_secret_arn", "credentials_secret_name", "credentials_kms_key_arn"]
)
def test_a_secretless_environment_naming_a_credentials_secret_is_refused(plan: Any, named: str) -> None:
    """With client_id and a keyless credential the job reads no credentials secret, and the
    module creates none: naming one would be a secret nobody reads, granted to the job."""
    value = {
        "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "credentials_secret_name": "sync-job/prod/client-credentials",
        "credentials_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k",
    }[named]
    errors = plan({"prod": {**SECRETLESS, named: value}})
    assert (
        len(errors) == 1 and "the job reads no credentials secret; remove credentials_secret_arn" in errors[0]
    )
    assert plan({"prod": SECRETLESS}) == []


@pytest.mark.parametrize(
    ("namespace", "valid"),
    [
        ("SyncJob", True),
        ("Team/Sync-Job_v2.#1: prod", True),
        ("Sync\nJob", False),
        ("Sync\u202eJob", False),
        ("AWS/Lambda", False),
        ("   ", False),
        ("S" * 256, False),
        ("Caf\u00e9", False),
    ],
    ids=["default", "every-allowed-character", "newline", "bidi", "reserved", "blank", "256", "non-ascii"],
)
def test_metrics_namespace_follows_cloudwatch_s_rule_as_the_handler_does(
    plan: Any, namespace: str, valid: bool
) -> None:
    from sync_job.errors import UsageError
    from sync_job.metrics import check_namespace

    namespace = namespace.encode().decode("unicode_escape")
    errors = plan({"prod": {"token_url": URL}}, metrics_namespace=namespace)
    assert (errors == []) == valid, errors
    try:
        check_namespace(namespace)
        handler_valid = True
    except UsageError:
        handler_valid = False
    assert handler_valid == valid  # the module and the handler agree


def test_log_level_is_one_the_handler_takes(plan: Any) -> None:
    assert plan({"prod": {"token_url": URL}}, log_level="debug") == []
    errors = plan({"prod": {"token_url": URL}}, log_level="VERBOSE")
    assert len(errors) == 1 and "log_level: DEBUG, INFO, WARNING or ERROR." in errors[0]
