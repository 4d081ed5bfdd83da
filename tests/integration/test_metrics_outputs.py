"""Issue 18 §1 and §6, the metrics outputs across the real wire: `sync-job run` (the real CLI,
moto's server, the local token endpoint) with `--metrics-file` on a FIFO, a symbolic link, a
directory, an empty path, a malformed previous file, under a strict umask; and `--pushgateway`
at raw-socket gateways that trickle, hang or answer with escape codes (standins/raw_server.py),
and at malformed URLs. Every case ends within its bound, in one clean line, exit code as documented."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from standins.harness import Harness, Result, assert_no_leak
from standins.raw_server import Play, RawServer, response
from standins.token_server import Fault
from sync_job.prometheus import LAST_OUTCOME, PUSH_FLOOR_SECONDS

REFRESHED = (("environment", "sandbox"), ("outcome", "refreshed"))
# What another application keeps in its own file: never to be quoted by a warning.
FOREIGN = "Bearer LEAKMARK-foreign-app-token-0123456789"


def _process(harness: Harness, *args: str, wait: float = 30.0) -> tuple[Result, float]:
    """`python -m sync_job ARGS` as a process (a hang cannot take the test runner with it):
    its result and how long it took; fails the test if it outlives ``wait`` seconds."""
    started = time.monotonic()
    proc = harness.start_process(*args)
    try:
        out, err = proc.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"still running after {wait} s\n{out}\n{err}")
    assert_no_leak(out, err)
    harness.assert_no_secret(out, err)
    assert "Traceback" not in err
    return Result(proc.returncode, out, err), time.monotonic() - started


def _clean(line: str) -> bool:
    return line.isprintable() and "\x1b" not in line


# --- --metrics-file ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory", "dangling symlink"])
def test_a_path_that_is_not_a_regular_file_is_a_usage_error_before_the_run(
    harness: Harness, tmp_path: Path, kind: str
) -> None:
    harness.add_env("sandbox")
    path = tmp_path / "sync_job.prom"
    other = tmp_path / "other-app.conf"
    other.write_text(FOREIGN + "\n")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to(other)
    elif kind == "dangling symlink":
        path.symlink_to(tmp_path / "nowhere.prom")
    else:
        path.mkdir()
    result, elapsed = _process(harness, "run", "--metrics-file", str(path), wait=20)
    assert result.exit_code == 2, result.stderr
    assert elapsed < 15
    [line] = result.error_lines
    assert line.startswith(f"sync-job: error: --metrics-file: {path} is "), line
    expected = {"fifo": "a FIFO", "directory": "a directory"}.get(kind, "a symbolic link (never followed)")
    assert expected in line
    assert FOREIGN not in result.stderr + result.stdout
    assert harness.token_requests("sandbox") == 0  # before the run
    assert other.read_text() == FOREIGN + "\n"  # never written through


def test_a_fifo_put_there_during_the_run_fails_the_write_without_hanging(
    harness: Harness, tmp_path: Path
) -> None:
    """The path is checked before the run; a FIFO made while the token request is held open is
    found when the file is written: one line, exit 1, the run's result printed, no hang."""
    harness.add_env("sandbox")
    path = tmp_path / "sync_job.prom"
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(1.0)])

    def make_fifo_when_requested() -> None:
        deadline = time.monotonic() + 20
        while harness.token_requests("sandbox") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.mkfifo(path)

    maker = threading.Thread(target=make_fifo_when_requested)
    maker.start()
    try:
        result, _ = _process(harness, "run", "--metrics-file", str(path), wait=30)
    finally:
        maker.join(25)
    assert result.exit_code == 1, result.stderr
    assert "refreshed" in result.stdout
    [line] = result.error_lines
    assert (
        line
        == f"sync-job: error: metrics: could not write {path}: {path} is a FIFO; give the path of a regular file"
    )
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("sync_job.prom.")] == []


def test_a_symlink_put_there_during_the_run_is_not_followed(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    path = tmp_path / "sync_job.prom"
    other = tmp_path / "other-app.conf"
    other.write_text(FOREIGN + "\n")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(1.0)])

    def link_when_requested() -> None:
        deadline = time.monotonic() + 20
        while harness.token_requests("sandbox") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        path.symlink_to(other)

    linker = threading.Thread(target=link_when_requested)
    linker.start()
    try:
        result, _ = _process(harness, "run", "--metrics-file", str(path))
    finally:
        linker.join(25)
    assert result.exit_code == 1, result.stderr
    [line] = result.error_lines
    assert "a symbolic link (never followed)" in line
    assert FOREIGN not in result.stderr + result.stdout
    assert other.read_text() == FOREIGN + "\n"
    assert path.is_symlink()


