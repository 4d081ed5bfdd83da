"""infra/examples/paxos applied for real: Terraform against moto's server on 127.0.0.1, then the
packaged Lambda handler (the dist zip, unzipped) run against the same moto state and a local
token endpoint, then `terraform destroy`.

What it shows: the apply creates the function, schedule, roles, key, secrets, alarms and dashboard;
no applied policy allows a secretsmanager or kms action on "*"; the handler from the zip, with
the configuration Terraform rendered into the function's environment, writes valid tokens into
the Terraform-created token secrets (and a second run finds them fresh); destroy removes it all.
Next to the two Paxos environments (client_secret_post) runs a third, private_key_jwt one, whose
credentials secret holds a private key and its certificate, and whose private_key_jwt keys
(signing_alg, audience, key_id) and request settings come through Terraform's variables.

Test-only plumbing (never in infra/): a copy of infra/ in a temporary directory, an override.tf
pointing every AWS endpoint the module uses at moto and adding the private_key_jwt environment to
the example's module call, and a tfvars file pointing the token URLs at the local endpoint.
Skipped, with the reason, when terraform or the provider mirror is missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from standins.aws import DUMMY_AWS, REGION
from standins.aws import client as aws_client
from standins.lambda_package import Package, interpreter_shim
from standins.moto_server import MotoServer
from standins.policy_check import find_wildcard_grants
from standins.terraform import OFFLINE_PROXY_ENV, Terraform, TerraformUnavailable, copy_infra
from standins.token_server import TokenServer

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

NAME = "paxos-sync-job"
PAXOS_ENVIRONMENTS = ("sandbox", "production")
JWT_ENV = "partner"  # private_key_jwt, added to the example by the test's override.tf
# private_key_jwt signed by a KMS key the module creates (signing_key_spec): no key stored.
KMS_ENV = "keyless"
# Keyless with client_id given (secretless): the job reads no credentials secret, so the module
# creates none and grants none (infra/locals.tf, secretless).
SECRETLESS_ENV = "secretless"
SECRETLESS_CLIENT_ID = "secretless-client"
ENVIRONMENTS = (*PAXOS_ENVIRONMENTS, JWT_ENV, KMS_ENV, SECRETLESS_ENV)
JWT_SCOPES = ["partner:read", "partner:write"]
# Every AWS service the module touches; each is pointed at moto. A service missing here would
# be sent to the dead loopback proxy and fail, never to AWS.
ENDPOINT_SERVICES = (
    "sts",
    "iam",
    "kms",
    "secretsmanager",
    "lambda",
    "scheduler",
    "sqs",
    "cloudwatch",
    "logs",
)
CONSUMER_ROLE = "arn:aws:iam::123456789012:role/payments-api-sandbox"
OPERATOR_ROLE = "arn:aws:iam::123456789012:role/payments-oncall"


def override_tf(endpoint: str, token_url: str) -> str:
    endpoints = "\n".join(f"    {service:<14} = {json.dumps(endpoint)}" for service in ENDPOINT_SERVICES)
    return f"""# Test only: written into a temporary copy of the example, never committed.
module "sync_job" {{
  environments = merge(local.environments, {{
    {JWT_ENV} = {{
      token_url          = {json.dumps(token_url)}
      scopes             = {json.dumps(JWT_SCOPES)}
      auth_method        = "private_key_jwt"
      signing_alg        = "RS256"
      audience           = {json.dumps(token_url)}
      key_id             = "partner-key-1"
      max_attempts       = 4
      timeout_seconds    = 7.5
      consumer_role_arns = []
    }}
    {KMS_ENV} = {{
      token_url          = {json.dumps(token_url)}
      scopes             = {json.dumps(JWT_SCOPES)}
      auth_method        = "private_key_jwt"
      signing_key_spec   = "ECC_NIST_P256"
      consumer_role_arns = []
    }}
    {SECRETLESS_ENV} = {{
      token_url          = {json.dumps(token_url)}
      scopes             = {json.dumps(JWT_SCOPES)}
      auth_method        = "private_key_jwt"
      signing_key_spec   = "ECC_NIST_P256"
      client_id          = {json.dumps(SECRETLESS_CLIENT_ID)}
      consumer_role_arns = []
    }}
  }})
  # moto's RotateSecret keeps only AutomaticallyAfterDays (a ScheduleExpression reads back as
  # rotation disabled, which the provider takes for a resource gone) and invokes the function
  # through its Lambda backend: the rotation registration cannot be applied here. The protocol
  # itself is tested against moto in tests/integration/test_secret_rotation.py.
  token_rotation_schedule_expression = null
}}

