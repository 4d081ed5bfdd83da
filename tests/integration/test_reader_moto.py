"""TokenReader and TokenAuth across real HTTP: moto's Secrets Manager server with the real boto3
client, and a local API server that refuses the old token (401) and accepts the new one (200)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from standins.api_server import ApiServer
from standins.aws import DUMMY_AWS
from standins.fakes import ManualClock, token_doc
from standins.moto_server import MotoServer
from sync_job.reader import TokenAuth, TokenExpiredError, TokenReader, TokenUnavailableError

T0 = datetime(2026, 11, 29, 0, 0, 1, tzinfo=UTC)
MARK = "TOKEN-MARKER-c41e"


# -- helpers --------------------------------------------------------------------------------------


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


def payload(token: str, expires_at: datetime) -> str:
    return json.dumps(token_doc(token, expires_at, expires_in_source="server"))


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
        clock.set(T0 + timedelta(seconds=seconds))
        assert reader.token() == f"{MARK}-1"
        assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}
    assert wire.count == 1, "no GetSecretValue on the wire while the cached token is fresh"

    clock.set(T0 + timedelta(seconds=3599 - 60))
    assert reader.token() == f"{MARK}-2"
    assert reader.token() == f"{MARK}-2"
    assert wire.count == 2, "exactly one re-read after expires_at - skew"
    assert wire.bodies == [{"SecretId": secret_name, "VersionStage": "AWSCURRENT"}] * 2


def test_invalidate_then_one_read_on_the_wire_finds_the_new_awscurrent(sm: Any, secret_name: str) -> None:
    """What a consumer does on a "Secret Label Updated" event for AWSCURRENT: drop the cache; the
    next token() makes exactly one GetSecretValue and serves the token the job just published."""
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    assert reader.token() == f"{MARK}-1"
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-2", in_an_hour()))
    assert reader.token() == f"{MARK}-1" and wire.count == 1  # cached: the event is the only news
    reader.invalidate()
    assert wire.count == 1, "invalidate() itself makes no call"
    assert reader.token() == f"{MARK}-2"
    assert reader.token() == f"{MARK}-2"
    assert wire.count == 2


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
    sm: Any, moto_server: MotoServer, secret_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-1", in_an_hour()))
    for key, value in DUMMY_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    reader = TokenReader(secret_name)  # boto3.client("secretsmanager"), created on first read
    assert reader.token() == f"{MARK}-1"
    assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}


# -- TokenAuth against the local API --------------------------------------------------------------


def test_token_auth_rereads_once_on_401_and_retries_once(
    sm: Any, secret_name: str, api: ApiServer, http: requests.Session
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
    sm: Any, secret_name: str, api: ApiServer, http: requests.Session
) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    wire = WireCounter(sm)
    reader = TokenReader(secret_name, sm)
    response = http.get(api.url, auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 401
    assert response.history == []
    assert api.auths() == [f"Bearer {MARK}-old"]
    assert wire.count == 2  # the first read and the one re-read


def test_token_auth_never_loops(sm: Any, secret_name: str, api: ApiServer, http: requests.Session) -> None:
    sm.create_secret(Name=secret_name, SecretString=payload(f"{MARK}-old", in_an_hour()))
    reader = TokenReader(secret_name, sm)
    reader.token()
    sm.put_secret_value(SecretId=secret_name, SecretString=payload(f"{MARK}-new", in_an_hour()))
    api.accepted = set()  # refuses every token
    response = http.get(api.url, auth=TokenAuth(reader), timeout=10)
    assert response.status_code == 401
    assert [r.status_code for r in response.history] == [401]
    assert api.auths() == [f"Bearer {MARK}-old", f"Bearer {MARK}-new"]


def test_token_auth_no_reread_on_success(
    sm: Any, secret_name: str, api: ApiServer, http: requests.Session
) -> None:
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
    sm: Any, secret_name: str, api: ApiServer, http: requests.Session, make_body: Any
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
    sm: Any, secret_name: str, api: ApiServer, http: requests.Session
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
