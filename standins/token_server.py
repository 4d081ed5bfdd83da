"""A real OAuth2 token endpoint on 127.0.0.1 for tests, benchmarks and the local demo.

It answers like Paxos's ``/oauth2/token`` for the client-credentials grant (RFC 6749 §4.4):
Authlib's framework-agnostic ``AuthorizationServer`` with ``ClientCredentialsGrant`` authenticates
clients (``client_secret_post``, ``client_secret_basic``, and ``private_key_jwt`` through
``JWTBearerClientAssertion``, RFC 7523) and issues tokens; the standard library's threaded HTTP
server carries it. Around Authlib sit the parts a test plays: scripted faults (:class:`Fault`), a
Paxos-like rate-limit lockout, request recording and a latency knob.

Every access token is ``f"{token_prefix}-LEAKMARK-{uuid4().hex}"``, so tests scan every output for
``LEAKMARK``.

Where it differs from stock Authlib 1.9, on purpose:

* ``client_secret_basic`` decodes with ``unquote_plus`` (RFC 6749 §2.3.1: id and secret are
  form-urlencoded first). Authlib's ``unquote`` leaves ``+`` alone, so a client that forgets to
  encode a secret like ``s3:%+/=&x`` would pass and a test could not catch that bug.
* Every ``invalid_client`` answer is HTTP 401, as Paxos answers.
* A request using more than one client authentication method is refused (400 ``invalid_request``).
* Scopes are checked per client (Authlib checks one server-wide list).
* Client assertions may use PS256 (joserfc's default "recommended" set leaves it out).

Provider stand-ins (standins/providers.py) build on four options: ``token_path`` (a
provider's URL shape), and per client ``require`` (a quirk checked after authentication, answered
as a :class:`Refusal`), ``lifetime`` and ``certificate_pem`` (an Entra-like client whose
assertions must name its certificate by ``x5t``/``x5t#S256``).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, unquote_plus, urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientCredentialsGrant,
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    scope_to_list,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from joserfc import jwk, jwt
from joserfc.errors import JoseError

__all__ = [
    "TOKEN_PATH",
    "ClientRequest",
    "Fault",
    "FederatedTrust",
    "RecordedRequest",
    "Refusal",
    "TokenServer",
]

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/token"
# Paxos documents https://oauth.paxos.com/oauth2/revoke beside its token endpoint.
REVOCATION_PATH = "/oauth2/revoke"
AUTH_METHODS = ("client_secret_post", "client_secret_basic", "private_key_jwt")
REDACTED = "<redacted>"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REDACTED_FIELDS = frozenset({"client_secret", "client_assertion", "token"})
MAX_HANG_S = 120.0  # a scripted hang never lasts longer than this (stop() cuts it short anyway)
LOCKOUT_RETRY_AFTER = 300  # seconds: Paxos locks a host out for five minutes
ASSERTION_LEEWAY_S = 5  # clock-skew allowance on exp/nbf/iat of client assertions
# Algorithms a client assertion may use: joserfc's default "recommended" set lacks PS256, which
# Microsoft Entra ID recommends for certificate assertions.
ASSERTION_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
IDLE_KEEPALIVE_S = 10.0
JSON = ("Content-Type", "application/json")

FaultKind = Literal[
    "status", "rate_limited", "oauth_error", "html", "truncated", "hang", "reset", "huge", "token"
]


# --- scripted faults --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One scripted answer, consumed by one request (of one client, or of anyone via ``script_all``).

    Build them with the static constructors. ``hang`` and ``token`` answer "normally" afterwards:
    Authlib still authenticates the client, so a bad request still gets its real error. The others
    replace the answer whatever the request was.
    """

    kind: FaultKind
    status_code: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    seconds: float = 0.0
    nbytes: int = 0
    overrides: tuple[tuple[str, object], ...] = ()

    @staticmethod
    def status(
        code: int, body: str = "", headers: dict[str, str] | None = None, content_type: str = "text/plain"
    ) -> Fault:
        """Answer ``code`` with exactly this body, content type and extra headers."""
        return Fault(
            "status",
            status_code=code,
            body=body,
            headers=tuple((headers or {}).items()),
            content_type=content_type,
        )

    @staticmethod
    def rate_limited(retry_after: int | None) -> Fault:
        """429 with a JSON error body, and ``Retry-After: <retry_after>`` unless it is None."""
        headers = () if retry_after is None else (("Retry-After", str(retry_after)),)
        return Fault(
            "rate_limited", status_code=429, body=_RATE_LIMITED, headers=headers, content_type=JSON[1]
        )

    @staticmethod
    def oauth_error(status: int, error: str, description: str = "") -> Fault:
        """An RFC 6749 §5.2 error answer: ``{"error": ..., "error_description": ...}``."""
        doc = {"error": error} | ({"error_description": description} if description else {})
        no_store = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
        return Fault(
            "oauth_error", status_code=status, body=json.dumps(doc), headers=no_store, content_type=JSON[1]
        )

    @staticmethod
    def html() -> Fault:
        """200 with an HTML page, as a captive portal or a misrouted load balancer would send."""
        page = (
            "<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n"
            "<body><h1>Scheduled maintenance</h1><p>Please try again later.</p></body></html>\n"
        )
        return Fault("html", status_code=200, body=page, content_type="text/html; charset=utf-8")

    @staticmethod
    def truncated() -> Fault:
        """200, application/json, a valid token JSON cut in half (Content-Length matches the cut)."""
        return Fault("truncated")

    @staticmethod
    def hang(seconds: float) -> Fault:
        """Wait ``seconds`` (at most MAX_HANG_S, cut short by stop()) and then answer normally."""
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError("hang seconds must be a finite non-negative number")
        return Fault("hang", seconds=min(float(seconds), MAX_HANG_S))

    @staticmethod
    def reset() -> Fault:
        """Read the request, then close the TCP connection with an RST (SO_LINGER 0), no answer."""
        return Fault("reset")

    @staticmethod
    def huge(nbytes: int) -> Fault:
        """200, application/json, a body of exactly ``nbytes``: a token JSON with a giant field."""
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        return Fault("huge", nbytes=nbytes)

    @staticmethod
    def token(**overrides: object) -> Fault:
        """A normal issuance whose JSON answer has fields overridden (or removed when None).

        ``token(expires_in=None)`` removes ``expires_in``; ``token(expires_in=0)``,
        ``token(scope="a")``, ``token(access_token=jwt)`` and new fields work too. Applied only if
        the issuance succeeds.
        """
        return Fault("token", overrides=tuple(overrides.items()))


