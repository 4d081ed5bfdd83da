"""`sync-job run --metrics-file/--pushgateway` across the real wire: moto's server, the local token
endpoint, the real CLI, node_exporter-format files parsed back with prometheus_client's parser,
and a real Pushgateway (Debian's prometheus-pushgateway) on 127.0.0.1."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from standins import pushgateway as pg
from standins.harness import Harness
from standins.token_server import Fault
from sync_job.prometheus import (
    LAST_OUTCOME,
    LAST_SUCCESS,
    REQUEST_ATTEMPTS,
    REQUEST_LATENCY,
    RUN_DURATION,
    RUN_START,
    TOKEN_EXPIRY,
    TOKEN_REMAINING,
)
from sync_job.timeutil import parse_rfc3339

Scraped = dict[str, dict[tuple[tuple[str, str], ...], float]]
# Added by the Pushgateway to every group, not by the job.
PUSHGATEWAY_OWN = {"push_time_seconds", "push_failure_time_seconds"}


def read_textfile(path: Path) -> Scraped:
    out: Scraped = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def env(name: str) -> tuple[tuple[str, str], ...]:
    return (("environment", name),)


def outcomes(m: Scraped, name: str) -> dict[str, float]:
    return {dict(k)["outcome"]: v for k, v in m[LAST_OUTCOME].items() if dict(k)["environment"] == name}


def only(outcome: str) -> dict[str, float]:
    """Every outcome label 0 but ``outcome``."""
    return {o: float(o == outcome) for o in ("refreshed", "fresh", "kept", "deferred", "failed")}


def stored_expiry(harness: Harness, name: str) -> float:
    doc = harness.stored(name)
    assert doc is not None
    return parse_rfc3339(doc["expires_at"]).timestamp()


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[pg.Pushgateway]:
    path = pg.binary()
    if path is None:
        pytest.skip(
            "prometheus-pushgateway not installed (apt-get install prometheus-pushgateway; .ci/run does)"
        )
    with pg.Pushgateway(path, tmp_path / "pushgateway.log") as gateway:
        yield gateway


def test_textfile_matches_the_stored_tokens_and_keeps_what_a_failed_run_lacks(
    harness: Harness, tmp_path: Path
) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    prom = tmp_path / "textfile" / "sync_job.prom"
    prom.parent.mkdir()

    before = time.time()
    first = harness.cli("run", "--metrics-file", str(prom))
    after = time.time()
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("ENVIRONMENT")  # the run's own output is intact
    assert sorted(p.name for p in prom.parent.iterdir()) == ["sync_job.prom"]  # no temporary left
    m = read_textfile(prom)
    start = m[RUN_START][()]
    assert before <= start <= after
    assert 0 < m[RUN_DURATION][()] <= after - before
    for name in ("sandbox", "production"):
        expiry = stored_expiry(harness, name)
        assert m[TOKEN_EXPIRY][env(name)] == expiry
        # remaining life as of the end of the environment's refresh, within the run
        assert expiry - after - 1 <= m[TOKEN_REMAINING][env(name)] <= expiry - start + 1
        assert outcomes(m, name) == only("refreshed")
        assert m[LAST_SUCCESS][env(name)] == start
        assert m[REQUEST_ATTEMPTS][env(name)] == harness.token_requests(name) == 1
        assert 0 < m[REQUEST_LATENCY][env(name)] < m[RUN_DURATION][()]

    # production's client secret is now refused: its run fails, sandbox is force-refreshed.
    harness.tokens.script(harness.client_id("production"), [Fault.oauth_error(401, "invalid_client")])
    second = harness.cli("run", "--force", "--json", "--metrics-file", str(prom))
    assert second.exit_code == 1
    assert {r["environment"]: r["outcome"] for r in second.json()["results"]} == {
        "sandbox": "refreshed",
        "production": "failed",
    }
    m2 = read_textfile(prom)
    start2 = m2[RUN_START][()]
    assert start2 > start
    # (the same whole second as before when both refreshes fall in one second: issued_at is floored)
    assert (
        m2[TOKEN_EXPIRY][env("sandbox")]
        == stored_expiry(harness, "sandbox")
        >= m[TOKEN_EXPIRY][env("sandbox")]
    )
    assert m2[LAST_SUCCESS][env("sandbox")] == start2
    assert outcomes(m2, "production") == only("failed")
    assert m2[REQUEST_ATTEMPTS][env("production")] == harness.token_requests("production") - 1
    # Not produced by the failed run, so carried over: still the truth about the stored token.
    assert m2[LAST_SUCCESS][env("production")] == start
    assert m2[TOKEN_EXPIRY][env("production")] == stored_expiry(harness, "production")
    assert m2[TOKEN_EXPIRY][env("production")] == m[TOKEN_EXPIRY][env("production")]
    # the refused request's own duration (the result carries it) or, if not, the last one's
    assert m2[REQUEST_LATENCY][env("production")] > 0

    # A run of sandbox alone leaves production's metrics as they were.
    third = harness.cli("run", "--env", "sandbox", "--metrics-file", str(prom))
    assert third.exit_code == 0, third.stderr
    m3 = read_textfile(prom)
    assert outcomes(m3, "sandbox") == only("fresh")
    assert m3[REQUEST_ATTEMPTS][env("sandbox")] == 0
    assert m3[LAST_SUCCESS][env("sandbox")] == m3[RUN_START][()] > start2
    assert m3[REQUEST_LATENCY][env("sandbox")] == m2[REQUEST_LATENCY][env("sandbox")]
    for metric in (LAST_OUTCOME, LAST_SUCCESS, TOKEN_EXPIRY, TOKEN_REMAINING, REQUEST_ATTEMPTS):
        production = {k: v for k, v in m3[metric].items() if ("environment", "production") in k}
        assert production == {k: v for k, v in m2[metric].items() if ("environment", "production") in k}


def test_pushgateway_receives_the_same_metrics_and_keeps_the_last_success(
    harness: Harness, tmp_path: Path, pushgateway: pg.Pushgateway
) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    prom = tmp_path / "sync_job.prom"
    sinks = ("--metrics-file", str(prom), "--pushgateway", pushgateway.url, "--metrics-instance", "runner-1")

    first = harness.cli("run", *sinks)
    assert first.exit_code == 0, first.stderr
    pushed = pushgateway.scrape(job="sync_job", instance="runner-1")
    assert {name: v for name, v in pushed.items() if name not in PUSHGATEWAY_OWN} == read_textfile(prom)
    # one group for the run, one per environment
    assert set(pushed["push_time_seconds"]) == {(), env("production"), env("sandbox")}
    assert pushed[TOKEN_EXPIRY][env("sandbox")] == stored_expiry(harness, "sandbox")
    start = pushed[RUN_START][()]

    harness.tokens.script(harness.client_id("production"), [Fault.oauth_error(401, "invalid_client")])
    second = harness.cli("run", "--force", *sinks)
    assert second.exit_code == 1
    pushed2 = pushgateway.scrape(job="sync_job", instance="runner-1")
    assert {name: v for name, v in pushed2.items() if name not in PUSHGATEWAY_OWN} == read_textfile(prom)
    assert pushed2[RUN_START][()] > start
    assert pushed2[LAST_OUTCOME][(("environment", "production"), ("outcome", "failed"))] == 1
    # POST, not PUT: the failed run did not erase production's last success or expiry.
    assert pushed2[LAST_SUCCESS][env("production")] == start
    assert pushed2[TOKEN_EXPIRY][env("production")] == stored_expiry(harness, "production")
    assert pushed2[LAST_SUCCESS][env("sandbox")] == pushed2[RUN_START][()]


def test_pushgateway_instance_defaults_to_the_hostname(harness: Harness, pushgateway: pg.Pushgateway) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--pushgateway", pushgateway.url)
    assert result.exit_code == 0, result.stderr
    pushed = pushgateway.scrape(job="sync_job", instance=socket.gethostname())
    assert pushed[LAST_OUTCOME][(("environment", "sandbox"), ("outcome", "refreshed"))] == 1


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_push_failure_is_one_line_and_exit_1_after_the_full_result(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    prom = tmp_path / "sync_job.prom"
    url = f"http://127.0.0.1:{closed_port()}"
    result = harness.cli("run", "--json", "--metrics-file", str(prom), "--pushgateway", url)
    assert result.exit_code == 1
    assert [r["outcome"] for r in result.json()["results"]] == ["refreshed"]
    assert harness.stored("sandbox") is not None
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(f"sync-job: error: metrics: could not push to {url}: ")
    assert "refused" in result.error_lines[0].lower()
    # the textfile, written before the push, is there
    assert read_textfile(prom)[LAST_OUTCOME][(("environment", "sandbox"), ("outcome", "refreshed"))] == 1


def test_textfile_write_failure_is_one_line_and_exit_1(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    folder = tmp_path / "textfile"
    folder.mkdir()
    prom = folder / "sync_job.prom"
    # The folder exists when the options are checked (before the run) and is removed while the
    # token request is held open by the endpoint, so the write after the run fails.
    harness.tokens.script(harness.client_id("sandbox"), [Fault.hang(1.0)])

    def remove_when_requested() -> None:
        deadline = time.monotonic() + 20
        while harness.token_requests("sandbox") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        folder.rmdir()

    remover = threading.Thread(target=remove_when_requested)
    remover.start()
    try:
        result = harness.cli("run", "--metrics-file", str(prom))
    finally:
        remover.join(25)
    assert not folder.exists()
    assert result.exit_code == 1
    assert "refreshed" in result.stdout  # the run's own result is printed in full
    assert harness.stored("sandbox") is not None
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(f"sync-job: error: metrics: could not write {prom}: ")


def test_missing_extra_is_a_usage_error_before_any_request(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.add_env("sandbox")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # `import prometheus_client` fails
    for option in (("--metrics-file", str(tmp_path / "m.prom")), ("--pushgateway", "http://127.0.0.1:9")):
        result = harness.cli("run", *option)
        assert result.exit_code == 2
        assert result.error_lines == [
            f"sync-job: error: {option[0]} needs prometheus_client: pip install 'sync-job[prometheus]'"
        ]
        assert result.stdout == ""
    assert harness.token_requests("sandbox") == 0
    assert not (tmp_path / "m.prom").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--metrics-instance", "x"), "--metrics-instance needs --pushgateway"),
        (("--metrics-file", "m.prom", "--metrics-instance", "x"), "--metrics-instance needs --pushgateway"),
        (
            ("--metrics-file", "/nonexistent-dir/m.prom"),
            "--metrics-file: folder /nonexistent-dir does not exist",
        ),
        (("--pushgateway", "ftp://127.0.0.1:9091"), "--pushgateway: expected http(s)://HOST[:PORT]"),
        (
            ("--pushgateway", "http://u:p@127.0.0.1:9091"),
            "--pushgateway: credentials in the URL are not supported",
        ),
        (
            ("--pushgateway", "127.0.0.1:9", "--metrics-instance", " "),
            "--metrics-instance is empty; give one printable name without spaces (at most 256 characters), "
            "e.g. the host's name",
        ),
    ],
)
def test_bad_metrics_options_exit_2_before_any_request(
    harness: Harness, args: tuple[str, ...], message: str
) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", *args)
    assert result.exit_code == 2
    assert result.error_lines == [f"sync-job: error: {message}"]
    assert harness.token_requests("sandbox") == 0


def test_dry_run_writes_no_metrics(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    prom = tmp_path / "sync_job.prom"
    result = harness.cli("run", "--dry-run", "--metrics-file", str(prom))
    assert result.exit_code == 0, result.stderr
    assert "would_refresh" in result.stdout
    assert "sync-job: warning: metrics: dry run, nothing written or pushed" in result.stderr
    assert not prom.exists()


def test_metrics_file_from_the_installed_command(harness: Harness, tmp_path: Path) -> None:
    """The console-script path in its own process: no traceback, the file parses."""
    harness.add_env("sandbox")
    prom = tmp_path / "sync_job.prom"
    result = harness.cli_process("run", "--metrics-file", str(prom))
    assert result.exit_code == 0, result.stderr
    m = read_textfile(prom)
    assert m[TOKEN_EXPIRY][env("sandbox")] == stored_expiry(harness, "sandbox")
