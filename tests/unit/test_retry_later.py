"""`Job.run` trying an environment again later in the run after its host failed: one result, one
log line and one progress call per environment, whatever the clock, an interrupt or the budget
does (a hostile review's cases). In-memory store, fakes.FakeTokenSource; the real Job."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from standins.fakes import FakeTokenSource, ManualClock, SecretsFake, issued, stored_payload
from sync_job.clock import Clock, SystemClock
from sync_job.config import Config, EnvironmentConfig, parse_config
from sync_job.credentials import Credentials
from sync_job.errors import TokenRequestError
from sync_job.payload import TokenPayload
from sync_job.redact import Secret
from sync_job.report import EnvironmentResult, Outcome
from sync_job.store import CURRENT_STAGE, PublishResult, StoredToken
from sync_job.sync import Interrupt, Job
from sync_job.token_client import FetchResult


class _Store(SecretsFake):
    """Token secrets in a dict; ``publish_delay`` holds one publish back (real seconds)."""

    def __init__(self, payloads: dict[str, TokenPayload], publish_delay: float = 0.0) -> None:
        self.current = dict(payloads)
        self.publish_delay = publish_delay
        self.published: list[str] = []

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        assert stage == CURRENT_STAGE
        return StoredToken(self.current.get(secret_id), "v1")

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        return Credentials("cid", client_secret=Secret("sec-ret-value-1"), source=secret_id)

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        return 0

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        if self.publish_delay:
            time.sleep(self.publish_delay)
        self.current[secret_id] = payload
        self.published.append(secret_id)
        return PublishResult(published=True, version_id="v2")


def _host(
    clock: Clock,
    fail: Sequence[str] = ("a",),
    others_take: float = 0.3,
    *,
    always_fail: Sequence[str] = (),
    down_until: float = 0.0,
) -> FakeTokenSource:
    """A token host: the first request of each environment in ``fail`` is a 503, every other one
    a token; the others take ``others_take`` real seconds, so a failure is queued first."""

    def answer(env: EnvironmentConfig, n: int) -> FetchResult:
        down = clock.monotonic() < down_until or env.name in always_fail
        if down or (env.name in fail and n == 1):
            error = TokenRequestError("HTTP 503 from host", transient=True, status=503)
            return FetchResult(attempts=1, error=error)
        if env.name not in fail:
            time.sleep(others_take)
        return issued(clock, f"tok-new-{env.name}-0000")

    return FakeTokenSource(answer)


def _config(names: Sequence[str], *, one_host: bool = False, **defaults: Any) -> Config:
    envs = {
        n: {
            "token_url": "https://h.example/oauth2/token"
            if one_host
            else f"https://h-{n}.example/oauth2/token",
            "credentials_secret": f"c-{n}",
            "token_secret": f"t-{n}",
            "scopes": ["a"],
        }
        for n in names
    }
    return parse_config({"defaults": defaults, "environments": envs})


def _due(clock: Clock, names: Sequence[str]) -> dict[str, TokenPayload]:
    manual = clock if isinstance(clock, ManualClock) else ManualClock(clock.now())
    return {f"t-{n}": stored_payload(manual, 100) for n in names}


def _results_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage() == "sync.result"]


@pytest.mark.parametrize("failing", [("a",), ("a", "b")])
def test_idle_workers_do_not_each_move_a_manual_clock(failing: tuple[str, ...]) -> None:
    clock = ManualClock()
    names = ["a", "b", "c", "d"]
    host = _host(clock, fail=failing)
    config = _config(
        names, backoff_max_seconds=30, timeout_seconds=10, run_timeout_seconds=100, max_workers=4
    )
    job = Job(config=config, store=_Store(_due(clock, names)), tokens=host, clock=clock)
    started = clock.monotonic()
    report = job.run()
    assert {r.environment: str(r.outcome) for r in report.results} == dict.fromkeys(names, "refreshed")
    assert all(host.calls[n] == 2 for n in failing)
    # One retry 30 s after the failure: the clock moved by about that, not once per idle worker.
    assert 30 <= clock.monotonic() - started < 40


def test_sigterm_while_a_retry_waits_keeps_its_failure_and_returns_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SystemClock()
    config = _config(["a"], backoff_max_seconds=30, timeout_seconds=1, run_timeout_seconds=120)
    job = Job(config=config, store=_Store(_due(clock, ["a"])), tokens=_host(clock), clock=clock)
    interrupt = Interrupt()
    threading.Timer(0.3, lambda: interrupt.set("SIGTERM", clock.monotonic())).start()
    seen: list[EnvironmentResult] = []
    caplog.set_level(logging.INFO, logger="sync_job")
    started = time.monotonic()
    report = job.run(interrupt=interrupt, on_result=seen.append)
    assert time.monotonic() - started < 3  # not the 10 s grace: nothing was in flight
    (result,) = report.results
    assert result.outcome is Outcome.FAILED and result.attempts == 1 and "503" in (result.error or "")
    assert seen == [result]
    assert len(_results_logged(caplog)) == 1


def test_sigterm_inside_the_grace_of_a_short_retry_keeps_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SystemClock()
    config = _config(
        ["a"], backoff_initial_seconds=0.1, backoff_max_seconds=1, timeout_seconds=1, run_timeout_seconds=30
    )
    job = Job(config=config, store=_Store(_due(clock, ["a"])), tokens=_host(clock), clock=clock)
    interrupt = Interrupt()
    threading.Timer(0.3, lambda: interrupt.set("SIGTERM", clock.monotonic())).start()
    seen: list[EnvironmentResult] = []
    caplog.set_level(logging.INFO, logger="sync_job")
    (result,) = job.run(interrupt=interrupt, on_result=seen.append).results
    assert result.outcome is Outcome.FAILED and result.attempts == 1 and "503" in (result.error or "")
    assert seen == [result]
    assert len(_results_logged(caplog)) == 1


def test_a_retry_still_running_at_the_deadline_is_reported_once_as_unfinished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = SystemClock()
    store = _Store(_due(clock, ["a"]), publish_delay=2.5)
    config = _config(
        ["a"],
        backoff_initial_seconds=0.1,
        backoff_max_seconds=0.3,
        timeout_seconds=0.5,
        run_timeout_seconds=1.5,
    )
    job = Job(config=config, store=store, tokens=_host(clock), clock=clock)
    seen: list[EnvironmentResult] = []
    caplog.set_level(logging.INFO, logger="sync_job")
    (result,) = job.run(on_result=seen.append).results
    assert result.outcome is Outcome.FAILED
    assert "did not finish within the run's budget" in (result.error or "")
    time.sleep(2.5)  # the abandoned publish finishes: nothing more is reported or logged
    assert store.published == ["t-a"]
    assert seen == [result] and len(_results_logged(caplog)) == 1


def test_a_lone_environment_gets_its_token_when_the_host_is_back_within_the_run() -> None:
    """The host is down for the run's first 20 s: the first round fails, the second, 30 s later,
    gets the token. Before, the environment waited for the next run."""
    clock = ManualClock()
    host = _host(clock, fail=(), down_until=clock.monotonic() + 20)
    config = _config(["a"], backoff_max_seconds=30, timeout_seconds=10, run_timeout_seconds=290)
    job = Job(config=config, store=_Store(_due(clock, ["a"])), tokens=host, clock=clock)
    (result,) = job.run().results
    assert result.outcome is Outcome.REFRESHED
    assert host.calls["a"] == 2 and result.attempts == 2


def test_a_host_down_for_the_whole_run_gets_two_rounds_only() -> None:
    clock = ManualClock()
    host = _host(clock, fail=(), down_until=float("inf"))
    config = _config(["a"], backoff_max_seconds=30, timeout_seconds=10, run_timeout_seconds=290)
    job = Job(config=config, store=_Store(_due(clock, ["a"])), tokens=host, clock=clock)
    (result,) = job.run().results
    assert result.outcome is Outcome.FAILED and host.calls["a"] == 2
    assert (result.error or "").endswith("; tried again later in the run")
