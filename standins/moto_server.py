"""moto's server on 127.0.0.1 behind a thin WSGI layer, in this process or in a process of its own.

The layer sees every request on the wire, so calls made by the job's subprocesses count too:

* it counts Secrets Manager calls by action and ``SecretId`` (``calls``, ``count``, ``clear``);
* it answers chosen calls with an AWS error (``inject``), or holds one in flight (``hold``);
* with ``record=True`` it keeps every request's body, of any service (``requests``, ``find``):
  where moto accepts a parameter but does not keep it, a test checks what was sent instead;
* it enforces Secrets Manager's documented limits that moto lacks (``sm_limits.py``, with the AWS
  sources): the version quota (more than 100 versions created within 24 hours), SecretString at
  most 65,536 bytes, no new value for a secret scheduled for deletion, 50 writes/s per region;
  and answers ListSecretVersionIds itself, with each version's creation time (moto reports "now")
  and ``IncludeDeprecated``/``MaxResults``/``NextToken`` as AWS documents them. The rules' clock
  is real time plus ``advance(seconds)`` (in-process), so a test can let 24 hours pass.

``MotoServer(process=True)`` runs the same server as ``python -m standins.moto_server``, for
benchmarks: moto's CPU then competes with nobody's GIL. ``calls``, ``count``, ``clear`` and
``inject`` then go over HTTP to ``CONTROL_PATH``; ``hold`` and ``find`` are in-process only (their
events and bodies live in the server's process).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from standins.sm_limits import VALUE_ACTIONS, WRITE_ACTIONS, Refusal, SecretsManagerRules

__all__ = ["CONTROL_PATH", "Call", "CountingMotoServer", "MotoRequest", "MotoServer"]

ROOT = Path(__file__).resolve().parents[1]
CONTROL_PATH = "/_sync_job_test/calls"
MAX_RECORDED = 5000  # a whole Terraform apply and destroy makes a few hundred requests
HOLD_LIMIT_S = 30  # a held call is released after this long even if the test never does
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
AMZ_JSON = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class Call:
    action: str  # e.g. "GetSecretValue"
    secret_id: str | None


@dataclass(frozen=True)
class MotoRequest:
    method: str
    path: str
    target: str  # X-Amz-Target of JSON protocols ("" for REST and query protocols)
    body: bytes


@dataclass
class _Injection:
    action: str
    code: str
    secret_id: str | None = None
    times: int = 1
    status: int = 400
    message: str = "injected by the test"
    # True: moto applies the call, then its answer is replaced by the error (an answer lost
    # after AWS applied the write: a 5xx or a dropped connection after the commit).
    apply: bool = False


def _follow_awscurrent(body: bytes) -> None:
    """moto 5 keeps a secret's "default version" where PutSecretValue left it when
    UpdateSecretVersionStage moves AWSCURRENT, and answers BatchGetSecretValue (which takes no
    VersionStage) and later PutSecretValue calls from that stale version; AWS has no such thing:
    both act on AWSCURRENT. Moving the default with the label makes moto answer as AWS does."""
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    try:
        request = json.loads(body)
    except ValueError:
        return
    if request.get("VersionStage") != "AWSCURRENT" or not request.get("MoveToVersionId"):
        return
    version = request["MoveToVersionId"]
    for account in secretsmanager_backends.values():
        for backend in account.values():
            try:
                secret = backend.secrets[request.get("SecretId")]
            except KeyError:
                continue
            if not isinstance(secret, FakeSecret) or version not in secret.versions:
                continue
            if "AWSCURRENT" in secret.versions[version]["version_stages"]:
                secret.default_version_id = version


def _kms_pss_salt_as_aws() -> None:
    """moto 5 signs KMS RSASSA_PSS_* with the largest salt; AWS KMS uses a salt as long as the
    digest ("RSASSA_PSS_SHA_256: ... along with a 256-bit salt", AWS KMS Developer Guide,
    "RSA key specs for signing and verification"), which RFC 7518 §3.5 (PS256) also requires.
    A verifier that checks the salt length (PyJWT, joserfc) refuses moto's. Signing as AWS does
    makes a wrong salt assumption of ours fail here rather than at a provider."""
    from cryptography.hazmat.primitives.asymmetric import padding
    from moto.kms import utils as kms_utils

    name = "_RSAPrivateKey__padding_and_hash_algorithm"
    original = getattr(kms_utils.RSAPrivateKey, name)
    if getattr(original, "_as_aws", False):
        return

    def as_aws(self: Any, signing_algorithm: str) -> Any:
        pad, algorithm = original(self, signing_algorithm)
        if isinstance(pad, padding.PSS):
            pad = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        return pad, algorithm

    as_aws._as_aws = True  # type: ignore[attr-defined]
    setattr(kms_utils.RSAPrivateKey, name, as_aws)


_kms_pss_salt_as_aws()


_REGION = re.compile(r"Credential=[^/,]+/[0-9]{8}/([a-z0-9-]+)/")
# ListSecretVersionIds: "MaxResults ... Valid Range: Minimum value of 1. Maximum value of 100"
# (API reference); AWS pages when more versions are held.
_LIST_PAGE = 100


def _moto_secret(secret_id: object, region: str) -> Any:
    """moto's FakeSecret named ``secret_id`` (name or ARN) in ``region`` of any account, or None."""
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    if not isinstance(secret_id, str) or not secret_id:
        return None
    for account in secretsmanager_backends.values():
        backend = account.get(region) if hasattr(account, "get") else None
        if backend is None:
            continue
        secret = backend.secrets.get(secret_id)
        if isinstance(secret, FakeSecret):
            return secret
    return None


