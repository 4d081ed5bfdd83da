"""Sends token requests over HTTP: paced per host, retried on transient faults (tenacity),
bounded by the run's deadline. The RFC 6749 rules it applies live in ``oauth.py``.

Kept apart from ``oauth.py`` so that a run whose tokens are all fresh (most runs) never imports
requests or tenacity: the Lambda's cold start pays for them only when a refresh is due.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception

from sync_job.clock import Clock
from sync_job.config import EnvironmentConfig
from sync_job.errors import InvalidTokenResponse, RateLimitedError, SyncJobError, TokenRequestError
from sync_job.logs import log_event
from sync_job.oauth import (
    MAX_BODY_BYTES,
    Credentials,
    FetchResult,
    TokenResponse,
    backoff_seconds,
    build_request,
    parse_response,
)
from sync_job.pacing import HostPacer

log = logging.getLogger("sync_job.oauth")


# --- the HTTP client ----------------------------------------------------------------------------


class TokenClient:
    """Sends token requests: paced per host, retried on transient faults, bounded by a deadline."""

    def __init__(
        self,
        session: requests.Session,
        clock: Clock,
        pacer: HostPacer | None = None,
        *,
        random: Any = None,
    ) -> None:
        import random as _random

        self._session = session
        self._clock = clock
        self._pacer = pacer or HostPacer(clock)
        self._random = random or _random.Random()

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        """One token, or the error that ended the attempts (its ``attempts`` set)."""
        attempts = 0
        last_latency = 0.0

        def attempt() -> tuple[TokenResponse, datetime]:
            nonlocal attempts, last_latency
            self._pacer.acquire(
                env.origin,
                host=env.host,
                rate=env.rate_limit_per_second,
                burst=env.rate_limit_burst,
                latest_start=deadline - env.timeout_seconds,
            )
            attempts += 1
            issued_at = self._clock.now()
            started = self._clock.monotonic()
            try:
                status, headers, body = self._post(env, creds, issued_at)
                return (
                    parse_response(
                        status, headers, body, env=env, issued_at=issued_at, now=self._clock.now()
                    ),
                    issued_at,
                )
            except RateLimitedError as exc:
                self._pacer.close(env.origin, exc.retry_after or env.rate_limit_lockout_seconds)
                raise
            finally:
                last_latency = self._clock.monotonic() - started

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            floor = getattr(exc, "retry_after", None) or 0.0
            jitter = backoff_seconds(
                state.attempt_number,
                env.backoff_initial_seconds,
                env.backoff_max_seconds,
                self._random.random(),
            )
            return max(floor, jitter)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= env.max_attempts:
                return True
            remaining = deadline - self._clock.monotonic()
            # Give up now rather than sleep into a wait the run cannot afford.
            return state.upcoming_sleep + env.timeout_seconds > remaining

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log_event(
                log,
                logging.WARNING,
                "token.retry",
                environment=env.name,
                attempt=state.attempt_number,
                wait_seconds=round(state.upcoming_sleep, 3),
                error=str(exc),
            )

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, TokenRequestError) and e.transient),
            sleep=self._clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            token, issued_at = retrying(attempt)
        except SyncJobError as exc:
            exc.attempts = attempts
            if isinstance(exc, TokenRequestError) and exc.transient and attempts > 1:
                exc.message = f"{exc.message} (gave up after {attempts} attempts)"
                exc.args = (exc.message,)
            raise
        return FetchResult(token, issued_at, attempts, last_latency)

    def _post(
        self, env: EnvironmentConfig, creds: Credentials, now: datetime
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers, form = build_request(env, creds, now)
        timeout = env.timeout_seconds
        started = self._clock.monotonic()
        try:
            with self._session.post(
                env.token_url,
                data=form,
                headers=headers,
                timeout=(min(timeout, 5.0), timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                body = bytearray()
                for chunk in response.iter_content(chunk_size=65536):
                    body.extend(chunk)
                    if len(body) > MAX_BODY_BYTES:
                        raise InvalidTokenResponse(
                            f"{env.host} answered with more than {MAX_BODY_BYTES} bytes; "
                            "not a token response",
                            status=response.status_code,
                        )
                    if self._clock.monotonic() - started > timeout:
                        raise TokenRequestError(
                            f"{env.host} did not finish its answer within {timeout:g} s",
                            transient=True,
                        )
                return response.status_code, response.headers, bytes(body)
        except requests.exceptions.SSLError:
            raise TokenRequestError(
                f"TLS error talking to {env.host}; check its certificate and the CA bundle"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise TokenRequestError(
                f"timed out connecting to {env.host} after {min(timeout, 5.0):g} s", transient=True
            ) from None
        except (requests.exceptions.ReadTimeout, TimeoutError):
            raise TokenRequestError(
                f"no answer from {env.host} within {timeout:g} s", transient=True
            ) from None
        except requests.exceptions.ChunkedEncodingError:
            raise TokenRequestError(
                f"connection to {env.host} broke during the answer", transient=True
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise TokenRequestError(f"cannot reach {env.host}: {_root_cause(exc)}", transient=True) from None
        except requests.exceptions.RequestException as exc:
            raise TokenRequestError(
                f"request to {env.host} failed: {type(exc).__name__}", transient=True
            ) from None


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    for text, label in (
        ("reset", "connection reset"),
        ("refused", "connection refused"),
        ("aborted", "connection aborted"),
        ("Name or service not known", "name does not resolve"),
        ("nodename nor servname", "name does not resolve"),
        ("RemoteDisconnected", "connection closed without an answer"),
    ):
        if text in repr(seen) or text in repr(exc):
            return label
    return type(seen).__name__
