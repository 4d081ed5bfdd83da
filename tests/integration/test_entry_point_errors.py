"""Every exception at every entry point becomes the documented result: the Lambda handler raises
SyncFailedError (one line, no chained cause) and nothing else; the CLI, `python -m sync_job` and
the console script print one `sync-job: error:` line with the documented exit code, never a
traceback; an environment's own bug is that environment's one-line `failed`. None of them carries
a secret, registered (the harness's SECRETMARK client secrets, LEAKMARK tokens) or not yet
registered (CANARY: a value a bug might quote before any scrubber knows it).

A bug cannot be provoked through the real parts without planting one: each test plants it with
monkeypatch in the job's own code, everything else (moto's server, the token endpoint, the real
handler and CLI) is real."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from standins.harness import Harness, assert_no_leak, render_toml

CANARY = "CANARY-7f3e-not-registered"


class Context(SimpleNamespace):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def planted(harness: Harness, where: str) -> Any:
    """A function raising a bug whose message quotes a registered secret and the canary, over
    two lines (a message a runtime would print as is)."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{where} failed on {harness.secrets['sandbox']}\n{CANARY}")

    return boom


def assert_clean(harness: Harness, *texts: str) -> None:
    assert_no_leak(*texts)
    harness.assert_no_secret(*texts)
    for text in texts:
        assert CANARY not in text
        assert "Traceback" not in text


