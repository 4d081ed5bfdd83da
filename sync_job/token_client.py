"""Sends token requests over HTTP: paced per host, retried on transient faults (tenacity),
each request bounded as a whole, every attempt bounded by the run's deadline. The RFC 6749 rules
it applies live in ``oauth.py``; the session it sends them with is built here too.

Kept apart from ``oauth.py`` so that a run whose tokens are all fresh (most runs) never imports
requests or tenacity: the Lambda's cold start pays for them only when a refresh is due.

Why a watchdog: urllib3's read timeout applies to each socket read, so a server that trickles
its status line, headers or body a byte at a time (or sends ``100 Continue`` over and over)
could hold a request forever. urllib3's documentation suggests a second thread that cuts off a
slow request; here each request's sockets are registered as they are created (or reused) and
shut down when the request's own deadline passes, which ends any blocked read at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random as _random
import socket
import threading
import time
import urllib.request
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sync_job.clock import Clock
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import InvalidTokenResponse, RateLimitedError, SyncJobError, TokenRequestError
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

log = logging.getLogger("sync_job.oauth")

# --- whole-request deadlines ---------------------------------------------------------------------

_local = threading.local()


class _Watch:
    """The sockets of one request; :meth:`expire` shuts them all down (and any added later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False
        self.done = False  # the request ended: the watchdog forgets it

    def finish(self) -> None:
        with self._lock:
            self.done = True

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:  # the request ended first: its sockets may serve another by now
                return
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)


