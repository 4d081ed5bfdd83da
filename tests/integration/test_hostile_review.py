"""Hostile review of issue 18's finished work: attacks across the real wire (moto's server, the
local token endpoint, raw-socket peers), each a test that failed before its fix."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from standins.harness import Harness
from standins.token_server import Fault


def _two_tokens(harness: Harness) -> tuple[str, str]:
    assert harness.cli("run", "--env", "sandbox").exit_code == 0
    first = harness.stored("sandbox")
    assert harness.cli("run", "--env", "sandbox", "--force").exit_code == 0
    second = harness.stored("sandbox")
    assert first and second
    return first["access_token"], second["access_token"]


def _forms(token: str) -> list[str]:
    return [
        token,
        quote_plus(token),
        quote(token, safe=""),
        json.dumps(token)[1:-1],
        base64.b64encode(token.encode()).decode(),
        base64.b64encode(token.encode()).decode().rstrip("="),
    ]


@pytest.mark.parametrize("form", range(6), ids=["plain", "form", "quote", "json", "b64", "b64-unpadded"])
def test_a_revocation_endpoint_echoing_the_old_token_never_prints_it(harness: Harness, form: int) -> None:
    """The token `revoke` sends to the revocation endpoint is as secret as a client secret: an
    error_description that echoes it (in any encoding the job could have sent it) is scrubbed
    from every output, at DEBUG."""
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url, max_attempts=1)
    previous, current = _two_tokens(harness)
    echoed = _forms(current)[form]
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.token(), Fault.oauth_error(400, "invalid_request", f"token {echoed} unknown")],
    )
    result = harness.cli("revoke", "sandbox", "--json")
    out = result.stdout + result.stderr
    for text in _forms(current) + _forms(previous):
        assert text not in out, out
    assert result.exit_code == 1


# --- a token consumers would refuse is never published, whatever path publishes it ---------------


def test_promote_never_publishes_a_token_with_60_s_or_fewer_left(harness: Harness) -> None:
    """`credentials promote` published its test token with store.publish directly, past the
    one publish path: a token with 30 s left replaced a valid stored one. Now it goes through
    refresh.publish_token: the credentials are promoted (the test proved them), the token is not
    published, the stored token stays, and the result says so."""
    from tests.integration.test_credentials_put import new_secret
    from tests.integration.test_staged_credentials import _stage

    harness.add_env("sandbox")
    before = harness.put_due("sandbox", remaining=3000)
    secret = new_secret()
    _stage(harness, secret)
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=30)])
    out = harness.cli("credentials", "promote", "sandbox", "--json")
    doc = out.json()
    assert doc["promoted"] is True and doc["published"] is False, doc
    assert "not published" in doc["error"], doc
    assert out.exit_code == 1
    assert harness.stored("sandbox") == before


def test_promote_keeps_a_valid_stored_token_that_lives_longer(harness: Harness) -> None:
    """The other half of the publish rule: a test token that expires before the valid stored
    one does not replace it (promote has no --force); the credentials are promoted, exit 0."""
    from tests.integration.test_credentials_put import new_secret
    from tests.integration.test_staged_credentials import _stage

    harness.add_env("sandbox")
    before = harness.put_due("sandbox", remaining=3000)
    secret = new_secret()
    _stage(harness, secret)
    harness.tokens.set_secret(harness.client_id("sandbox"), secret)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=600)])
    out = harness.cli("credentials", "promote", "sandbox", "--json")
    assert out.exit_code == 0, out.stderr
    doc = out.json()
    assert doc["promoted"] is True and doc["published"] is False, doc
    assert harness.stored("sandbox") == before


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _rotation(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Any:
    from standins.harness import render_toml
    from sync_job import lambda_handler

    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    return lambda_handler


def _step(handler: Any, harness: Harness, step: str, version: str) -> Any:
    arn = harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))["ARN"]
    return handler.handler({"Step": step, "SecretId": arn, "ClientRequestToken": version}, _Context())


def test_create_secret_refuses_a_token_with_60_s_or_fewer_left(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """createSecret wrote a 30 s token as AWSPENDING, testSecret passed it (it checked only
    "not expired") and finishSecret made it AWSCURRENT over an expiring stored token: consumers
    got a token they all refuse. Now createSecret fails and writes nothing."""
    harness.add_env("sandbox")
    before = harness.put_due("sandbox", remaining=100)  # expiring, still usable
    handler = _rotation(harness, monkeypatch)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=30)])
    version = str(uuid.uuid4())
    with pytest.raises(handler.SyncFailedError, match="createSecret: .*not published"):
        _step(handler, harness, "createSecret", version)
    stages = harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))["VersionIdsToStages"]
    assert version not in stages
    assert harness.stored("sandbox") == before


@pytest.mark.parametrize("step", ["testSecret", "finishSecret"])
def test_test_and_finish_refuse_a_pending_token_with_60_s_or_fewer_left(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A pending token that aged while Secrets Manager retried the steps: testSecret passed it
    until it had 0 s left, and finishSecret promoted it over a stored token that expires
    sooner. Both now apply the one validity rule; AWSCURRENT stays."""
    from standins.fakes import valid_doc

    harness.add_env("sandbox")
    before = harness.put_due("sandbox", remaining=20)
    handler = _rotation(harness, monkeypatch)
    version = str(uuid.uuid4())
    pending = valid_doc("sandbox", remaining=45, token="tok-LEAKMARK-pending")
    harness.sm.put_secret_value(
        SecretId=harness.token_secret("sandbox"),
        ClientRequestToken=version,
        SecretString=json.dumps(pending),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(handler.SyncFailedError, match=f"{step}: .*45 s left|{step}: .*not more than"):
        _step(handler, harness, step, version)
    assert harness.stored("sandbox") == before


# --- bad input: one clear line, bounded -------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a" * 5000, "\x1b]0;pwn\x07" * 400, "é\u202e" * 2000], ids=["long", "escapes", "bidi"]
)
def test_an_unknown_environment_name_is_echoed_bounded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """An unknown name (a CLI argument, a Lambda event's "environments" or "promote_credentials")
    was echoed whole: a 5,000-character error line. Now at most 80 characters of it, escaped
    (repr), in one line naming the configured environments, exit 2."""
    harness.add_env("sandbox")
    for args in (("token", name), ("status", "--env", name), ("revoke", name), ("certificate", name)):
        result = harness.cli(*args)
        assert result.exit_code == 2, result.stderr
        (line,) = result.error_lines
        assert len(line) < 200, line
        assert line.endswith("; configured: sandbox"), line
        assert "\x1b" not in line and "\u202e" not in line
    handler = _rotation(harness, monkeypatch)
    for event in ({"environments": [name]}, {"promote_credentials": name}):
        with pytest.raises(handler.SyncFailedError) as raised:
            handler.handler(event, _Context())
        assert len(str(raised.value)) < 200 and "\x1b" not in str(raised.value)


