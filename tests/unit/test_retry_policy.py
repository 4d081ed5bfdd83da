"""The token client's retry decisions as pure pieces (issue 17 §2: a flat loop, no exception
edited after it is raised): ``is_transient``, ``final_error`` and ``RetryPolicy``."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tenacity import RetryCallState, Retrying

from standins.fakes import ManualClock, env_config
from sync_job.errors import (
    DeadlineError,
    InvalidTokenResponse,
    OAuthError,
    RateLimitedError,
    SigningError,
    TokenRequestError,
)
from sync_job.token_client import RetryPolicy, final_error, is_transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TokenRequestError("no answer from h within 5 s", transient=True), True),
        (TokenRequestError("TLS error talking to h"), False),
        (RateLimitedError("h answered 429", transient=True, retry_after=3.0), True),
        (InvalidTokenResponse("h answered HTTP 502 without a token", transient=True, status=502), True),
        (OAuthError("refused: invalid_client", error="invalid_client", status=401), False),
        (SigningError("kms:Sign throttled", transient=True), True),
        (DeadlineError("the run's budget cannot fit another request"), False),
        (ValueError("a library's own"), False),
    ],
)
def test_is_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_final_error_is_a_new_error_of_the_same_kind_and_facts() -> None:
    raised = RateLimitedError("h answered 429", transient=True, retry_after=7.0, status=429)
    final = final_error(raised, attempts=3)
    assert final is not raised
    assert type(final) is RateLimitedError
    assert str(final) == "h answered 429 (gave up after 3 attempts)"
    assert final.args == ("h answered 429 (gave up after 3 attempts)",)
    assert isinstance(final, RateLimitedError)
    assert (final.transient, final.retry_after, final.status) == (True, 7.0, 429)
    # The raised one is never edited: whoever logged or holds it keeps what it said.
    assert str(raised) == "h answered 429"
    assert raised.args == ("h answered 429",)


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (TokenRequestError("no answer from h within 5 s", transient=True), 1),
        (OAuthError("refused: invalid_client", error="invalid_client"), 3),
        (DeadlineError("the run's budget cannot fit another request"), 2),
    ],
)
def test_final_error_is_the_error_itself_after_one_attempt_or_a_final_answer(
    error: Any, attempts: int
) -> None:
    assert final_error(error, attempts) is error


def _state(attempt_number: int, upcoming_sleep: float) -> RetryCallState:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt_number
    state.upcoming_sleep = upcoming_sleep
    return state


@pytest.mark.parametrize(
    ("attempt_number", "sleep", "remaining", "stop"),
    [
        (1, 1.0, 100.0, False),  # room for the sleep and one more request
        (4, 1.0, 100.0, False),
        (5, 1.0, 100.0, True),  # max_attempts = 5 spent
        (1, 1.0, 6.0, False),  # 1 s sleep + 5 s timeout = 6 s: just fits
        (1, 1.0, 5.9, True),  # would sleep into a request the run cannot afford
        (2, 30.0, 20.0, True),
    ],
)
def test_stop_counts_attempts_and_the_deadline(
    attempt_number: int, sleep: float, remaining: float, stop: bool
) -> None:
    clock = ManualClock()
    env = env_config("sandbox", max_attempts=5, timeout_seconds=5.0)
    policy = RetryPolicy(env, clock.monotonic() + remaining, clock, random.Random(1))
    assert policy.stop(_state(attempt_number, sleep)) is stop


def test_wait_is_never_shorter_than_retry_after() -> None:
    clock = ManualClock()
    env = env_config("sandbox", backoff_initial_seconds=0.5, backoff_max_seconds=2.0)
    policy = RetryPolicy(env, clock.monotonic() + 100, clock, random.Random(1))
    state = _state(1, 0.0)
    state.set_exception((RateLimitedError, RateLimitedError("429", transient=True, retry_after=12.0), None))
    assert policy.wait(state) == 12.0
    state = _state(1, 0.0)
    state.set_exception((TokenRequestError, TokenRequestError("5xx", transient=True), None))
    assert 0.0 <= policy.wait(state) <= 2.0
