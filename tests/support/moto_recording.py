"""moto's server (every service) on 127.0.0.1, recording the body of each request it gets.

Where moto accepts a parameter but does not keep it (a Lambda function's DeadLetterConfig, for
one), the tests check what Terraform sent instead of what moto answers.
"""

from __future__ import annotations

import io
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

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MAX_RECORDED = 5000  # a whole apply and destroy makes a few hundred requests


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    target: str  # X-Amz-Target of JSON protocols ("" for REST and query protocols)
    body: bytes


class RecordingMotoServer(ThreadedMotoServer):
    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._record(app), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def _record(self, app: WsgiApp) -> WsgiApp:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            with self._lock:
                if len(self.requests) < MAX_RECORDED:
                    self.requests.append(
                        Request(
                            environ.get("REQUEST_METHOD", ""),
                            environ.get("PATH_INFO", ""),
                            environ.get("HTTP_X_AMZ_TARGET", ""),
                            body,
                        )
                    )
            return app(environ, start_response)

        return wrapped

    def find(self, method: str, path_prefix: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]
