"""Self-tests of tests/support/token_server.py, over the real wire with requests."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.token_server import Fault, TokenServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3:%+/=&x"
SCOPES = ["funding:read_profile", "transfer:read_transfer"]
GRANT = {"grant_type": "client_credentials"}
TIMEOUT = 5


@pytest.fixture(scope="module")
def server() -> Iterator[TokenServer]:
    with TokenServer() as s:
        yield s


def new_client(
    server: TokenServer,
    auth_method: str = "client_secret_post",
    *,
    secret: str = SECRET,
    scopes: list[str] | None = None,
    client_id: str | None = None,
) -> str:
    cid = client_id or f"c-{uuid.uuid4().hex[:8]}"
    server.add_client(cid, secret, scopes=SCOPES if scopes is None else scopes, auth_method=auth_method)
    return cid


def post(server: TokenServer, cid: str, secret: str = SECRET, **form: str) -> requests.Response:
    data = {**GRANT, "client_id": cid, "client_secret": secret, **form}
    return requests.post(server.url, data=data, timeout=TIMEOUT)


def basic(cid: str, secret: str, encode: Any = lambda v: quote(v, safe="")) -> dict[str, str]:
    raw = f"{encode(cid)}:{encode(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def assert_token_answer(resp: requests.Response, server: TokenServer, scope: str) -> str:
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    doc = resp.json()
    assert list(doc) == ["access_token", "expires_in", "scope", "token_type"]
    assert doc["expires_in"] == server.lifetime and doc["token_type"] == "bearer"
    assert doc["scope"] == scope
    token: str = doc["access_token"]
    assert token.startswith(f"{server.token_prefix}-LEAKMARK-") and token in server.issued
    return token


def assert_oauth_error(resp: requests.Response, status: int, error: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["error"] == error


# --- basics ----------------------------------------------------------------------------------------


def test_binds_loopback_on_a_free_port(server: TokenServer) -> None:
    assert server.origin == f"http://127.0.0.1:{server.port}" and server.port > 0
    assert server.url == server.origin + "/oauth2/token"
    with pytest.raises(ValueError):
        TokenServer(host="0.0.0.0")
    assert requests.post(server.origin + "/elsewhere", data=GRANT, timeout=TIMEOUT).status_code == 404


def test_client_secret_post_paxos_shaped_answer(server: TokenServer) -> None:
    cid = new_client(server)
    resp = post(server, cid, scope="transfer:read_transfer funding:read_profile")
    assert_token_answer(resp, server, "transfer:read_transfer funding:read_profile")  # request order
    rec = [r for r in server.requests if r.client_id == cid]
    assert len(rec) == 1 and server.count(cid) == 1
    assert rec[0].status == 200 and rec[0].auth_method_seen == "client_secret_post"
    assert rec[0].form["client_secret"] == "<redacted>" and SECRET not in repr(server.requests)


def test_no_scope_requested_grants_all_allowed_and_tokens_are_unique(server: TokenServer) -> None:
    cid = new_client(server)
    tokens = {assert_token_answer(post(server, cid), server, " ".join(SCOPES)) for _ in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize("encode", [lambda v: quote(v, safe=""), quote_plus], ids=["quote", "quote_plus"])
def test_client_secret_basic_form_urlencoded(server: TokenServer, encode: Any) -> None:
    cid = new_client(server, "client_secret_basic", client_id=f"id:{uuid.uuid4().hex[:6]} x+")
    resp = requests.post(server.url, data=GRANT, headers=basic(cid, SECRET, encode), timeout=TIMEOUT)
    assert_token_answer(resp, server, " ".join(SCOPES))
    assert server.requests[-1].client_id == cid
    assert server.requests[-1].auth_method_seen == "client_secret_basic"
    spaced = new_client(server, "client_secret_basic", secret="a b+c")
    resp = requests.post(server.url, data=GRANT, headers=basic(spaced, "a b+c", encode), timeout=TIMEOUT)
    assert resp.status_code == 200


def test_client_secret_basic_without_urlencoding_is_refused(server: TokenServer) -> None:
    # RFC 6749 §2.3.1 decoding (unquote_plus) turns the raw "+" into a space: the secret differs.
    cid = new_client(server, "client_secret_basic")
    resp = requests.post(server.url, data=GRANT, auth=(cid, SECRET), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_wrong_secret_is_invalid_client(server: TokenServer, method: str) -> None:
    cid = new_client(server, method)
    if method == "client_secret_post":
        resp = post(server, cid, "wrong")
    else:
        resp = requests.post(server.url, data=GRANT, headers=basic(cid, "wrong"), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    assert server.requests[-1].status == 401 and server.requests[-1].client_id == cid


def test_unknown_client_wrong_method_and_no_credentials(server: TokenServer) -> None:
    assert_oauth_error(post(server, "nobody"), 401, "invalid_client")
    cid = new_client(server, "client_secret_post")
    resp = requests.post(server.url, data=GRANT, headers=basic(cid, SECRET), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")  # registered for post, tried basic
    resp = requests.post(server.url, data={**GRANT, "client_id": cid}, timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    resp = requests.post(
        server.url,
        data={**GRANT, "client_id": cid, "client_secret": SECRET},
        headers=basic(cid, SECRET),
        timeout=TIMEOUT,
    )
    assert_oauth_error(resp, 400, "invalid_request")  # two methods at once (RFC 6749 §2.3)
    assert server.requests[-1].auth_method_seen == "client_secret_basic+client_secret_post"


def test_invalid_scope_and_grant_type(server: TokenServer) -> None:
    cid = new_client(server, scopes=["funding:read_profile"])
    assert_oauth_error(post(server, cid, scope="funding:read_profile transfer:write"), 400, "invalid_scope")
    assert_oauth_error(post(server, cid, grant_type="password"), 400, "unsupported_grant_type")


def test_set_secret_rotates(server: TokenServer) -> None:
    cid = new_client(server)
    server.set_secret(cid, "new-secret")
    assert_oauth_error(post(server, cid), 401, "invalid_client")
    assert post(server, cid, "new-secret").status_code == 200


# --- faults ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "content_type", "check"),
    [
        (
            Fault.status(503, "down", {"X-Why": "maint"}),
            503,
            "text/plain",
            lambda r: r.text == "down" and r.headers["X-Why"] == "maint",
        ),
        (
            Fault.status(502, "<b>bad</b>", content_type="text/html"),
            502,
            "text/html",
            lambda r: "bad" in r.text,
        ),
        (
            Fault.rate_limited(7),
            429,
            "application/json",
            lambda r: r.headers["Retry-After"] == "7" and "error" in r.json(),
        ),
        (Fault.rate_limited(None), 429, "application/json", lambda r: "Retry-After" not in r.headers),
        (
            Fault.oauth_error(403, "unauthorized_client", "not allowed"),
            403,
            "application/json",
            lambda r: r.json() == {"error": "unauthorized_client", "error_description": "not allowed"},
        ),
        (
            Fault.oauth_error(400, "invalid_scope"),
            400,
            "application/json",
            lambda r: r.json() == {"error": "invalid_scope"},
        ),
        (
            Fault.html(),
            200,
            "text/html; charset=utf-8",
            lambda r: r.text.lstrip().startswith("<!DOCTYPE html>"),
        ),
    ],
    ids=["status", "status-html", "429", "429-no-retry-after", "oauth-error", "oauth-error-bare", "html"],
)
def test_static_faults(server: TokenServer, fault: Fault, status: int, content_type: str, check: Any) -> None:
    cid = new_client(server)
    server.script(cid, [fault])
    resp = post(server, cid)
    assert resp.status_code == status and resp.headers["Content-Type"] == content_type
    assert check(resp), resp.text
    assert server.requests[-1].fault == fault.kind and server.requests[-1].status == status
    assert_token_answer(post(server, cid), server, " ".join(SCOPES))  # then normal again


def test_truncated(server: TokenServer) -> None:
    cid = new_client(server)
    server.script(cid, [Fault.truncated()])
    resp = post(server, cid)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.content) > 10
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert resp.text.startswith('{"access_token": "tok-LEAKMARK-')


def test_huge(server: TokenServer) -> None:
    cid = new_client(server)
    server.script(cid, [Fault.huge(2 * 1024 * 1024)])
    resp = post(server, cid)
    assert resp.status_code == 200 and len(resp.content) == 2 * 1024 * 1024
    assert resp.json()["access_token"] in server.issued


def test_token_overrides(server: TokenServer) -> None:
    cid = new_client(server)
    fake_jwt = jwt.encode({"exp": int(time.time()) + 60, "m": "LEAKMARK"}, "k" * 32, algorithm="HS256")
    server.script(
        cid,
        [
            Fault.token(expires_in=None),
            Fault.token(expires_in=0),
            Fault.token(scope="a"),
            Fault.token(token_type="Bearer"),
            Fault.token(access_token=fake_jwt),
        ],
    )
    docs = [post(server, cid).json() for _ in range(5)]
    assert "expires_in" not in docs[0] and docs[0]["access_token"] in server.issued
    assert docs[1]["expires_in"] == 0
    assert docs[2]["scope"] == "a"
    assert docs[3]["token_type"] == "Bearer"
    assert docs[4]["access_token"] == fake_jwt and fake_jwt in server.issued
    # A scripted issuance still authenticates: a wrong secret gets the real error.
    server.script(cid, [Fault.token(scope="a")])
    assert_oauth_error(post(server, cid, "wrong"), 401, "invalid_client")


def test_reset(server: TokenServer) -> None:
    cid = new_client(server)
    server.script(cid, [Fault.reset()])
    with pytest.raises(requests.ConnectionError):
        post(server, cid)
    assert server.requests[-1].status is None and server.requests[-1].fault == "reset"
    assert post(server, cid).status_code == 200


def test_hang_then_normal(server: TokenServer) -> None:
    cid = new_client(server)
    server.script(cid, [Fault.hang(0.3)])
    started = time.monotonic()
    resp = post(server, cid)
    assert time.monotonic() - started >= 0.3
    assert resp.status_code == 200


def test_faults_apply_to_bad_requests_in_order_and_script_all_first(server: TokenServer) -> None:
    server.script("ghost", [Fault.status(503), Fault.status(502)])
    assert [post(server, "ghost").status_code for _ in range(3)] == [503, 502, 401]
    cid = new_client(server, "client_secret_basic")
    server.script(cid, [Fault.status(500)])
    server.script_all([Fault.status(504)])
    assert server.pending(cid) == 1 and server.pending() == 1
    codes = [
        requests.post(server.url, data=GRANT, headers=basic(cid, SECRET), timeout=TIMEOUT).status_code
        for _ in range(3)
    ]
    assert codes == [504, 500, 200]
    assert server.pending(cid) == 0 and server.pending() == 0


def test_kill_after_answer() -> None:
    with TokenServer() as s:
        cid = new_client(s)
        s.script(cid, [Fault.kill_after_answer()])
        assert post(s, cid).status_code == 200
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                post(s, cid)
            except requests.ConnectionError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the server kept answering after kill_after_answer")


# --- private_key_jwt ---------------------------------------------------------------------------------


def _pem_pair(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[bytes, bytes]:
    return _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def assertion(
    cid: str, private: bytes, aud: str, *, jti: str | None = None, exp_in: int = 60, alg: str = "RS256"
) -> str:
    now = int(time.time())
    claims = {
        "iss": cid,
        "sub": cid,
        "aud": aud,
        "jti": jti or uuid.uuid4().hex,
        "iat": now,
        "exp": now + exp_in,
    }
    return jwt.encode(claims, private, algorithm=alg)


def post_jwt(server: TokenServer, cid: str, token: str, **form: str) -> requests.Response:
    data = {
        **GRANT,
        "client_id": cid,
        "client_assertion": token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        **form,
    }
    return requests.post(server.url, data=data, timeout=TIMEOUT)


def test_private_key_jwt(server: TokenServer, rsa_keys: tuple[bytes, bytes]) -> None:
    private, public = rsa_keys
    cid = f"jwt-{uuid.uuid4().hex[:8]}"
    server.add_client(cid, scopes=SCOPES, auth_method="private_key_jwt", public_key_pem=public)
    token = assertion(cid, private, server.url, jti="once")
    assert_token_answer(post_jwt(server, cid, token), server, " ".join(SCOPES))
    rec = server.requests[-1]
    assert rec.client_id == cid and rec.auth_method_seen == "private_key_jwt"
    assert rec.form["client_assertion"] == "<redacted>"
    # The same jti again, even in a fresh assertion, is a replay.
    assert_oauth_error(
        post_jwt(server, cid, assertion(cid, private, server.url, jti="once")), 401, "invalid_client"
    )
    assert_oauth_error(post_jwt(server, cid, assertion(cid, private, server.origin)), 401, "invalid_client")
    assert_oauth_error(
        post_jwt(server, cid, assertion(cid, private, server.url, exp_in=-30)), 401, "invalid_client"
    )
    other, _ = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert_oauth_error(post_jwt(server, cid, assertion(cid, other, server.url)), 401, "invalid_client")
    # client_id in the form must be the assertion's subject; the iss alone routes records.
    assert_oauth_error(
        post_jwt(server, "someone-else", assertion(cid, private, server.url)), 401, "invalid_client"
    )
    data = {
        **GRANT,
        "client_assertion": assertion(cid, private, server.url),
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    assert requests.post(server.url, data=data, timeout=TIMEOUT).status_code == 200
    assert server.requests[-1].client_id == cid
    # A secret-based attempt by this client is the wrong method.
    assert_oauth_error(post(server, cid), 401, "invalid_client")


def test_private_key_jwt_es256(server: TokenServer) -> None:
    private, public = _pem_pair(ec.generate_private_key(ec.SECP256R1()))
    cid = f"jwt-{uuid.uuid4().hex[:8]}"
    server.add_client(cid, scopes=SCOPES, auth_method="private_key_jwt", public_key_pem=public.decode())
    token = assertion(cid, private, server.url, alg="ES256")
    resp = post_jwt(server, cid, token, scope="funding:read_profile")
    assert_token_answer(resp, server, "funding:read_profile")


# --- rate limit, latency, concurrency, stop ---------------------------------------------------------


def test_rate_limit_lockout() -> None:
    with TokenServer(rate_limit=(2.0, 1.0)) as s:
        a, b = new_client(s), new_client(s)
        assert [post(s, a).status_code for _ in range(2)] == [200, 200]
        locked = post(s, a)
        assert locked.status_code == 429 and locked.headers["Retry-After"] == "300"
        assert locked.json()["error"]
        assert post(s, b).status_code == 429  # every request, whoever asks
        assert s.max_requests_in_window(1.0) == 4 and s.count() == 4 and s.count(b) == 1
        s.clear_lockout()
        assert post(s, b).status_code == 200
        s.reset_stats()
        assert s.count() == 0 and s.issued == [] and s.max_requests_in_window(1.0) == 0


def test_rate_limit_lockout_ends() -> None:
    with TokenServer(rate_limit=(10.0, 0.2), rate_limit_lockout=0.3) as s:
        cid = new_client(s)
        codes = [post(s, cid).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        time.sleep(0.45)
        assert post(s, cid).status_code == 200


def test_max_requests_in_window_counts_a_sliding_window() -> None:
    with TokenServer() as s:
        cid = new_client(s)
        for _ in range(3):
            post(s, cid)
        time.sleep(0.3)
        post(s, cid)
        assert s.max_requests_in_window(0.25) == 3
        assert s.max_requests_in_window(5) == 4


def test_latency_and_concurrency() -> None:
    with TokenServer(latency=0.3) as s:
        cid = new_client(s)
        codes: list[int] = []
        threads = [threading.Thread(target=lambda: codes.append(post(s, cid).status_code)) for _ in range(8)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert codes == [200] * 8
        assert 0.3 <= elapsed < 1.5  # served in parallel, not one after the other
        assert len(set(s.issued)) == 8


def test_stop_is_prompt_with_a_hung_request_and_an_idle_keepalive() -> None:
    s = TokenServer().start()
    cid = new_client(s)
    session = requests.Session()
    assert (
        session.post(
            s.url, data={**GRANT, "client_id": cid, "client_secret": SECRET}, timeout=TIMEOUT
        ).status_code
        == 200
    )  # leaves an idle keep-alive connection
    s.script(cid, [Fault.hang(60)])
    errors: list[BaseException] = []

    def hung() -> None:
        try:
            post(s, cid)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    deadline = time.monotonic() + 2
    while s.count(cid) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 2
    thread.join(timeout=2)
    assert not thread.is_alive() and len(errors) == 1
    with pytest.raises(requests.ConnectionError):
        post(s, cid)
    s.stop()  # idempotent
    session.close()


# --- command line ------------------------------------------------------------------------------------


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            [
                {
                    "client_id": "demo",
                    "client_secret": SECRET,
                    "scopes": SCOPES,
                    "auth_method": "client_secret_basic",
                }
            ]
        )
    )
    port_file = tmp_path / "url"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.token_server",
            "--port",
            "0",
            "--clients",
            str(clients),
            "--port-file",
            str(port_file),
            "--lifetime",
            "60",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        url = port_file.read_text().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/oauth2/token")
        resp = requests.post(url, data=GRANT, headers=basic("demo", SECRET), timeout=TIMEOUT)
        assert resp.status_code == 200 and resp.json()["expires_in"] == 60
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert not port_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=5)
