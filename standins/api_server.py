"""A tiny API on 127.0.0.1 that a token consumer calls: 200 to ``Bearer <token>`` for a token in
``accepted``, else 401 with ``WWW-Authenticate: Bearer error="invalid_token"``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ApiServer:
    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.seen: list[tuple[str, str | None, bytes]] = []  # (method, Authorization, body)
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization")
                with api._lock:
                    api.seen.append((self.command, auth, body))
                    ok = auth is not None and auth.startswith("Bearer ") and auth[7:] in api.accepted
                answer = b'{"ok": true}' if ok else b'{"error": "invalid_token"}'
                self.send_response(200 if ok else 401)
                if not ok:
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.url = f"http://{host!s}:{port}/v2/profiles"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def auths(self) -> list[str | None]:
        with self._lock:
            return [auth for _, auth, _ in self.seen]

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
