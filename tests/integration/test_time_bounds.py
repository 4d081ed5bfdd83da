"""Issue 9 §1, bounded time whatever the peer does, across the real wire: a raw-socket token
endpoint that trickles or floods (standins/raw_server.py) and a Secrets Manager endpoint
that accepts and never answers. Each case asserts the time bound (measured around the call),
the outcome, the exit code, the error line (host and time), the stored token and no leak."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from standins.harness import Harness, Result, assert_no_leak
from standins.raw_server import Play, RawServer, Unaccepting, response

TIMEOUT = 2  # timeout_seconds of every token request here
SLACK = 1.5  # the issue allows "about 1 s"; the rest is the in-process CLI's own work

_BODY = b'{"access_token": "tok-LEAKMARK-trickled", "token_type": "bearer", "expires_in": 3600}'
_OK = response(200, _BODY, [("Content-Type", "application/json")], reason="OK")
_STATUS_LINE = b"HTTP/1.1 200 OK\r\n"
# The issue's own input: `200`, `Content-Length: 100000`, then one byte every 0.5 s.
_BIG_HEAD = response(200, b"", [("Content-Type", "application/json"), ("Content-Length", "100000")])
_CHUNKED_HEAD = response(
    200, b"", [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], length=False
)
# No Content-Length: the body ends when the connection closes. Here a whole token arrives at once
# and trailing blanks trickle: a cut by the deadline must not read as the end of the answer.
_UNFRAMED = response(200, _BODY, [("Content-Type", "application/json")], length=False) + b" " * 20

# Each kind of peer that answers too slowly to ever finish, one member per kind.
PLAYS: dict[str, tuple[str, Play]] = {
    "status-line-trickle": ("http", Play.trickle(_OK, interval=0.5)),
    "headers-trickle": ("http", Play.trickle(_OK, start=len(_STATUS_LINE), interval=0.5)),
    "body-trickle": ("http", Play.trickle(_BIG_HEAD + _BODY * 1200, start=len(_BIG_HEAD), interval=0.5)),
    "unframed-body-trickle": ("http", Play.trickle(_UNFRAMED, start=len(_UNFRAMED) - 20, interval=0.5)),
    "100-continue-flood": ("http", Play.repeat(b"HTTP/1.1 100 Continue\r\n\r\n", interval=0.05)),
    "header-line-never-ends": ("http", Play.repeat(b"a", prefix=_STATUS_LINE + b"X-Pad: ", interval=0.05)),
    "chunked-body-never-ends": ("http", Play.repeat(b"1\r\n \r\n", prefix=_CHUNKED_HEAD, interval=0.1)),
    "partial-head-then-silence": ("http", Play.hang(_STATUS_LINE + b"Content-Ty")),
    "reads-request-never-answers": ("http", Play.hang()),
    "tls-handshake-never-answered": ("https", Play.silent()),
    "tls-handshake-trickled": ("https", Play.trickle(b"\x16\x03\x03\x00\x40" + b"\x02" * 64, interval=0.5)),
}


@pytest.fixture
def raw() -> Iterator[list[RawServer | Unaccepting]]:
    servers: list[RawServer | Unaccepting] = []
    yield servers
    for server in servers:
        server.stop()


def _error_line(result: Result, env: str) -> str:
    lines = [ln for ln in result.error_lines if ln.startswith(f"sync-job: error: {env}: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _assert_ends_within_timeout(
    result: Result, elapsed: float, harness: Harness, cases: dict[str, Any]
) -> None:
    assert elapsed <= TIMEOUT + SLACK, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == 1, result.stderr
    outcomes = {r["environment"]: r["outcome"] for r in result.json()["results"]}
    assert outcomes == dict.fromkeys(cases, "failed")
    for name, (server, before, versions) in cases.items():
        line = _error_line(result, name)
        assert f"127.0.0.1:{server.port}" in line, line
        assert re.search(rf"(within|after) {TIMEOUT} s\b", line), line
        if isinstance(server, RawServer):  # max_attempts = 1: one connection, no hidden retry
            assert server.connections == 1, name
        assert harness.stored(name) == before, name
        assert harness.versions(name) == versions, name


def test_every_kind_of_slow_peer_is_cut_off_at_the_timeout(
    harness: Harness, raw: list[RawServer | Unaccepting]
) -> None:
    """One environment per kind, each with its own server, all in one run (one worker each):
    every request ends within timeout_seconds, so the run ends long before its 10 s budget. One
    round each: a round later in the run (test_run_against_servers.py) would start past it."""
    harness.defaults.update(run_timeout_seconds=10, max_workers=len(PLAYS), backoff_max_seconds=60)
    cases: dict[str, Any] = {}
    for kind, (scheme, play) in PLAYS.items():
        server = RawServer(play, scheme=scheme).start()
        raw.append(server)
        harness.add_env(kind, server=server, timeout_seconds=TIMEOUT, max_attempts=1)  # type: ignore[arg-type]
        cases[kind] = (server, harness.put_due(kind), harness.versions(kind))
    never_accepts = Unaccepting()
    raw.append(never_accepts)
    harness.add_env("connect-never-completes", server=never_accepts, timeout_seconds=TIMEOUT, max_attempts=1)  # type: ignore[arg-type]
    cases["connect-never-completes"] = (never_accepts, harness.put_due("connect-never-completes"), 1)
    harness.defaults["max_workers"] = len(cases)

    started = time.monotonic()
    result = harness.cli("run", "--json")
    _assert_ends_within_timeout(result, time.monotonic() - started, harness, cases)


def test_the_issues_body_trickle_alone(harness: Harness, raw: list[RawServer | Unaccepting]) -> None:
    """The issue's input on its own: `200`, `Content-Length: 100000`, one byte every 0.5 s."""
    scheme, play = PLAYS["body-trickle"]
    server = RawServer(play, scheme=scheme).start()
    raw.append(server)
    harness.defaults.update(run_timeout_seconds=10, backoff_max_seconds=60)  # one round, as above
    harness.add_env("sandbox", server=server, timeout_seconds=TIMEOUT, max_attempts=1)  # type: ignore[arg-type]
    cases = {"sandbox": (server, harness.put_due(), harness.versions("sandbox"))}

    started = time.monotonic()
    result = harness.cli("run", "--json")
    _assert_ends_within_timeout(result, time.monotonic() - started, harness, cases)


