"""moto's Secrets Manager server on 127.0.0.1 with a thin WSGI layer in front that counts every
call on the wire (so subprocess runs are counted too) and can answer a call with an AWS error."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

CONTROL_PATH = "/_sync_job_test/calls"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Call:
    action: str  # e.g. "GetSecretValue"
    secret_id: str | None


@dataclass
class _Injection:
    action: str
    secret_id: str | None
    code: str
    message: str
    status: int
    remaining: int


class CountingMotoServer(ThreadedMotoServer):
    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        # action -> (arrived, release): a held call waits, then is dropped unanswered by moto.
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address,
            self._port,
            self._middleware(app),
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def _middleware(self, app: WsgiApp) -> WsgiApp:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == CONTROL_PATH:
                return self._control(environ, start_response)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if not target.startswith("secretsmanager."):
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            import io

            environ["wsgi.input"] = io.BytesIO(body)
            try:
                secret_id = json.loads(body or b"{}").get("SecretId")
            except ValueError:
                secret_id = None
            action = target.split(".", 1)[1]
            with self._lock:
                self.calls.append(Call(action, secret_id))
                injection = self._take(action, secret_id)
            hold = self._holds.get(action)
            if hold is not None:
                arrived, release = hold
                arrived.set()
                release.wait(timeout=30)
                # The caller was killed while this call was in flight: it never reaches moto.
                payload = b'{"__type": "InternalServiceError", "message": "dropped by the test"}'
                start_response(
                    "500 Dropped",
                    [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
                )
                return [payload]
            if injection is not None:
                payload = json.dumps({"__type": injection.code, "message": injection.message}).encode()
                start_response(
                    f"{injection.status} Injected",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(payload))),
                        ("x-amzn-ErrorType", injection.code),
                    ],
                )
                return [payload]
            return app(environ, start_response)

        return wrapped

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # For MotoProcess: the calls seen so far (GET) or forget them (DELETE).
        if environ.get("REQUEST_METHOD") == "DELETE":
            self.clear()
        with self._lock:
            body = json.dumps([[c.action, c.secret_id] for c in self.calls]).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _take(self, action: str, secret_id: str | None) -> _Injection | None:
        for inj in self._injections:
            if inj.remaining > 0 and inj.action == action and inj.secret_id in (None, secret_id):
                inj.remaining -= 1
                return inj
        return None

    def inject(
        self,
        action: str,
        code: str,
        *,
        secret_id: str | None = None,
        times: int = 1,
        status: int = 400,
        message: str = "injected by the test",
    ) -> None:
        """Answer the next ``times`` calls of ``action`` (on ``secret_id``) with an AWS error."""
        with self._lock:
            self._injections.append(_Injection(action, secret_id, code, message, status, times))

    def hold(self, action: str) -> tuple[threading.Event, threading.Event]:
        """Hold every ``action`` call in flight; returns (arrived, release) events."""
        events = (threading.Event(), threading.Event())
        with self._lock:
            self._holds[action] = events
        return events

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self._injections.clear()
            for _, release in self._holds.values():
                release.set()
            self._holds.clear()

    def count(self, action: str | None = None, secret_id: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for c in self.calls
                if (action is None or c.action == action) and (secret_id is None or c.secret_id == secret_id)
            )


class MotoProcess:
    """The same server in a process of its own, for benchmarks: its CPU then competes with
    nobody's GIL. Counts are read over HTTP (``CONTROL_PATH``)."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_server"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()  # bounded: the child prints it at start
        if not line.startswith("http://127.0.0.1:"):
            self._proc.kill()
            raise RuntimeError("moto process did not start")
        self.endpoint = line

    def start(self) -> MotoProcess:
        return self

    @property
    def calls(self) -> list[Call]:
        import urllib.request

        with urllib.request.urlopen(self.endpoint + CONTROL_PATH, timeout=10) as answer:
            return [Call(a, s) for a, s in json.loads(answer.read())]

    def clear(self) -> None:
        import urllib.request

        request = urllib.request.Request(self.endpoint + CONTROL_PATH, method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()

    def count(self, action: str | None = None, secret_id: str | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (action is None or c.action == action) and (secret_id is None or c.secret_id == secret_id)
        )

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except Exception:
            self._proc.kill()


def _serve() -> None:
    import logging
    import signal
    import sys

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = CountingMotoServer()
    server.start()
    print(server.endpoint, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    _serve()
