"""Self-tests of the token server's provider hooks (token_path, require, certificate clients,
per-client lifetime, repeated-field recording), over the real wire with requests."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
import requests

from standins.keys import certificate_pem, new_key
from standins.token_server import TOKEN_PATH, ClientRequest, Refusal, TokenServer

TIMEOUT = 5
PATH = "/realms/example/protocol/openid-connect/token"


def test_token_path_require_lifetime_and_repeated_fields() -> None:
    def require(req: ClientRequest) -> Refusal | None:
        return (
            None if req.form.get("resource") == ["a", "b"] else Refusal(403, "access_denied", "need a and b")
        )

    with TokenServer(token_path=PATH) as server:
        server.add_client("c", "s3", scopes=["x"], require=require, lifetime=300)
        base = {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s3"}
        assert server.url.endswith(PATH)
        assert requests.post(server.origin + TOKEN_PATH, data=base, timeout=TIMEOUT).status_code == 404
        refused = requests.post(server.url, data=base, timeout=TIMEOUT)
        assert refused.status_code == 403
        assert refused.json() == {"error": "access_denied", "error_description": "need a and b"}
        ok = requests.post(
            server.url, data=[*base.items(), ("resource", "a"), ("resource", "b")], timeout=TIMEOUT
        )
        assert ok.status_code == 200 and ok.json()["expires_in"] == 300
        assert server.requests[-1].form_lists["resource"] == ["a", "b"]
        assert server.requests[-1].form_lists["client_secret"] == ["<redacted>"]
        assert server.count("c") == 2  # the 404 is not a token request


def assertion(key: Any, url: str, headers: dict[str, str], alg: str = "PS256") -> str:
    now = int(time.time())
    claims = {"iss": "app", "sub": "app", "aud": url, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 60}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_certificate_client_needs_its_key_and_a_matching_thumbprint() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = new_key()
    pem = certificate_pem(key)
    cert = x509.load_pem_x509_certificate(pem.encode())
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
    with TokenServer() as server:
        server.add_client("app", scopes=["x"], auth_method="private_key_jwt", certificate_pem=pem)

        def post(signer: object, headers: dict[str, str], alg: str = "PS256") -> requests.Response:
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion(signer, server.url, headers, alg),
            }
            return requests.post(server.url, data=form, timeout=TIMEOUT)

        assert post(key, {"x5t": x5t}).status_code == 200
        assert post(key, {"x5t": x5t}, alg="RS256").status_code == 200
        missing = post(key, {})
        assert missing.status_code == 401 and "no x5t" in missing.json()["error_description"]
        wrong = post(key, {"x5t#S256": "A" * 43})
        assert wrong.status_code == 401 and "matches no certificate" in wrong.json()["error_description"]
        # The right thumbprint on an assertion signed by another key: the signature check refuses it.
        forged = post(new_key(), {"x5t": x5t})
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"