@pytest.mark.parametrize("path", ["", " "])
def test_an_empty_path_is_a_usage_error_before_the_run(harness: Harness, path: str) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--metrics-file", path)
    assert result.exit_code == 2, result.stderr
    assert result.error_lines == [
        "sync-job: error: --metrics-file must not be empty; give the path of the .prom file"
    ]
    assert harness.token_requests("sandbox") == 0


@pytest.mark.parametrize(
    "previous",
    [
        b"{,\t= YL\n",  # prometheus_client's parser raised IndexError: `internal error` every run
        f'sync_job_last_success_timestamp_seconds{{environment="sandbox"}} {FOREIGN}\n'.encode(),
        b'sync_job_run_start_timestamp_seconds{environment="a"\n',
        f"# TYPE {FOREIGN}\n".encode(),
        b"\xff\xfe" + FOREIGN.encode() + b"\n",
    ],
    ids=["index-error", "secret-value", "unclosed-labels", "bad-type", "not-utf8"],
)
def test_a_malformed_previous_file_is_replaced_with_a_warning_that_quotes_nothing(
    harness: Harness, tmp_path: Path, previous: bytes
) -> None:
    harness.add_env("sandbox")
    path = tmp_path / "sync_job.prom"
    path.write_bytes(previous)
    for attempt in range(2):  # the next run reads back what this one wrote
        result = harness.cli("run", "--metrics-file", str(path))
        assert result.exit_code == 0, result.stderr
        warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("sync-job: warning: metrics:")]
        if attempt == 0:
            assert len(warnings) == 1, result.stderr
            assert "replaced; nothing carried over" in warnings[0]
            assert f"previous {path} " in warnings[0]
        else:
            assert warnings == []
        assert "LEAKMARK-foreign" not in result.stderr + result.stdout
        assert "internal error" not in result.stderr
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    assert "sync_job_last_outcome" in families


def test_a_new_file_is_0644_whatever_the_umask_and_an_existing_one_keeps_its_mode(
    harness: Harness, tmp_path: Path
) -> None:
    harness.add_env("sandbox")
    new = tmp_path / "new.prom"
    kept = tmp_path / "kept.prom"
    kept.write_text("")
    kept.chmod(0o640)
    old = os.umask(0o077)
    try:
        assert harness.cli("run", "--force", "--metrics-file", str(new)).exit_code == 0
        assert harness.cli("run", "--force", "--metrics-file", str(kept)).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(new.stat().st_mode) == 0o644
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert "sync_job_last_outcome" in new.read_text()


# --- --pushgateway -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://user:s3cr3t-LEAKMARK@127.0.0.1:99999",
            "--pushgateway: credentials in the URL are not supported",
        ),
        ("http://user:s3cr3t-LEAKMARK@[::1", "--pushgateway: credentials in the URL are not supported"),
        ("user:s3cr3t-LEAKMARK@127.0.0.1:9091", "--pushgateway: credentials in the URL are not supported"),
        (
            "http://127.0.0.1:99999",
            "--pushgateway: expected http(s)://HOST[:PORT], got 'http://127.0.0.1:99999'",
        ),
        ("http://[::1", "--pushgateway: expected http(s)://HOST[:PORT], got '<unparseable URL>'"),
        ("http://127.0.0.1:9091/\x1b[31m", "--pushgateway must not contain spaces or control characters"),
        ("http://127.0.0.1:9091/?token=LEAKMARK1", "--pushgateway must not have a ?query or #fragment"),
        ("", "--pushgateway must not be empty; give http(s)://HOST[:PORT]"),
    ],
)
def test_a_malformed_pushgateway_url_is_exit_2_and_never_echoes_userinfo(
    harness: Harness, url: str, message: str
) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", url)
    assert result.exit_code == 2, result.stderr
    assert result.error_lines == [f"sync-job: error: {message}"]
    assert "s3cr3t" not in result.stderr and "LEAKMARK1" not in result.stderr
    assert harness.token_requests("sandbox") == 0


def _push_deadline(harness: Harness, run_timeout: float) -> None:
    harness.defaults.update(run_timeout_seconds=run_timeout)


@pytest.mark.parametrize(
    "play",
    [
        Play.trickle(response(200, b"ok"), interval=2.0),  # one byte every 2 s
        Play.hang(),  # accepts, reads, never answers (a gateway 6 s slow or worse)
        Play.silent(),  # accepts, never reads
    ],
    ids=["trickle", "hang", "silent"],
)
def test_pushes_to_a_slow_gateway_share_one_deadline(harness: Harness, play: Play) -> None:
    """Three environments, so four pushes; per push the old urllib timeout (10 s per read) never
    ended a trickle and cost (environments + 1) x 10 s otherwise. Now all of them end by one
    deadline inside the run's budget: here 5 s of budget, so at most 5 s for the pushes."""
    for name in ("a", "b", "c"):
        harness.add_env(name)
    _push_deadline(harness, 5)
    with RawServer(play) as gateway:
        result, elapsed = _process(harness, "run", "--pushgateway", gateway.endpoint, wait=40)
        connections = gateway.connections
    assert result.exit_code == 1, result.stderr
    assert elapsed < 5 + 6, f"{elapsed:.1f} s"  # budget + process start and the run itself
    [line] = result.error_lines
    assert line.startswith(
        f"sync-job: error: metrics: could not push to {gateway.endpoint}: no answer within the push deadline of "
    )
    assert line.endswith("(0 of 4 groups pushed)"), line
    assert connections == 1  # the rest were not tried
    assert [r for r in result.stdout.splitlines() if "refreshed" in r]  # the run's result is printed


