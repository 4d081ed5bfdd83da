"""TokenReader and TokenAuth across real HTTP: moto's Secrets Manager server with the real boto3
client, and a local API server that refuses the old token (401) and accepts the new one (200)."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from sync_job.reader import TokenAuth, TokenExpiredError, TokenReader, TokenUnavailableError

REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's documented dummy value
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
T0 = datetime(2026, 11, 29, 0, 0, 1, tzinfo=UTC)
MARK = "TOKEN-MARKER-c41e"


# -- servers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sm_endpoint() -> Iterator[str]:
    """moto's Secrets Manager on 127.0.0.1, on a port the OS picks (port 0)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class WireCounter:
    """Counts GetSecretValue requests as botocore sends them (retries included) and keeps
    their bodies; ``delay`` holds each request back, to widen a race window."""

    def __init__(self, client: Any, delay: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delay = delay
        self._lock = threading.Lock()
        client.meta.events.register("before-send.secrets-manager.GetSecretValue", self)

    def __call__(self, request: Any, **kwargs: Any) -> None:
        with self._lock:
            self.bodies.append(json.loads(request.body))
        if self.delay:
            time.sleep(self.delay)
        # None: botocore goes on and sends the request.

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.bodies)


@pytest.fixture
def sm(sm_endpoint: str) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=sm_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


@pytest.fixture
def secret_name() -> str:
    return f"paxos/sandbox/access-token-{uuid.uuid4().hex[:8]}"


class Api:
    """A tiny API on 127.0.0.1: 200 to ``Bearer <token>`` for tokens in ``accepted``, else 401."""

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


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    server._thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    yield session
    session.close()


# -- helpers --------------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(token: str, expires_at: datetime) -> str:
    issued = expires_at - timedelta(seconds=3599)
    return json.dumps(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3599,
            "expires_at": stamp(expires_at),
            "issued_at": stamp(issued),
            "scope": "funding:read_profile transfer:read_transfer",
            "environment": "sandbox",
            "token_url": "https://oauth.sandbox.paxos.com/oauth2/token",
            "client_id": "client-id",
            "schema_version": 1,
            "expires_in_source": "server",
        }
    )


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


# -- TokenReader over the wire --------------------------------------------------------------------


def test_cache_over_the_wire_zero_calls_while_fresh_one_reread_after_expires_at_minus_skew(
    sm: Any, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", T0 + timedelta(seconds=3599)))
    wire = WireCounter(sm)
    clock = ManualClock(T0)
    reader = TokenReader(secret_name, sm, 60, clock=clock)

    assert reader.token() == f"{MARK}-1"
    assert wire.count == 1
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-2", T0 + timedelta(seconds=7199)))
    for seconds in (0, 10, 1800, 3538):
        clock.now = T0 + timedelta(seconds=seconds)
        assert reader.token() == f"{MARK}-1"
        assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}
    assert wire.count == 1, "no GetSecretValue on the wire while the cached token is fresh"

    clock.now = T0 + timedelta(seconds=3599 - 60)
    assert reader.token() == f"{MARK}-2"
    assert reader.token() == f"{MARK}-2"
    assert wire.count == 2, "exactly one re-read after expires_at - skew"
    assert wire.bodies == [{"SecretId": secret_name, "VersionStage": "AWSCURRENT"}] * 2