@pytest.fixture
def lambda_env(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Any:
    from sync_job import lambda_handler

    harness.add_env("sandbox")
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", render_toml(harness.envs, harness.defaults))
    monkeypatch.setenv("SYNC_JOB_LOG_LEVEL", "INFO")
    monkeypatch.delenv("SYNC_JOB_METRICS_NAMESPACE", raising=False)
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    return lambda_handler


# --- the Lambda handler -------------------------------------------------------------------------

# Where a bug is planted: before the run (the job's construction), after it (the EMF lines), in
# the rotation and promote events' own paths.
LAMBDA_BUGS = {
    "build": ("sync_job.lambda_handler.build_job", {}),
    "metrics": ("sync_job.lambda_handler.emit_metrics", {}),
    "rotation": ("sync_job.secret_rotation.handle", "rotation"),
    "promote": ("sync_job.staged_credentials.promote", {"promote_credentials": "sandbox"}),
}


@pytest.mark.parametrize("where", list(LAMBDA_BUGS))
def test_a_bug_in_the_lambda_is_one_line_sync_failed_error_without_a_secret(
    harness: Harness,
    lambda_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    target, event = LAMBDA_BUGS[where]
    monkeypatch.setattr(target, planted(harness, where))
    if event == "rotation":
        arn = harness.sm.describe_secret(SecretId=harness.token_secret("sandbox"))["ARN"]
        event = {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": "a" * 36}
    with pytest.raises(lambda_env.SyncFailedError) as failed:
        lambda_env.handler(event, Context())
    message = str(failed.value)
    assert message.startswith("internal error: RuntimeError at sync_job/"), message
    assert "this is a bug" in message and "\n" not in message
    # Nothing chained for the runtime to print: neither the cause nor the context.
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    captured = capsys.readouterr()
    assert_clean(harness, message, captured.out, captured.err)


def test_a_bug_in_one_environment_fails_it_alone_in_one_line(
    harness: Harness, lambda_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inside the run (sync._Run.attempt): the environment is `failed` with a line naming the
    bug's type and place, the invocation fails as documented, the stored token is untouched."""
    monkeypatch.setattr("sync_job.refresh.check_token", planted(harness, "check"))
    with pytest.raises(lambda_env.SyncFailedError) as failed:
        lambda_env.handler({}, Context())
    message = str(failed.value)
    assert message.startswith("1 environment(s) failed: sandbox: unexpected RuntimeError at sync_job/"), (
        message
    )
    assert message.endswith("(a bug: rerun at DEBUG for details)")
    assert harness.stored("sandbox") is None
    captured = capsys.readouterr()
    assert_clean(harness, message, captured.out, captured.err)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("SYNC_JOB_LOG_LEVEL", "VERBOSE", "$SYNC_JOB_LOG_LEVEL is 'VERBOSE'; set it to one of DEBUG"),
        ("SYNC_JOB_LOG_LEVEL", "INFO\nX", "$SYNC_JOB_LOG_LEVEL is 'INFO\\nX'; set it to one of"),
        (
            "SYNC_JOB_METRICS_NAMESPACE",
            "Sync\nJob",
            "$SYNC_JOB_METRICS_NAMESPACE 'Sync\\nJob' is not a CloudWatch",
        ),
        ("SYNC_JOB_METRICS_NAMESPACE", "Sync\u202eJob", "'Sync\\u202eJob' is not a CloudWatch namespace"),
        ("SYNC_JOB_METRICS_NAMESPACE", "AWS/Lambda", "'AWS/Lambda' is not a CloudWatch namespace"),
        (
            "SYNC_JOB_METRICS_NAMESPACE",
            "   ",
            "$SYNC_JOB_METRICS_NAMESPACE ' ' is not a CloudWatch namespace",
        ),
        ("SYNC_JOB_METRICS_NAMESPACE", "S" * 256, "is not a CloudWatch namespace: 1-255 ASCII"),
        ("SYNC_JOB_METRICS_NAMESPACE", "Sync\udcffJob", "'Sync\\udcffJob' is not a CloudWatch namespace"),
    ],
    ids=[
        "level-unknown",
        "level-newline",
        "ns-newline",
        "ns-bidi",
        "ns-reserved",
        "ns-blank",
        "ns-256",
        "ns-not-utf8",
    ],
)
def test_a_bad_environment_variable_is_one_line_before_the_run(
    harness: Harness, lambda_env: Any, monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(lambda_env.SyncFailedError) as failed:
        lambda_env.handler({}, Context())
    assert problem in str(failed.value), str(failed.value)
    assert "\n" not in str(failed.value)
    assert harness.token_requests("sandbox") == 0 and harness.stored("sandbox") is None


def test_legal_namespaces_run_and_name_the_emf_lines(
    harness: Harness, lambda_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_JOB_METRICS_NAMESPACE", "Team/Sync-Job_v2.#1: prod")
    assert lambda_env.handler({}, Context())["results"][0]["outcome"] == "refreshed"
    assert '"Namespace":"Team/Sync-Job_v2.#1: prod"' in capsys.readouterr().out


# --- the CLI, `python -m sync_job`, the console script -------------------------------------------


def test_a_bug_in_a_command_is_one_line_exit_1_in_process(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.add_env("sandbox")
    monkeypatch.setattr("sync_job.factory.build_job", planted(harness, "build"))
    result = harness.cli("status", level="INFO")
    assert result.exit_code == 1
    [line] = result.error_lines
    assert line.startswith("sync-job: error: internal error: RuntimeError at sync_job/"), line
    assert_clean(harness, result.stdout, result.stderr)


# Run as `python -m sync_job` and as the console script's entry (sync_job.cli:main, pyproject's
# [project.scripts]) with a bug planted in the job's construction, or in click's own parsing
# (before any command runs: what `_Group.invoke` cannot see).
PROGRAM = """
import runpy, sys
import click, sync_job.factory
secret, canary, where, entry = sys.argv[1:5]
def boom(*a, **k):
    raise RuntimeError(f"failed on {{secret}}\\n{{canary}}")
if where == "parse":
    click.core.Command.parse_args = lambda self, ctx, args: boom()
else:
    sync_job.factory.build_job = boom
sys.argv = ["sync-job", "--config", {config!r}, "status"]
if entry == "module":
    runpy.run_module("sync_job", run_name="__main__")
else:
    from sync_job.cli import main
    sys.exit(main())
"""


@pytest.mark.parametrize("entry", ["module", "console-script"])
@pytest.mark.parametrize("where", ["build", "parse"])
def test_a_bug_in_a_process_is_one_line_exit_1(harness: Harness, entry: str, where: str) -> None:
    harness.add_env("sandbox")
    program = PROGRAM.format(config=str(harness.config_path()))
    proc = subprocess.run(
        [sys.executable, "-c", program, harness.secrets["sandbox"], CANARY, where, entry],
        capture_output=True,
        text=True,
        timeout=60,
        env=harness.subprocess_env(),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sync-job: error: internal error: RuntimeError"), (
        proc.stderr
    )
    assert proc.stdout == ""
    assert_clean(harness, proc.stdout, proc.stderr)
