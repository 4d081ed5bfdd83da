"""infra/modules/config_toml, applied on its own (no provider, no AWS: seconds): the TOML it
renders into SYNC_JOB_CONFIG_TOML parses back to exactly the values given, odd strings and
endpoint_params lists included, and the job accepts a config that sets every key it knows."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from standins.terraform import Terraform, TerraformUnavailable
from sync_job import config as job_config

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "modules" / "config_toml"

ROOT_TF = """\
variable "environments" { type = any }
variable "job_defaults" { type = any }

module "config" {
  source       = "./config_toml"
  environments = var.environments
  job_defaults = var.job_defaults
}

output "toml" { value = module.config.toml }
"""

# A valid value of every per-environment key of the job (sync_job/config.py _CHECKS) besides the
# three required ones, for a private_key_jwt environment. A key the job gains needs a value here.
SAMPLES: dict[str, Any] = {
    "scopes": ["funding:read_profile", "transfer:read_transfer"],
    "auth_method": "private_key_jwt",
    "refresh_margin_seconds": 900,
    "max_attempts": 4,
    "timeout_seconds": 7.5,
    "backoff_initial_seconds": 0.25,
    "backoff_max_seconds": 20,
    "rate_limit_per_second": 0.5,
    "rate_limit_burst": 8,
    "rate_limit_lockout_seconds": 300,
    "default_lifetime_seconds": 3600,
    "max_lifetime_seconds": 2592000,
    "signing_alg": "ES256",
    "audience": "https://login.example.com/oauth2/token",
    "key_id": "key-2026-01",
    "endpoint_params": {"audience": ["https://api.example.com"], "resource": ["urn:a", "urn:b"]},
    "revocation_url": "https://login.example.com/oauth2/revoke",
    "client_id": "0123abcd-client",
    "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}
# Keys of a federated client assertion, which exclude the signing keys above and each other.
FEDERATED_SAMPLES: dict[str, Any] = {
    "auth_method": "private_key_jwt",
    "client_assertion_source": "aws_sts",
    "client_assertion_audience": "api://AzureADTokenExchange",
    "client_assertion_lifetime_seconds": 600,
    "client_assertion_signing_alg": "ES384",
}
FILE_SAMPLES: dict[str, Any] = {
    "auth_method": "private_key_jwt",
    "client_assertion_file": "/var/run/secrets/tokens/entra",
}
RUN_SAMPLES: dict[str, Any] = {"run_timeout_seconds": 240, "max_workers": 8, "aws_max_attempts": 4}


def render(tmp_path: Path, environments: dict[str, Any], job_defaults: dict[str, Any]) -> str:
    work = tmp_path / "root"
    work.mkdir()
    shutil.copytree(MODULE, work / "config_toml")
    (work / "main.tf").write_text(ROOT_TF)
    (work / "test.auto.tfvars.json").write_text(
        json.dumps({"environments": environments, "job_defaults": job_defaults})
    )
    try:
        tf = Terraform.offline(work, tmp_path / "scratch")
    except TerraformUnavailable as exc:
        pytest.skip(str(exc))
    tf.init()
    tf.run("apply", "-auto-approve", "-input=false", "-no-color", timeout=120)
    toml: str = tf.output_json()["toml"]
    return toml


def test_every_key_the_job_knows_renders_and_the_job_accepts_it(tmp_path: Path) -> None:
    known = set(job_config._CHECKS) - {"token_url", "credentials_secret", "token_secret"}
    lacking = known - set(SAMPLES) - set(FEDERATED_SAMPLES) - set(FILE_SAMPLES)
    assert not lacking, f"give the job's new keys a sample value in SAMPLES: {sorted(lacking)}"
    env = {k: v for k, v in SAMPLES.items() if k in known}
    required = {
        "token_url": "https://login.example.com/oauth2/token",
        "credentials_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:c-AbCdEf",
        "token_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
    }
    minimal = {
        **required,
        "token_url": "https://other.example.com/token",
        # Each environment has a token secret of its own (the job refuses a shared one).
        "token_secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t2-AbCdEf",
        "signing_alg": None,
    }
    others = {
        name: {
            **required,
            **samples,
            "token_url": f"https://{name}.example.com/token",
            "token_secret": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf",
        }
        for name, samples in (("federated", FEDERATED_SAMPLES), ("from_file", FILE_SAMPLES))
    }
    text = render(tmp_path, {"full": {**required, **env}, "minimal": minimal, **others}, dict(RUN_SAMPLES))

    parsed = tomllib.loads(text)
    assert parsed["defaults"] == RUN_SAMPLES
    assert parsed["environments"]["full"] == {**required, **env}
    # null means "not set": the key is left out, so the job's default applies.
    assert parsed["environments"]["minimal"] == {k: v for k, v in minimal.items() if v is not None}

    loaded = job_config.load_config_text(text, "rendered")
    assert loaded.run_timeout_seconds == 240 and loaded.max_workers == 8 and loaded.aws_max_attempts == 4
    full = loaded.get("full")
    for key in ("refresh_margin_seconds", "max_attempts", "rate_limit_burst", "signing_alg", "key_id"):
        assert getattr(full, key) == env[key], key
    assert full.scopes == tuple(env["scopes"])
    assert full.timeout_seconds == 7.5
    assert loaded.get("minimal").auth_method == "client_secret_post"
    for name, samples in (("federated", FEDERATED_SAMPLES), ("from_file", FILE_SAMPLES)):
        assert parsed["environments"][name] == others[name]
        for key, value in samples.items():
            assert getattr(loaded.get(name), key) == value, key


ODD = [
    'quote " and backslash \\ and \\n literally',
    "new\nline, tab\t, carriage\r return",
    "unicode é ü 漢字 \u2028 and <&> as HTML would escape them",
    "\"\"\"triple\"\"\" and '''single''' and # not a comment",
    "trailing backslash \\",
    "[environments.evil]\nkey = 1",
]


@pytest.mark.parametrize("value", ODD)
def test_strings_render_as_toml_basic_strings_that_parse_back_exactly(tmp_path: Path, value: str) -> None:
    env = {
        "token_url": "https://login.example.com/oauth2/token",
        "credentials_secret": value,
        "token_secret": value,
        "scopes": [value, "plain"],
        "audience": value,
        "endpoint_params": {value: [value], "resource": ["https://a.example", "https://b.example"]},
    }
    text = render(tmp_path, {"odd": env}, {"endpoint_params": {value: [value, value]}, "max_workers": None})
    parsed = tomllib.loads(text)
    assert parsed == {"defaults": {"endpoint_params": {value: [value, value]}}, "environments": {"odd": env}}