def test_reads_awscurrent_not_a_pending_version(sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-current", in_an_hour()))
    sm.put_secret_value(
        SecretId=secret_name,
        SecretString=payload(f"{MARK}-pending", in_an_hour()),
        VersionStages=["AWSPENDING"],
    )
    assert TokenReader(secret_name, sm).token() == f"{MARK}-current"


def test_sixteen_threads_make_one_get_secret_value_on_the_wire(sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    wire = WireCounter(sm, delay=0.2)
    reader = TokenReader(secret_name, sm)
    barrier = threading.Barrier(16)
    results: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait(timeout=10)
        token = reader.token()
        with lock:
            results.append(token)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [f"{MARK}-1"] * 16
    assert wire.count == 1


def test_expired_token_in_the_store_raises(sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", T0 + timedelta(seconds=30)))
    reader = TokenReader(secret_name, sm, clock=ManualClock(T0))
    with pytest.raises(TokenExpiredError) as info:
        reader.token()
    assert secret_name in str(info.value) and "sync-job status" in str(info.value)
    assert MARK not in str(info.value) and MARK not in repr(reader)


def test_missing_secret_is_unavailable(sm: Any, secret_name: str) -> None:
    with pytest.raises(TokenUnavailableError, match="was not found") as info:
        TokenReader(secret_name, sm).token()
    assert secret_name in str(info.value)


def test_binary_secret_is_unavailable(sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretBinary=b"\x00\x01")
    with pytest.raises(TokenUnavailableError, match="no SecretString"):
        TokenReader(secret_name, sm).token()


def test_default_client_comes_from_the_environment(
    sm: Any, sm_endpoint: str, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sm_endpoint)
    reader = TokenReader(secret_name)  # boto3.client("secretsmanager"), created on first read
    assert reader.token() == f"{MARK}-1"
    assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}


# -- TokenAuth against the local API --------------------------------------------------------------


def test_token_auth_rereads_once_on_401_and_retries_once(
    sm: Any, secret_name: str, api: Api, http: requests.Session
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    assert reader.token() == f"{MARK}-old"  # cached
    # sync-job publishes a new token; the API already refuses the old one.
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-new", in_an_hour()))
    api.accepted = {f"{MARK}-new"}

    response = http.get(api.url, auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert [r.status_code for r in response.history] == [401]
    assert response.request.headers["Authorization"] == f"Bearer {MARK}-new"
    assert api.auths() == [f"Bearer {MARK}-old", f"Bearer {MARK}-new"]
    assert wire.count == 2, "one read to start, one re-read on the 401"

    # The reader now holds the new token: the next request goes straight through, no read.
    assert http.get(api.url, auth=TokenAuth(reader), timeout=10).status_code == 200
    assert wire.count == 2
    assert len(api.seen) == 3


def test_token_auth_does_not_retry_when_the_store_holds_the_same_token(
    sm: Any, secret_name: str, api: Api, http: requests.Session
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    response = http.get(api.url, auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 401
    assert response.history == []
    assert api.auths() == [f"Bearer {MARK}-old"]
    assert wire.count == 2  # the first read and the one re-read


def test_token_auth_never_loops(sm: Any, secret_name: str, api: Api, http: requests.Session) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    reader = TokenReader(secret_name, sm)
    reader.token()
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-new", in_an_hour()))
    api.accepted = set()  # refuses every token
    response = http.get(api.url, auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401]
    assert api.auths() == [f"Bearer {MARK}-old", f"Bearer {MARK}-new"]


def test_token_auth_no_reread_on_success(sm: Any, secret_name: str, api: Api, http: requests.Session) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    api.accepted = {f"{MARK}-1"}
    for _ in range(3):
        assert http.get(api.url, auth=TokenAuth(reader), timeout=10).status_code == 200
    assert wire.count == 1
    # The plain header works too.
    assert http.get(api.url, headers=reader.authorization_header(), timeout=10).status_code == 200


BODY = b'{"amount": "1.00"}'


@pytest.mark.parametrize("make_body", [lambda: BODY, lambda: io.BytesIO(BODY)], ids=["bytes", "file"])
def test_token_auth_resends_the_body(
    sm: Any, secret_name: str, api: Api, http: requests.Session, make_body: Any
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    reader = TokenReader(secret_name, sm)
    reader.token()
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-new", in_an_hour()))
    api.accepted = {f"{MARK}-new"}
    response = http.post(api.url, data=make_body(), auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 200
    assert [(m, body) for m, _, body in api.seen] == [("POST", BODY)] * 2


def test_token_auth_does_not_retry_a_body_it_cannot_resend(
    sm: Any, secret_name: str, api: Api, http: requests.Session
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    reader.token()
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-new", in_an_hour()))
    api.accepted = {f"{MARK}-new"}

    def chunks() -> Iterator[bytes]:
        yield b'{"amount": '
        yield b'"1.00"}'

    response = http.post(api.url, data=chunks(), auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert wire.count == 1  # no re-read: the request could not have been retried anyway


def test_token_auth_repr_never_contains_the_token(sm: Any, secret_name: str) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    reader = TokenReader(secret_name, sm)
    reader.token()
    assert MARK not in repr(TokenAuth(reader))