_RATE_LIMITED = json.dumps({"error": "rate_limited", "error_description": "Too many requests"})


@dataclass
class RecordedRequest:
    """One request as the server saw it (secrets redacted)."""

    client_id: str | None
    time: float  # time.monotonic() when the request had been read
    status: int | None = None  # None: no HTTP answer (reset, or dropped on stop)
    form: dict[str, str] = field(default_factory=dict)  # first value of each field
    form_lists: dict[str, list[str]] = field(default_factory=dict)  # every value, in order
    auth_method_seen: str | None = None  # "a+b" when the request used several methods
    method: str = "POST"
    path: str = TOKEN_PATH
    fault: str | None = None  # kind of the scripted fault played for it, if any


@dataclass(frozen=True)
class ClientRequest:
    """What a per-client ``require`` hook sees: an authenticated client's token request."""

    client_id: str
    form: Mapping[str, list[str]]  # every field with all its values (repeated fields kept)
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Refusal:
    """A provider's refusal, returned by a ``require`` hook: answered as an RFC 6749 §5.2 error."""

    status: int
    error: str
    description: str = ""


Require = Callable[[ClientRequest], "Refusal | None"]


@dataclass
class _Answer:
    status: int
    payload: Any  # dict (JSON), str or bytes
    headers: list[tuple[str, str]]

    def body(self) -> bytes:
        if isinstance(self.payload, bytes):
            return self.payload
        if isinstance(self.payload, str):
            return self.payload.encode("utf-8")
        return json.dumps(self.payload).encode("utf-8")