def _version_list(secret: Any, request: dict[str, Any]) -> bytes:
    """ListSecretVersionIds as AWS answers it: deprecated versions (no staging label) only with
    ``IncludeDeprecated``; each version's own CreatedDate; pages of ``MaxResults`` (at most 100)
    with an opaque ``NextToken`` (here the offset)."""
    include_deprecated = bool(request.get("IncludeDeprecated"))
    versions = [
        {
            "VersionId": version_id,
            "VersionStages": list(version.get("version_stages") or []),
            "CreatedDate": version.get("createdate"),
        }
        for version_id, version in secret.versions.items()
        if include_deprecated or version.get("version_stages")
    ]
    versions.sort(key=lambda v: v["CreatedDate"] or 0, reverse=True)
    size = max(1, min(_LIST_PAGE, int(request.get("MaxResults") or _LIST_PAGE)))
    start = int(request.get("NextToken") or 0)
    answer: dict[str, Any] = {
        "ARN": secret.arn,
        "Name": secret.name,
        "Versions": versions[start : start + size],
    }
    if start + size < len(versions):
        answer["NextToken"] = str(start + size)
    return json.dumps(answer).encode()


def _answer(
    start_response: Callable[..., Any], status: str, body: bytes, *headers: tuple[str, str]
) -> list[bytes]:
    start_response(status, [("Content-Length", str(len(body))), *headers])
    return [body]


def _refuse(start_response: Callable[..., Any], refusal: Refusal) -> list[bytes]:
    error = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
    return _answer(
        start_response,
        f"{refusal.status} Refused",
        error,
        ("Content-Type", AMZ_JSON),
        ("x-amzn-ErrorType", refusal.code),
    )