# --- hanging peers: every request of every command bounded as a whole -----------------------------


@pytest.mark.parametrize("kind", ["status-trickle", "body-trickle", "silent"])
def test_a_trickling_revocation_endpoint_cannot_hold_revoke(harness: Harness, kind: str) -> None:
    """`revoke`'s RFC 7009 request goes through the token requests' bounded transport: a peer
    that trickles its status line or body one byte every 0.5 s, or never answers, is cut at
    timeout_seconds; the fresh token stays published; exit 1 says the old tokens stay valid."""
    import time

    from standins.raw_server import Play, RawServer, response

    body = b'{"x": "' + b"y" * 10_000 + b'"}'
    play = {
        "status-trickle": Play.trickle(response(200, b"{}"), interval=0.5),
        "body-trickle": Play.trickle(response(200, body), start=60, interval=0.5),
        "silent": Play.silent(),
    }[kind]
    server = RawServer(play, path="/oauth2/revoke").start()
    try:
        harness.add_env("sandbox", revocation_url=server.url, timeout_seconds=2, max_attempts=1)
        _two_tokens(harness)
        started = time.monotonic()
        result = harness.cli("revoke", "sandbox", "--json")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 2 * 2 + 2, f"{elapsed:.1f} s"  # two old tokens, one bounded request each
    assert result.exit_code == 1
    doc = result.json()
    assert doc["published"] is True
    assert {t["outcome"] for t in doc["tokens"]} == {"failed"}, doc
    assert "stay valid until" in result.error_lines[-1]


# --- signals: every command ends with one line and the documented code ----------------------------