# --- the Authlib side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FederatedTrust:
    """A federated identity credential, as Microsoft Entra ID keeps one on an app registration
    (https://learn.microsoft.com/en-us/graph/api/resources/federatedidentitycredentialsoverview:
    ``issuer``, ``subject``, ``audiences``; Keycloak's federated client authentication matches
    the same three). The client presents a JWT of that issuer as its client assertion
    (RFC 7521 §5.2): its signature is checked with the issuer's keys, found through the
    issuer's OIDC discovery document and JWKS fetched over HTTP at each request, and its
    ``iss``, ``sub`` and ``aud`` must equal the registered ones, with ``exp`` in the future and
    ``nbf``/``iat`` not ahead of now (``ASSERTION_LEEWAY_S`` of skew)."""

    issuer: str
    subject: str
    audience: str = "api://AzureADTokenExchange"

    def verify(self, assertion: str) -> None:
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"{self.issuer}/.well-known/openid-configuration", timeout=5
            ) as answer:
                discovery = json.loads(answer.read(1 << 16))
            with urllib.request.urlopen(discovery["jwks_uri"], timeout=5) as answer:
                keys = jwk.KeySet.import_key_set(json.loads(answer.read(1 << 20)))
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidClientError(description="The issuer's keys cannot be fetched.") from exc
        try:
            token = jwt.decode(assertion, keys, algorithms=["RS256", "ES256", "ES384"])
            jwt.JWTClaimsRegistry(
                leeway=ASSERTION_LEEWAY_S,
                iss={"essential": True, "value": self.issuer},
                sub={"essential": True, "value": self.subject},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(token.claims)
        except JoseError as exc:
            raise InvalidClientError(description=f"Federated assertion refused: {exc.description}") from exc


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    auth_method: str
    public_key: jwk.Key | None = None
    # Certificate-bound private_key_jwt (Entra-like): the (x5t, x5t#S256) of the registered
    # certificate; an assertion must name it in its header.
    thumbprints: tuple[str, str] | None = None
    require: Require | None = None  # provider quirk checked after authentication
    lifetime: int | None = None  # expires_in of this client's tokens (None: the server's)
    federated: FederatedTrust | None = None  # assertions of a trusted issuer, no key of its own

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(_granted_scopes(self, scope))


def _granted_scopes(client: _Client, scope: str | None) -> list[str]:
    requested = list(dict.fromkeys(scope_to_list(scope) or []))
    return requested or list(client.scopes)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, str], multi: dict[str, list[str]]) -> None:
        self._form = form
        self._multi = multi

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> collections.defaultdict[str, list[str]]:
        return collections.defaultdict(list, self._multi)


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: Message, form: dict[str, str], multi: dict[str, list[str]]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = _Payload(form, multi)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _ClientCredentialsGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]  # noqa: RUF012

    def validate_requested_scope(self) -> None:
        client: _Client = self.request.client
        if client.require is not None:
            request: _Request = self.request
            seen = ClientRequest(client.client_id, request.payload.datalist, dict(request.headers.items()))
            refusal = client.require(seen)
            if refusal is not None:
                raise OAuth2Error(
                    error=refusal.error, description=refusal.description or None, status_code=refusal.status
                )
        requested = scope_to_list(self.request.payload.scope) or []
        refused = [s for s in requested if s not in client.scopes]
        if refused:
            raise InvalidScopeError(description=f"Scope not allowed for this client: {' '.join(refused)}")


def _decode_basic(header: str | None) -> tuple[str | None, str | None]:
    """RFC 6749 §2.3.1 + RFC 7617: base64 of form-urlencoded ``id:secret`` -> (id, secret)."""
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None, None
    user, colon, password = decoded.partition(":")
    return unquote_plus(user), (unquote_plus(password) if colon else None)


def _authenticate_client_secret_basic(query_client: Any, request: _Request) -> _Client | None:
    """Authlib's own, but decoding with ``unquote_plus`` (the inverse of form-urlencoding)."""
    client_id, client_secret = _decode_basic(request.headers.get("Authorization"))
    if not client_id or not client_secret:
        return None
    client: _Client | None = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401, description="The client does not exist on this server.")
    return client if client.check_client_secret(client_secret) else None


