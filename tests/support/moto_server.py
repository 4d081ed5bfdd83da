"""moto's server on 127.0.0.1 behind a thin WSGI layer, in this process or in a process of its own.

The layer sees every request on the wire, so calls made by the job's subprocesses count too:

* it counts Secrets Manager calls by action and ``SecretId`` (``calls``, ``count``, ``clear``);
* it answers chosen calls with an AWS error (``inject``), or holds one in flight (``hold``);
* with ``record=True`` it keeps every request's body, of any service (``requests``, ``find``):
  where moto accepts a parameter but does not keep it, a test checks what was sent instead.

``MotoServer(process=True)`` runs the same server as ``python -m tests.support.moto_server``, for
benchmarks: moto's CPU then competes with nobody's GIL. ``calls``, ``count``, ``clear`` and
``inject`` then go over HTTP to ``CONTROL_PATH``; ``hold`` and ``find`` are in-process only (their
events and bodies live in the server's process).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

__all__ = ["CONTROL_PATH", "Call", "CountingMotoServer", "MotoRequest", "MotoServer"]

ROOT = Path(__file__).resolve().parents[2]
CONTROL_PATH = "/_sync_job_test/calls"
MAX_RECORDED = 5000  # a whole Terraform apply and destroy makes a few hundred requests
HOLD_LIMIT_S = 30  # a held call is released after this long even if the test never does
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AMZ_JSON = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class Call:
    action: str  # e.g. "GetSecretValue"
    secret_id: str | None


@dataclass(frozen=True)
class MotoRequest:
    method: str
    path: str
    target: str  # X-Amz-Target of JSON protocols ("" for REST and query protocols)
    body: bytes


@dataclass
class _Injection:
    action: str
    code: str
    secret_id: str | None = None
    times: int = 1
    status: int = 400
    message: str = "injected by the test"
    # True: moto applies the call, then its answer is replaced by the error (an answer lost
    # after AWS applied the write: a 5xx or a dropped connection after the commit).
    apply: bool = False


def _follow_awscurrent(body: bytes) -> None:
    """moto 5 keeps a secret's "default version" where PutSecretValue left it when
    UpdateSecretVersionStage moves AWSCURRENT, and answers BatchGetSecretValue (which takes no
    VersionStage) and later PutSecretValue calls from that stale version; AWS has no such thing:
    both act on AWSCURRENT. Moving the default with the label makes moto answer as AWS does."""
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    try:
        request = json.loads(body)
    except ValueError:
        return
    if request.get("VersionStage") != "AWSCURRENT" or not request.get("MoveToVersionId"):
        return
    version = request["MoveToVersionId"]
    for account in secretsmanager_backends.values():
        for backend in account.values():
            try:
                secret = backend.secrets[request.get("SecretId")]
            except KeyError:
                continue
            if not isinstance(secret, FakeSecret) or version not in secret.versions:
                continue
            if "AWSCURRENT" in secret.versions[version]["version_stages"]:
                secret.default_version_id = version


def _answer(
    start_response: Callable[..., Any], status: str, body: bytes, *headers: tuple[str, str]
) -> list[bytes]:
    start_response(status, [("Content-Length", str(len(body))), *headers])
    return [body]


class _Threaded(ThreadedMotoServer):
    """moto's own threaded server, with ``wrap`` put around its WSGI application."""

    def __init__(self, wrap: Callable[[WsgiApp], WsgiApp]) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._wrap = wrap

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._wrap(app), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoServer:
    """moto on 127.0.0.1 with counting, error injection, holding and recording (module docstring)."""

    def __init__(self, *, process: bool = False, record: bool = False) -> None:
        self.process = process
        self.record = record
        self.endpoint = ""
        self.requests: list[MotoRequest] = []  # with record=True, in-process
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        # action -> (arrived, release): a held call waits, then is answered 500 without moto.
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self._threaded: _Threaded | None = None
        self._proc: subprocess.Popen[str] | None = None

    # -- lifecycle

    def start(self) -> MotoServer:
        if self.process:
            command = [
                sys.executable,
                "-m",
                "tests.support.moto_server",
                *(["--record"] if self.record else []),
            ]
            # stdin stays open while this process lives: the child stops at EOF if we die first.
            self._proc = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline().strip()  # bounded: the child prints it once listening
            if not line.startswith("http://127.0.0.1:"):
                self._proc.kill()
                raise RuntimeError("the moto process did not start")
            self.endpoint = line
        else:
            self._threaded = _Threaded(self._middleware)
            self._threaded.start()
            host, port = self._threaded.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._threaded is not None:
            self.clear()  # releases held calls, so the server's threads can finish
            self._threaded.stop()
            self._threaded = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the tests ask

    @property
    def calls(self) -> list[Call]:
        """The Secrets Manager calls seen since the last ``clear``, in order of arrival."""
        if self._proc is not None:
            return [Call(action, secret_id) for action, secret_id in self._control("GET")]
        with self._lock:
            return list(self._calls)

    def count(self, action: str | None = None, secret_id: str | None = None) -> int:
        """Secrets Manager calls seen (of ``action``, on ``secret_id``, when given)."""
        return sum(
            1
            for c in self.calls
            if (action is None or c.action == action) and (secret_id is None or c.secret_id == secret_id)
        )

    def clear(self) -> None:
        """Forget calls, recorded requests and injections; release held calls."""
        if self._proc is not None:
            self._control("DELETE")
            return
        with self._lock:
            self._calls.clear()
            self.requests.clear()
            self._injections.clear()
            for _, release in self._holds.values():
                release.set()
            self._holds.clear()

    def inject(
        self,
        action: str,
        code: str,
        *,
        secret_id: str | None = None,
        times: int = 1,
        status: int = 400,
        message: str = "injected by the test",
        apply: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``action`` (on ``secret_id``) with AWS error ``code``;
        with ``apply``, moto carries each call out first (the answer lost, the write done)."""
        injection = _Injection(action, code, secret_id, times, status, message, apply)
        if self._proc is not None:
            self._control("POST", asdict(injection))
            return
        with self._lock:
            self._injections.append(injection)

    def hold(self, action: str) -> tuple[threading.Event, threading.Event]:
        """Hold every ``action`` call in flight; returns (arrived, release) events. Once released
        (or after HOLD_LIMIT_S) the call is answered 500, as if its caller had been killed."""
        if self._proc is not None:
            raise RuntimeError("hold() needs the in-process server: events do not cross processes")
        events = (threading.Event(), threading.Event())
        with self._lock:
            self._holds[action] = events
        return events

    def find(self, method: str, path_prefix: str) -> list[MotoRequest]:
        """Recorded requests (``record=True``) of ``method`` whose path starts with ``path_prefix``."""
        if not self.record or self._proc is not None:
            raise RuntimeError("find() needs MotoServer(record=True) in this process")
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- the WSGI layer

    def _middleware(self, app: WsgiApp) -> WsgiApp:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if environ.get("PATH_INFO") == CONTROL_PATH:
                return self._serve_control(environ.get("REQUEST_METHOD", "GET"), body, start_response)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            with self._lock:
                if self.record and len(self.requests) < MAX_RECORDED:
                    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
                    self.requests.append(MotoRequest(method, path, target, body))
            if not target.startswith("secretsmanager."):
                return app(environ, start_response)
            try:
                secret_id = json.loads(body or b"{}").get("SecretId")
            except ValueError:
                secret_id = None
            action = target.split(".", 1)[1]
            with self._lock:
                self._calls.append(Call(action, secret_id))
                injection = self._take(action, secret_id)
                hold = self._holds.get(action)
            if hold is not None:
                arrived, release = hold
                arrived.set()
                release.wait(timeout=HOLD_LIMIT_S)
                # The caller was killed while this call was in flight: it never reaches moto.
                dropped = b'{"__type": "InternalServiceError", "message": "dropped by the test"}'
                return _answer(start_response, "500 Dropped", dropped, ("Content-Type", AMZ_JSON))
            if injection is not None and injection.apply:
                for _ in app(environ, lambda *args, **kwargs: None):
                    pass  # applied; its answer never reaches the caller
                if action == "UpdateSecretVersionStage":
                    _follow_awscurrent(body)
            if injection is not None:
                error = json.dumps({"__type": injection.code, "message": injection.message}).encode()
                return _answer(
                    start_response,
                    f"{injection.status} Injected",
                    error,
                    ("Content-Type", AMZ_JSON),
                    ("x-amzn-ErrorType", injection.code),
                )
            answer = app(environ, start_response)
            if action == "UpdateSecretVersionStage":
                _follow_awscurrent(body)
            return answer

        return wrapped

    def _take(self, action: str, secret_id: str | None) -> _Injection | None:
        for injection in self._injections:
            if (
                injection.times > 0
                and injection.action == action
                and injection.secret_id in (None, secret_id)
            ):
                injection.times -= 1
                return injection
        return None

    def _serve_control(self, method: str, body: bytes, start_response: Callable[..., Any]) -> list[bytes]:
        # The process mode's remote control: GET the calls, DELETE to clear, POST an injection.
        if method == "DELETE":
            self.clear()
        elif method == "POST":
            self.inject(**json.loads(body))
        answer = json.dumps([[c.action, c.secret_id] for c in self.calls]).encode()
        return _answer(start_response, "200 OK", answer, ("Content-Type", "application/json"))

    def _control(self, method: str, doc: dict[str, Any] | None = None) -> Any:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(self.endpoint + CONTROL_PATH, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            return json.loads(answer.read())


# The names this class had when there were several wrappers; tests written against them still run.
CountingMotoServer = MotoServer


def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.moto_server")
    parser.add_argument("--record", action="store_true", help="keep every request's body")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    server = MotoServer(record=args.record).start()
    print(server.endpoint, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def stop_at_eof() -> None:  # EOF on stdin: the parent is gone; no orphan outlives its benchmark
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    _serve()
