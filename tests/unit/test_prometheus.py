"""sync_job.prometheus without servers: which samples a report gives, what carries over, and the
textfile's atomic write (checked with prometheus_client's own parser)."""

from __future__ import annotations

import os
import stat
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync_job import prometheus as prom
from sync_job.errors import UsageError
from sync_job.prometheus import (
    LAST_OUTCOME,
    LAST_SUCCESS,
    REQUEST_ATTEMPTS,
    REQUEST_LATENCY,
    RUN_DURATION,
    RUN_START,
    TOKEN_EXPIRY,
    TOKEN_REMAINING,
    Sinks,
    carry_over,
    run_samples,
    write_textfile,
)
from sync_job.report import EnvironmentResult, Outcome, Report

EXPIRY = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
START = 1_795_900_000.0


def env(name: str) -> tuple[tuple[str, str], ...]:
    return (("environment", name),)


def outcome_key(name: str, outcome: str) -> tuple[tuple[str, str], ...]:
    return (("environment", name), ("outcome", outcome))


def refreshed(name: str = "sandbox") -> EnvironmentResult:
    return EnvironmentResult(name, Outcome.REFRESHED, EXPIRY, 3500.5, None, 2, 0.25)


def failed(name: str = "production") -> EnvironmentResult:
    return EnvironmentResult(name, Outcome.FAILED, error="invalid_client", attempts=1)


