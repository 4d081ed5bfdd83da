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
from dataclasses import dataclass
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
from sync_job.oauth import MAX_BODY_BYTES, TokenResponse, backoff_seconds, build_request, parse_response
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

__all__ = ["FetchResult", "TokenClient", "build_session", "environment_settings"]

log = logging.getLogger("sync_job.oauth")


@dataclass(frozen=True)
class FetchResult:
    """What one environment's token requests did. ``token`` and ``issued_at`` (UTC, taken just
    before the successful request was sent) are set on success, ``error`` otherwise (the one
    that ended the attempts: after more than one transient failure its message says how many);
    ``attempts`` counts the requests sent, ``latency_seconds`` the last one's duration."""

    attempts: int
    latency_seconds: float | None = None
    token: TokenResponse | None = None
    issued_at: datetime | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class Attempt:
    """One attempt: ``sent`` is False when pacing refused it before a request went out (the
    run's deadline, a host closed by a 429); else ``latency_seconds`` is the request's duration
    and either ``token``/``issued_at`` or ``error`` is set."""

    sent: bool
    latency_seconds: float | None = None
    token: TokenResponse | None = None
    issued_at: datetime | None = None
    error: SyncJobError | None = None


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may help: a :class:`TokenRequestError` marked ``transient``
    (a timeout, a 5xx, a 429, a throttled KMS or STS call). RFC 6749 §5.2 errors are final."""
    return isinstance(exc, TokenRequestError) and exc.transient


def final_error(exc: SyncJobError, attempts: int) -> SyncJobError:
    """The error that ends ``attempts`` requests: after more than one transient failure, a new
    error of the same kind that says how many were spent; otherwise ``exc`` itself."""
    if is_transient(exc) and attempts > 1:
        return exc.reworded(f"{exc.message} (gave up after {attempts} attempts)")
    return exc


@dataclass(frozen=True)
class RetryPolicy:
    """When ``env``'s token requests are tried again (tenacity's ``stop`` and ``wait``): at most
    ``max_attempts``; never a sleep the run cannot afford (the sleep plus one request's
    ``timeout_seconds`` past ``deadline``, on ``clock``'s monotonic scale); none once SIGTERM or
    SIGINT came; each wait full-jitter backoff (``oauth.backoff_seconds``), never shorter than
    the server's ``Retry-After`` (RFC 9110 §10.2.3)."""

    env: EnvironmentConfig
    deadline: float
    clock: Clock
    random: Any

    def stop(self, state: RetryCallState) -> bool:
        if waits.interrupted() is not None:
            return True
        if state.attempt_number >= self.env.max_attempts:
            return True
        remaining = self.deadline - self.clock.monotonic()
        return state.upcoming_sleep + self.env.timeout_seconds > remaining

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        floor = getattr(exc, "retry_after", None) or 0.0
        jitter = backoff_seconds(
            state.attempt_number,
            self.env.backoff_initial_seconds,
            self.env.backoff_max_seconds,
            self.random.random(),
        )
        return max(floor, jitter)

    def before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log_event(
            log,
            logging.WARNING,
            "token.retry",
            environment=self.env.name,
            attempt=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            error=str(exc),
        )


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
        """One token, or the error that ended the attempts (:func:`final_error`); ``deadline``
        is on the clock's monotonic scale. Never raises a :class:`SyncJobError`: the result
        carries it with the number of requests sent. Retried as :class:`RetryPolicy` says; a
        retry's sleep is cut short by SIGTERM/SIGINT, and the attempt it followed then stands."""
        policy = RetryPolicy(env, deadline, self._clock, self._random)
        retrying = Retrying(
            stop=policy.stop,
            wait=policy.wait,
            retry=retry_if_exception(is_transient),
            sleep=self._sleep,
            before_sleep=policy.before_sleep,
            reraise=True,
        )
        sent = 0
        latency: float | None = None
        last: Attempt | None = None
        try:
            for attempt in retrying:
                with attempt:
                    if last is not None and last.error is not None and waits.interrupted() is not None:
                        raise last.error  # the sleep was cut short: no request after a signal
                    last = self._attempt(env, creds, deadline)
                    sent += last.sent
                    latency = last.latency_seconds if last.sent else latency
                    if last.error is not None:
                        raise last.error
        except SyncJobError as exc:
            return FetchResult(attempts=sent, latency_seconds=latency, error=final_error(exc, sent))
        assert last is not None and last.token is not None
        return FetchResult(attempts=sent, latency_seconds=latency, token=last.token, issued_at=last.issued_at)

    def _sleep(self, seconds: float) -> None:
        """A retry's sleep; SIGTERM/SIGINT cut it short (the next attempt then sends nothing)."""
        waits.sleep(self._clock, seconds)

    def _attempt(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> Attempt:
        """One paced request and its judged answer. A 429 closes the host to this run's
        requests for its ``Retry-After`` (else ``rate_limit_lockout_seconds``)."""
        try:
            self._pacer.acquire(
                env.origin,
                host=env.host,
                rate=env.rate_limit_per_second,
                burst=env.rate_limit_burst,
                latest_start=deadline - env.timeout_seconds,
            )
        except SyncJobError as exc:
            return Attempt(sent=False, error=exc)
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
        except RateLimitedError as exc:
            wait = exc.retry_after if exc.retry_after is not None else env.rate_limit_lockout_seconds
            self._pacer.close(env.origin, wait)
            return Attempt(sent=True, latency_seconds=self._clock.monotonic() - started, error=exc)
        except SyncJobError as exc:
            return Attempt(sent=True, latency_seconds=self._clock.monotonic() - started, error=exc)
        latency = self._clock.monotonic() - started
        return Attempt(sent=True, latency_seconds=latency, token=token, issued_at=issued_at)

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