@pytest.mark.parametrize(
    ("args", "action"),
    [
        (("status",), "GetSecretValue"),
        (("token", "sandbox"), "GetSecretValue"),
    ],
    ids=["status", "token"],
)
def test_sigterm_during_a_read_only_command_ends_it_with_one_line(
    harness: Harness, args: tuple[str, ...], action: str
) -> None:
    """`status` and `token` installed no handler: SIGTERM while Secrets Manager held their read
    killed them with Python's default (exit -15, no line). Every command now gets a default:
    exit 143, `sync-job: error: interrupted by SIGTERM; nothing was written`, no traceback."""
    import signal
    import subprocess
    import time

    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    arrived, release = harness.moto.hold(action)
    try:
        proc = harness.start_process(*args)
        assert arrived.wait(30), "the read never arrived"
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"still running\n{err}")
        elapsed = time.monotonic() - sent
    finally:
        release.set()
    assert "Traceback" not in err
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "sync-job: error: interrupted by SIGTERM; nothing was written"
    assert elapsed < 2, f"{elapsed:.1f} s"
    assert out == ""


# --- check proves what a run needs; the Lambda's events take only their keys -------------------------


def test_check_fails_when_the_token_secret_cannot_be_read(harness: Harness) -> None:
    """`check` only described the token secret: with GetSecretValue denied on it (a role missing
    the read a run starts with) it said ok while every run failed. It now reads it too."""
    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    harness.moto.inject(
        "GetSecretValue", "AccessDeniedException", secret_id=harness.token_secret("sandbox"), times=10
    )
    result = harness.cli("check", "--json")
    assert result.exit_code == 1, result.stdout
    [entry] = result.json()["environments"]
    assert entry["ok"] is False
    assert "GetSecretValue" in entry["error"] and harness.token_secret("sandbox") in entry["error"], entry


@pytest.mark.parametrize("extra", [{"force": True}, {"environments": ["sandbox"]}, {"Force": 1}])
def test_a_promote_event_with_another_key_is_refused(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]
) -> None:
    """{"promote_credentials": NAME} silently ignored any other key (a "force" that was meant,
    an "environments" that was not acted on): now one line naming what it takes; nothing runs."""
    harness.add_env("sandbox")
    handler = _rotation(harness, monkeypatch)
    with pytest.raises(handler.SyncFailedError, match='"promote_credentials" event takes no other key'):
        handler.handler({"promote_credentials": "sandbox", **extra}, _Context())
    assert harness.token_requests("sandbox") == 0


# --- lost answers: a report never claims what it does not know -----------------------------------


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_a_staged_put_whose_answer_was_lost_says_what_a_read_shows(harness: Harness, applied: bool) -> None:
    """`credentials put --stage` said "nothing staged" when PutSecretValue's answer was lost
    after AWS applied it (AWSPENDING held the new credentials). Like a put's write, the stage
    write now raises WriteUnknownError, and a read after it decides: staged (exit 0) or not."""
    from tests.integration.test_credentials_put import new_secret, put

    harness.add_env("sandbox")
    creds = harness.envs["sandbox"]["credentials_secret"]
    harness.moto.inject(
        "PutSecretValue", "InternalFailure", status=500, apply=applied, times=10, secret_id=creds
    )
    result = put(harness, "sandbox", new_secret() + "\n", "--stage", "--json")
    stages = harness.sm.describe_secret(SecretId=creds)["VersionIdsToStages"]
    pending = [v for v, labels in stages.items() if "AWSPENDING" in labels]
    doc = result.json()
    if applied:
        assert pending == [doc["version_id"]], (doc, stages)
        assert doc["staged"] is True and result.exit_code == 0, doc
    else:
        assert pending == []
        assert doc["staged"] is False and result.exit_code == 1
        assert "a read after it shows nothing staged" in doc["error"], doc


def test_revoke_whose_publish_answer_was_lost_reads_what_is_current(harness: Harness) -> None:
    """The fresh token's write was applied but its answer lost: revoke said "no fresh token could
    be published; nothing revoked" while consumers already read the fresh token, leaving the
    leaked tokens valid on a false claim. It now decides from a read of AWSCURRENT."""
    harness.add_env("sandbox", revocation_url=harness.tokens.revocation_url)
    previous, current = _two_tokens(harness)
    harness.moto.inject(
        "UpdateSecretVersionStage",
        "InternalFailure",
        status=500,
        apply=True,
        times=10,
        secret_id=harness.token_secret("sandbox"),
    )
    result = harness.cli("revoke", "sandbox", "--json")
    fresh = harness.stored("sandbox")
    assert fresh is not None and fresh["access_token"] not in (previous, current)
    doc = result.json()
    assert doc["published"] is True, doc
    assert [t["outcome"] for t in doc["tokens"]] == ["revoked", "revoked"], doc
    assert not harness.tokens.is_active(previous) and not harness.tokens.is_active(current)