class _PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 §2.2 client authentication, verified by Authlib (joserfc underneath)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, owner: TokenServer) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY_S)
        self._owner = owner

    def __call__(self, query_client: Any, request: _Request) -> _Client | None:
        form_id = request.form.get("client_id")
        registered: _Client | None = query_client(form_id) if form_id else None
        if registered is not None and registered.federated is not None:
            assertion = request.form.get("client_assertion")
            if request.form.get("client_assertion_type") != JWT_BEARER or not assertion:
                return None
            registered.federated.verify(assertion)
            request.client = registered
            authenticated: _Client | None = self.authenticate_client(registered)
            return authenticated
        client: _Client | None = super().__call__(query_client, request)
        form_id = request.form.get("client_id")
        if client is not None and form_id and form_id != client.client_id:
            raise InvalidClientError(description="client_id does not match the assertion's subject.")
        if client is not None and client.thumbprints is not None:
            _check_thumbprints(request.form["client_assertion"], client.thumbprints)
        return client

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGS)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims: Mapping[str, Any]) -> None:
        # Authlib's checks, on the server's own clock (``clock_offset`` seconds from ours) with
        # its own leeway: Keycloak verifies an assertion's nbf/iat against its clock with none,
        # so one whose nbf is "now" by a clock 1 s ahead is "not active" (keycloak#8966).
        owner = self._owner
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(time.time() + owner.clock_offset),
            leeway=owner.assertion_leeway,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
        )
        try:
            registry.validate(dict(claims))
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and Subject MUST match.")
        if "jti" not in claims:
            raise InvalidClientError(description="Missing JWT ID.")
        if not self.validate_jti(claims, claims["jti"]):
            raise InvalidClientError(description="JWT ID is used before.")

    def get_audiences(self) -> list[str]:
        return [self._owner.url]

    def validate_jti(self, claims: Mapping[str, Any], jti: object) -> bool:
        return self._owner._use_jti(str(claims.get("sub")), str(jti))

    def resolve_client_public_key(self, client: _Client) -> jwk.Key:
        if client.public_key is None:
            raise InvalidClientError(description="The client has no registered public key.")
        return client.public_key


