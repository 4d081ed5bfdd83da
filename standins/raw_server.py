"""A deliberately misbehaving HTTP peer on 127.0.0.1, built on raw sockets.

Real HTTP servers are too well behaved to test a client's time bounds: they never trickle a
status line or flood ``100 Continue``. This one does exactly what its script says, byte by byte,
one thread per connection. Each accepted connection takes the next :class:`Play` from the
script (or the default play): the server reads the request (head and ``Content-Length`` body,
when the play reads at all), then plays it.

Every loop is bounded twice: by ``stop()`` (which also shuts every client socket, so it returns
at once) and by ``Play.cap_seconds``. The server counts the connections and requests it saw.

It is TokenServer-like (``.url``, a no-op ``add_client``), so ``Harness.add_env(server=...)``
can point an environment at it; usable as ``AWS_ENDPOINT_URL`` too (``.endpoint``)::

    with RawServer(Play.trickle(head + body, start=len(head), interval=0.5)) as raw:
        harness.add_env("sandbox", server=raw)
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

__all__ = ["Play", "RawServer", "Unaccepting", "response"]

MAX_REQUEST_BYTES = 1 << 20  # a request head + body larger than this is not read further
DEFAULT_CAP_SECONDS = 30.0  # no play lasts longer than this, stopped or not

PlayKind = Literal["send", "trickle", "repeat", "hang", "silent"]


def response(
    status: int | str,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    *,
    reason: str = "X",
    length: bool = True,
) -> bytes:
    """A raw HTTP/1.1 response: status line, ``headers`` in order (plus ``Content-Length`` of
    ``body`` when ``length`` and none was given, and ``Connection: close``), blank line, body.
    Header text is encoded as latin-1 (what HTTP/1.1 allows on the wire)."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    given = {name.lower() for name, _ in headers}
    lines += [f"{name}: {value}" for name, value in headers]
    if length and "content-length" not in given and "transfer-encoding" not in given:
        lines.append(f"Content-Length: {len(body)}")
    if "connection" not in given:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Play:
    """What the server does on one connection. Build with the static constructors.

    * ``send``: write ``data`` at once, then close.
    * ``trickle``: write ``data[:start]`` at once, then one byte every ``interval`` seconds.
    * ``repeat``: write ``data`` at once (a prefix), then ``unit`` every ``interval`` seconds.
    * ``hang``: write ``data`` at once, then keep the connection open and say nothing more.
    * ``silent``: accept and never read nor write (a black hole).

    Every play but ``silent`` first reads the request. Each ends when the server stops or after
    ``cap_seconds``; then the connection is closed.
    """

    kind: PlayKind
    data: bytes = b""
    unit: bytes = b""
    start: int = 0
    interval: float = 0.5
    cap_seconds: float = DEFAULT_CAP_SECONDS

    @staticmethod
    def send(data: bytes) -> Play:
        return Play("send", data=data)

    @staticmethod
    def trickle(data: bytes, *, start: int = 0, interval: float = 0.5) -> Play:
        return Play("trickle", data=data, start=start, interval=interval)

    @staticmethod
    def repeat(unit: bytes, *, prefix: bytes = b"", interval: float = 0.05) -> Play:
        return Play("repeat", data=prefix, unit=unit, interval=interval)

    @staticmethod
    def hang(data: bytes = b"") -> Play:
        return Play("hang", data=data)

    @staticmethod
    def silent() -> Play:
        return Play("silent")


class RawServer:
    """Listens on 127.0.0.1 (an OS-chosen port); see the module docstring."""

    def __init__(
        self, default: Play | None = None, *, scheme: str = "http", path: str = "/oauth2/token"
    ) -> None:
        self.default = default or Play.silent()
        self._scheme = scheme
        self._path = path
        self._script: collections.deque[Play] = collections.deque()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.first_connection_at: float | None = None  # time.monotonic() of the first accept
        self._seen = threading.Condition(self._lock)
        self._acceptor = threading.Thread(target=self._accept, name="raw-server-accept", daemon=True)

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.endpoint}{self._path}"

    def start(self) -> RawServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every play and close every connection; returns within ~1 s."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 1.0
        for thread in [self._acceptor, *threads]:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- scripting and counters -------------------------------------------------------------------

    def script(self, plays: Iterable[Play]) -> None:
        """Plays for the next connections, in order; later ones get ``default``."""
        with self._lock:
            self._script.extend(plays)

    def add_client(self, client_id: str, client_secret: str, **_: object) -> None:
        """TokenServer compatibility: a raw server authenticates no one."""

    def wait_for(self, *, connections: int = 0, requests: int = 0, timeout: float = 10.0) -> bool:
        """Block until at least this many connections and requests were seen (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while self.connections < connections or self.requests < requests:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._seen.wait(left)
        return True

    # --- the connections --------------------------------------------------------------------------

    def _accept(self) -> None:
        self._listener.settimeout(0.1)  # wake up to notice stop()
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._stop.is_set():
                    conn.close()
                    return
                self.connections += 1
                if self.first_connection_at is None:
                    self.first_connection_at = time.monotonic()
                self._seen.notify_all()
                play = self._script.popleft() if self._script else self.default
                self._conns.add(conn)
                thread = threading.Thread(target=self._serve, args=(conn, play), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, play: Play) -> None:
        ends = time.monotonic() + play.cap_seconds
        try:
            if play.kind != "silent" and self._read_request(conn, ends):
                with self._lock:
                    self.requests += 1
                    self._seen.notify_all()
            if play.kind == "silent":
                self._wait(ends - time.monotonic())
            elif play.kind == "send":
                conn.sendall(play.data)
            elif play.kind == "hang":
                conn.sendall(play.data)
                self._wait(ends - time.monotonic())
            elif play.kind == "trickle":
                conn.sendall(play.data[: play.start])
                for i in range(play.start, len(play.data)):
                    if not self._wait(min(play.interval, ends - time.monotonic())):
                        break
                    conn.sendall(play.data[i : i + 1])
            elif play.kind == "repeat":
                conn.sendall(play.data)
                while self._wait(min(play.interval, ends - time.monotonic())):
                    conn.sendall(play.unit)
        except OSError:
            pass  # the client gave up (that is what the tests want to see)
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when the server stopped or the time is not positive."""
        if seconds <= 0:
            return False
        return not self._stop.wait(seconds)

    def _read_request(self, conn: socket.socket, ends: float) -> bool:
        """Read one request head and its Content-Length body; True when a full head arrived."""
        data = b""
        conn.settimeout(0.2)
        while b"\r\n\r\n" not in data:
            if self._stop.is_set() or time.monotonic() >= ends or len(data) > MAX_REQUEST_BYTES:
                return False
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                with contextlib.suppress(ValueError):
                    length = min(int(value.strip()), MAX_REQUEST_BYTES)
        while len(body) < length and not self._stop.is_set() and time.monotonic() < ends:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            body += chunk
        conn.settimeout(None)
        return True


class Unaccepting:
    """A port on 127.0.0.1 that listens and never accepts, its queue already full: a client's
    connect() then hangs (Linux drops the SYN), as behind a saturated or filtering peer.
    TokenServer-like (``.url``, ``add_client``)."""

    def __init__(self, *, path: str = "/oauth2/token") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._fillers: list[socket.socket] = []
        for _ in range(4):  # backlog 0 still queues one or two; these take every place
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def add_client(self, client_id: str, client_secret: str, **_: object) -> None:
        """TokenServer compatibility: nothing ever gets this far."""

    def stop(self) -> None:
        for sock in [*self._fillers, self._listener]:
            with contextlib.suppress(OSError):
                sock.close()