provider "aws" {{
  region                      = "{REGION}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


QUICK_START_SECRETS = {
    "credentials": "paxos/sandbox/client-credentials",
    "token": "paxos/sandbox/access-token",
}


def adopt_tf(sm: Any) -> str:
    """The quick start's `aws secretsmanager create-secret` of both sandbox secrets (no value, no
    key: the account's default), then the import blocks of docs/infra.md for them."""
    blocks = []
    for resource, name in QUICK_START_SECRETS.items():
        arn = sm.create_secret(Name=name)["ARN"]
        blocks.append(
            f'import {{\n  to = module.sync_job.aws_secretsmanager_secret.{resource}["sandbox"]\n'
            f"  id = {json.dumps(arn)}\n}}\n"
        )
    return "# Test only: adopt the quick start's secrets (docs/infra.md).\n" + "\n".join(blocks)


@dataclass
class Stack:
    tf: Terraform
    moto: MotoServer
    endpoint: str
    tokens: TokenServer
    package: Package
    workdir: Path
    outputs: dict[str, Any]
    apply_log: str
    client_secrets: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)


@pytest.fixture(scope="module")
def stack(lambda_package: Package, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("terraform-apply")
    infra = copy_infra(base / "infra")
    example = infra / "examples" / "paxos"
    try:
        probe = Terraform.offline(example, base / "scratch")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))

    moto = MotoServer(record=True).start()
    tokens = TokenServer(token_prefix=f"tok-{uuid.uuid4().hex[:8]}").start()
    try:
        endpoint = moto.endpoint
        assert endpoint.startswith("http://127.0.0.1:")
        tf = Terraform.offline(example, base / "scratch", extra_env=dict(DUMMY_AWS))
        assert tf.binary == probe.binary
        (example / "override.tf").write_text(override_tf(endpoint, tokens.url))
        (example / "test.auto.tfvars.json").write_text(
            json.dumps(
                {
                    "token_urls": {env: tokens.url for env in PAXOS_ENVIRONMENTS},
                    "consumer_role_arns": {"sandbox": [CONSUMER_ROLE]},
                    "operator_role_arns": [OPERATOR_ROLE],
                    "lambda_package_path": str(lambda_package.zip_path),
                    # A throwaway stack: destroy deletes the secrets at once, the key after 7 days.
                    "secret_recovery_window_days": 0,
                    "kms_deletion_window_days": 7,
                },
                indent=2,
            )
        )
        # The README's quick start made the sandbox's two secrets by hand, with the names the
        # module uses; docs/infra.md "Adopting the quick start's secrets" imports them instead of
        # failing with ResourceExistsException. The same import blocks, for real:
        (example / "adopt.tf").write_text(adopt_tf(aws_client("secretsmanager", endpoint)))
        tf.init()
        applied = tf.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=600)
        stack = Stack(
            tf=tf,
            moto=moto,
            endpoint=endpoint,
            tokens=tokens,
            package=lambda_package,
            workdir=example,
            outputs=tf.output_json(),
            apply_log=applied.stdout,
        )
        yield stack

        destroyed = tf.run("destroy", "-auto-approve", "-input=false", "-no-color", timeout=600)
        assert "Destroy complete!" in destroyed.stdout
        assert_destroyed(stack)
    finally:
        tokens.stop()
        moto.stop()


