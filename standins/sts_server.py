"""A JWT issuer on 127.0.0.1 for federated client assertions: AWS STS's ``GetWebIdentityToken``
over HTTP, and a Kubernetes-like issuer whose tokens a test writes to a file.

:class:`JwtIssuer` holds a signing key, mints real signed JWTs, and publishes OIDC discovery
(``/.well-known/openid-configuration``) and its JWKS (``/.well-known/jwks.json``), which a
verifier fetches as Microsoft Entra ID does for a federated identity credential's issuer.

:class:`StsStandIn` answers the STS Query API's ``GetWebIdentityToken`` (moto does not implement
it), following https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html:

* POST form ``Action=GetWebIdentityToken&Version=2011-06-15``, ``Audience.member.N`` (1 to 10,
  required), ``DurationSeconds`` (60 to 3600, default 300), ``SigningAlgorithm`` (``RS256`` or
  ``ES384``, required); a request without a SigV4 ``Authorization`` header for service ``sts``
  is refused (``MissingAuthenticationToken``, 403), a bad parameter is ``ValidationError`` (400);
* the answer is ``GetWebIdentityTokenResponse`` XML with ``WebIdentityToken`` and ``Expiration``;
* the JWT's ``iss`` is this issuer's URL, ``sub`` the caller's role ARN (``SubjectMode``
  ``AWSIdentity``), ``aud`` the audience (a string for one, a list for several), ``iat``,
  ``nbf``, ``exp`` = ``iat`` + ``DurationSeconds``, ``jti``, and the namespace claim
  ``https://sts.amazonaws.com/`` with ``principal_id``;
* errors as the Query protocol sends them (``ErrorResponse``/``Error``/``Code``), scripted with
  :meth:`StsStandIn.fail_next` (``OutboundWebIdentityFederationDisabledException``,
  ``Throttling``...).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from joserfc import jwk, jwt

__all__ = ["JwtIssuer", "StsStandIn"]

ROLE_ARN = "arn:aws:iam::123456789012:role/sync-job"
# The audience Microsoft Entra ID's federated identity credentials require (Entra ID docs,
# "Workload identity federation": api://AzureADTokenExchange), and a Kubernetes service account's
# subject as a projected token carries it.
ENTRA_AUDIENCE = "api://AzureADTokenExchange"
SERVICE_ACCOUNT = "system:serviceaccount:payments:sync-job"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path == "/.well-known/openid-configuration":
            self._send(200, "application/json", json.dumps(owner.discovery()).encode())
        elif self.path == "/.well-known/jwks.json":
            owner.jwks_fetches += 1
            self._send(200, "application/json", json.dumps(owner.jwks()).encode())
        else:
            self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 16)
        body = self.rfile.read(length).decode("utf-8", "replace")
        status, xml = self.server.owner.answer(dict(self.headers.items()), body)
        self._send(status, "text/xml", xml.encode())

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: JwtIssuer


class JwtIssuer:
    """An OIDC issuer on 127.0.0.1 with an RSA (RS256) and an EC P-384 (ES384) key."""

    def __init__(self) -> None:
        self._keys: dict[str, jwk.RSAKey | jwk.ECKey] = {
            "RS256": jwk.RSAKey.generate_key(2048),
            "ES384": jwk.ECKey.generate_key("P-384"),
        }
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_fetches = 0
        self.issued: list[str] = []

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": sorted(self._keys),
        }

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": alg, "use": "sig"}
                for alg, key in self._keys.items()
            ]
        }

    def mint(
        self,
        subject: str,
        audience: str | list[str],
        lifetime: int = 300,
        *,
        alg: str = "RS256",
        now: float | None = None,
        issuer: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A signed JWT of this issuer (``issuer`` overrides ``iss``, to test a verifier)."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": issuer or self.url,
            "sub": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
            **(extra or {}),
        }
        key = self._keys[alg]
        token = jwt.encode({"alg": alg, "kid": key.thumbprint(), "typ": "JWT"}, claims, key, algorithms=[alg])
        self.issued.append(token)
        return token

    def answer(self, headers: dict[str, str], body: str) -> tuple[int, str]:
        return 404, "<UnknownOperationException/>"


class StsStandIn(JwtIssuer):
    """AWS STS's GetWebIdentityToken (module docstring); ``calls`` counts the answered ones."""

    def __init__(self, role_arn: str = ROLE_ARN) -> None:
        super().__init__()
        self.role_arn = role_arn
        self.calls = 0
        self.requests: list[dict[str, list[str]]] = []
        self._failures: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def fail_next(self, code: str, status: int = 400, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(code, status)] * times)

    def answer(self, headers: dict[str, str], body: str) -> tuple[int, str]:
        form = parse_qs(body, keep_blank_values=True)
        with self._lock:
            self.requests.append(form)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or "/sts/aws4_request" not in auth:
            return _error(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        if form.get("Action") != ["GetWebIdentityToken"] or form.get("Version") != ["2011-06-15"]:
            return _error(400, "InvalidAction", "Could not find operation")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return _error(failure[1], failure[0], "scripted by the test")
        audiences = [v[0] for k, v in sorted(form.items()) if k.startswith("Audience.member.")]
        if not 1 <= len(audiences) <= 10:
            return _error(400, "ValidationError", "Audience must have between 1 and 10 members")
        duration_text = (form.get("DurationSeconds") or ["300"])[0]
        duration = int(duration_text) if duration_text.isdigit() else -1
        if not 60 <= duration <= 3600:
            return _error(400, "ValidationError", "DurationSeconds must be between 60 and 3600")
        alg = (form.get("SigningAlgorithm") or [""])[0]
        if alg not in ("RS256", "ES384"):
            return _error(400, "ValidationError", "SigningAlgorithm must be RS256 or ES384")
        now = time.time()
        token = self.mint(
            self.role_arn,
            audiences[0] if len(audiences) == 1 else audiences,
            duration,
            alg=alg,
            now=now,
            extra={"https://sts.amazonaws.com/": {"principal_id": self.role_arn}},
        )
        with self._lock:
            self.calls += 1
        expiration = datetime.fromtimestamp(int(now) + duration, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, (
            f'<GetWebIdentityTokenResponse xmlns="{STS_NS}"><GetWebIdentityTokenResult>'
            f"<WebIdentityToken>{escape(token)}</WebIdentityToken><Expiration>{expiration}</Expiration>"
            f"</GetWebIdentityTokenResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
            "</ResponseMetadata></GetWebIdentityTokenResponse>"
        )


def _error(status: int, code: str, message: str) -> tuple[int, str]:
    return status, (
        f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
