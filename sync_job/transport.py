"""The one HTTP transport every outbound call of the job goes through (token endpoints, RFC 7009
revocation, the Pushgateway): one method, :meth:`Transport.send`, bounded as a whole request,
woken by SIGTERM/SIGINT, with the answer's body capped.

Why a watchdog: urllib3's read timeout applies to each socket read, so a server that trickles
its status line, headers or body a byte at a time (or sends ``100 Continue`` over and over)
could hold a request forever. urllib3's documentation suggests a second thread that cuts off a
slow request; here each request's sockets are registered as they are created (or reused) and
shut down when the request's own deadline passes, or an interrupt in scope (``waits``) is set,
which ends any blocked read at once.
"""

from __future__ import annotations

import contextlib
import heapq
import http.cookiejar
import itertools
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sync_job import waits

# The longest a TCP (and TLS) connect may take inside a request's whole bound (seconds).
CONNECT_TIMEOUT_SECONDS: Final = 5.0

Form = Mapping[str, str | list[str]]


@dataclass(frozen=True)
class HttpRequest:
    """One request. ``timeout`` bounds it as a whole (connect, TLS, headers, body; seconds of
    real time); ``max_body`` caps the answer's body (bytes); ``interrupt_grace`` is how long it
    may go on after SIGTERM/SIGINT (seconds; None: the interrupt does not cut it). ``body`` is a
    form (sent ``application/x-www-form-urlencoded``) or raw bytes. Redirects are never followed."""

    method: str
    url: str
    headers: Mapping[str, str]
    timeout: float
    max_body: int
    body: Form | bytes | None = None
    interrupt_grace: float | None = 0.0