class _Watchdog:
    """One daemon thread that expires each request's watch at its deadline (real monotonic
    time): a thread per request would cost more than the request on a fast host."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch, seconds: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._seq), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sync-job-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, _, watch = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                watch.expire()


_WATCHDOG = _Watchdog()


def _shutdown(sock: socket.socket) -> None:
    # shutdown(), not close(): it wakes a read blocked in another thread; the owner closes.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_local, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection reused for this request
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before the TLS handshake, which a server can trickle too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections whose sockets the current request's watch can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own pools
            manager.pool_classes_by_scheme = _POOLS
        return manager


def build_session(pool_size: int) -> requests.Session:
    """A session for token requests: a pool of ``pool_size`` kept-alive connections per token
    host (the most requests a host can have in flight, ``factory._requests_in_flight_per_host``:
    urllib3 fills each new pool to this size, a cost paid for every host a run meets, and logs a
    warning for each connection past it); no urllib3 retries (tenacity owns retrying, so every
    attempt is paced and counted).

    ``trust_env`` is off: requests would otherwise read ``~/.netrc`` and put its credentials in
    the Authorization header of a token request, and it would read the proxy variables and the
    CA bundle again for every request. :func:`environment_settings` reads those once per token
    host instead, as requests does."""
    session = requests.Session()
    session.trust_env = False
    adapter = _WatchedAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_ENVIRONMENT = requests.Session()  # never sends: it only reads the environment the way requests does


def environment_settings(url: str) -> tuple[dict[str, str], bool | str]:
    """The proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) and the TLS ``verify`` setting
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's bundle) requests would use for
    ``url``, read with requests' own code. Never the ``~/.netrc`` credentials."""
    settings = _ENVIRONMENT.merge_environment_settings(url, {}, None, None, None)
    proxies: dict[str, str] = dict(settings["proxies"])
    verify: bool | str = True if settings["verify"] is None else settings["verify"]
    return proxies, verify


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
        self._session = session
        self._clock = clock
        self._pacer = pacer or HostPacer(clock)
        self._random = random or _random.Random()
        # environment_settings per token URL (the environment does not change during a run), or
        # once for all of them when no proxy variable is set: NO_PROXY then has nothing to exempt.
        self._per_url = bool(urllib.request.getproxies())
        self._environment: dict[str, tuple[dict[str, str], bool | str]] = {}
        self._environment_lock = threading.Lock()

    def _environment_for(self, url: str) -> tuple[dict[str, str], bool | str]:
        key = url if self._per_url else ""
        with self._environment_lock:
            found = self._environment.get(key)
        if found is None:
            found = environment_settings(url)
            with self._environment_lock:
                self._environment[key] = found
        return found

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        """One token, or the error that ended the attempts; ``deadline`` is on the clock's
        monotonic scale. Never raises a :class:`SyncJobError`: the result carries it with the
        number of requests sent."""
        attempts = 0
        last_latency: float | None = None

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
            if isinstance(exc, TokenRequestError) and exc.transient and attempts > 1:
                exc.message = f"{exc.message} (gave up after {attempts} attempts)"
                exc.args = (exc.message,)
            return FetchResult(attempts=attempts, latency_seconds=last_latency, error=exc)
        return FetchResult(attempts=attempts, latency_seconds=last_latency, token=token, issued_at=issued_at)

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
        watch = _Watch()
        _local.watch = watch
        _WATCHDOG.arm(watch, timeout)
        try:
            answer = self._exchange(env, url, headers, form, timeout)
            if watch.expired:
                # The cut can read as an end of file: headers ended early, a body without
                # Content-Length "complete". What arrived before the deadline is no answer.
                raise _too_slow(env, timeout)
            return answer
        except TokenRequestError:
            if watch.expired:
                raise _too_slow(env, timeout) from None
            raise
        except requests.exceptions.RequestException as exc:
            if watch.expired:
                raise _too_slow(env, timeout) from None
            raise _classify(env, exc, timeout) from None
        except (OSError, ValueError) as exc:
            # A socket shut down under a read can surface as a bare OSError or ValueError.
            if watch.expired:
                raise _too_slow(env, timeout) from None
            raise TokenRequestError(
                f"request to {env.host} failed: {type(exc).__name__}", transient=True
            ) from None
        finally:
            watch.finish()
            _local.watch = None

    def _exchange(
        self,
        env: EnvironmentConfig,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, str | list[str]],
        timeout: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        started = self._clock.monotonic()
        proxies, verify = self._environment_for(url)
        with self._session.post(
            url,
            data=form,
            headers=headers,
            timeout=(min(timeout, 5.0), timeout),
            allow_redirects=False,
            stream=True,
            proxies=proxies,
            verify=verify,
        ) as response:
            body = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                body.extend(chunk)
                if len(body) > MAX_BODY_BYTES:
                    raise InvalidTokenResponse(
                        f"{env.host} answered with more than {MAX_BODY_BYTES} bytes; not a token response",
                        status=response.status_code,
                    )
                if self._clock.monotonic() - started > timeout:
                    raise _too_slow(env, timeout)
            return response.status_code, response.headers, bytes(body)


def _too_slow(env: EnvironmentConfig, timeout: float) -> TokenRequestError:
    return TokenRequestError(f"no answer from {env.host} within {timeout:g} s", transient=True)


def _classify(
    env: EnvironmentConfig, exc: requests.exceptions.RequestException, timeout: float
) -> TokenRequestError:
    if isinstance(exc, requests.exceptions.SSLError):
        return TokenRequestError(f"TLS error talking to {env.host}; check its certificate and the CA bundle")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TokenRequestError(
            f"timed out connecting to {env.host} after {min(timeout, 5.0):g} s", transient=True
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TokenRequestError(f"no answer from {env.host} within {timeout:g} s", transient=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TokenRequestError(f"connection to {env.host} broke during the answer", transient=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return TokenRequestError(f"cannot reach {env.host}: {_root_cause(exc)}", transient=True)
    return TokenRequestError(f"request to {env.host} failed: {type(exc).__name__}", transient=True)


def _root_cause(exc: BaseException) -> str:
    seen = exc
    for _ in range(20):  # bounded: a chain is a handful deep
        nxt = seen.__cause__ or seen.__context__
        if nxt is None:
            break
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