def assert_destroyed(stack: Stack) -> None:
    """After destroy: nothing of the stack is left (the key waits out its deletion window)."""
    state = json.loads((stack.workdir / "terraform.tfstate").read_text())
    assert state["resources"] == [], [r["type"] for r in state["resources"]]
    with pytest.raises(ClientError):
        stack.client("lambda").get_function(FunctionName=stack.outputs["function_name"])
    with pytest.raises(ClientError):
        stack.client("scheduler").get_schedule(Name=NAME)
    sm = stack.client("secretsmanager")
    out = stack.outputs
    for arn in [*out["token_secret_arns"].values(), *out["credentials_secret_arns"].values()]:
        with pytest.raises(ClientError):
            sm.describe_secret(SecretId=arn)
    assert stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"] == []
    key = stack.client("kms").describe_key(KeyId=stack.outputs["kms_key_arn"])["KeyMetadata"]
    assert key["KeyState"] == "PendingDeletion"


# --- what the apply created ------------------------------------------------------------------


def test_apply_creates_function_schedule_roles_key_secrets_alarms_dashboard(stack: Stack) -> None:
    out = stack.outputs
    assert "Apply complete!" in stack.apply_log

    # The function: runtime, handler, sizing, the zip we built, config without any secret.
    function = stack.client("lambda").get_function(FunctionName=out["function_name"])["Configuration"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["x86_64"]
    assert function["Handler"] == "sync_job.lambda_handler.handler"
    assert function["Timeout"] == 300 and function["MemorySize"] == 256
    assert function["Role"] == out["role_arn"]
    assert function["KMSKeyArn"] == out["kms_key_arn"]
    # moto 5.2.5 accepts a function's DeadLetterConfig but does not keep it (GetFunction leaves
    # it out), so that one parameter is checked in the CreateFunction request Terraform sent.
    # (The prefix also matches the permission's POST .../functions/NAME/policy.)
    (create,) = [
        r
        for r in stack.moto.find("POST", "/2015-03-31/functions")
        if r.path.rstrip("/").endswith("/functions")
    ]
    assert json.loads(create.body)["DeadLetterConfig"]["TargetArn"].endswith(f":{NAME}-dead-letter")
    expected_hash = base64.b64encode(hashlib.sha256(stack.package.zip_path.read_bytes()).digest()).decode()
    assert function["CodeSha256"] == expected_hash
    variables = function["Environment"]["Variables"]
    assert variables["SYNC_JOB_METRICS_NAMESPACE"] == "SyncJob"
    config = tomllib.loads(variables["SYNC_JOB_CONFIG_TOML"])
    # The write budget's arithmetic gets the real schedule: rate(5 minutes), the module's default.
    assert config["defaults"]["schedule_seconds"] == 300
    assert sorted(config["environments"]) == sorted(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        table = config["environments"][env]
        assert table["token_secret"] == out["token_secret_arns"][env]
        assert table.get("credentials_secret") == out["credentials_secret_arns"].get(env)
        assert table["token_url"] == stack.tokens.url
    # The secretless environment: no credentials secret named, created or output.
    assert "credentials_secret" not in config["environments"][SECRETLESS_ENV]
    assert config["environments"][SECRETLESS_ENV]["client_id"] == SECRETLESS_CLIENT_ID
    assert sorted(out["credentials_secret_arns"]) == sorted(e for e in ENVIRONMENTS if e != SECRETLESS_ENV)
    for env in PAXOS_ENVIRONMENTS:
        table = config["environments"][env]
        # Only what the example sets: every other key is left to the job's defaults.
        assert set(table) == {"token_url", "scopes", "auth_method", "credentials_secret", "token_secret"}
        assert table["auth_method"] == "client_secret_post"
    jwt_table = config["environments"][JWT_ENV]
    assert {k: v for k, v in jwt_table.items() if k not in ("credentials_secret", "token_secret")} == {
        "token_url": stack.tokens.url,
        "scopes": JWT_SCOPES,
        "auth_method": "private_key_jwt",
        "signing_alg": "RS256",
        "audience": stack.tokens.url,
        "key_id": "partner-key-1",
        "max_attempts": 4,
        "timeout_seconds": 7.5,
    }
    concurrency = stack.client("lambda").get_function_concurrency(FunctionName=out["function_name"])
    assert concurrency.get("ReservedConcurrentExecutions") == 1

    # The schedule: every 5 minutes (margin 900 s - 300 s: a failed run is survived), with a
    # retry policy and the dead-letter queue.
    schedule = stack.client("scheduler").get_schedule(Name=NAME)
    assert schedule["ScheduleExpression"] == "rate(5 minutes)"
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == out["function_arn"]
    assert schedule["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 3}
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(f":{NAME}-dead-letter")
    queue = stack.client("sqs").get_queue_url(QueueName=f"{NAME}-dead-letter")
    assert queue["QueueUrl"]

    # The roles.
    iam = stack.client("iam")
    job_role = iam.get_role(RoleName=f"{NAME}-job")["Role"]
    assert job_role["Arn"] == out["role_arn"]
    assert iam.list_role_policies(RoleName=f"{NAME}-job")["PolicyNames"] == [f"{NAME}-job"]
    assert iam.get_role(RoleName=f"{NAME}-scheduler")["Role"]["Arn"] == schedule["Target"]["RoleArn"]

    # The key: customer managed, enabled, rotating.
    kms = stack.client("kms")
    key = kms.describe_key(KeyId=out["kms_key_arn"])["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=out["kms_key_arn"])["KeyRotationEnabled"] is True

    # The secrets: two per environment (one for the secretless one), all on the key; the
    # credentials ones without any value.
    sm = stack.client("secretsmanager")
    names = {s["Name"] for s in sm.list_secrets(MaxResults=100)["SecretList"]}
    assert f"paxos/{SECRETLESS_ENV}/access-token" in names
    assert not [n for n in names if n.startswith(f"paxos/{SECRETLESS_ENV}/") and "credentials" in n], names
    assert sorted(n for n in names if "client-credentials" in n) == sorted(
        f"paxos/{e}/client-credentials" for e in ENVIRONMENTS if e != SECRETLESS_ENV
    )
    for env in ENVIRONMENTS:
        arns = [out["token_secret_arns"][env]]
        if env != SECRETLESS_ENV:
            arns.append(out["credentials_secret_arns"][env])
        for arn in arns:
            described = sm.describe_secret(SecretId=arn)
            assert described["KmsKeyId"] == out["kms_key_arn"]
            assert not described.get("VersionIdsToStages"), f"{arn} has a value: Terraform put one"
        policy = json.loads(sm.get_resource_policy(SecretId=out["token_secret_arns"][env])["ResourcePolicy"])
        sids = {s["Sid"] for s in policy["Statement"]}
        assert {"NobodyElseReadsTheToken", "OnlyTheJobAndOperatorsWriteTheToken"} <= sids
        assert ("ConsumersReadTheToken" in sids) == (env == "sandbox")
    assert (
        sm.describe_secret(SecretId="paxos/sandbox/client-credentials")["ARN"]
        == out["credentials_secret_arns"]["sandbox"]
    )

    # Alarms: errors and dead letters, and one staleness alarm per environment; silence alarms.
    alarms = {
        a["AlarmName"]: a
        for a in stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    }
    assert (
        set(alarms)
        == set(out["alarm_names"])
        == {
            f"{NAME}-errors",
            f"{NAME}-dead-letters",
            *(f"{NAME}-{env}-token-stale" for env in ENVIRONMENTS),
            *(f"{NAME}-{env}-credential-expiring" for env in ENVIRONMENTS),
            *(f"{NAME}-{env}-credential-expiring-page" for env in ENVIRONMENTS),
        }
    )
    errors = alarms[f"{NAME}-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["TreatMissingData"]) == (
        "AWS/Lambda",
        "Errors",
        "breaching",
    )
    for env in ENVIRONMENTS:
        stale = alarms[f"{NAME}-{env}-token-stale"]
        assert (stale["Namespace"], stale["MetricName"], stale["Statistic"]) == (
            "SyncJob",
            "SecondsRemaining",
            "Minimum",
        )
        assert stale["Dimensions"] == [{"Name": "Environment", "Value": env}]
        assert stale["TreatMissingData"] == "breaching"
        assert stale["Threshold"] == 600 and stale["ComparisonOperator"] == "LessThanThreshold"
        assert stale["Period"] == 1800 and stale["EvaluationPeriods"] == 1
        # The client credential's end (issue 20): warn at 30 days, page at 7; unknown is fine.
        for suffix, days in (("credential-expiring", 30), ("credential-expiring-page", 7)):
            ending = alarms[f"{NAME}-{env}-{suffix}"]
            assert (ending["MetricName"], ending["Statistic"], ending["Threshold"]) == (
                "CredentialDaysLeft",
                "Minimum",
                days,
            )
            assert ending["ComparisonOperator"] == "LessThanThreshold"
            assert ending["TreatMissingData"] == "notBreaching"

    # The dashboard: seconds remaining per environment and outcomes over time.
    dashboard = stack.client("cloudwatch").get_dashboard(DashboardName=out["dashboard_name"])
    body = json.loads(dashboard["DashboardBody"])
    graphed = {
        (m[1], m[3])
        for w in body["widgets"]
        if w["type"] == "metric"
        for m in w["properties"]["metrics"]
        if m[0] == "SyncJob"
    }
    for env in ENVIRONMENTS:
        for metric in ("SecondsRemaining", "Refreshed", "Fresh", "Failed"):
            assert (metric, env) in graphed

    # The log group: retention and the key.
    (group,) = stack.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
    assert group["retentionInDays"] == 365
    assert group.get("kmsKeyId") == out["kms_key_arn"]


# --- least privilege, read back from what was applied ---------------------------------------


def test_the_quick_start_s_secrets_are_adopted_not_refused(stack: Stack) -> None:
    assert "2 imported" in stack.apply_log
    sm = stack.client("secretsmanager")
    for resource, name in QUICK_START_SECRETS.items():
        described = sm.describe_secret(SecretId=name)
        outputs = stack.outputs["token_secret_arns" if resource == "token" else "credentials_secret_arns"]
        assert described["ARN"] == outputs["sandbox"]
        # Now the module's: its key, its tags.
        assert described["KmsKeyId"] in (
            stack.outputs["kms_key_arn"],
            stack.outputs["kms_key_arn"].split("/")[-1],
        )
        assert {"Key": "sync-job:environment", "Value": "sandbox"} in described["Tags"]


def test_reader_policy_output_grants_one_token_and_the_key_through_secrets_manager(stack: Stack) -> None:
    out = stack.outputs
    assert sorted(out["reader_policy_json"]) == sorted(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        policy = json.loads(out["reader_policy_json"][env])
        by_sid = {s["Sid"]: s for s in policy["Statement"]}
        read = by_sid["ReadTheToken"]
        assert read["Resource"] == out["token_secret_arns"][env]
        assert sorted(read["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        decrypt = by_sid["DecryptTheTokenSecretThroughSecretsManager"]
        assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == out["kms_key_arn"]
        assert decrypt["Condition"]["StringEquals"] == {
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:EncryptionContext:SecretARN": out["token_secret_arns"][env],
        }
        assert set(by_sid) == {"ReadTheToken", "DecryptTheTokenSecretThroughSecretsManager"}


def test_no_applied_policy_allows_a_secretsmanager_or_kms_action_on_star(stack: Stack) -> None:
    state = stack.tf.show_json()
    findings, documents = find_wildcard_grants(state)
    # The job's and the scheduler's inline policies, their trust policies, four secret policies.
    assert documents >= 8, f"only {documents} policy documents found in the state"
    assert findings == [], "\n".join(map(str, findings))

    # And the job's policy names its secrets and key exactly.
    document = stack.client("iam").get_role_policy(RoleName=f"{NAME}-job", PolicyName=f"{NAME}-job")[
        "PolicyDocument"
    ]
    job_policy = json.loads(document) if isinstance(document, str) else document
    by_sid = {s["Sid"]: s for s in job_policy["Statement"]}
    tokens = sorted(stack.outputs["token_secret_arns"].values())
    credentials = sorted(stack.outputs["credentials_secret_arns"].values())
    assert sorted(_list(by_sid["ReadAndPublishTokens"]["Resource"])) == tokens
    assert sorted(_list(by_sid["ReadAndPublishTokens"]["Action"])) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    assert sorted(_list(by_sid["ReadClientCredentials"]["Resource"])) == credentials
    assert _list(by_sid["ReadClientCredentials"]["Action"]) == ["secretsmanager:GetSecretValue"]
    assert sorted(_list(by_sid["PromoteStagedClientCredentials"]["Resource"])) == credentials
    assert sorted(_list(by_sid["PromoteStagedClientCredentials"]["Action"])) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    key_statement = by_sid["UseTheKeyForTheseSecretsOnly"]
    assert _list(key_statement["Resource"]) == [stack.outputs["kms_key_arn"]]
    assert sorted(_list(key_statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    via = key_statement["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == f"secretsmanager.{REGION}.amazonaws.com"
    assert sorted(
        _list(key_statement["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"])
    ) == sorted(tokens + credentials)


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- the packaged handler against what Terraform created -------------------------------------

HANDLER_RUN = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[4]]
import sync_job.lambda_handler as handler_module

class Context:
    function_name = "paxos-sync-job"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 256
    def get_remaining_time_in_millis(self):
        return 120_000

outcome = {}
try:
    outcome["result"] = handler_module.handler(json.loads(sys.argv[2]), Context())
except Exception as exc:
    outcome["error"] = f"{type(exc).__name__}: {exc}"
outcome["modules"] = {name: getattr(sys.modules.get(name), "__file__", None)
                      for name in ("sync_job", "botocore", "requests", "tenacity", "jwt",
                                   "cryptography", "_cffi_backend", "boto3")}
with open(sys.argv[3], "w") as out:
    json.dump(outcome, out)
"""


@dataclass
class HandlerRun:
    result: dict[str, Any] | None
    error: str | None
    modules: dict[str, str | None]
    stdout: str
    stderr: str

    def emf(self) -> list[dict[str, Any]]:
        docs = []
        for line in self.stdout.splitlines():
            if line.startswith("{") and '"_aws"' in line:
                docs.append(json.loads(line))
        return docs


def run_packaged_handler(stack: Stack, event: dict[str, Any], tmp: Path) -> HandlerRun:
    """The handler from the unzipped dist zip, in a fresh interpreter without site-packages
    (-I -S: only the standard library and the zip's tree, as on Lambda, and cffi's backend for
    this machine's Python: see interpreter_shim), with the environment Terraform gave the
    function plus what Lambda itself would set."""
    function = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["function_name"])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        **DUMMY_AWS,
        **function["Environment"]["Variables"],
        "AWS_ENDPOINT_URL": stack.endpoint,
        "AWS_LAMBDA_FUNCTION_NAME": function["FunctionName"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function["MemorySize"]),
        **OFFLINE_PROXY_ENV,
    }
    result_path = tmp / f"result-{uuid.uuid4().hex}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            HANDLER_RUN,
            str(stack.package.unzipped),
            json.dumps(event),
            str(result_path),
            str(interpreter_shim(tmp)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp,
    )
    assert proc.returncode == 0 and result_path.exists(), (
        f"handler process exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    outcome = json.loads(result_path.read_text())
    return HandlerRun(
        outcome.get("result"), outcome.get("error"), outcome["modules"], proc.stdout, proc.stderr
    )


def test_packaged_handler_writes_valid_tokens_into_the_terraform_created_secrets(
    stack: Stack, tmp_path: Path
) -> None:
    out = stack.outputs
    config = tomllib.loads(
        stack.client("lambda").get_function_configuration(FunctionName=out["function_name"])["Environment"][
            "Variables"
        ]["SYNC_JOB_CONFIG_TOML"]
    )
    sm = stack.client("secretsmanager")

    # The operator's step after apply: register the client at the provider, put its credentials.
    client_ids: dict[str, str] = {}
    for env in PAXOS_ENVIRONMENTS:
        client_ids[env] = f"{env}-client-{uuid.uuid4().hex[:6]}"
        secret = f"SECRETMARK-{uuid.uuid4().hex}"
        stack.tokens.add_client(client_ids[env], secret, scopes=config["environments"][env]["scopes"])
        sm.put_secret_value(
            SecretId=out["credentials_secret_arns"][env],
            SecretString=json.dumps({"client_id": client_ids[env], "client_secret": secret}),
        )
    # private_key_jwt: a key pair and its certificate; the provider knows the public key only.
    client_ids[JWT_ENV] = f"{JWT_ENV}-client-{uuid.uuid4().hex[:6]}"
    private_pem, public_pem, certificate_pem = key_and_certificate(client_ids[JWT_ENV])
    stack.tokens.add_client(
        client_ids[JWT_ENV], scopes=JWT_SCOPES, auth_method="private_key_jwt", public_key_pem=public_pem
    )
    sm.put_secret_value(
        SecretId=out["credentials_secret_arns"][JWT_ENV],
        SecretString=json.dumps(
            {"client_id": client_ids[JWT_ENV], "private_key": private_pem, "certificate": certificate_pem}
        ),
    )
    # Keyless: the module made the signing key; the provider gets its public key (an output),
    # the credentials secret only the client id.
    client_ids[KMS_ENV] = f"{KMS_ENV}-client-{uuid.uuid4().hex[:6]}"
    assert config["environments"][KMS_ENV]["kms_key_id"] == out["signing_key_arns"][KMS_ENV]
    stack.tokens.add_client(
        client_ids[KMS_ENV],
        scopes=JWT_SCOPES,
        auth_method="private_key_jwt",
        public_key_pem=out["signing_public_keys_pem"][KMS_ENV],
    )
    sm.put_secret_value(
        SecretId=out["credentials_secret_arns"][KMS_ENV],
        SecretString=json.dumps({"client_id": client_ids[KMS_ENV]}),
    )
    # Secretless: the public key to the provider, the client id in the config; nothing to put.
    client_ids[SECRETLESS_ENV] = SECRETLESS_CLIENT_ID
    stack.tokens.add_client(
        SECRETLESS_CLIENT_ID,
        scopes=JWT_SCOPES,
        auth_method="private_key_jwt",
        public_key_pem=out["signing_public_keys_pem"][SECRETLESS_ENV],
    )
    before = stack.tokens.count()

    first = run_packaged_handler(stack, {}, tmp_path)
    assert first.error is None, f"{first.error}\n{first.stderr}"
    # The job makes its client from botocore alone: boto3 (and s3transfer) are never imported.
    assert first.modules.pop("boto3") is None
    for name, path in first.modules.items():
        if name == "_cffi_backend":  # the one module this Python cannot take from the zip
            assert path and path.startswith(str(tmp_path)), path
            continue
        assert path and path.startswith(str(stack.package.unzipped)), f"{name} imported from {path}"
    assert first.result is not None
    outcomes = {r["environment"]: r for r in first.result["results"]}
    assert {env: outcomes[env]["outcome"] for env in ENVIRONMENTS} == dict.fromkeys(ENVIRONMENTS, "refreshed")
    assert stack.tokens.count() == before + len(ENVIRONMENTS)
    # Each client authenticated as configured: a signed assertion (checked by the endpoint with
    # the registered public key), not a secret, for the private_key_jwt environment.
    seen = {r.client_id: r.auth_method_seen for r in stack.tokens.requests if r.status == 200}
    assert {env: seen.get(client_ids[env]) for env in ENVIRONMENTS} == {
        "sandbox": "client_secret_post",
        "production": "client_secret_post",
        JWT_ENV: "private_key_jwt",
        KMS_ENV: "private_key_jwt",
        SECRETLESS_ENV: "private_key_jwt",
    }

    now = datetime.now(UTC)
    issued = set(stack.tokens.issued)
    for env in ENVIRONMENTS:
        stored = sm.get_secret_value(SecretId=out["token_secret_arns"][env], VersionStage="AWSCURRENT")
        payload = json.loads(stored["SecretString"])
        assert payload["access_token"] and payload["access_token"] in issued
        assert payload["token_type"].lower() == "bearer"
        assert payload["environment"] == env
        assert payload["token_url"] == stack.tokens.url
        expires_at = datetime.fromisoformat(payload["expires_at"].replace("Z", "+00:00"))
        assert (expires_at - now).total_seconds() > 3000
        assert set(payload["scope"].split()) >= set(config["environments"][env]["scopes"])

    # The metrics of the run, as CloudWatch would extract them from the log stream.
    emf = {doc["Environment"]: doc for doc in first.emf()}
    assert set(emf) == set(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        assert emf[env]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SyncJob"
        assert emf[env]["Refreshed"] == 1 and emf[env]["Failed"] == 0
        assert emf[env]["SecondsRemaining"] > 3000
        assert emf[env]["TokenRequestAttempts"] == 1

    # The next scheduled run finds both tokens fresh: no token request, no write.
    versions = {
        env: sm.describe_secret(SecretId=out["token_secret_arns"][env])["VersionIdsToStages"]
        for env in ENVIRONMENTS
    }
    second = run_packaged_handler(stack, {}, tmp_path)
    assert second.error is None, second.error
    assert second.result is not None
    assert {r["environment"]: r["outcome"] for r in second.result["results"]} == {
        env: "fresh" for env in ENVIRONMENTS
    }
    assert stack.tokens.count() == before + len(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        described = sm.describe_secret(SecretId=out["token_secret_arns"][env])
        assert described["VersionIdsToStages"] == versions[env]

    # Neither a client secret, a private key nor a token in anything the handler printed.
    key_body = private_pem.splitlines()[1]
    for run in (first, second):
        for text in (run.stdout, run.stderr):
            assert "SECRETMARK" not in text and "LEAKMARK" not in text
            assert "PRIVATE KEY" not in text and key_body not in text


def key_and_certificate(subject: str) -> tuple[str, str, str]:
    """A fresh RSA key (PKCS#8 PEM), its public key and a self-signed X.509 certificate for it:
    what an operator puts into a private_key_jwt credentials secret."""
    from standins.keys import certificate_pem, new_key, private_pem, public_pem

    key = new_key("rsa")
    return private_pem(key), public_pem(key), certificate_pem(key, name=subject)


def test_the_public_key_output_is_pem_and_sync_job_jwks_is_its_jwk_set(stack: Stack, tmp_path: Path) -> None:
    """The output is named for its shape (``signing_public_keys_pem``: PEM SubjectPublicKeyInfo,
    no ``jwks`` in its name); the RFC 7517 JWK Set of the same key, with the RFC 7638 kid the
    assertions carry, is what `sync-job jwks ENV` prints, read from the rendered config and the
    KMS key Terraform created."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from sync_job.jwks import required_members, thumbprint

    out = stack.outputs
    assert not [name for name in out if "jwk" in name.lower()]
    assert sorted(out["signing_public_keys_pem"]) == sorted([KMS_ENV, SECRETLESS_ENV])
    config = tmp_path / "sync-job.toml"
    config.write_text(out["config_toml"])
    for env, pem in out["signing_public_keys_pem"].items():
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n"), pem
        public = load_pem_public_key(pem.encode())
        proc = subprocess.run(
            [sys.executable, "-m", "sync_job", "--config", str(config), "jwks", env],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **DUMMY_AWS, "AWS_ENDPOINT_URL": stack.endpoint, **OFFLINE_PROXY_ENV},
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (jwk,) = json.loads(proc.stdout)["keys"]
        assert {k: jwk[k] for k in required_members(public)} == required_members(public)
        assert (jwk["kty"], jwk["crv"], jwk["kid"]) == ("EC", "P-256", thumbprint(public))