class _Threaded(ThreadedMotoServer):
    """moto's own threaded server, with ``wrap`` put around its WSGI application."""

    def __init__(self, wrap: Callable[[WsgiApp], WsgiApp]) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._wrap = wrap

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self._wrap(app), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoServer:
    """moto on 127.0.0.1 with counting, error injection, holding and recording (module docstring)."""

    def __init__(self, *, process: bool = False, record: bool = False) -> None:
        self.process = process
        self.record = record
        self.endpoint = ""
        self.requests: list[MotoRequest] = []  # with record=True, in-process
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        # action -> (arrived, release): a held call waits, then is answered 500 without moto.
        self._holds: dict[str, tuple[threading.Event, threading.Event]] = {}
        self._threaded: _Threaded | None = None
        self._proc: subprocess.Popen[str] | None = None
        # Secrets Manager's documented limits (sm_limits.py), on real time plus _offset.
        self._offset = 0.0
        self._frozen: float | None = None
        self.rules = SecretsManagerRules(self._now)
        # Writes are checked and applied one at a time, so the version quota holds exactly.
        self._write_lock = threading.Lock()

    # -- lifecycle

    def start(self) -> MotoServer:
        if self.process:
            command = [
                sys.executable,
                "-m",
                "standins.moto_server",
                *(["--record"] if self.record else []),
            ]
            # stdin stays open while this process lives: the child stops at EOF if we die first.
            self._proc = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline().strip()  # bounded: the child prints it once listening
            if not line.startswith("http://127.0.0.1:"):
                self._proc.kill()
                raise RuntimeError("the moto process did not start")
            self.endpoint = line
        else:
            self._threaded = _Threaded(self._middleware)
            self._threaded.start()
            host, port = self._threaded.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._threaded is not None:
            self.clear()  # releases held calls, so the server's threads can finish
            self._threaded.stop()
            self._threaded = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the tests ask

    @property
    def calls(self) -> list[Call]:
        """The Secrets Manager calls seen since the last ``clear``, in order of arrival."""
        if self._proc is not None:
            return [Call(action, secret_id) for action, secret_id in self._control("GET")]
        with self._lock:
            return list(self._calls)

    def count(self, action: str | None = None, secret_id: str | None = None) -> int:
        """Secrets Manager calls seen (of ``action``, on ``secret_id``, when given)."""
        return sum(
            1
            for c in self.calls
            if (action is None or c.action == action) and (secret_id is None or c.secret_id == secret_id)
        )

    def clear(self) -> None:
        """Forget calls, recorded requests and injections; release held calls; put the limits'
        clock back to real time and forget its write-rate window."""
        if self._proc is not None:
            self._control("DELETE")
            return
        with self._lock:
            self._calls.clear()
            self.requests.clear()
            self._injections.clear()
            for _, release in self._holds.values():
                release.set()
            self._holds.clear()
            self._offset = 0.0
            self._frozen = None
        self.rules.reset()

    def inject(
        self,
        action: str,
        code: str,
        *,
        secret_id: str | None = None,
        times: int = 1,
        status: int = 400,
        message: str = "injected by the test",
        apply: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``action`` (on ``secret_id``) with AWS error ``code``:
        a Secrets Manager action, or a KMS one (``Sign``, ``GetPublicKey``). With ``apply``, moto
        carries each call out first (the answer lost, the write done)."""
        injection = _Injection(action, code, secret_id, times, status, message, apply)
        if self._proc is not None:
            self._control("POST", asdict(injection))
            return
        with self._lock:
            self._injections.append(injection)

    def _now(self) -> float:
        frozen = self._frozen
        return frozen if frozen is not None else time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock of the limits (version ages, the write-rate window) ``seconds`` ahead;
        versions written from now on are dated on it. ``clear`` puts it back to real time."""
        if self._proc is not None:
            raise RuntimeError("advance() needs the in-process server")
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds

    def freeze(self) -> None:
        """Stop the limits' clock where it is (until ``advance`` or ``clear``): every write then
        falls in one second of the write-rate window, whatever the machine's speed."""
        if self._proc is not None:
            raise RuntimeError("freeze() needs the in-process server")
        self._frozen = self._now()

    def hold(self, action: str) -> tuple[threading.Event, threading.Event]:
        """Hold every ``action`` call in flight; returns (arrived, release) events. Once released
        (or after HOLD_LIMIT_S) the call is answered 500, as if its caller had been killed."""
        if self._proc is not None:
            raise RuntimeError("hold() needs the in-process server: events do not cross processes")
        events = (threading.Event(), threading.Event())
        with self._lock:
            self._holds[action] = events
        return events

    def find(self, method: str, path_prefix: str) -> list[MotoRequest]:
        """Recorded requests (``record=True``) of ``method`` whose path starts with ``path_prefix``."""
        if not self.record or self._proc is not None:
            raise RuntimeError("find() needs MotoServer(record=True) in this process")
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- the WSGI layer

    def _middleware(self, app: WsgiApp) -> WsgiApp:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if environ.get("PATH_INFO") == CONTROL_PATH:
                return self._serve_control(environ.get("REQUEST_METHOD", "GET"), body, start_response)
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            with self._lock:
                if self.record and len(self.requests) < MAX_RECORDED:
                    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
                    self.requests.append(MotoRequest(method, path, target, body))
            if target.startswith("TrentService."):
                # KMS (JSON protocol, X-Amz-Target "TrentService.Sign"): injections only.
                with self._lock:
                    kms_injection = self._take(target.split(".", 1)[1], None)
                if kms_injection is not None:
                    return self._injected(start_response, kms_injection)
                return app(environ, start_response)
            if not target.startswith("secretsmanager."):
                return app(environ, start_response)
            try:
                secret_id = json.loads(body or b"{}").get("SecretId")
            except ValueError:
                secret_id = None
            action = target.split(".", 1)[1]
            with self._lock:
                self._calls.append(Call(action, secret_id))
                injection = self._take(action, secret_id)
                hold = self._holds.get(action)
            if hold is not None:
                arrived, release = hold
                arrived.set()
                release.wait(timeout=HOLD_LIMIT_S)
                # The caller was killed while this call was in flight: it never reaches moto.
                dropped = b'{"__type": "InternalServiceError", "message": "dropped by the test"}'
                return _answer(start_response, "500 Dropped", dropped, ("Content-Type", AMZ_JSON))
            if injection is not None and injection.apply and action in WRITE_ACTIONS:
                with self._write_lock:  # applied, with the limits; its answer never reaches the caller
                    for _ in self._limited(action, body, environ, app, lambda *args, **kwargs: None):
                        pass
            if injection is not None:
                return self._injected(start_response, injection)
            if action in WRITE_ACTIONS or action == "ListSecretVersionIds":
                with self._write_lock:
                    return self._limited(action, body, environ, app, start_response)
            return app(environ, start_response)

        return wrapped

    def _limited(
        self,
        action: str,
        body: bytes,
        environ: dict[str, Any],
        app: WsgiApp,
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        """A write or a version listing, with Secrets Manager's limits applied (sm_limits.py)."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        if not isinstance(request, dict):
            request = {}
        found = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = found.group(1) if found else "us-east-1"
        secret = _moto_secret(request.get("SecretId"), region)
        if action == "ListSecretVersionIds" and secret is not None:
            return _answer(
                start_response, "200 OK", _version_list(secret, request), ("Content-Type", AMZ_JSON)
            )
        before = dict(secret.versions) if secret is not None else {}
        carries_value = "SecretString" in request or "SecretBinary" in request
        refusal = self.rules.refusal(
            action,
            region=region,
            secret_string=request.get("SecretString"),
            creates_version=secret is not None
            and carries_value
            and request.get("ClientRequestToken") not in before,
            versions_created=[float(v.get("createdate") or 0) for v in before.values()],
            scheduled_for_deletion=secret is not None and secret.is_deleted(),
        )
        if refusal is not None:
            return _refuse(start_response, refusal)
        answer = list(app(environ, start_response))
        if action == "UpdateSecretVersionStage":
            _follow_awscurrent(body)
        if secret is not None and action in VALUE_ACTIONS:
            # Date the new version on the limits' clock (moto dates it with time.time()).
            for version_id, version in secret.versions.items():
                if version_id not in before:
                    version["createdate"] = self.rules.clock()  # to the fraction: ages are exact
        return answer

    @staticmethod
    def _injected(start_response: Callable[..., Any], injection: _Injection) -> list[bytes]:
        error = json.dumps({"__type": injection.code, "message": injection.message}).encode()
        return _answer(
            start_response,
            f"{injection.status} Injected",
            error,
            ("Content-Type", AMZ_JSON),
            ("x-amzn-ErrorType", injection.code),
        )

    def _take(self, action: str, secret_id: str | None) -> _Injection | None:
        for injection in self._injections:
            if (
                injection.times > 0
                and injection.action == action
                and injection.secret_id in (None, secret_id)
            ):
                injection.times -= 1
                return injection
        return None

    def _serve_control(self, method: str, body: bytes, start_response: Callable[..., Any]) -> list[bytes]:
        # The process mode's remote control: GET the calls, DELETE to clear, POST an injection.
        if method == "DELETE":
            self.clear()
        elif method == "POST":
            self.inject(**json.loads(body))
        answer = json.dumps([[c.action, c.secret_id] for c in self.calls]).encode()
        return _answer(start_response, "200 OK", answer, ("Content-Type", "application/json"))

    def _control(self, method: str, doc: dict[str, Any] | None = None) -> Any:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(self.endpoint + CONTROL_PATH, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            return json.loads(answer.read())


# The names this class had when there were several wrappers; tests written against them still run.
CountingMotoServer = MotoServer


def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.moto_server")
    parser.add_argument("--record", action="store_true", help="keep every request's body")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    server = MotoServer(record=args.record).start()
    print(server.endpoint, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def stop_at_eof() -> None:  # EOF on stdin: the parent is gone; no orphan outlives its benchmark
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    _serve()
