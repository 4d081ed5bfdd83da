"""infra/ applied for a deployment whose every environment is secretless (a client_id with a KMS
key the module creates, or with STS web-identity tokens): no credentials secret is created, the
job's role is granted nothing on one (a statement without resources would not be a policy), and
what is left is still least privilege. The mixed case (secretless beside environments that read
a secret) is in test_terraform_apply.py, with the packaged handler run against it.

Terraform against moto's server on 127.0.0.1, a root module calling a copy of infra/ (test-only
plumbing, never in infra/); skipped, with the reason, when terraform or the provider mirror is
missing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from standins.aws import DUMMY_AWS, REGION
from standins.aws import client as aws_client
from standins.moto_server import MotoServer
from standins.policy_check import find_wildcard_grants
from standins.terraform import Terraform, TerraformUnavailable, copy_infra

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

SERVICES = ("sts", "iam", "kms", "secretsmanager", "lambda", "scheduler", "sqs", "cloudwatch", "logs")
URL = "https://login.example.com/oauth2/token"


def root_tf(endpoint: str, name: str) -> str:
    endpoints = "\n".join(f"    {service:<14} = {json.dumps(endpoint)}" for service in SERVICES)
    return f"""
module "sync_job" {{
  source              = "./infra"
  name                = "{name}"
  lambda_package_path = "${{path.module}}/sync-job-lambda-x86_64.zip"
  secret_name_prefix  = "{name}"
  environments = {{
    kms = {{
      token_url        = "{URL}"
      auth_method      = "private_key_jwt"
      signing_key_spec = "ECC_NIST_P256"
      client_id        = "kms-client"
    }}
    federated = {{
      token_url                 = "{URL}"
      auth_method               = "private_key_jwt"
      client_assertion_source   = "aws_sts"
      client_assertion_audience = "api://AzureADTokenExchange"
      client_id                 = "federated-client"
    }}
  }}
  # moto cannot register a rotation schedule (test_terraform_apply.py says why).
  token_rotation_schedule_expression = null
  secret_recovery_window_days        = 0
  kms_deletion_window_days           = 7
}}

output "out" {{
  value = {{
    credentials_secret_arns = module.sync_job.credentials_secret_arns
    token_secret_arns       = module.sync_job.token_secret_arns
    kms_key_arn             = module.sync_job.kms_key_arn
    config_toml             = module.sync_job.config_toml
  }}
}}

provider "aws" {{
  region                      = "{REGION}"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
{endpoints}
  }}
}}
"""


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Terraform, dict[str, Any], str, str]]:
    work = tmp_path_factory.mktemp("secretless")
    copy_infra(work / "infra")
    try:
        tf = Terraform.offline(work, work / "scratch", extra_env=dict(DUMMY_AWS))
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    name = f"secretless-{uuid.uuid4().hex[:6]}"
    with MotoServer() as moto:
        (work / "main.tf").write_text(root_tf(moto.endpoint, name))
        # Never run here: moto keeps the function's code without executing it.
        (work / "sync-job-lambda-x86_64.zip").write_bytes(_empty_zip())
        tf.init()
        tf.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=600)
        yield tf, tf.output_json()["out"], moto.endpoint, name
        tf.run("destroy", "-auto-approve", "-input=false", "-no-color", timeout=600)


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sync_job/__init__.py", "")
    return buffer.getvalue()


def test_no_credentials_secret_is_created_named_or_output(
    applied: tuple[Terraform, dict[str, Any], str, str],
) -> None:
    import tomllib

    tf, out, endpoint, name = applied
    assert out["credentials_secret_arns"] == {}
    names = [
        s["Name"] for s in aws_client("secretsmanager", endpoint).list_secrets(MaxResults=100)["SecretList"]
    ]
    assert sorted(n for n in names if n.startswith(f"{name}/")) == [
        f"{name}/federated/access-token",
        f"{name}/kms/access-token",
    ]
    state = tf.show_json()
    resources = state["values"]["root_module"]["child_modules"][0]["resources"]
    assert not [r["address"] for r in resources if ".credentials" in r["address"]]
    config = tomllib.loads(out["config_toml"])
    for env, client_id in (("kms", "kms-client"), ("federated", "federated-client")):
        assert "credentials_secret" not in config["environments"][env]
        assert config["environments"][env]["client_id"] == client_id


def test_the_job_is_granted_nothing_on_a_credentials_secret(
    applied: tuple[Terraform, dict[str, Any], str, str],
) -> None:
    tf, out, endpoint, name = applied
    document = aws_client("iam", endpoint).get_role_policy(RoleName=f"{name}-job", PolicyName=f"{name}-job")[
        "PolicyDocument"
    ]
    policy = json.loads(document) if isinstance(document, str) else document
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert "ReadClientCredentials" not in by_sid and "PromoteStagedClientCredentials" not in by_sid
    tokens = sorted(out["token_secret_arns"].values())
    context = by_sid["UseTheKeyForTheseSecretsOnly"]["Condition"]["StringEquals"]
    assert sorted(_list(context["kms:EncryptionContext:SecretARN"])) == tokens
    assert "SignClientAssertions" in by_sid and "WebIdentityTokensForClientAssertions" in by_sid
    findings, documents = find_wildcard_grants(tf.show_json())
    assert documents >= 4 and findings == [], findings


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
