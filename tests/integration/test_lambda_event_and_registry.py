"""Issue 18 §6 (the Lambda event is validated) and §7 (a warm Lambda's scrub registry stays flat),
through the real handler against moto's server and the local token endpoint."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from standins.harness import Harness, assert_no_leak, render_toml
from sync_job import redact

TAKES = (
    'it takes "environments" (a list of environment names) and "force" (true or false); '
    'or {"promote_credentials": NAME}, or a Secrets Manager rotation event'
)


class Context(SimpleNamespace):
    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture
def lambda_env(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Any:
    from sync_job import lambda_handler

    for name in ("sandbox", "production"):  # paced loosely: the warm test refreshes many times
        harness.add_env(name, rate_limit_per_second=100, rate_limit_burst=10)
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setenv("SYNC_JOB_LOG_LEVEL", "INFO")
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    return lambda_handler


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"environment": "sandbox"}, f'the Lambda event has unknown key(s) "environment"; {TAKES}'),
        ({"dry_run": True}, f'the Lambda event has unknown key(s) "dry_run"; {TAKES}'),
        ({"Force": True}, f'the Lambda event has unknown key(s) "Force"; {TAKES}'),
        (
            {"environments": ["sandbox"], "Environments": ["production"], " force": True},
            f'the Lambda event has unknown key(s) "Environments", " force"; {TAKES}',
        ),
        ({"\x1b[31menv": 1}, f'the Lambda event has unknown key(s) "\\u001b[31menv"; {TAKES}'),
        ({"environments": []}, 'event "environments" must be a non-empty list of environment names'),
        ({"environments": "sandbox"}, 'event "environments" must be a non-empty list of environment names'),
        ({"environments": [""]}, 'event "environments" must be a non-empty list of environment names'),
        (["sandbox"], f"the Lambda event must be a JSON object; {TAKES}"),
    ],
    ids=["environment", "dry_run", "Force", "several", "escape", "empty-list", "string", "blank", "list"],
)
def test_an_event_it_does_not_take_is_one_line_and_runs_nothing(
    harness: Harness, lambda_env: Any, event: Any, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(lambda_env.SyncFailedError) as failed:
        lambda_env.handler(event, Context())
    assert str(failed.value).startswith(message), str(failed.value)
    assert "\n" not in str(failed.value) and "\x1b" not in str(failed.value)
    assert harness.token_requests("sandbox") == harness.token_requests("production") == 0
    assert harness.stored("sandbox") is None and harness.stored("production") is None
    captured = capsys.readouterr()
    assert_no_leak(captured.out, captured.err)


def test_an_eventbridge_envelope_is_read_from_its_detail(harness: Harness, lambda_env: Any) -> None:
    """An EventBridge rule (not Scheduler) wraps its input: the options are in "detail"."""
    envelope = {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-04T14:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sync-job"],
        "detail": {"environments": ["sandbox"]},
    }
    result = lambda_env.handler(envelope, Context())
    assert [r["environment"] for r in result["results"]] == ["sandbox"]
    with pytest.raises(lambda_env.SyncFailedError, match='unknown key\\(s\\) "dry_run"'):
        lambda_env.handler({**envelope, "detail": {"dry_run": True}}, Context())


def test_a_warm_lambdas_registry_is_flat_across_invocations(harness: Harness, lambda_env: Any) -> None:
    """Every invocation refreshes both environments (force): it registers their secrets' forms
    and the new tokens. What it registered is released when the next one ends (redact.scope),
    so the registry holds one invocation's values whatever their number: flat, not growing by
    two tokens' forms an invocation."""
    baseline = redact.registered_count()
    sizes = []
    for _ in range(20):
        result = lambda_env.handler({"force": True}, Context())
        assert [r["outcome"] for r in result["results"]] == ["refreshed", "refreshed"]
        sizes.append(redact.registered_count() - baseline)
    assert 0 < sizes[0] < 200, sizes
    assert max(sizes) - min(sizes) <= 8, sizes  # two new tokens' forms an invocation, not cumulative


def test_a_secret_is_scrubbed_during_the_invocation_that_registered_it() -> None:
    """The release is at the end of the scope, not before: inside, every form is scrubbed."""
    value = "SECRETMARK-scope-0123456789"
    with redact.scope():
        redact.Secret(value)
        assert redact.scrub(f"echo {value}") == f"echo {redact.REDACTED}"
        start = time.monotonic()
        assert value not in redact.untrusted(f"x {value} y", limit=100)
        assert time.monotonic() - start < 1
    assert value not in redact.scrub(f"echo {value}")  # lingers for the next run's stragglers
    with redact.scope():
        pass
    assert value in redact.scrub(f"echo {value}")  # released
