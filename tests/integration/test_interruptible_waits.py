"""Issue 18 §1: every wait wakes for SIGTERM/SIGINT, not only the run's pool. The job runs as a
real process (`python -m sync_job`) against moto's server and the local token endpoint; the
signal comes while it waits for a pacing slot, sleeps before a retry, or (``credentials put``)
waits for its test request. Each ends within a poll period or the request's own timeout, far
inside the run's grace (``INTERRUPT_GRACE_SECONDS``), and says what it did."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from standins.harness import Harness, Result, assert_no_leak
from standins.token_server import Fault
from sync_job.executor import INTERRUPT_GRACE_SECONDS


def _signal_when(
    harness: Harness,
    proc: subprocess.Popen[str],
    name: str,
    *,
    requests: int,
    settle: float = 0.5,
    sig: signal.Signals = signal.SIGTERM,
) -> float:
    """Send SIGTERM once ``name`` has had ``requests`` token requests and ``settle`` s passed;
    returns when it was sent (monotonic)."""
    deadline = time.monotonic() + 30
    while harness.token_requests(name) < requests:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the token request never arrived\n{proc.communicate(timeout=10)}")
        time.sleep(0.02)
    time.sleep(settle)
    sent = time.monotonic()
    proc.send_signal(sig)
    return sent


def _finish(harness: Harness, proc: subprocess.Popen[str], sent: float) -> tuple[Result, float]:
    try:
        out, err = proc.communicate(timeout=INTERRUPT_GRACE_SECONDS + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"still running after the grace\n{out}\n{err}")
    assert_no_leak(out, err)
    harness.assert_no_secret(out, err)
    assert "Traceback" not in err
    return Result(proc.returncode, out, err), time.monotonic() - sent


def test_sigterm_during_a_pacing_wait_ends_it_at_once(harness: Harness) -> None:
    """Two environments on one token host paced at one request per 30 s: the second waits for
    its slot. SIGTERM ends that wait (it used to sleep it out, past the grace): nothing more is
    sent, the second is deferred with its valid token, exit 143."""
    harness.defaults.update(run_timeout_seconds=120, max_workers=2)
    for name in ("first", "second"):
        harness.add_env(name, rate_limit_per_second=1 / 30, rate_limit_burst=1)
        harness.put_due(name)
    before = harness.stored("second")
    proc = harness.start_process("run", "--json")
    sent = _signal_when(harness, proc, "first", requests=1)
    result, elapsed = _finish(harness, proc, sent)

    assert elapsed < 2.5, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == 143, result.stderr
    results = {r["environment"]: r for r in result.json()["results"]}
    assert results["first"]["outcome"] == "refreshed"
    assert results["second"]["outcome"] == "deferred", results["second"]
    assert "interrupted by SIGTERM" in results["second"]["warning"]
    assert harness.token_requests("second") == 0
    assert harness.stored("second") == before


@pytest.mark.parametrize(
    ("sig", "code", "fault", "shown"),
    [
        # Retry-After: 20 on the 503 too: full jitter alone could draw a sleep shorter than the
        # signal takes to arrive on a loaded machine (a second request, rightly sent).
        (signal.SIGTERM, 143, Fault.status(503, "busy", headers={"Retry-After": "20"}), "503"),
        (signal.SIGINT, 130, Fault.status(503, "busy", headers={"Retry-After": "20"}), "503"),
        (signal.SIGTERM, 143, Fault.rate_limited(20), "429"),
    ],
    ids=["sigterm-503", "sigint-503", "sigterm-429-retry-after"],
)
def test_sigterm_during_a_retry_sleep_ends_it_at_once(
    harness: Harness, sig: signal.Signals, code: int, fault: Fault, shown: str
) -> None:
    """A 503 or a 429, each with Retry-After: 20, and then a 20 s wait before the second attempt:
    SIGTERM or SIGINT ends the sleep, no second request is sent, and the first attempt's error
    is the environment's, not "gave up after N attempts" (one attempt was made)."""
    harness.defaults.update(run_timeout_seconds=120)
    harness.add_env("sandbox", max_attempts=3, backoff_initial_seconds=20, backoff_max_seconds=20)
    before = harness.put_due("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [fault] * 3)
    proc = harness.start_process("run", "--json")
    sent = _signal_when(harness, proc, "sandbox", requests=1, sig=sig)
    result, elapsed = _finish(harness, proc, sent)

    assert elapsed < 2.5, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    [env] = result.json()["results"]
    assert env["outcome"] == "failed"
    assert shown in env["error"], env
    assert "gave up" not in env["error"], env
    assert harness.token_requests("sandbox") == 1
    assert harness.stored("sandbox") == before


@pytest.mark.parametrize(
    ("sig", "name", "code"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "SIGINT", 130)]
)
def test_credentials_put_interrupted_during_its_test_says_nothing_was_written(
    harness: Harness, sig: signal.Signals, name: str, code: int
) -> None:
    """`credentials put` gets `run`'s handlers: the signal ends the test request's waits, no
    later step starts, the last line says what was written, exit 143 / 130."""
    harness.add_env("sandbox", timeout_seconds=2, max_attempts=3)
    creds = harness.envs["sandbox"]["credentials_secret"]
    before = harness.sm.get_secret_value(SecretId=creds)["SecretString"]
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(30)] * 3)
    typed = harness.tmp / "typed-secret"
    typed.write_text("SECRETMARK-new-put-under-signal\n")
    with typed.open() as stdin:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "sync_job", "--config", str(harness.config_path())),
                *("credentials", "put", "sandbox"),
            ],
            env=harness.subprocess_env(),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    deadline = time.monotonic() + 30
    while harness.token_requests("sandbox") < 1:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"no test request\n{proc.communicate(timeout=10)}")
        time.sleep(0.02)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=INTERRUPT_GRACE_SECONDS + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running\n{proc.communicate(timeout=10)}")
    elapsed = time.monotonic() - sent
    assert_no_leak(out, err)
    assert "SECRETMARK-new-put-under-signal" not in out + err
    assert "Traceback" not in err

    assert elapsed < 2 + 1.5, f"{elapsed:.1f} s\n{err}"  # the request's own 2 s timeout at most
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert last == f"sync-job: error: sandbox: interrupted by {name}; nothing was written", err
    assert harness.token_requests("sandbox") == 1  # no retry after the signal
    assert harness.sm.get_secret_value(SecretId=creds)["SecretString"] == before
    assert json.loads(before)["client_secret"] == harness.secrets["sandbox"]