def parse(text: str) -> dict[str, dict[Any, float]]:
    out: dict[str, dict[Any, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_samples_of_a_refresh_and_a_failure() -> None:
    fresh = EnvironmentResult("staging", Outcome.FRESH, EXPIRY, 1200.0)
    report = Report(results=(refreshed(), failed(), fresh))
    s = run_samples(report, started_at=START, duration_seconds=1.5)
    assert s[RUN_START] == {(): START}
    assert s[RUN_DURATION] == {(): 1.5}
    assert s[LAST_OUTCOME][outcome_key("sandbox", "refreshed")] == 1
    assert s[LAST_OUTCOME][outcome_key("sandbox", "failed")] == 0
    assert s[LAST_OUTCOME][outcome_key("production", "failed")] == 1
    assert s[LAST_OUTCOME][outcome_key("staging", "fresh")] == 1
    assert len(s[LAST_OUTCOME]) == 3 * len(prom.OUTCOMES)
    assert s[LAST_SUCCESS] == {env("sandbox"): START, env("staging"): START}
    assert s[TOKEN_EXPIRY] == {env("sandbox"): EXPIRY.timestamp(), env("staging"): EXPIRY.timestamp()}
    assert s[TOKEN_REMAINING] == {env("sandbox"): 3500.5, env("staging"): 1200.0}
    assert s[REQUEST_ATTEMPTS] == {env("sandbox"): 2, env("production"): 1, env("staging"): 0}
    # no request on the fresh path, no latency recorded for the failed one: absent, not 0
    assert s[REQUEST_LATENCY] == {env("sandbox"): 0.25}


def test_dry_run_produces_nothing() -> None:
    result = EnvironmentResult("sandbox", Outcome.WOULD_REFRESH, EXPIRY, 10.0)
    assert run_samples(Report(results=(result,), dry_run=True), started_at=START, duration_seconds=1) == {}


class NewOutcome(StrEnum):  # an outcome added to report.Outcome but not yet to OUTCOMES
    POSTPONED = "postponed"


def test_an_unlisted_outcome_still_gets_its_one() -> None:
    new = EnvironmentResult("sandbox", NewOutcome.POSTPONED, EXPIRY, 100.0)  # type: ignore[arg-type]
    bad = EnvironmentResult("production", Outcome.FAILED)
    s = run_samples(Report(results=(new, bad)), started_at=START, duration_seconds=1)
    assert s[LAST_OUTCOME][outcome_key("sandbox", "postponed")] == 1
    assert s[LAST_OUTCOME][outcome_key("production", "postponed")] == 0
    assert s[LAST_OUTCOME][outcome_key("production", "failed")] == 1
    assert sum(s[LAST_OUTCOME].values()) == 2
    from prometheus_client import generate_latest

    assert 'outcome="postponed"' in generate_latest(prom.registry(s)).decode()


def test_every_outcome_but_the_dry_run_is_listed_and_kept_is_a_success() -> None:
    assert set(prom.OUTCOMES) == {str(o) for o in Outcome} - {"would_refresh"}
    kept = EnvironmentResult("a", Outcome.KEPT, EXPIRY, 100.0, None, 1, 0.1)
    deferred = EnvironmentResult("b", Outcome.DEFERRED, EXPIRY, 100.0)
    s = run_samples(Report(results=(kept, deferred)), started_at=START, duration_seconds=1)
    assert s[LAST_SUCCESS] == {env("a"): START}  # deferred: the due refresh did not happen
    assert s[TOKEN_EXPIRY] == {env("a"): EXPIRY.timestamp(), env("b"): EXPIRY.timestamp()}
    assert s[LAST_OUTCOME][outcome_key("b", "deferred")] == 1


def test_nan_and_infinite_values_are_left_out() -> None:
    odd = EnvironmentResult("sandbox", Outcome.REFRESHED, EXPIRY, float("nan"), None, 1, float("inf"))
    s = run_samples(Report(results=(odd,)), started_at=START, duration_seconds=1)
    assert s[TOKEN_REMAINING] == {}
    assert s[REQUEST_LATENCY] == {}


def test_carry_over_is_per_metric_and_environment() -> None:
    previous = run_samples(
        Report(results=(refreshed(), refreshed("production"))), started_at=1.0, duration_seconds=1
    )
    previous[LAST_OUTCOME][outcome_key("sandbox", "retired_outcome")] = 0.0
    current = run_samples(Report(results=(refreshed(), failed())), started_at=2.0, duration_seconds=1)
    merged = carry_over(current, previous)
    assert merged[RUN_START] == {(): 2.0}  # run metrics are never carried
    assert merged[LAST_SUCCESS] == {env("sandbox"): 2.0, env("production"): 1.0}
    assert merged[TOKEN_EXPIRY][env("production")] == EXPIRY.timestamp()
    assert merged[REQUEST_LATENCY][env("production")] == 0.25
    assert merged[REQUEST_ATTEMPTS][env("production")] == 1  # produced by the failed run
    # sandbox's outcomes were produced this run: the stale label goes with the old ones
    assert outcome_key("sandbox", "retired_outcome") not in merged[LAST_OUTCOME]
    # an environment absent from the run keeps everything
    only_other = carry_over(
        run_samples(Report(results=(failed("staging"),)), started_at=3.0, duration_seconds=1), merged
    )
    assert only_other[LAST_SUCCESS] == {env("sandbox"): 2.0, env("production"): 1.0}


def test_textfile_round_trip_and_carry_over(tmp_path: Path) -> None:
    path = tmp_path / "sync_job.prom"
    assert (
        write_textfile(
            path,
            run_samples(
                Report(results=(refreshed(), refreshed("production"))), started_at=1.0, duration_seconds=1
            ),
        )
        == []
    )
    assert (
        write_textfile(
            path, run_samples(Report(results=(refreshed(), failed())), started_at=2.0, duration_seconds=1)
        )
        == []
    )
    m = parse(path.read_text())
    assert m[LAST_SUCCESS] == {env("sandbox"): 2.0, env("production"): 1.0}
    assert m[LAST_OUTCOME][outcome_key("production", "failed")] == 1
    assert m[TOKEN_EXPIRY][env("production")] == EXPIRY.timestamp()
    assert os.listdir(tmp_path) == ["sync_job.prom"]


def test_unreadable_previous_file_is_a_warning_and_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "sync_job.prom"
    path.write_bytes(b"\xff\xfe not a metrics file {{{\n")
    warnings = write_textfile(
        path, run_samples(Report(results=(failed(),)), started_at=2.0, duration_seconds=1)
    )
    assert len(warnings) == 1 and "nothing carried over" in warnings[0]
    assert parse(path.read_text())[LAST_OUTCOME][outcome_key("production", "failed")] == 1


def test_textfile_is_written_beside_and_renamed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector must never read half a file: the bytes go to a temporary file in the same
    folder (same filesystem), then one rename(2) replaces the target."""
    path = tmp_path / "sync_job.prom"
    path.write_text("# old\n")
    renames: list[tuple[str, str, str]] = []
    real_rename = os.rename

    def spy(src: str, dst: str) -> None:
        renames.append((src, dst, Path(dst).read_text()))  # the target, just before the rename
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    write_textfile(path, run_samples(Report(results=(refreshed(),)), started_at=1.0, duration_seconds=1))
    [(src, dst, before)] = renames
    assert dst == str(path) and Path(src).parent == tmp_path and src != dst
    assert before == "# old\n"
    assert "sync_job_last_outcome" in path.read_text()


def test_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sync_job.prom"
    path.write_text("# old\n")

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken)
    with pytest.raises(OSError, match="No space"):
        write_textfile(path, run_samples(Report(results=(refreshed(),)), started_at=1.0, duration_seconds=1))
    assert path.read_text() == "# old\n"
    assert os.listdir(tmp_path) == ["sync_job.prom"]


def test_export_reports_a_write_failure_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken)
    sinks = Sinks(metrics_file=str(tmp_path / "m.prom"))
    warnings, errors = sinks.export(Report(results=(refreshed(),)), started_at=1.0, duration_seconds=1)
    assert warnings == []
    assert errors == [f"metrics: could not write {tmp_path / 'm.prom'}: [Errno 28] No space left on device"]


def test_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Sinks.from_options(None, None, None) is None
    sinks = Sinks.from_options(str(tmp_path / "m.prom"), "127.0.0.1:9091", None)
    assert sinks is not None and sinks.instance  # the hostname
    assert Sinks.from_options(None, "https://127.0.0.1:9091", "cron-a") == Sinks(
        None, "https://127.0.0.1:9091", "cron-a"
    )
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(UsageError, match=r"pip install 'sync-job\[prometheus\]'") as info:
        Sinks.from_options(None, "127.0.0.1:9091", None)
    assert info.value.exit_code == 2


def test_hand_edited_lines_in_the_previous_file_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "sync_job.prom"
    path.write_text(
        'sync_job_last_success_timestamp_seconds{environment="a"} 5\n'
        'sync_job_last_success_timestamp_seconds{environment="b",team="x"} 6\n'
        "sync_job_token_expiry_timestamp_seconds 7\n"
        'other_metric{environment="c"} 8\n'
    )
    assert (
        write_textfile(path, run_samples(Report(results=(failed(),)), started_at=2.0, duration_seconds=1))
        == []
    )
    m = parse(path.read_text())
    assert m[LAST_SUCCESS] == {env("a"): 5.0}
    assert TOKEN_EXPIRY not in m and "other_metric" not in m


def test_the_cli_does_not_import_prometheus_client_unless_asked() -> None:
    import subprocess

    code = "import sys, sync_job.cli, sync_job.lambda_handler; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_a_previous_file_that_cannot_be_opened_is_replaced_with_a_warning_and_keeps_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EACCES reading it back (root reads anything, so the refusal is simulated here; the
    integration test covers it for other users): a warning, the file replaced, its mode kept."""
    path = tmp_path / "sync_job.prom"
    path.write_text("Bearer LEAKMARK-other-app-0123456789\n")
    path.chmod(0o640)
    real_open = os.open

    def refusing(file: str, flags: int, *args: int) -> int:
        if os.fspath(file) == os.fspath(path) and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(13, "Permission denied")
        return real_open(file, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    warnings = write_textfile(
        path, run_samples(Report(results=(failed(),)), started_at=2.0, duration_seconds=1)
    )
    assert warnings == [f"previous {path} unreadable (Permission denied), replaced; nothing carried over"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert "LEAKMARK" not in path.read_text()


def test_a_push_stuck_where_no_socket_deadline_reaches_is_given_up_on() -> None:
    """A transport that never returns (as a gateway name that never resolves would: getaddrinfo
    cannot be cut): push still ends by its deadline plus PUSH_STRAGGLER_SECONDS."""
    import threading
    import time

    from sync_job.transport import HttpRequest, HttpResponse

    release = threading.Event()

    class Stuck:
        def send(self, request: HttpRequest) -> HttpResponse:
            release.wait(30)
            raise AssertionError("released")

    samples = run_samples(Report(results=(refreshed(),)), started_at=1.0, duration_seconds=1)
    started = time.monotonic()
    try:
        with pytest.raises(
            prom.PushError, match=r"^no answer within the push deadline of 1 s \(0 of 2 groups pushed\)$"
        ):
            prom.push("http://127.0.0.1:9", samples, instance="t", timeout=1.0, transport=Stuck())
    finally:
        release.set()
    assert time.monotonic() - started < 1.0 + prom.PUSH_STRAGGLER_SECONDS + 0.3