@dataclass(frozen=True)
class HttpResponse:
    """An answer: the status code, the headers (case-insensitive mapping), at most
    ``HttpRequest.max_body`` bytes of body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


TransportFault = Literal[
    "timeout",
    "interrupted",
    "too_large",
    "tls",
    "connect_timeout",
    "broken",
    "connection",
    "proxy",
    "failed",
]


class TransportError(Exception):
    """The request did not complete. ``fault``: ``timeout`` (the whole-request bound passed),
        ``interrupted`` (SIGTERM/SIGINT; ``detail`` names it), ``too_large`` (body over the cap;
        ``status`` is set), ``tls``, ``connect_timeout``, ``broken`` (the connection broke during the
        answer), ``connection`` (``detail``: refused, reset, name does not resolve, ...), ``proxy``
        (the proxy refused the tunnel; ``status`` is its HTTP status when it gave one), ``failed``
    (anything else; ``detail``: the exception's type name). Its text
        never holds server text, so it can be printed as is."""

    def __init__(self, fault: TransportFault, detail: str = "", *, status: int | None = None) -> None:
        super().__init__(f"{fault}: {detail}" if detail else fault)
        self.fault: TransportFault = fault
        self.detail = detail
        self.status = status


class Transport(Protocol):
    """Sends one HTTP request (``RequestsTransport``, and test fakes)."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """The answer, or raises :class:`TransportError`; returns or raises within
        ``request.timeout`` (plus a poll period) whatever the peer does."""
        ...


# --- whole-request deadlines ---------------------------------------------------------------------

_local = threading.local()


class _Watch:
    """The sockets of one request; :meth:`expire` shuts them all down (and any added later)."""

    def __init__(self, interrupt_grace: float | None) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired: TransportFault | None = None
        self.reason = ""
        self.done = False  # the request ended: the watchdog forgets it
        self.interrupt_grace = interrupt_grace
        self.interrupted_at: float | None = None  # real monotonic time the watchdog saw it

    def finish(self) -> None:
        with self._lock:
            self.done = True

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def expire(self, fault: TransportFault, reason: str = "") -> None:
        with self._lock:
            if self.done or self.expired:  # ended first: its sockets may serve another by now
                return
            self.expired = fault
            self.reason = reason
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)


class _Watchdog:
    """One daemon thread that expires each request's watch at its deadline or soon after an
    interrupt (real monotonic time): a thread per request would cost more than the request on
    a fast host. It wakes every ``waits.POLL_SECONDS`` while an interrupt scope is open."""

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

    def _interrupts(self, now: float) -> None:
        reason = waits.interrupted()
        if reason is None:
            return
        for _, _, watch in self._heap:
            if watch.done or watch.interrupt_grace is None:
                continue
            if watch.interrupted_at is None:
                watch.interrupted_at = now
            if now - watch.interrupted_at >= watch.interrupt_grace:
                watch.expire("interrupted", reason)

    def _loop(self) -> None:
        with self._cond:
            while True:
                while self._heap and (self._heap[0][2].done or self._heap[0][2].expired):
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                self._interrupts(now)
                when, _, watch = self._heap[0]
                wait = when - now
                if wait > 0:
                    self._cond.wait(min(wait, waits.POLL_SECONDS) if waits.active() else wait)
                    continue
                heapq.heappop(self._heap)
                watch.expire("timeout")


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
    """A session whose connections the watchdog can cut: a pool of ``pool_size`` kept-alive
    connections per host (urllib3 fills each new pool to this size, and logs a warning for each
    connection past it); no urllib3 retries (callers own retrying, so every attempt is paced and
    counted).

    ``trust_env`` is off: requests would otherwise read ``~/.netrc`` and put its credentials in
    the Authorization header, and it would read the proxy variables and the CA bundle again for
    every request. :func:`environment_settings` reads those once per host instead, as requests
    does."""
    session = requests.Session()
    session.trust_env = False
    # No cookie jar: one session serves every environment, so a cookie one client's answer set
    # would go with the next client's token request (issue 18 §5). RFC 6749 §4.4 needs none.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
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


@dataclass
class RequestsTransport:
    """:class:`Transport` over a requests session built by :func:`build_session` (streamed, so
    the body cap holds; the watchdog bounds the whole request). Thread-safe."""

    session: requests.Session
    # environment_settings per URL (the environment does not change during a run), or once for
    # all of them when no proxy variable is set: NO_PROXY then has nothing to exempt.
    _per_url: bool = field(default_factory=lambda: bool(urllib.request.getproxies()))
    _environment: dict[str, tuple[dict[str, str], bool | str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _environment_for(self, url: str) -> tuple[dict[str, str], bool | str]:
        key = url if self._per_url else ""
        with self._lock:
            found = self._environment.get(key)
        if found is None:
            found = environment_settings(url)
            with self._lock:
                self._environment[key] = found
        return found

    def send(self, request: HttpRequest) -> HttpResponse:
        """See :meth:`Transport.send`."""
        reason = waits.interrupted()
        if reason is not None and request.interrupt_grace is not None and request.interrupt_grace <= 0:
            raise TransportError("interrupted", reason)
        timeout = max(0.001, request.timeout)
        watch = _Watch(request.interrupt_grace)
        _local.watch = watch
        _WATCHDOG.arm(watch, timeout)
        try:
            answer = self._exchange(request, timeout, watch)
            if watch.expired:
                # The cut can read as an end of file: headers ended early, a body without
                # Content-Length "complete". What arrived before the deadline is no answer.
                raise TransportError(watch.expired, watch.reason)
            return answer
        except TransportError as exc:
            if watch.expired:
                raise TransportError(watch.expired, watch.reason) from None
            raise TransportError(exc.fault, exc.detail, status=exc.status) from None
        except requests.exceptions.RequestException as exc:
            if watch.expired:
                raise TransportError(watch.expired, watch.reason) from None
            raise _classify(exc) from None
        except (OSError, ValueError) as exc:
            # A socket shut down under a read can surface as a bare OSError or ValueError.
            if watch.expired:
                raise TransportError(watch.expired, watch.reason) from None
            raise TransportError("failed", type(exc).__name__) from None
        finally:
            watch.finish()
            _local.watch = None

    def _exchange(self, request: HttpRequest, timeout: float, watch: _Watch) -> HttpResponse:
        started = time.monotonic()
        proxies, verify = self._environment_for(request.url)
        with self.session.request(
            request.method,
            request.url,
            data=request.body,
            headers=dict(request.headers),
            timeout=(min(timeout, CONNECT_TIMEOUT_SECONDS), timeout),
            allow_redirects=False,
            stream=True,
            proxies=proxies,
            verify=verify,
        ) as response:
            body = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                body.extend(chunk)
                if len(body) > request.max_body:
                    raise TransportError("too_large", status=response.status_code)
                if watch.expired:
                    break
                if time.monotonic() - started > timeout:
                    raise TransportError("timeout")
            return HttpResponse(response.status_code, response.headers, bytes(body))


_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: ([1-5][0-9]{2})\b")


def _classify(exc: requests.exceptions.RequestException) -> TransportError:
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError("tls")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportError("connect_timeout")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportError("timeout")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return TransportError("broken")
    if isinstance(exc, requests.exceptions.ProxyError):
        # urllib3: "Tunnel connection failed: 407 Proxy Authentication Required" (the proxy's
        # answer to CONNECT); only the status is taken, never the text around it.
        answered = _TUNNEL_STATUS.search(str(exc))
        return TransportError("proxy", _root_cause(exc), status=int(answered.group(1)) if answered else None)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return TransportError("connection", _root_cause(exc))
    return TransportError("failed", type(exc).__name__)


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
