"""Sends token requests over HTTP: paced per host, retried on transient faults (tenacity),
each request bounded as a whole, every attempt bounded by the run's deadline. The RFC 6749 rules
it applies live in ``oauth.py``; the bounded HTTP transport it sends them with (the whole-request
watchdog, woken by SIGTERM/SIGINT) in ``transport.py``.

Kept apart from ``oauth.py`` so that a run whose tokens are all fresh (most runs) never imports
requests or tenacity: the Lambda's cold start pays for them only when a refresh is due.
"""

from __future__ import annotations

import logging
import random as _random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception

from sync_job import waits
from sync_job.clock import Clock
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import InvalidTokenResponse, RateLimitedError, SyncJobError, TokenRequestError
from sync_job.executor import INTERRUPT_GRACE_SECONDS
from sync_job.logs import log_event
from sync_job.oauth import (
    MAX_BODY_BYTES,
    FetchResult,
    TokenResponse,
    backoff_seconds,
    build_request,
    parse_response,
)
from sync_job.pacing import HostPacer
from sync_job.transport import (
    CONNECT_TIMEOUT_SECONDS,
    HttpRequest,
    RequestsTransport,
    Transport,
    TransportError,
    build_session,
    environment_settings,
)

__all__ = ["TokenClient", "build_session", "environment_settings"]

log = logging.getLogger("sync_job.oauth")

# --- the HTTP client ----------------------------------------------------------------------------


class TokenClient:
    """Sends token requests: paced per host, retried on transient faults, bounded by a deadline."""

    def __init__(
        self,
        session: requests.Session | Transport,
        clock: Clock,
        pacer: HostPacer | None = None,
        *,
        random: Any = None,
    ) -> None:
        # The one bounded transport (transport.py); a bare session is wrapped in it.
        self._transport: Transport = (
            RequestsTransport(session) if isinstance(session, requests.Session) else session
        )
        self._clock = clock
        self._pacer = pacer or HostPacer(clock)
        self._random = random or _random.Random()

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        """One token, or the error that ended the attempts; ``deadline`` is on the clock's
        monotonic scale. Never raises a :class:`SyncJobError`: the result carries it with the
        number of requests sent."""
        attempts = 0
        last_latency: float | None = None
        previous: list[BaseException] = []  # the attempt a retry sleep follows

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
                token = parse_response(
                    status,
                    headers,
                    body,
                    env=env,
                    issued_at=issued_at,
                    now=self._clock.now(),
                    show_server_text=creds.scrub_safe,
                )
                return token, issued_at
            except RateLimitedError as exc:
                wait = exc.retry_after if exc.retry_after is not None else env.rate_limit_lockout_seconds
                self._pacer.close(env.origin, wait)
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
            if waits.interrupted() is not None:  # SIGTERM/SIGINT: no further attempt
                return True
            if state.attempt_number >= env.max_attempts:
                return True
            remaining = deadline - self._clock.monotonic()
            # Give up now rather than sleep into a wait the run cannot afford.
            return state.upcoming_sleep + env.timeout_seconds > remaining

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            previous[:] = [exc] if exc is not None else []
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
            sleep=lambda seconds: self._sleep(seconds, previous),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            token, issued_at = retrying(attempt)
        except SyncJobError as exc:
            if isinstance(exc, TokenRequestError) and exc.transient and attempts > 1:
                exc.message = f"{exc.message} (gave up after {attempts} attempts)"
                exc.args = (exc.message,)
            return FetchResult(attempts=attempts, latency_seconds=last_latency, error=exc)
        return FetchResult(attempts=attempts, latency_seconds=last_latency, token=token, issued_at=issued_at)

    def _sleep(self, seconds: float, previous: list[BaseException]) -> None:
        """A retry's sleep, cut short by SIGTERM/SIGINT: the attempt it followed then stands as
        the result (raised again, so tenacity stops with it)."""
        if waits.sleep(self._clock, seconds) is not None and previous:
            raise previous[0]

    def post_form(
        self,
        env: EnvironmentConfig,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, str | list[str]],
        deadline: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One form POST to another endpoint of ``env``'s provider (RFC 7009 revocation): paced
        with the token requests of the same origin, bounded as a whole by ``timeout_seconds``
        (the watchdog), never retried here. Returns (status, headers, body of at most
        ``MAX_BODY_BYTES``); raises ``TokenRequestError`` (``transient`` when another attempt
        may help) and ``DeadlineError``/``RateLimitedError`` from pacing."""
        self._pacer.acquire(
            env.origin,
            host=env.host,
            rate=env.rate_limit_per_second,
            burst=env.rate_limit_burst,
            latest_start=deadline - env.timeout_seconds,
        )
        return self._send(env, url, headers, form)

    def _post(
        self, env: EnvironmentConfig, creds: Credentials, now: datetime
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers, form = build_request(env, creds, now)
        return self._send(env, env.token_url, headers, form)

    def _send(
        self,
        env: EnvironmentConfig,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, str | list[str]],
    ) -> tuple[int, Mapping[str, str], bytes]:
        timeout = env.timeout_seconds
        request = HttpRequest(
            method="POST",
            url=url,
            headers=headers,
            body=form,
            timeout=timeout,
            max_body=MAX_BODY_BYTES,
            # In flight when SIGTERM comes: the run's pool gives it this long (executor.py).
            interrupt_grace=INTERRUPT_GRACE_SECONDS,
        )
        try:
            answer = self._transport.send(request)
        except TransportError as exc:
            raise _token_error(env, exc, timeout) from None
        return answer.status, answer.headers, answer.body


def _token_error(env: EnvironmentConfig, exc: TransportError, timeout: float) -> TokenRequestError:
    """The transport's fault as the token request's error (one line, no server text)."""
    if exc.fault == "too_large":
        return InvalidTokenResponse(
            f"{env.host} answered with more than {MAX_BODY_BYTES} bytes; not a token response",
            status=exc.status,
        )
    if exc.fault == "tls":
        return TokenRequestError(f"TLS error talking to {env.host}; check its certificate and the CA bundle")
    if exc.fault == "connect_timeout":
        return TokenRequestError(
            f"timed out connecting to {env.host} after {min(timeout, CONNECT_TIMEOUT_SECONDS):g} s",
            transient=True,
        )
    if exc.fault == "timeout":
        return TokenRequestError(f"no answer from {env.host} within {timeout:g} s", transient=True)
    if exc.fault == "interrupted":
        return TokenRequestError(
            f"request to {env.host} cut short: interrupted by {exc.detail}", transient=True
        )
    if exc.fault == "broken":
        return TokenRequestError(f"connection to {env.host} broke during the answer", transient=True)
    if exc.fault == "proxy" and exc.status == 407:
        return TokenRequestError(
            f"the HTTPS proxy refused the tunnel to {env.host} (HTTP 407 Proxy Authentication "
            "Required); give the proxy's credentials in HTTPS_PROXY (http://user:password@proxy:port) "
            "or exempt the host in NO_PROXY",
            status=407,
        )
    if exc.fault == "proxy":
        shown = f"HTTP {exc.status}" if exc.status else exc.detail
        return TokenRequestError(
            f"cannot reach {env.host} through the proxy ({shown}); check HTTPS_PROXY, HTTP_PROXY "
            "and NO_PROXY",
            transient=True,
            status=exc.status,
        )
    if exc.fault == "connection":
        return TokenRequestError(f"cannot reach {env.host}: {exc.detail}", transient=True)
    return TokenRequestError(f"request to {env.host} failed: {exc.detail or exc.fault}", transient=True)