@dataclass(frozen=True)
class _IssuedToken:
    """An access token this server issued, and to which client (RFC 7009 §2.1: a client may
    revoke only its own tokens)."""

    access_token: str
    client_id: str

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009 token revocation, by Authlib: the client authenticates as at the token endpoint
    (any of the three methods, RFC 7009 §2.1); an unknown or already revoked token still gets
    200 (§2.2). With ``revocable_types`` lacking ``access_token`` it answers
    ``unsupported_token_type`` (§2.2.1) to a request hinting an access token, as a provider that
    cannot revoke access tokens would."""

    CLIENT_AUTH_METHODS = list(AUTH_METHODS)  # noqa: RUF012

    def __init__(self, owner: TokenServer) -> None:
        super().__init__()
        self._owner = owner

    @property
    def SUPPORTED_TOKEN_TYPES(self) -> tuple[str, ...]:
        return self._owner.revocable_types

    def query_token(self, token_string: str, token_type_hint: str | None) -> _IssuedToken | None:
        return self._owner._issued_token(token_string)

    def revoke_token(self, token: _IssuedToken, request: _Request) -> None:
        self._owner._revoke(token.access_token)


class _AuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, owner: TokenServer) -> None:
        super().__init__()
        self._owner = owner
        self.register_token_generator("default", owner._generate_token)
        self.register_grant(_ClientCredentialsGrant)
        self.register_endpoint(_Revocation(owner))
        self.register_client_auth_method("client_secret_basic", _authenticate_client_secret_basic)
        self.register_client_auth_method("private_key_jwt", _PrivateKeyJWT(owner))

    def query_client(self, client_id: str) -> _Client | None:
        return self._owner._get_client(client_id)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: _Request) -> _Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Iterable[tuple[str, str]]) -> _Answer:
        return _Answer(status, body, list(headers))

    def handle_error_response(self, request: _Request, error: OAuth2Error) -> _Answer:
        if error.error == "invalid_client":
            error.status_code = 401  # RFC 6749 §5.2 allows it; Paxos answers 401
        answer: _Answer = super().handle_error_response(request, error)
        return answer


def _load_public_key(pem: str | bytes) -> jwk.Key:
    data = pem.encode() if isinstance(pem, str) else pem
    # joserfc wants the key type said: RSA, else EC (the two kinds the tests sign with).
    key_type: Literal["RSA", "EC"] = (
        "RSA" if isinstance(load_pem_public_key(data), rsa.RSAPublicKey) else "EC"
    )
    return jwk.import_key(data, key_type)


def _assertion_issuer(assertion: str) -> str | None:
    """The unverified ``iss`` (else ``sub``) of a JWT, only to route scripted faults and records."""
    try:
        segment = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, UnicodeError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    issuer = claims.get("iss", claims.get("sub"))
    return issuer if isinstance(issuer, str) else None


def _methods_seen(headers: Message, form: Mapping[str, str]) -> list[str]:
    seen = []
    if (headers.get("Authorization") or "")[:6].lower() == "basic ":
        seen.append("client_secret_basic")
    if "client_secret" in form:
        seen.append("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        seen.append("private_key_jwt")
    return seen


# --- the HTTP side -----------------------------------------------------------------------------------

_RESET = "reset"  # abort the connection with an RST
_DROP = "drop"  # close it without an answer (the server is stopping)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: TokenServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading (the job cutting off a huge body) closes with unread data,
        # which resets the kept-alive connection: its right, not a server error. Printed, the
        # traceback would land in the stderr of whatever in-process CLI run is capturing it.
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PaxosLikeTokenServer/1.0"
    timeout = IDLE_KEEPALIVE_S
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("token server: " + format, *args)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def read_body(self) -> bytes | None:
        """The request body, or None after answering 400 to a bad Content-Length."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self.send_answer(_Answer(400, {"error": "invalid_request"}, [JSON]))
            return None
        return self.rfile.read(length)

    def send_answer(self, answer: _Answer) -> None:
        body = answer.body()
        try:
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (OSError, ValueError):  # the client went away
            self.close_connection = True

    def reset_connection(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send an RST instead of a FIN."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError, ValueError):
            self.rfile.close()  # drop the makefile() reference so close() really closes the fd
        with contextlib.suppress(OSError):
            self.connection.close()


def _b64url_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _check_thumbprints(assertion: str, registered: tuple[str, str]) -> None:
    """Entra-like: the header must name the registered certificate by ``x5t`` or ``x5t#S256``
    (RFC 7515 §4.1.7/§4.1.8), and every thumbprint it carries must be that certificate's. The
    signature was verified with the certificate's public key before this runs."""
    try:
        header = _b64url_json(assertion.split(".")[0])
    except (IndexError, ValueError, UnicodeError, binascii.Error):
        header = None
    if not isinstance(header, dict):
        raise InvalidClientError(description="Invalid JWT header.")
    presented = {name: header.get(name) for name in ("x5t", "x5t#S256") if name in header}
    if not presented:
        raise InvalidClientError(
            description="The client assertion has no x5t or x5t#S256 header naming its certificate."
        )
    expected = dict(zip(("x5t", "x5t#S256"), registered, strict=True))
    for name, value in presented.items():
        if value != expected[name]:
            raise InvalidClientError(
                description=f"The {name} of the client assertion matches no certificate of this client."
            )


def _certificate_key(pem: str | bytes) -> tuple[jwk.Key, tuple[str, str]]:
    """The public key of a PEM certificate and its (x5t, x5t#S256), computed independently of
    sync_job (from cryptography's fingerprint)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    public_pem = cert.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    prints = (b64(cert.fingerprint(hashes.SHA1())), b64(cert.fingerprint(hashes.SHA256())))
    return _load_public_key(public_pem), prints


class TokenServer:
    """A Paxos-like OAuth2 client-credentials token endpoint on 127.0.0.1 (see module docstring).

    ``latency`` (s) delays every answer; ``lifetime`` (s) is the ``expires_in`` it grants;
    ``rate_limit=(rate_per_s, window_s)`` emulates Paxos's lockout: more than ``rate * window``
    requests within ``window_s`` and every request gets 429 for ``rate_limit_lockout`` s.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        lifetime: int = 3599,
        token_prefix: str = "tok",
        rate_limit: tuple[float, float] | None = None,
        rate_limit_lockout: float = float(LOCKOUT_RETRY_AFTER),
        token_path: str = TOKEN_PATH,
    ) -> None:
        address = ipaddress.ip_address(host)
        if not address.is_loopback or address.version != 4:
            raise ValueError(f"the token server binds only IPv4 loopback addresses, not {host!r}")
        self.host = host
        self.port = port
        self.latency = latency
        self.lifetime = lifetime
        self.token_prefix = token_prefix
        self.rate_limit = rate_limit
        self.rate_limit_lockout = rate_limit_lockout
        if not token_path.startswith("/"):
            raise ValueError(f"token_path must start with '/', not {token_path!r}")
        self.token_path = token_path  # a provider's URL shape, e.g. /oauth2/default/v1/token
        # The server's clock against ours (seconds; -1 is a server 1 s behind) and the skew it
        # allows on a client assertion's exp/nbf/iat (Keycloak: none, keycloak#8966).
        self.clock_offset = 0.0
        self.assertion_leeway = ASSERTION_LEEWAY_S
        self.jwt_access_tokens = False  # issue JWT access tokens (exp - iat == expires_in)
        self.url = ""
        self.origin = ""
        self.revocation_url = ""
        # What the RFC 7009 endpoint revokes: ("refresh_token",) plays a provider that cannot
        # revoke access tokens (unsupported_token_type).
        self.revocable_types: tuple[str, ...] = ("access_token", "refresh_token")
        self.revoked: set[str] = set()
        self._owners: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.issued: list[str] = []
        self._lock = threading.RLock()
        self._clients: dict[str, _Client] = {}
        self._queues: dict[str, collections.deque[Fault]] = {}
        self._queue_all: collections.deque[Fault] = collections.deque()
        self._jtis: set[tuple[str, str]] = set()
        self._rate_times: collections.deque[float] = collections.deque()
        self._locked_until = 0.0
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._authlib = _AuthServer(self)

    # -- lifecycle

    def start(self) -> TokenServer:
        with self._lock:
            if self._httpd is not None:
                return self
            httpd = _HTTPServer((self.host, self.port), _Handler)
            httpd.owner = self
            self._httpd = httpd
            self.port = httpd.server_address[1]
            self.origin = f"http://{self.host}:{self.port}"
            self.url = self.origin + self.token_path
            self.revocation_url = self.origin + REVOCATION_PATH
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"token-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, cut hangs short and close every open connection; idempotent."""
        with self._lock:
            httpd = self._httpd
            if httpd is None or self._stopping.is_set():
                return
            self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise wait for their timeout
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=1)

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- configuration

    def add_client(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        scopes: Iterable[str] | str = (),
        auth_method: str = "client_secret_post",
        public_key_pem: str | bytes | None = None,
        certificate_pem: str | bytes | None = None,
        require: Require | None = None,
        lifetime: int | None = None,
        federated: FederatedTrust | None = None,
    ) -> None:
        """Register (or replace) a client. ``scopes`` is what it may ask for.

        ``private_key_jwt`` with ``federated``: the client holds no key; its assertion is a JWT
        of a trusted issuer (:class:`FederatedTrust`, as Entra ID federated credentials).

        ``private_key_jwt`` needs ``public_key_pem``, or ``certificate_pem``: then the assertion
        is verified with the certificate's key and must name the certificate by ``x5t`` /
        ``x5t#S256`` (as Microsoft Entra ID does). ``require`` is called once the client is
        authenticated and may return a :class:`Refusal` (a provider's quirk); ``lifetime``
        overrides the server's ``expires_in`` for this client's tokens.
        """
        if auth_method not in AUTH_METHODS:
            raise ValueError(f"auth_method must be one of {AUTH_METHODS}, not {auth_method!r}")
        public_key = None
        thumbprints = None
        if auth_method == "private_key_jwt" and federated is not None:
            pass
        elif auth_method == "private_key_jwt":
            if certificate_pem is not None:
                public_key, thumbprints = _certificate_key(certificate_pem)
            elif public_key_pem is None:
                raise ValueError("private_key_jwt needs public_key_pem or certificate_pem")
            else:
                public_key = _load_public_key(public_key_pem)
        elif not client_secret:
            raise ValueError(f"{auth_method} needs a client_secret")
        allowed = tuple(scope_to_list(scopes) if isinstance(scopes, str) else scopes)
        client = _Client(
            client_id,
            client_secret,
            allowed,
            auth_method,
            public_key,
            thumbprints,
            require,
            lifetime,
            federated,
        )
        with self._lock:
            self._clients[client_id] = client

    def set_secret(self, client_id: str, new_secret: str) -> None:
        """Rotate a client's secret (the old one stops working at once)."""
        with self._lock:
            self._clients[client_id].client_secret = new_secret

    def script(self, client_id: str, faults: Iterable[Fault]) -> None:
        """Queue faults for one client's next requests (one per request, in order)."""
        with self._lock:
            self._queues.setdefault(client_id, collections.deque()).extend(faults)

    def script_all(self, faults: Iterable[Fault]) -> None:
        """Queue faults for the next requests of anyone (played before per-client queues)."""
        with self._lock:
            self._queue_all.extend(faults)

    # -- statistics

    def count(self, client_id: str | None = None) -> int:
        """Token requests received (all, or those attributed to ``client_id``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.path == self.token_path and (client_id is None or r.client_id == client_id)
            )

    def revocations(self, client_id: str | None = None) -> int:
        """Revocation requests received (all, or those attributed to ``client_id``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.path == REVOCATION_PATH and (client_id is None or r.client_id == client_id)
            )

    def is_active(self, access_token: str) -> bool:
        """Whether ``access_token`` was issued here and not revoked (what a resource server
        would ask by introspection, RFC 7662)."""
        with self._lock:
            return access_token in self._owners and access_token not in self.revoked

    def reset_stats(self) -> None:
        """Forget recorded requests and issued tokens (clients, scripts and lockout are kept)."""
        with self._lock:
            self.requests.clear()
            self.issued.clear()

    def max_requests_in_window(self, window_s: float) -> int:
        """Most token requests that arrived within any half-open window [t, t + window_s)."""
        with self._lock:
            times = sorted(r.time for r in self.requests if r.path == self.token_path)
        return max(
            (bisect.bisect_left(times, t + window_s, lo=i) - i for i, t in enumerate(times)), default=0
        )

    # -- used by Authlib

    def _get_client(self, client_id: str) -> _Client | None:
        with self._lock:
            return self._clients.get(client_id)

    def _use_jti(self, client_id: str, jti: str) -> bool:
        with self._lock:
            if (client_id, jti) in self._jtis:
                return False
            self._jtis.add((client_id, jti))
            return True

    def _new_token(self) -> str:
        token = f"{self.token_prefix}-LEAKMARK-{uuid.uuid4().hex}"
        with self._lock:
            self.issued.append(token)  # it goes out on the wire (maybe in part): scan for it too
        return token

    def _generate_token(
        self,
        grant_type: str,
        client: _Client,
        user: object = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        lifetime = self.lifetime if client.lifetime is None else client.lifetime
        doc = self._token_doc(" ".join(_granted_scopes(client, scope)), lifetime)
        with self._lock:
            self._owners[doc["access_token"]] = client.client_id
        return doc

    def _issued_token(self, access_token: str) -> _IssuedToken | None:
        with self._lock:
            owner = self._owners.get(access_token)
        return None if owner is None else _IssuedToken(access_token, owner)

    def _revoke(self, access_token: str) -> None:
        with self._lock:
            self.revoked.add(access_token)

    def _new_jwt(self, lifetime: int) -> str:
        """A JWT access token as Auth0, Entra ID, Keycloak and Okta issue them: ``iat`` the
        server's whole second, ``exp = iat + expires_in`` (RFC 9068 §2.2). Not signed: the job
        only reads ``exp``; the signature part carries the leak marker."""
        issued = int(time.time() + self.clock_offset)
        claims = {"iat": issued, "exp": issued + lifetime, "jti": uuid.uuid4().hex}

        def part(doc: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

        token = f"{part({'alg': 'RS256', 'typ': 'at+jwt'})}.{part(claims)}.LEAKMARK{uuid.uuid4().hex}"
        with self._lock:
            self.issued.append(token)
        return token

    def _token_doc(self, scope: str, lifetime: int | None = None) -> dict[str, Any]:
        seconds = self.lifetime if lifetime is None else lifetime
        return {
            "access_token": self._new_jwt(seconds) if self.jwt_access_tokens else self._new_token(),
            "expires_in": seconds,
            "scope": scope,
            "token_type": "bearer",
        }

    # -- used by the handler

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _wait(self, seconds: float) -> bool:
        """Sleep, cut short by stop(); False if the server is stopping."""
        return (
            not self._stopping.wait(min(seconds, MAX_HANG_S)) if seconds > 0 else not self._stopping.is_set()
        )

    def _locked_out(self, now: float) -> bool:
        if self.rate_limit is None:
            return False
        rate, window = self.rate_limit
        with self._lock:
            self._rate_times.append(now)
            while self._rate_times and self._rate_times[0] <= now - window:
                self._rate_times.popleft()
            if now < self._locked_until:
                return True
            if len(self._rate_times) > rate * window:
                self._locked_until = now + self.rate_limit_lockout
                return True
            return False

    def _next_fault(self, client_id: str | None) -> Fault | None:
        with self._lock:
            if self._queue_all:
                return self._queue_all.popleft()
            queue = self._queues.get(client_id) if client_id is not None else None
            return queue.popleft() if queue else None

    def _handle(self, handler: _Handler) -> None:
        body = handler.read_body()
        if body is None:
            return
        path = urlsplit(handler.path).path
        multi: dict[str, list[str]] = {}
        if (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower() == (
            "application/x-www-form-urlencoded"
        ):
            with contextlib.suppress(UnicodeDecodeError, ValueError):
                multi = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        form = {k: v[0] for k, v in multi.items()}
        methods = _methods_seen(handler.headers, form)
        client_id = form.get("client_id") or _decode_basic(handler.headers.get("Authorization"))[0]
        if not client_id and form.get("client_assertion"):
            client_id = _assertion_issuer(form["client_assertion"])
        rec = RecordedRequest(
            client_id=client_id or None,
            time=time.monotonic(),
            form={k: (REDACTED if k in REDACTED_FIELDS else v) for k, v in form.items()},
            form_lists={k: ([REDACTED] if k in REDACTED_FIELDS else list(v)) for k, v in multi.items()},
            auth_method_seen="+".join(methods) or None,
            method=handler.command,
            path=path,
        )
        with self._lock:
            self.requests.append(rec)
        if path not in (self.token_path, REVOCATION_PATH):
            rec.status = 404
            handler.send_answer(_Answer(404, {"error": "not_found"}, [JSON]))
            return
        issue = self._issue if path == self.token_path else self._revocation
        answer = self._decide(handler, rec, form, multi, methods, issue)
        if answer == _RESET:
            handler.reset_connection()
        elif isinstance(answer, _Answer):
            rec.status = answer.status
            handler.send_answer(answer)
        else:  # _DROP
            handler.close_connection = True

    def _decide(
        self,
        handler: _Handler,
        rec: RecordedRequest,
        form: dict[str, str],
        multi: dict[str, list[str]],
        methods: list[str],
        issue: Callable[[_Handler, dict[str, str], dict[str, list[str]], list[str]], _Answer],
    ) -> _Answer | str:
        if self._locked_out(rec.time):
            if not self._wait(self.latency):
                return _DROP
            retry_after = ("Retry-After", str(int(self.rate_limit_lockout)))
            return _Answer(429, _RATE_LIMITED, [JSON, retry_after])
        fault = self._next_fault(rec.client_id)
        rec.fault = fault.kind if fault else None
        if not self._wait(self.latency):
            return _DROP
        if fault is None:
            return issue(handler, form, multi, methods)
        if fault.kind == "reset":
            return _RESET
        if fault.kind == "hang":
            return issue(handler, form, multi, methods) if self._wait(fault.seconds) else _DROP
        if fault.kind == "token":
            answer = self._issue(handler, form, multi, methods)
            if answer.status == 200 and isinstance(answer.payload, dict):
                for name, value in fault.overrides:
                    if value is None:
                        answer.payload.pop(name, None)
                    else:
                        answer.payload[name] = value
                overridden = dict(fault.overrides).get("access_token")
                if isinstance(overridden, str):
                    with self._lock:
                        self.issued.append(overridden)
            return answer
        if fault.kind == "truncated":
            full = json.dumps(self._token_doc(form.get("scope", ""))).encode()
            return _Answer(200, full[: len(full) // 2], [JSON])
        if fault.kind == "huge":
            return _Answer(200, self._huge_body(form, fault.nbytes), [JSON])
        names = {name.lower() for name, _ in fault.headers}
        content_type = [] if "content-type" in names else [("Content-Type", fault.content_type)]
        return _Answer(fault.status_code, fault.body, content_type + list(fault.headers))

    def _issue(
        self, handler: _Handler, form: dict[str, str], multi: dict[str, list[str]], methods: list[str]
    ) -> _Answer:
        request = _Request(handler.command, self.origin + handler.path, handler.headers, form, multi)
        if len(methods) > 1:  # RFC 6749 §2.3: one method per request
            error = InvalidRequestError(description="The client used more than one authentication method.")
            refused: _Answer = self._authlib.handle_error_response(request, error)
            return refused
        answer: _Answer = self._authlib.create_token_response(request)
        return answer

    def _revocation(
        self, handler: _Handler, form: dict[str, str], multi: dict[str, list[str]], methods: list[str]
    ) -> _Answer:
        request = _Request(handler.command, self.origin + handler.path, handler.headers, form, multi)
        if len(methods) > 1:  # RFC 6749 §2.3: one method per request
            error = InvalidRequestError(description="The client used more than one authentication method.")
            refused: _Answer = self._authlib.handle_error_response(request, error)
            return refused
        answer: _Answer = self._authlib.create_endpoint_response(_Revocation.ENDPOINT_NAME, request)
        return answer

    def _huge_body(self, form: Mapping[str, str], nbytes: int) -> bytes:
        doc = self._token_doc(form.get("scope", ""))
        base = json.dumps({**doc, "padding": ""}).encode()
        if nbytes < len(base):
            return base[:nbytes]
        doc["padding"] = "x" * (nbytes - len(base))
        return json.dumps(doc).encode()