def test_credentials_promote_interrupted_during_its_test_promotes_nothing(harness: Harness) -> None:
    """`credentials promote` (staged credentials tested from the job's egress) has the same
    handlers: SIGTERM during its test request, exit 143, AWSPENDING stays pending."""
    from tests.integration.test_credentials_put import put

    harness.add_env("sandbox", timeout_seconds=2, max_attempts=3)
    creds = harness.envs["sandbox"]["credentials_secret"]
    staged = put(harness, "sandbox", "SECRETMARK-staged-under-signal\n", "--stage")
    assert staged.exit_code == 0, staged.stderr
    before = harness.sm.get_secret_value(SecretId=creds)["SecretString"]
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(30)] * 3)
    proc = harness.start_process("credentials", "promote", "sandbox")
    sent = _signal_when(harness, proc, "sandbox", requests=1, settle=0.3)
    result, elapsed = _finish(harness, proc, sent)
    assert "SECRETMARK-staged-under-signal" not in result.stdout + result.stderr
    assert elapsed < 2 + 1.5, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == 143, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "sync-job: error: sandbox: interrupted by SIGTERM; nothing was written"
    )
    assert harness.token_requests("sandbox") == 1
    assert harness.sm.get_secret_value(SecretId=creds)["SecretString"] == before


@pytest.mark.parametrize(
    ("sig", "name", "code"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "SIGINT", 130)]
)
def test_revoke_interrupted_during_its_refresh_revokes_nothing(
    harness: Harness, sig: signal.Signals, name: str, code: int
) -> None:
    """Hostile review (issue 18): `revoke` had no signal handlers, so SIGTERM during its fresh
    token request killed it with Python's default (no final line) and SIGINT gave a bare
    "interrupted". With run's handlers: the request's waits end, nothing is revoked, the stored
    token stays, the last line says what was done, exit 143 / 130."""
    harness.add_env(
        "sandbox", timeout_seconds=2, max_attempts=3, revocation_url=harness.tokens.revocation_url
    )
    assert harness.cli("run", "--env", "sandbox").exit_code == 0
    before = harness.stored("sandbox")
    assert before is not None
    harness.tokens.reset_stats()
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(30)] * 3)
    proc = harness.start_process("revoke", "sandbox")
    deadline = time.monotonic() + 30
    while harness.token_requests("sandbox") < 1:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"no refresh request\n{proc.communicate(timeout=10)}")
        time.sleep(0.02)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    result, elapsed = _finish(harness, proc, sent)

    assert before["access_token"] not in result.stdout + result.stderr
    assert elapsed < 2 + 1.5, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"sync-job: error: sandbox: interrupted by {name}; no fresh token was published and nothing "
        "was revoked"
    ), result.stderr
    assert harness.token_requests("sandbox") == 1  # no retry after the signal
    assert harness.stored("sandbox") == before
    assert harness.tokens.is_active(before["access_token"])


@pytest.mark.parametrize(
    ("sig", "name", "code"), [(signal.SIGTERM, "SIGTERM", 143), (signal.SIGINT, "SIGINT", 130)]
)
def test_check_interrupted_during_its_token_request_reports_every_environment(
    harness: Harness, sig: signal.Signals, name: str, code: int
) -> None:
    """Hostile review (issue 18): `check` had no signal handlers either. With run's: the token
    request's waits end, every environment is reported, exit 143 / 130, one last line."""
    harness.add_env("sandbox", timeout_seconds=2, max_attempts=3)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(30)] * 3)
    proc = harness.start_process("check", "--json")
    deadline = time.monotonic() + 30
    while harness.token_requests("sandbox") < 1:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"no token request\n{proc.communicate(timeout=10)}")
        time.sleep(0.02)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(sig)
    result, elapsed = _finish(harness, proc, sent)

    assert elapsed < 2 + 1.5, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    [entry] = result.json()["environments"]
    assert entry["ok"] is False
    assert result.stderr.strip().splitlines()[-1] == (
        f"sync-job: error: interrupted by {name}; nothing new was started"
    ), result.stderr
    assert harness.token_requests("sandbox") == 1