def test_the_push_deadline_never_falls_below_its_floor(harness: Harness) -> None:
    """A run that used its whole budget still gets PUSH_FLOOR_SECONDS for its metrics."""
    harness.add_env("sandbox")
    _push_deadline(harness, 0.5)
    with RawServer(Play.hang()) as gateway:
        result, elapsed = _process(harness, "run", "--pushgateway", gateway.endpoint, wait=30)
    assert result.exit_code == 1, result.stderr
    assert f"no answer within the push deadline of {PUSH_FLOOR_SECONDS:g} s" in result.stderr
    assert elapsed >= PUSH_FLOOR_SECONDS


def test_sigterm_during_a_push_ends_it_at_once(harness: Harness) -> None:
    harness.add_env("sandbox")
    _push_deadline(harness, 60)  # pushes would get 10 s
    with RawServer(Play.trickle(response(200, b"ok"), interval=2.0)) as gateway:
        proc = harness.start_process("run", "--pushgateway", gateway.endpoint)
        if not gateway.wait_for(requests=1, timeout=30):
            proc.kill()
            pytest.fail(f"no push arrived\n{proc.communicate(timeout=10)}")
        time.sleep(0.2)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
            pytest.fail(f"SIGTERM did not end the push\n{out}\n{err}")
        elapsed = time.monotonic() - signalled
    assert elapsed < 2.0, f"{elapsed:.1f} s"
    assert proc.returncode == 143, err
    assert_no_leak(out, err)
    assert "Traceback" not in err
    assert "sync-job: error: metrics: could not push to " in err
    assert "interrupted by SIGTERM (0 of 2 groups pushed)" in err
    assert harness.stored("sandbox") is not None  # the run's work stands


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"\x1b]0;owned\x07\x1b[2J\x1b[31mgateway down\x9b31m"),
        (400, "bad \u202e\u200bdata \x00\x07".encode()),
        (302, b""),
    ],
    ids=["escapes", "controls", "redirect"],
)
def test_the_gateways_answer_is_cleaned_like_a_token_endpoints(
    harness: Harness, status: int, body: bytes
) -> None:
    harness.add_env("sandbox")
    head = [("Location", "http://127.0.0.1:9/elsewhere")] if status == 302 else []
    with RawServer(Play.send(response(status, body, head))) as gateway:
        result = harness.cli("run", "--pushgateway", gateway.endpoint)
    assert result.exit_code == 1, result.stderr
    [line] = result.error_lines
    assert _clean(line), repr(line)
    assert line.startswith(f"sync-job: error: metrics: could not push to {gateway.endpoint}: HTTP {status}")
    assert line.endswith("(0 of 2 groups pushed)")
    if status == 500:
        assert "gateway down" in line and "owned" not in line


def test_a_push_to_a_real_pushgateway_through_the_transport(harness: Harness, tmp_path: Path) -> None:
    from standins import pushgateway as pg

    path = pg.binary()
    if path is None:
        pytest.skip(
            "prometheus-pushgateway not installed (apt-get install prometheus-pushgateway; .ci/run does)"
        )
    harness.add_env("sandbox")
    with pg.Pushgateway(path, tmp_path / "pushgateway.log") as gateway:
        result, _ = _process(harness, "run", "--pushgateway", gateway.url, "--metrics-instance", "t1")
        pushed = gateway.scrape(job="sync_job", instance="t1")
    assert result.exit_code == 0, result.stderr
    assert pushed[LAST_OUTCOME][REFRESHED] == 1


def test_a_previous_file_it_cannot_read_is_replaced_with_a_warning_and_keeps_its_mode(
    harness: Harness, tmp_path: Path
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a mode-000 file")
    harness.add_env("sandbox")
    path = tmp_path / "sync_job.prom"
    path.write_text(FOREIGN + "\n")
    path.chmod(0o200)
    result = harness.cli("run", "--metrics-file", str(path))
    assert result.exit_code == 0, result.stderr
    assert (
        f"sync-job: warning: metrics: previous {path} unreadable (Permission denied), replaced"
        in result.stderr
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o200