def test_a_silent_token_endpoint_and_several_environments(
    harness: Harness, raw: list[RawServer | Unaccepting]
) -> None:
    """Accepts and never answers, retries allowed: the run budget ends it, all reported."""
    server = RawServer(Play.hang()).start()
    raw.append(server)
    harness.defaults.update(run_timeout_seconds=3, max_workers=2)
    names = ["a", "b", "c", "d"]
    before = {}
    for name in names:
        harness.add_env(name, server=server, timeout_seconds=TIMEOUT, max_attempts=5)  # type: ignore[arg-type]
        before[name] = harness.put_due(name)

    started = time.monotonic()
    result = harness.cli("run", "--json")
    elapsed = time.monotonic() - started

    assert elapsed <= 3 + SLACK, f"{elapsed:.1f} s\n{result.stderr}"
    assert result.exit_code == 1
    results = result.json()["results"]
    assert [r["environment"] for r in results] == names
    # Those that reached the silent endpoint failed; the rest hold valid tokens and were deferred.
    outcomes = {r["environment"]: r["outcome"] for r in results}
    assert set(outcomes.values()) <= {"failed", "deferred"}, results
    assert outcomes["a"] == outcomes["b"] == "failed"
    for name in names:
        if outcomes[name] == "failed":
            assert not _error_line(result, name).startswith(f"sync-job: error: {name}: unexpected")
        assert harness.stored(name) == before[name]
    # The first two reached the silent endpoint and were cut off; retries did not outlive the run.
    assert server.connections >= 2


# --- Secrets Manager that accepts and never answers -------------------------------------------------


# Interpreter start-up and imports come before the run and the clock of its budget; on a loaded
# CI machine they take a few seconds of their own, so the whole process gets this much more.
STARTUP = 4


def _start_against(
    harness: Harness, black_hole: RawServer, *args: str
) -> tuple[subprocess.Popen[str], float]:
    """Start `python -m sync_job` with AWS_ENDPOINT_URL at ``black_hole``."""
    env = {**harness.subprocess_env(), "AWS_ENDPOINT_URL": black_hole.endpoint}
    command = [sys.executable, "-m", "sync_job", "--config", str(harness.config_path()), *args]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc, started


