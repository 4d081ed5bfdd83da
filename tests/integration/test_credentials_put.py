"""`sync-job credentials put` across the real wire: test before promote, then store, then publish.

Every new secret here carries SECRETMARK, so the leak scan of every output (``check_output``)
covers it; private keys are checked piece by piece (``key_body``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from standins.fakes import valid_doc
from standins.harness import Harness, Result, assert_no_leak
from standins.keys import certificate_pem, key_body, keypair
from sync_job.cli import main


def check_output(out: Result, *secrets: str) -> Result:
    assert_no_leak(out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    for secret in secrets:
        assert secret not in out.stdout and secret not in out.stderr
    return out


def put(harness: Harness, name: str, text: str | bytes, *args: str) -> Result:
    """`credentials put NAME` in-process, ``text`` on stdin (CliRunner's stdin is no terminal)."""
    result = CliRunner().invoke(
        main,
        ["--config", str(harness.config_path()), "--log-level", "DEBUG", "credentials", "put", name, *args],
        input=text,
        catch_exceptions=False,
    )
    return check_output(Result(result.exit_code, result.stdout, result.stderr))


def process_args(harness: Harness, *start: str) -> list[str]:
    return [sys.executable, *start, "--config", str(harness.config_path()), "--log-level", "DEBUG"]


def new_secret() -> str:
    return f"SECRETMARK-new-{uuid.uuid4().hex}"


def creds_name(harness: Harness, name: str) -> str:
    return str(harness.envs[name]["credentials_secret"])


def creds_doc(harness: Harness, name: str, stage: str = "AWSCURRENT") -> dict[str, Any]:
    answer = harness.sm.get_secret_value(SecretId=creds_name(harness, name), VersionStage=stage)
    return json.loads(answer["SecretString"])  # type: ignore[no-any-return]


def creds_state(harness: Harness, name: str) -> tuple[str, str, int]:
    """(AWSCURRENT version id, its value, number of versions) of the credentials secret."""
    answer = harness.sm.get_secret_value(SecretId=creds_name(harness, name), VersionStage="AWSCURRENT")
    versions = harness.sm.list_secret_version_ids(SecretId=creds_name(harness, name), IncludeDeprecated=True)
    return answer["VersionId"], answer["SecretString"], len(versions["Versions"])


def add_extra_key(harness: Harness, name: str) -> None:
    """A key the job does not read, which a rotation must keep."""
    doc = creds_doc(harness, name)
    doc["owner"] = "team-payments"
    harness.sm.put_secret_value(SecretId=creds_name(harness, name), SecretString=json.dumps(doc))


def test_good_secret_is_tested_stored_and_published_with_one_token_request(harness: Harness) -> None:
    harness.add_env("sandbox")
    add_extra_key(harness, "sandbox")
    assert harness.cli("run").exit_code == 0
    old_secret = harness.secrets["sandbox"]
    old_token = harness.stored("sandbox")
    assert old_token is not None
    token_versions = harness.versions("sandbox")
    before = harness.token_requests("sandbox")
    harness.moto.clear()
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)  # the provider rotated it

    result = put(harness, "sandbox", secret + "\n", "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert set(doc) == {"environment", "tested", "stored", "version_id", "published", "expires_at", "error"}
    assert doc["environment"] == "sandbox" and doc["error"] is None
    assert doc["tested"] is True and doc["stored"] is True and doc["published"] is True
    # One token request in all: the test's token is the one published.
    assert harness.token_requests("sandbox") == before + 1
    assert harness.moto.count("PutSecretValue", creds_name(harness, "sandbox")) == 1
    # Read the credentials, write them; read the token, write it, move AWSCURRENT: nothing more.
    calls = [c.action for c in harness.moto.calls]
    assert calls == [
        "GetSecretValue",
        "PutSecretValue",
        "GetSecretValue",
        "PutSecretValue",
        "UpdateSecretVersionStage",
    ]

    version, _, _ = creds_state(harness, "sandbox")
    assert doc["version_id"] == version
    assert creds_doc(harness, "sandbox") == {
        "client_id": harness.client_id("sandbox"),
        "client_secret": secret,
        "owner": "team-payments",
    }
    assert creds_doc(harness, "sandbox", "AWSPREVIOUS")["client_secret"] == old_secret

    stored = harness.stored("sandbox")
    assert stored is not None
    assert stored["access_token"] == harness.tokens.issued[-1] != old_token["access_token"]
    assert stored["expires_at"] == doc["expires_at"]
    assert stored["client_id"] == harness.client_id("sandbox")
    assert harness.versions("sandbox") == token_versions + 1
    # The new credentials are what the next runs use.
    assert harness.cli("run", "--force").exit_code == 0


def test_text_output_is_one_line_per_step(harness: Harness) -> None:
    harness.add_env("sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    result = put(harness, "sandbox", secret)  # no trailing newline: taken as is
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == ["tested", "stored", "published"]
    assert creds_name(harness, "sandbox") in lines[1] and "AWSPREVIOUS" in lines[1]
    assert creds_doc(harness, "sandbox")["client_secret"] == secret


def test_mistyped_secret_writes_nothing_and_old_credentials_keep_working(harness: Harness) -> None:
    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    token_before = harness.stored("sandbox")
    state_before = creds_state(harness, "sandbox")
    before = harness.token_requests("sandbox")
    harness.moto.clear()

    result = put(harness, "sandbox", new_secret() + "\n", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["tested"] is False and doc["stored"] is False and doc["published"] is False
    assert doc["version_id"] is None and doc["expires_at"] is None
    assert "invalid_client" in doc["error"]
    assert "not what the provider has" in doc["error"] and "nothing stored" in doc["error"]
    assert len(result.error_lines) == 1 and "invalid_client" in result.error_lines[0]
    assert harness.token_requests("sandbox") == before + 1  # a 401 is not retried
    assert harness.moto.count("PutSecretValue") == 0
    assert creds_state(harness, "sandbox") == state_before
    assert harness.stored("sandbox") == token_before
    # The old credentials are still current and still work.
    assert harness.cli("run", "--force").exit_code == 0


def test_provider_rotated_but_paste_truncated(harness: Harness) -> None:
    harness.add_env("sandbox")
    state_before = creds_state(harness, "sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    failed = put(harness, "sandbox", secret[:-3] + "\n")
    assert failed.exit_code == 1 and failed.stdout == ""
    assert "invalid_client" in failed.error_lines[0]
    assert creds_state(harness, "sandbox") == state_before
    # The whole secret then goes through.
    assert put(harness, "sandbox", secret + "\n").exit_code == 0
    assert creds_doc(harness, "sandbox")["client_secret"] == secret


def test_client_secret_basic_with_reserved_characters(harness: Harness) -> None:
    harness.add_env("sandbox", auth_method="client_secret_basic")
    secret = f"SECRETMARK-{uuid.uuid4().hex}:%+/=&"
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    result = put(harness, "sandbox", secret + "\n", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["published"] is True
    assert creds_doc(harness, "sandbox")["client_secret"] == secret
    seen = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert [r.auth_method_seen for r in seen] == ["client_secret_basic"]
    assert harness.cli("run", "--force").exit_code == 0


def self_signed(private: str) -> str:
    key: Any = serialization.load_pem_private_key(private.encode(), password=None)
    return certificate_pem(key, name="sync-job-test")


@pytest.mark.parametrize("with_certificate", [False, True])
def test_private_key_jwt_new_key(harness: Harness, with_certificate: bool) -> None:
    old_private = harness.add_jwt_env("sandbox")
    private, public = keypair("rsa")
    # The provider now knows the new public key only.
    harness.tokens.add_client(
        harness.client_id("sandbox"),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
    )
    certificate = self_signed(private) if with_certificate else None
    text = private + (certificate or "")
    result = put(harness, "sandbox", text, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["published"] is True
    for piece in key_body(private) + key_body(old_private):
        assert piece not in result.stdout and piece not in result.stderr
    doc = creds_doc(harness, "sandbox")
    assert doc["private_key"] == private
    assert doc.get("certificate") == certificate
    assert creds_doc(harness, "sandbox", "AWSPREVIOUS")["private_key"] == old_private
    seen = [r for r in harness.tokens.requests if r.client_id == harness.client_id("sandbox")]
    assert [r.auth_method_seen for r in seen] == ["private_key_jwt"]
    assert harness.cli("run", "--force").exit_code == 0


def test_private_key_jwt_rejections_before_any_request(harness: Harness) -> None:
    harness.add_jwt_env("sandbox")
    state_before = creds_state(harness, "sandbox")
    private, _ = keypair("rsa")
    other, _ = keypair("ec")
    cases = [
        ("SECRETMARK-not-a-key", "outside PEM blocks"),
        (self_signed(private) + private, "private key first"),
        (private + self_signed(other), "not for the private key"),
        (private + other, "2 PEM private keys"),
        (
            "-----BEGIN PRIVATE KEY-----\nSECRETMARKnotakey\n-----END PRIVATE KEY-----\n",
            "not an unencrypted PEM",
        ),
    ]
    for text, message in cases:
        result = put(harness, "sandbox", text)
        assert result.exit_code == 2, (message, result.stderr)
        assert message in result.error_lines[0]
        for piece in key_body(private) + key_body(other):
            assert piece not in result.stderr
    assert harness.token_requests("sandbox") == 0
    assert creds_state(harness, "sandbox") == state_before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the input is empty"),
        ("\n", "the input is empty"),
        ("  \r\n", "the input is empty"),
        ("SECRETMARK-one\nSECRETMARK-two\n", "line break"),
        ("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", "is a PEM block"),
        (b"SECRETMARK-\xff\xfe", "not UTF-8"),
        ("SECRETMARK-" + "x" * 64 * 1024, "larger than 64 KiB"),
    ],
)
def test_bad_input_is_a_usage_error(harness: Harness, text: str | bytes, message: str) -> None:
    harness.add_env("sandbox")
    state_before = creds_state(harness, "sandbox")
    result = put(harness, "sandbox", text, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.error_lines) == 1 and message in result.error_lines[0]
    assert harness.token_requests("sandbox") == 0
    assert creds_state(harness, "sandbox") == state_before


def test_unknown_environment_and_bad_client_id(harness: Harness) -> None:
    harness.add_env("sandbox")
    result = put(harness, "nope", new_secret())
    assert result.exit_code == 2 and "unknown environment 'nope'" in result.error_lines[0]
    result = put(harness, "sandbox", new_secret(), "--client-id", " ")
    assert result.exit_code == 2
    assert harness.token_requests("sandbox") == 0


def test_stdin_without_a_terminal_in_a_subprocess(harness: Harness) -> None:
    harness.add_env("sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    proc = subprocess.run(
        [*process_args(harness, "-m", "sync_job"), "credentials", "put", "sandbox", "--json"],
        input=secret + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=harness.subprocess_env(),
        check=False,
    )
    out = check_output(Result(proc.returncode, proc.stdout, proc.stderr), secret)
    assert out.exit_code == 0, out.stderr
    assert out.json()["published"] is True
    assert creds_doc(harness, "sandbox")["client_secret"] == secret
    assert harness.token_requests("sandbox") == 1


def test_client_id_changes_the_client(harness: Harness) -> None:
    harness.add_env("sandbox")
    new_id = f"sandbox-new-{harness.run_id}"
    secret = new_secret()
    harness.tokens.add_client(new_id, secret, scopes=harness.envs["sandbox"]["scopes"])
    result = put(harness, "sandbox", secret, "--client-id", new_id, "--json")
    assert result.exit_code == 0, result.stderr
    assert creds_doc(harness, "sandbox") == {"client_id": new_id, "client_secret": secret}
    assert harness.tokens.count(new_id) == 1
    assert harness.token_requests("sandbox") == 0  # the old client id was never used
    stored = harness.stored("sandbox")
    assert stored is not None and stored["client_id"] == new_id


def test_no_refresh_stores_and_leaves_the_token(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.put_stored("sandbox", valid_doc("sandbox", remaining=3000))
    token_before = harness.stored("sandbox")
    versions_before = harness.versions("sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    result = put(harness, "sandbox", secret, "--no-refresh")
    assert result.exit_code == 0, result.stderr
    assert [ln.split(":")[1].strip() for ln in result.stdout.splitlines()] == [
        "tested",
        "stored",
        "not published",
    ]
    assert "--no-refresh" in result.stdout
    assert harness.stored("sandbox") == token_before
    assert harness.versions("sandbox") == versions_before
    assert creds_doc(harness, "sandbox")["client_secret"] == secret
    assert harness.token_requests("sandbox") == 1
    json_doc = put(harness, "sandbox", secret, "--no-refresh", "--json").json()
    assert json_doc["published"] is False and json_doc["expires_at"] is None and json_doc["error"] is None


def test_store_failure_leaves_the_credentials_unchanged(harness: Harness) -> None:
    harness.add_env("sandbox")
    state_before = creds_state(harness, "sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    harness.moto.inject("PutSecretValue", "AccessDeniedException", secret_id=creds_name(harness, "sandbox"))
    result = put(harness, "sandbox", secret, "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["tested"] is True and doc["stored"] is False and doc["published"] is False
    assert "access denied: secretsmanager:PutSecretValue" in doc["error"]
    assert "the credentials secret is unchanged" in doc["error"]
    assert creds_state(harness, "sandbox") == state_before
    assert harness.stored("sandbox") is None


def test_a_version_quota_refusal_is_written_once_and_leaves_the_credentials_unchanged(
    harness: Harness,
) -> None:
    # Secrets Manager refuses a 101st version within 24 hours (standins/sm_limits.py): a refusal
    # that stands, so it is sent once (not aws_max_attempts times) and is sure not applied.
    harness.add_env("sandbox")
    name = creds_name(harness, "sandbox")
    harness.moto.freeze()
    for _ in range(99):  # add_env wrote the first of the 100
        harness.moto.advance(0.05)
        doc = creds_doc(harness, "sandbox")
        harness.sm.put_secret_value(SecretId=name, SecretString=json.dumps(doc))
    state_before = creds_state(harness, "sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    before = harness.moto.count("PutSecretValue", name)
    result = put(harness, "sandbox", secret, "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["tested"] is True and doc["stored"] is False and doc["published"] is False
    assert f"Secrets Manager quota reached for PutSecretValue on secret {name}" in doc["error"]
    assert doc["error"].endswith("the credentials secret is unchanged")
    assert harness.moto.count("PutSecretValue", name) - before == 1
    assert creds_state(harness, "sandbox") == state_before
    assert harness.stored("sandbox") is None


def test_publish_failure_says_the_credentials_were_stored(harness: Harness) -> None:
    harness.add_env("sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    harness.moto.inject("PutSecretValue", "AccessDeniedException", secret_id=harness.token_secret("sandbox"))
    result = put(harness, "sandbox", secret)
    assert result.exit_code == 1
    assert [ln.split(":")[1].strip() for ln in result.stdout.splitlines()] == ["tested", "stored"]
    error = result.error_lines[0]
    assert "credentials are stored; publishing the token failed" in error
    assert "status --env sandbox" in error
    assert "next run publishes one" in error and "run --env sandbox --force" in error
    assert creds_doc(harness, "sandbox")["client_secret"] == secret
    assert harness.stored("sandbox") is None
    # As promised: the next run publishes a token, with the new credentials.
    assert harness.cli("run").exit_code == 0
    assert harness.stored("sandbox") is not None


def test_missing_scope_writes_nothing(harness: Harness) -> None:
    harness.add_env(
        "sandbox",
        scopes=["funding:read_profile", "transfer:write_fiat_withdrawal"],
        allowed=["funding:read_profile"],
    )
    state_before = creds_state(harness, "sandbox")
    result = put(harness, "sandbox", harness.secrets["sandbox"], "--json")
    assert result.exit_code == 1
    assert "invalid_scope" in result.json()["error"] or "lacks" in result.json()["error"]
    assert creds_state(harness, "sandbox") == state_before


# --- the terminal path: a real pseudo-terminal as the controlling terminal ----------------------

_CTTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'sync_job'] + sys.argv[1:])"
)


def run_on_terminal(harness: Harness, name: str, typed: bytes, *args: str) -> tuple[Result, bytes]:
    """Run the command with a pty as stdin and controlling terminal; type ``typed`` once the
    prompt shows. Returns the result and everything the terminal displayed."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*process_args(harness, "-c", _CTTY), "credentials", "put", name, *args],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=harness.subprocess_env(),
        start_new_session=True,  # a new session, so the pty can become its controlling terminal
    )
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 30
    typed_yet = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                shown += chunk
            if not typed_yet and b"echoed" in shown:
                os.write(master, typed)
                typed_yet = True
            if proc.poll() is not None and not ready:
                break
        stdout, stderr = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        os.close(master)
    assert typed_yet, f"no prompt on the terminal: {shown!r}"
    return check_output(Result(proc.returncode, stdout.decode(), stderr.decode())), shown


def test_terminal_input_is_not_echoed(harness: Harness) -> None:
    harness.add_env("sandbox")
    secret = new_secret()
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    result, shown = run_on_terminal(harness, "sandbox", secret.encode() + b"\r", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["published"] is True
    assert b"SECRETMARK" not in shown and b"not echoed" in shown
    assert creds_doc(harness, "sandbox")["client_secret"] == secret


def test_terminal_pem_key_is_not_echoed(harness: Harness) -> None:
    harness.add_jwt_env("sandbox")
    private, public = keypair("ec")
    harness.tokens.add_client(
        harness.client_id("sandbox"),
        scopes=["funding:read_profile"],
        auth_method="private_key_jwt",
        public_key_pem=public,
    )
    harness.envs["sandbox"]["signing_alg"] = "ES256"
    typed = private.replace("\n", "\r").encode() + b"\x04"  # Enter after each line, then Ctrl-D
    result, shown = run_on_terminal(harness, "sandbox", typed, "--json")
    assert result.exit_code == 0, result.stderr
    for piece in key_body(private):
        assert piece.encode() not in shown
    assert creds_doc(harness, "sandbox")["private_key"] == private


def test_first_credentials_of_a_secret_created_without_a_value(harness: Harness) -> None:
    # The quick start: infra/ (or `aws secretsmanager create-secret`) makes the secret empty, and
    # `credentials put --client-id` stores its first value after the test, and the first token.
    harness.add_env("sandbox")
    name = creds_name(harness, "sandbox")
    harness.sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    harness.sm.create_secret(Name=name)
    secret = harness.secrets["sandbox"]
    without = put(harness, "sandbox", secret)
    assert without.exit_code == 1 and "--client-id" in without.stderr
    result = put(harness, "sandbox", secret, "--client-id", harness.client_id("sandbox"), "--json")
    assert result.exit_code == 0, result.stderr
    assert creds_doc(harness, "sandbox") == {
        "client_id": harness.client_id("sandbox"),
        "client_secret": secret,
    }
    assert harness.token_requests("sandbox") == 1
    assert harness.stored("sandbox") is not None
