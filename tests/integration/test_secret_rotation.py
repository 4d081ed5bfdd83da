"""Secrets Manager's rotation protocol for token secrets (sync_job/secret_rotation.py), through the
real Lambda handler against moto's server and the local token endpoint.

moto's RotateSecret invokes a rotation Lambda only through its Lambda backend (a container), so
the tests play Secrets Manager's part: they call the four steps in order, as the user guide's
"How rotation works" describes, with a fresh ClientRequestToken, and read the result back with
a real boto3 client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from standins.harness import Harness, assert_no_leak, render_toml
from standins.token_server import Fault

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class Context(SimpleNamespace):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def handler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    from sync_job import lambda_handler

    harness.add_env("sandbox")
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    yield lambda_handler
    captured = capsys.readouterr()
    assert_no_leak(captured.out, captured.err)


def _arn(harness: Harness) -> str:
    return str(harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))["ARN"])


def _stages(harness: Harness) -> dict[str, list[str]]:
    answer = harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))
    return {k: sorted(v) for k, v in answer.get("VersionIdsToStages", {}).items()}


def _rotate(
    handler: Any, harness: Harness, token: str, steps: tuple[str, ...] = STEPS
) -> list[dict[str, str]]:
    arn = _arn(harness)
    return [
        handler.handler({"Step": step, "SecretId": arn, "ClientRequestToken": token}, Context())
        for step in steps
    ]


def test_rotate_secret_is_refresh_now(handler: Any, harness: Harness) -> None:
    harness.put_due("sandbox", remaining=3000)  # valid, far from due: a run would do nothing
    before = harness.stored("sandbox")
    token = str(uuid.uuid4())

    done = _rotate(handler, harness, token)

    assert [d["step"] for d in done] == list(STEPS)
    assert done[-1]["did"] == "moved AWSCURRENT to the new token; AWSPENDING removed"
    after = harness.stored("sandbox")
    assert after is not None and before is not None
    assert after["access_token"] != before["access_token"]
    assert harness.tokens.is_active(after["access_token"])
    stages = _stages(harness)
    assert stages[token] == ["AWSCURRENT"]  # AWSPENDING gone: the next rotation can start
    assert "AWSPENDING" not in [s for v in stages.values() for s in v]
    assert any(v == ["AWSPREVIOUS"] for v in stages.values())
    assert harness.token_requests("sandbox") == 1


def test_consumers_never_see_the_pending_token_before_finish(handler: Any, harness: Harness) -> None:
    harness.put_due("sandbox", remaining=3000)
    before = harness.stored("sandbox")
    token = str(uuid.uuid4())
    _rotate(handler, harness, token, STEPS[:3])
    assert harness.stored("sandbox") == before
    assert _stages(harness)[token] == ["AWSPENDING"]
    _rotate(handler, harness, token, STEPS[3:])
    assert harness.stored("sandbox") != before


def test_each_step_is_idempotent(handler: Any, harness: Harness) -> None:
    # Secrets Manager retries a failed step; a retried createSecret must not request or write again.
    harness.put_due("sandbox", remaining=3000)
    token = str(uuid.uuid4())
    _rotate(handler, harness, token, ("createSecret", "createSecret"))
    assert harness.token_requests("sandbox") == 1
    _rotate(handler, harness, token, ("setSecret", "testSecret", "finishSecret"))
    versions = harness.versions("sandbox")
    again = _rotate(handler, harness, token)
    assert {d["did"] for d in again} == {"version is already AWSCURRENT: nothing to do"}
    assert harness.versions("sandbox") == versions
    assert harness.token_requests("sandbox") == 1


def test_a_failed_token_request_fails_create_and_writes_nothing(handler: Any, harness: Harness) -> None:
    harness.put_due("sandbox", remaining=3000)
    before = harness.stored("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.oauth_error(401, "invalid_client")])
    token = str(uuid.uuid4())
    with pytest.raises(
        handler.SyncFailedError, match="sandbox: createSecret: .*invalid_client.*nothing written"
    ):
        _rotate(handler, harness, token, ("createSecret",))
    assert token not in _stages(harness)
    assert harness.stored("sandbox") == before


def test_finish_keeps_a_longer_lived_token_a_run_published_meanwhile(handler: Any, harness: Harness) -> None:
    harness.put_due("sandbox", remaining=3000)
    token = str(uuid.uuid4())
    _rotate(handler, harness, token, STEPS[:3])
    # A run publishes a token that lives longer than the pending one (a forced run, a longer lifetime).
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=7200)])
    assert harness.cli("run", "--force").exit_code == 0
    newer = harness.stored("sandbox")
    done = _rotate(handler, harness, token, ("finishSecret",))
    assert done[0]["did"].startswith("kept AWSCURRENT: a run published a token that lives at least as long")
    assert harness.stored("sandbox") == newer
    assert "AWSPENDING" not in _stages(harness).get(token, [])


def test_first_rotation_of_an_empty_secret(handler: Any, harness: Harness) -> None:
    # Right after terraform apply the token secret has no version: the pending write becomes the
    # first version, which Secrets Manager makes AWSCURRENT itself.
    token = str(uuid.uuid4())
    done = _rotate(handler, harness, token)
    assert harness.stored("sandbox") is not None
    assert done[-1]["did"] == "AWSPENDING was already AWSCURRENT; AWSPENDING removed"
    assert _stages(harness)[token] == ["AWSCURRENT"]


def test_test_secret_refuses_an_unusable_pending_value(handler: Any, harness: Harness) -> None:
    harness.put_due("sandbox", remaining=3000)
    token = str(uuid.uuid4())
    harness.sm.put_secret_value(
        SecretId=harness.token_secret("sandbox"),
        ClientRequestToken=token,
        SecretString='{"access_token": "x"}',
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(handler.SyncFailedError, match="testSecret: AWSPENDING is not a usable token"):
        _rotate(handler, harness, token, ("testSecret",))


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"Step": "dropSecret", "SecretId": "x", "ClientRequestToken": "t"},
            'rotation event "Step" must be one of',
        ),
        ({"Step": "createSecret", "ClientRequestToken": "t"}, 'rotation event "SecretId" must be'),
        ({"Step": "createSecret", "SecretId": "x", "ClientRequestToken": 5}, '"ClientRequestToken" must be'),
    ],
)
def test_malformed_rotation_events(handler: Any, event: dict[str, Any], message: str) -> None:
    with pytest.raises(handler.SyncFailedError, match=message):
        handler.handler(event, Context())


def test_a_secret_that_is_no_token_secret_is_refused(handler: Any, harness: Harness) -> None:
    creds = harness.envs["sandbox"]["credentials_secret"]
    event = {"Step": "createSecret", "SecretId": creds, "ClientRequestToken": str(uuid.uuid4())}
    with pytest.raises(handler.SyncFailedError, match="which is no token secret of this config"):
        handler.handler(event, Context())
    assert harness.token_requests("sandbox") == 0