def _finish_against(
    started: tuple[subprocess.Popen[str], float], black_hole: RawServer
) -> tuple[Result, float, float]:
    """Wait for it (at most 60 s) and scan its output as ``Harness.cli_process`` does. Returns the
    result, the process's wall time, and the time from its first call to Secrets Manager (the
    run is under way) to its exit."""
    proc, at = started
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    ended = time.monotonic()
    assert black_hole.first_connection_at is not None, err
    result = Result(proc.returncode, out, err)
    assert_no_leak(result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result, ended - at, ended - black_hole.first_connection_at


@pytest.fixture
def black_hole(raw: list[RawServer | Unaccepting]) -> RawServer:
    server = RawServer(Play.hang(), path="").start()
    raw.append(server)
    return server


def _two_environments(harness: Harness, budget: int) -> dict[str, Any]:
    harness.defaults["run_timeout_seconds"] = budget
    before = {}
    for name in ("sandbox", "production"):
        harness.add_env(name, timeout_seconds=TIMEOUT, max_attempts=1)
        before[name] = harness.put_due(name)
    return before


def test_a_run_against_a_silent_secrets_manager_ends_within_its_budget(
    harness: Harness, black_hole: RawServer
) -> None:
    before = _two_environments(harness, 8)
    result, wall, run = _finish_against(_start_against(harness, black_hole, "run", "--json"), black_hole)
    assert run <= 8 + 3, f"{run:.1f} s\n{result.stderr}"
    assert wall <= 8 + 3 + STARTUP, f"{wall:.1f} s\n{result.stderr}"
    assert result.exit_code == 1
    results = result.json()["results"]
    assert [r["environment"] for r in results] == ["sandbox", "production"]
    for r in results:
        assert r["outcome"] == "failed"
        line = _error_line(result, r["environment"])
        assert "Secrets Manager" in line or "budget of 8 s" in line, line
    assert black_hole.requests >= 2  # both environments did reach the silent endpoint
    assert harness.token_requests("sandbox") == harness.token_requests("production") == 0
    for name, doc in before.items():
        assert harness.stored(name) == doc


def test_status_and_check_against_a_silent_secrets_manager(
    harness: Harness, raw: list[RawServer | Unaccepting]
) -> None:
    """Both commands at once (each against its own silent endpoint), to keep the suite short."""
    before = _two_environments(harness, 3)
    holes = {command: RawServer(Play.hang(), path="").start() for command in ("status", "check")}
    raw.extend(holes.values())
    started = {command: _start_against(harness, hole, command, "--json") for command, hole in holes.items()}
    for command, hole in holes.items():
        result, wall, run = _finish_against(started[command], hole)
        assert run <= 3 + 3, f"{command}: {run:.1f} s\n{result.stderr}"
        assert wall <= 3 + 3 + STARTUP, f"{command}: {wall:.1f} s\n{result.stderr}"
        assert result.exit_code == 1, command
        entries = result.json()["environments"]
        assert [e["environment"] for e in entries] == ["sandbox", "production"]
        for entry in entries:
            if command == "status":
                assert entry["state"] == "error", entry
            else:
                assert entry["ok"] is False, entry
            assert entry["error"] and "\n" not in entry["error"], entry
    assert harness.token_requests("sandbox") == harness.token_requests("production") == 0
    for name, doc_before in before.items():
        assert harness.stored(name) == doc_before


class _LambdaContext:
    """What the handler reads of Lambda's context: 14 s left, so a 4 s budget after its margin."""

    def get_remaining_time_in_millis(self) -> int:
        return 14_000


def test_the_lambda_handler_reports_before_its_invocation_ends(
    harness: Harness,
    black_hole: RawServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In Lambda the budget is the invocation's remaining time less a margin: a silent Secrets
    Manager still gets a reported failure (and metrics) instead of a silent timeout."""
    from sync_job import lambda_handler

    before = _two_environments(harness, 600)
    monkeypatch.setenv("SYNC_JOB_CONFIG", str(harness.config_path()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", black_hole.endpoint)
    monkeypatch.setattr(lambda_handler, "_job_cache", {})
    budget = 14 - lambda_handler.SAFETY_MARGIN_SECONDS

    started = time.monotonic()
    with pytest.raises(lambda_handler.SyncFailedError) as failed:
        lambda_handler.handler({}, _LambdaContext())
    elapsed = time.monotonic() - started

    assert elapsed <= budget + SLACK, f"{elapsed:.1f} s"
    message = str(failed.value)
    assert message.startswith("2 environment(s) failed: sandbox: ") and "production: " in message
    assert "\n" not in message and "unexpected" not in message
    assert black_hole.requests >= 2
    captured = capsys.readouterr()
    assert_no_leak(message, captured.out, captured.err)
    monkeypatch.undo()  # back to moto for the checks below
    for name, doc in before.items():
        assert harness.stored(name) == doc


def test_raw_server_stops_promptly_with_plays_in_progress() -> None:
    """The support server itself: stop() cuts every play short."""
    import socket

    server = RawServer(Play.trickle(b"x" * 1000, interval=1.0)).start()
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    for c in clients:
        c.sendall(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert server.wait_for(connections=3, requests=3, timeout=5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.5
    for c in clients:
        c.close()
