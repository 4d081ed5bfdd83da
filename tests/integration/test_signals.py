"""Issue 9 §6, SIGTERM and SIGINT: start nothing new, report every environment, exit 143 / 130;
a second signal ends the process at once. The job runs as a real process (`python -m sync_job`)
against moto's server and a token endpoint whose answers hang."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from typing import Any

import pytest

from standins.harness import Harness, Result, assert_no_leak
from standins.token_server import Fault
from sync_job.sync import INTERRUPT_GRACE_SECONDS

NAMES = ("first", "second", "third")


def _start(harness: Harness, *, timeout_seconds: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Three environments, one worker, every token request hanging 30 s; returns once the first
    token request has reached the server (so the run is in flight)."""
    harness.defaults.update(run_timeout_seconds=120, max_workers=1)
    before = {}
    for name in NAMES:
        harness.add_env(name, timeout_seconds=timeout_seconds, max_attempts=1)
        harness.tokens.script(harness.client_id(name), [Fault.hang(30)])
        before[name] = harness.put_due(name)
    proc = harness.start_process("run", "--json")
    deadline = time.monotonic() + 30
    while harness.token_requests(NAMES[0]) == 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"the first token request never arrived\n{out}\n{err}")
        time.sleep(0.05)
    return proc, before


def _finish(proc: subprocess.Popen[str], wait: float) -> tuple[Result, float]:
    """Wait for the process (at most ``wait`` s, else kill it and fail); scan its output."""
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"still running {wait} s after the signal\n{out}\n{err}")
    elapsed = time.monotonic() - started
    assert_no_leak(out, err)
    assert "Traceback" not in err
    return Result(proc.returncode, out, err), elapsed


def _assert_nothing_new(harness: Harness, before: dict[str, Any]) -> None:
    assert harness.token_requests(NAMES[0]) == 1
    assert [harness.token_requests(n) for n in NAMES[1:]] == [0, 0]  # never started
    for name, doc in before.items():
        assert harness.stored(name) == doc


@pytest.mark.parametrize(("sig", "name", "code"), [(signal.SIGTERM, "SIGTERM", 143)])
def test_signal_waits_for_the_grace_then_reports_every_environment(
    harness: Harness, sig: signal.Signals, name: str, code: int
) -> None:
    """The request in flight outlives the grace: the run still ends, within the grace."""
    proc, before = _start(harness, timeout_seconds=60)
    proc.send_signal(sig)
    result, elapsed = _finish(proc, INTERRUPT_GRACE_SECONDS + 10)

    assert elapsed <= INTERRUPT_GRACE_SECONDS + 3, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    doc = result.json()  # one JSON document on stdout
    assert doc["interrupted"] == name
    results = {r["environment"]: r for r in doc["results"]}
    assert list(results) == list(NAMES)
    # The one in flight failed; the two never started hold valid tokens, so they are deferred.
    assert results["first"]["outcome"] == "failed"
    assert f"interrupted by {name}" in results["first"]["error"], results["first"]
    for env in NAMES[1:]:
        assert results[env]["outcome"] == "deferred"
        assert f"interrupted by {name}" in results[env]["warning"], results[env]
    assert "requesting a token" in results["first"]["error"]
    assert len([ln for ln in result.error_lines if ln.startswith("sync-job: error: first: ")]) == 1
    _assert_nothing_new(harness, before)


# SIGTERM's grace is shown above; SIGINT (Ctrl-C) takes the same path with its own code.
@pytest.mark.parametrize(("sig", "name", "code"), [(signal.SIGINT, "SIGINT", 130)])
def test_signal_lets_the_request_in_flight_end_and_starts_nothing_new(
    harness: Harness, sig: signal.Signals, name: str, code: int
) -> None:
    """The request in flight ends by its own timeout (2 s) inside the grace: the process exits
    right after it, and the environments still queued are reported as not started."""
    proc, before = _start(harness, timeout_seconds=2)
    proc.send_signal(sig)
    result, elapsed = _finish(proc, INTERRUPT_GRACE_SECONDS + 10)

    assert elapsed <= 2 + 2, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    doc = result.json()
    assert doc["interrupted"] == name
    results = {r["environment"]: r for r in doc["results"]}
    assert list(results) == list(NAMES)
    assert results["first"]["outcome"] == "failed"
    # The watchdog or urllib3's own read timeout, whichever fires first: both end it at 2 s.
    assert re.fullmatch(r"no (complete )?answer from 127\.0\.0\.1:\d+ within 2 s", results["first"]["error"])
    for env in NAMES[1:]:
        assert results[env]["outcome"] == "deferred"  # a valid token is stored
        assert f"(not started: the run was interrupted by {name})" in results[env]["warning"]
    assert f"sync-job: error: interrupted by {name}; nothing new was started" in result.stderr
    _assert_nothing_new(harness, before)


def test_a_second_sigterm_ends_the_process_at_once(harness: Harness) -> None:
    proc, before = _start(harness, timeout_seconds=60)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # still inside the grace
    proc.send_signal(signal.SIGTERM)
    result, elapsed = _finish(proc, 10)

    assert elapsed <= 2, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == 143
    assert result.error_lines[-1:] == [
        "sync-job: error: SIGTERM again: stopped without waiting for environments in flight"
    ], result.stderr
    _assert_nothing_new(harness, before)


# Issue 18 §1: a wait on Secrets Manager wakes for the signal too. One secret is read with
# GetSecretValue, several with BatchGetSecretValue; the wrapper holds the read in flight (up to
# HOLD_LIMIT_S, 30 s), so a run that waited for it would take that long.
@pytest.mark.parametrize(
    ("sig", "name", "code", "names", "action"),
    [
        (signal.SIGTERM, "SIGTERM", 143, NAMES, "BatchGetSecretValue"),
        (signal.SIGINT, "SIGINT", 130, NAMES, "BatchGetSecretValue"),
        (signal.SIGTERM, "SIGTERM", 143, NAMES[:1], "GetSecretValue"),
    ],
)
def test_a_signal_while_secrets_are_read_ends_the_run_at_once_reporting_every_environment(
    harness: Harness, sig: signal.Signals, name: str, code: int, names: tuple[str, ...], action: str
) -> None:
    before = {}
    for env in names:
        harness.add_env(env)
        before[env] = harness.put_due(env)
    arrived, release = harness.moto.hold(action)
    proc = harness.start_process("run", "--json")
    try:
        assert arrived.wait(timeout=30), "the read never started"
        proc.send_signal(sig)
        result, elapsed = _finish(proc, 20)
    finally:
        release.set()
    assert elapsed <= 3, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == code, result.stderr
    doc = result.json()
    assert doc["interrupted"] == name
    assert [r["environment"] for r in doc["results"]] == list(names)
    for r in doc["results"]:
        # What is stored is unknown (the read never answered): failed, not deferred.
        assert r["outcome"] == "failed"
        assert r["error"] == f"interrupted by {name} while reading secrets", r
    assert f"sync-job: error: interrupted by {name}; nothing new was started" in result.stderr
    assert [harness.token_requests(env) for env in names] == [0] * len(names)
    harness.moto.clear()
    for env, doc_before in before.items():
        assert harness.stored(env) == doc_before
