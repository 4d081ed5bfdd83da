"""Start-up import cost of `sync-job` (issue 17 §3): heavy optional libraries stay out of `import sync_job.cli`,
and a run imports nothing of the token path or the read-only commands before its first AWS request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each is imported lazily by the one command that needs it; importing it at CLI start-up would
# put its cost on every `sync-job run` before the first AWS request.
_DEFERRED = ("requests", "tenacity", "jwt", "cryptography", "prometheus_client", "tqdm")


def _modules_after_cli_import() -> set[str]:
    code = "import sys, sync_job.cli; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("package", _DEFERRED)
def test_cli_import_does_not_load(package: str) -> None:
    loaded = _modules_after_cli_import()
    assert not {m for m in loaded if m == package or m.startswith(package + ".")}


def test_oauth_import_compiles_no_regex_until_used() -> None:
    code = (
        "import sync_job.oauth as o; "
        "print(o._scope_token.cache_info().currsize, o._digits.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["0", "0"]


# What a run needs only after its first AWS request, if at all: the token request path (OAuth,
# the HTTP token client, KMS and federated credential sources, certificates, the write budget),
# the read-only commands, and what only some configurations or errors need. A run that finds
# every token fresh never imports them.
_AFTER_FIRST_REQUEST = (
    "sync_job.oauth",
    "sync_job.token_client",
    "sync_job.transport",
    "sync_job.keyless",
    "sync_job.awsclient",
    "sync_job.kms",
    "sync_job.certs",
    "sync_job.credentials",  # the credentials secret's document, read only for a due token
    "sync_job.readonly",
    "sync_job.budget",  # an early refresh's version budget, a new token's write warning
    "sync_job.params",  # endpoint_params, checked when a configuration has them
    "difflib",  # a configuration error's "did you mean"
    *_DEFERRED,
)

# Runs `sync-job run` until its first socket connect, then prints where to and what was loaded.
_UNTIL_FIRST_CONNECT = """
import os, runpy, socket, sys
def connect(self, address):
    print(address[0], address[1])
    print("\\n".join(sorted(sys.modules)), flush=True)
    os._exit(0)
socket.socket.connect = connect
sys.argv = ["sync-job", "--config", sys.argv[1], "--log-level", "ERROR", "run"]
runpy.run_module("sync_job", run_name="__main__")
"""


def test_a_run_loads_no_token_or_read_only_module_before_its_first_aws_request(tmp_path: Path) -> None:
    config = tmp_path / "sync-job.toml"
    config.write_text(
        "[environments.prod]\n"
        'token_url = "https://auth.example.com/oauth2/token"\n'
        'scopes = ["read"]\n'
        'credentials_secret = "prod/client-credentials"\n'
        'token_secret = "prod/access-token"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    out = subprocess.run(
        [sys.executable, "-c", _UNTIL_FIRST_CONNECT, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    ).stdout.split("\n")
    assert out[0] == "127.0.0.1 9"  # the first connection is the Secrets Manager read
    loaded = set(out[1:])
    assert "sync_job.store" in loaded  # the listing is of a run that got that far
    early = {m for m in loaded for name in _AFTER_FIRST_REQUEST if m == name or m.startswith(name + ".")}
    assert early == set()
