"""Self-tests of standins/token_server.py, over the real wire with requests."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from standins.token_server import Fault, TokenServer

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3:%+/=&x"
SCOPES = ["funding:read_profile", "transfer:read_transfer"]
GRANT = {"grant_type": "client_credentials"}
TIMEOUT = 5


def new_client(
    token_server: TokenServer,
    auth_method: str = "client_secret_post",
    *,
    secret: str = SECRET,
    scopes: list[str] | None = None,
    client_id: str | None = None,
) -> str:
    cid = client_id or f"c-{uuid.uuid4().hex[:8]}"
    token_server.add_client(cid, secret, scopes=SCOPES if scopes is None else scopes, auth_method=auth_method)
    return cid


def post(token_server: TokenServer, cid: str, secret: str = SECRET, **form: str) -> requests.Response:
    data = {**GRANT, "client_id": cid, "client_secret": secret, **form}
    return requests.post(token_server.url, data=data, timeout=TIMEOUT)


def basic(cid: str, secret: str, encode: Any = lambda v: quote(v, safe="")) -> dict[str, str]:
    raw = f"{encode(cid)}:{encode(secret)}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def assert_token_answer(resp: requests.Response, token_server: TokenServer, scope: str) -> str:
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    doc = resp.json()
    assert list(doc) == ["access_token", "expires_in", "scope", "token_type"]
    assert doc["expires_in"] == token_server.lifetime and doc["token_type"] == "bearer"
    assert doc["scope"] == scope
    token: str = doc["access_token"]
    assert token.startswith(f"{token_server.token_prefix}-LEAKMARK-") and token in token_server.issued
    return token


def assert_oauth_error(resp: requests.Response, status: int, error: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["error"] == error


# --- basics ----------------------------------------------------------------------------------------


def test_binds_loopback_on_a_free_port(token_server: TokenServer) -> None:
    assert token_server.origin == f"http://127.0.0.1:{token_server.port}" and token_server.port > 0
    assert token_server.url == token_server.origin + "/oauth2/token"
    with pytest.raises(ValueError):
        TokenServer(host="0.0.0.0")
    assert requests.post(token_server.origin + "/elsewhere", data=GRANT, timeout=TIMEOUT).status_code == 404


def test_client_secret_post_paxos_shaped_answer(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    resp = post(token_server, cid, scope="transfer:read_transfer funding:read_profile")
    assert_token_answer(resp, token_server, "transfer:read_transfer funding:read_profile")  # request order
    rec = [r for r in token_server.requests if r.client_id == cid]
    assert len(rec) == 1 and token_server.count(cid) == 1
    assert rec[0].status == 200 and rec[0].auth_method_seen == "client_secret_post"
    assert rec[0].form["client_secret"] == "<redacted>" and SECRET not in repr(token_server.requests)


def test_no_scope_requested_grants_all_allowed_and_tokens_are_unique(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    tokens = {assert_token_answer(post(token_server, cid), token_server, " ".join(SCOPES)) for _ in range(5)}
    assert len(tokens) == 5


@pytest.mark.parametrize("encode", [lambda v: quote(v, safe=""), quote_plus], ids=["quote", "quote_plus"])
def test_client_secret_basic_form_urlencoded(token_server: TokenServer, encode: Any) -> None:
    cid = new_client(token_server, "client_secret_basic", client_id=f"id:{uuid.uuid4().hex[:6]} x+")
    resp = requests.post(token_server.url, data=GRANT, headers=basic(cid, SECRET, encode), timeout=TIMEOUT)
    assert_token_answer(resp, token_server, " ".join(SCOPES))
    assert token_server.requests[-1].client_id == cid
    assert token_server.requests[-1].auth_method_seen == "client_secret_basic"
    spaced = new_client(token_server, "client_secret_basic", secret="a b+c")
    resp = requests.post(
        token_server.url, data=GRANT, headers=basic(spaced, "a b+c", encode), timeout=TIMEOUT
    )
    assert resp.status_code == 200


def test_client_secret_basic_without_urlencoding_is_refused(token_server: TokenServer) -> None:
    # RFC 6749 §2.3.1 decoding (unquote_plus) turns the raw "+" into a space: the secret differs.
    cid = new_client(token_server, "client_secret_basic")
    resp = requests.post(token_server.url, data=GRANT, auth=(cid, SECRET), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_wrong_secret_is_invalid_client(token_server: TokenServer, method: str) -> None:
    cid = new_client(token_server, method)
    if method == "client_secret_post":
        resp = post(token_server, cid, "wrong")
    else:
        resp = requests.post(token_server.url, data=GRANT, headers=basic(cid, "wrong"), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    assert token_server.requests[-1].status == 401 and token_server.requests[-1].client_id == cid


def test_unknown_client_wrong_method_and_no_credentials(token_server: TokenServer) -> None:
    assert_oauth_error(post(token_server, "nobody"), 401, "invalid_client")
    cid = new_client(token_server, "client_secret_post")
    resp = requests.post(token_server.url, data=GRANT, headers=basic(cid, SECRET), timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")  # registered for post, tried basic
    resp = requests.post(token_server.url, data={**GRANT, "client_id": cid}, timeout=TIMEOUT)
    assert_oauth_error(resp, 401, "invalid_client")
    resp = requests.post(
        token_server.url,
        data={**GRANT, "client_id": cid, "client_secret": SECRET},
        headers=basic(cid, SECRET),
        timeout=TIMEOUT,
    )
    assert_oauth_error(resp, 400, "invalid_request")  # two methods at once (RFC 6749 §2.3)
    assert token_server.requests[-1].auth_method_seen == "client_secret_basic+client_secret_post"


def test_invalid_scope_and_grant_type(token_server: TokenServer) -> None:
    cid = new_client(token_server, scopes=["funding:read_profile"])
    assert_oauth_error(
        post(token_server, cid, scope="funding:read_profile transfer:write"), 400, "invalid_scope"
    )
    assert_oauth_error(post(token_server, cid, grant_type="password"), 400, "unsupported_grant_type")


def test_set_secret_rotates(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    token_server.set_secret(cid, "new-secret")
    assert_oauth_error(post(token_server, cid), 401, "invalid_client")
    assert post(token_server, cid, "new-secret").status_code == 200


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
def test_static_faults(
    token_server: TokenServer, fault: Fault, status: int, content_type: str, check: Any
) -> None:
    cid = new_client(token_server)
    token_server.script(cid, [fault])
    resp = post(token_server, cid)
    assert resp.status_code == status and resp.headers["Content-Type"] == content_type
    assert check(resp), resp.text
    assert token_server.requests[-1].fault == fault.kind and token_server.requests[-1].status == status
    assert_token_answer(post(token_server, cid), token_server, " ".join(SCOPES))  # then normal again


def test_truncated(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    token_server.script(cid, [Fault.truncated()])
    resp = post(token_server, cid)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.content) > 10
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert resp.text.startswith('{"access_token": "tok-LEAKMARK-')


def test_huge(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    token_server.script(cid, [Fault.huge(2 * 1024 * 1024)])
    resp = post(token_server, cid)
    assert resp.status_code == 200 and len(resp.content) == 2 * 1024 * 1024
    assert resp.json()["access_token"] in token_server.issued


def test_token_overrides(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    fake_jwt = jwt.encode({"exp": int(time.time()) + 60, "m": "LEAKMARK"}, "k" * 32, algorithm="HS256")
    token_server.script(
        cid,
        [
            Fault.token(expires_in=None),
            Fault.token(expires_in=0),
            Fault.token(scope="a"),
            Fault.token(token_type="Bearer"),
            Fault.token(access_token=fake_jwt),
        ],
    )
    docs = [post(token_server, cid).json() for _ in range(5)]
    assert "expires_in" not in docs[0] and docs[0]["access_token"] in token_server.issued
    assert docs[1]["expires_in"] == 0
    assert docs[2]["scope"] == "a"
    assert docs[3]["token_type"] == "Bearer"
    assert docs[4]["access_token"] == fake_jwt and fake_jwt in token_server.issued
    # A scripted issuance still authenticates: a wrong secret gets the real error.
    token_server.script(cid, [Fault.token(scope="a")])
    assert_oauth_error(post(token_server, cid, "wrong"), 401, "invalid_client")


def test_reset(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    token_server.script(cid, [Fault.reset()])
    with pytest.raises(requests.ConnectionError):
        post(token_server, cid)
    assert token_server.requests[-1].status is None and token_server.requests[-1].fault == "reset"
    assert post(token_server, cid).status_code == 200


def test_hang_then_normal(token_server: TokenServer) -> None:
    cid = new_client(token_server)
    token_server.script(cid, [Fault.hang(0.3)])
    started = time.monotonic()
    resp = post(token_server, cid)
    assert time.monotonic() - started >= 0.3
    assert resp.status_code == 200


def test_faults_apply_to_bad_requests_in_order_and_script_all_first(token_server: TokenServer) -> None:
    token_server.script("ghost", [Fault.status(503), Fault.status(502)])
    assert [post(token_server, "ghost").status_code for _ in range(3)] == [503, 502, 401]
    cid = new_client(token_server, "client_secret_basic")
    token_server.script(cid, [Fault.status(500)])
    token_server.script_all([Fault.status(504)])
    codes = [
        requests.post(token_server.url, data=GRANT, headers=basic(cid, SECRET), timeout=TIMEOUT).status_code
        for _ in range(3)
    ]
    assert codes == [504, 500, 200]


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


def post_jwt(token_server: TokenServer, cid: str, token: str, **form: str) -> requests.Response:
    data = {
        **GRANT,
        "client_id": cid,
        "client_assertion": token,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        **form,
    }
    return requests.post(token_server.url, data=data, timeout=TIMEOUT)


def test_private_key_jwt(token_server: TokenServer, rsa_keys: tuple[bytes, bytes]) -> None:
    private, public = rsa_keys
    cid = f"jwt-{uuid.uuid4().hex[:8]}"
    token_server.add_client(cid, scopes=SCOPES, auth_method="private_key_jwt", public_key_pem=public)
    token = assertion(cid, private, token_server.url, jti="once")
    assert_token_answer(post_jwt(token_server, cid, token), token_server, " ".join(SCOPES))
    rec = token_server.requests[-1]
    assert rec.client_id == cid and rec.auth_method_seen == "private_key_jwt"
    assert rec.form["client_assertion"] == "<redacted>"
    # The same jti again, even in a fresh assertion, is a replay.
    assert_oauth_error(
        post_jwt(token_server, cid, assertion(cid, private, token_server.url, jti="once")),
        401,
        "invalid_client",
    )
    assert_oauth_error(
        post_jwt(token_server, cid, assertion(cid, private, token_server.origin)), 401, "invalid_client"
    )
    assert_oauth_error(
        post_jwt(token_server, cid, assertion(cid, private, token_server.url, exp_in=-30)),
        401,
        "invalid_client",
    )
    other, _ = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert_oauth_error(
        post_jwt(token_server, cid, assertion(cid, other, token_server.url)), 401, "invalid_client"
    )
    # client_id in the form must be the assertion's subject; the iss alone routes records.
    assert_oauth_error(
        post_jwt(token_server, "someone-else", assertion(cid, private, token_server.url)),
        401,
        "invalid_client",
    )
    data = {
        **GRANT,
        "client_assertion": assertion(cid, private, token_server.url),
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    assert requests.post(token_server.url, data=data, timeout=TIMEOUT).status_code == 200
    assert token_server.requests[-1].client_id == cid
    # A secret-based attempt by this client is the wrong method.
    assert_oauth_error(post(token_server, cid), 401, "invalid_client")


def test_private_key_jwt_es256(token_server: TokenServer) -> None:
    private, public = _pem_pair(ec.generate_private_key(ec.SECP256R1()))
    cid = f"jwt-{uuid.uuid4().hex[:8]}"
    token_server.add_client(cid, scopes=SCOPES, auth_method="private_key_jwt", public_key_pem=public.decode())
    token = assertion(cid, private, token_server.url, alg="ES256")
    resp = post_jwt(token_server, cid, token, scope="funding:read_profile")
    assert_token_answer(resp, token_server, "funding:read_profile")


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
