"""Client credentials that hold no extractable secret (issue 20): completes the
``Credentials`` read from the credentials secret with what the environment's config names.

* ``kms_key_id``: the assertion is signed by an asymmetric KMS key (``kms.py``), with the key's
  RFC 7638 thumbprint as ``kid`` unless one is set, and the certificate stored under
  ``certificate`` (if any) checked against the KMS key's public half.
* ``client_assertion_source = "aws_sts"``: the assertion is a JWT that AWS STS issues to the
  job's own role (IAM outbound identity federation, ``sts:GetWebIdentityToken``), fetched per
  token request; providers that trust AWS as an issuer (Microsoft Entra ID federated identity
  credentials, Keycloak federated client authentication) accept it as the client assertion
  (RFC 7521 §5.2, RFC 7523 §2.2).
* ``client_assertion_file``: the assertion is read from a file on every token request (a
  Kubernetes projected service-account token, a SPIFFE JWT-SVID, a CI provider's OIDC token):
  whoever writes the file renews it.

Every assertion and web-identity token is registered with ``redact`` before anything can print it.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sync_job import bearer, inputs
from sync_job.awsclient import bounded_client
from sync_job.awserrors import sts_call
from sync_job.config import EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import CredentialsError, SigningError, UsageError
from sync_job.logs import log_event
from sync_job.redact import register

if TYPE_CHECKING:
    from sync_job.clock import Clock
    from sync_job.jwks import Jwk
    from sync_job.kms import KmsKeys

log = logging.getLogger("sync_job.keyless")

# A projected token or JWT-SVID is one or two kB; past this the file is not one.
MAX_ASSERTION_BYTES = 64 * 1024
_JWT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _check_jwt(value: str, where: str, now: float) -> None:
    # Compact JWS (RFC 7515 §7.1): three base64url parts. The token is already registered.
    if value.count(".") != 2 or not set(value) <= _JWT_CHARS:
        raise CredentialsError(f"{where} is not a compact JWT (header.payload.signature)")
    exp = bearer.jwt_expiry(value)
    if exp is not None and exp <= now:
        raise CredentialsError(
            f"{where} holds a JWT that expired {int(now - exp)} s ago; its issuer renews it"
        )


@dataclass(frozen=True)
class FileAssertion:
    """The client assertion read from ``path`` on every call (its writer renews it: kubelet
    rotates projected tokens, the SPIFFE helper JWT-SVIDs). Raises ``CredentialsError`` when the
    file is missing, not a regular file, over ``MAX_ASSERTION_BYTES``, not a JWT, or expired."""

    path: str
    clock: Clock

    def __call__(self) -> str:
        where = f"client_assertion_file {self.path}"
        try:
            with open(self.path, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise CredentialsError(f"{where} is not a regular file")
                raw = handle.read(MAX_ASSERTION_BYTES + 1)
        except FileNotFoundError:
            raise CredentialsError(f"{where} does not exist; mount the token there or fix the path") from None
        except OSError as exc:
            raise CredentialsError(f"{where} cannot be read: {exc.strerror or 'error'}") from None
        if len(raw) > MAX_ASSERTION_BYTES:
            raise CredentialsError(f"{where} is larger than {MAX_ASSERTION_BYTES} bytes; not a token")
        try:
            value = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise CredentialsError(f"{where} is not a compact JWT (not ASCII)") from None
        if not value:
            raise CredentialsError(f"{where} is empty")
        register(value)
        _check_jwt(value, where, self.clock.now().timestamp())
        return value


@dataclass(frozen=True)
class StsAssertion:
    """A web-identity token of the job's own AWS principal (``sts:GetWebIdentityToken``,
    https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html) for
    ``audience``, valid ``lifetime_seconds`` (60 to 3600), signed ``signing_alg`` (RS256 or
    ES384), fetched on every call. Raises :class:`SigningError`."""

    client: Any
    audience: str
    lifetime_seconds: int
    signing_alg: str
    clock: Clock

    def __call__(self) -> str:
        answer = sts_call(
            "GetWebIdentityToken",
            lambda: self.client.get_web_identity_token(
                Audience=[self.audience],
                DurationSeconds=self.lifetime_seconds,
                SigningAlgorithm=self.signing_alg,
            ),
        )
        token = answer.get("WebIdentityToken")
        if not isinstance(token, str) or not token:
            raise SigningError(
                "STS answered sts:GetWebIdentityToken without a WebIdentityToken", transient=True
            )
        register(token)
        _check_jwt(token, "the web identity token from STS", self.clock.now().timestamp())
        return token


class CredentialSources:
    """Completes each environment's ``Credentials`` for its credential kind (module docstring).

    The KMS and STS clients are made on first use (``awsclient.bounded_client``, sized from
    ``budget_seconds``): an environment with a PEM key or a client secret never imports them."""

    def __init__(
        self,
        clock: Clock,
        *,
        budget_seconds: float = 600.0,
        max_attempts: int = 5,
        kms_client: Any = None,
        sts_client: Any = None,
    ) -> None:
        self._clock = clock
        self._budget = budget_seconds
        self._max_attempts = max_attempts
        self._kms_client = kms_client
        self._sts_client = sts_client
        self._keys: KmsKeys | None = None
        self._lock = threading.Lock()

    @property
    def clock(self) -> Clock:
        return self._clock

    def kms(self) -> KmsKeys:
        """The KMS key objects, on a KMS client made on first use (bounded like every AWS call)."""
        from sync_job.kms import KmsKeys

        with self._lock:
            if self._keys is None:
                client = self._kms_client or bounded_client(
                    "kms", budget_seconds=self._budget, max_attempts=self._max_attempts
                )
                self._keys = KmsKeys(client)
            return self._keys

    def _sts(self) -> Any:
        with self._lock:
            if self._sts_client is None:
                self._sts_client = bounded_client(
                    "sts", budget_seconds=self._budget, max_attempts=self._max_attempts
                )
            return self._sts_client

    def complete(self, env: EnvironmentConfig, creds: Credentials) -> Credentials:
        """``creds`` with the signing key or assertion source ``env`` names (unchanged for a
        client secret or a PEM key). Raises ``CredentialsError`` / :class:`SigningError`."""
        kind = env.credential_kind
        if kind == "kms_key":
            return self._with_kms_key(env, creds)
        if kind in ("aws_sts", "assertion_file"):
            if creds.private_key is not None:
                _unused_key(env, creds)
            if kind == "assertion_file":
                assert env.client_assertion_file is not None
                return replace(creds, assertion_source=FileAssertion(env.client_assertion_file, self._clock))
            assert env.client_assertion_audience is not None
            source = StsAssertion(
                self._sts(),
                env.client_assertion_audience,
                env.client_assertion_lifetime_seconds,
                env.client_assertion_signing_alg,
                self._clock,
            )
            return replace(creds, assertion_source=source)
        return creds

    def _with_kms_key(self, env: EnvironmentConfig, creds: Credentials) -> Credentials:
        from sync_job.certs import check_matches
        from sync_job.jwks import thumbprint
        from sync_job.kms import jose_alg

        assert env.kms_key_id is not None
        keys = self.kms()
        public = keys.public_key(env.kms_key_id)
        alg = jose_alg(env.signing_alg, public.key_spec, env.kms_key_id)
        if creds.certificate is not None:
            check_matches(creds.certificate, public.spki_der, creds.source, f"KMS key {env.kms_key_id}")
        if creds.private_key is not None:
            _unused_key(env, creds)
        # From the config only, so `sync-job jwks` (which reads no secret) prints the same kid.
        kid = env.key_id or thumbprint(public.load())
        return replace(
            creds,
            private_key=None,
            signing_key=keys.signing_key(env.kms_key_id),
            signing_alg=alg,
            key_id=kid,
        )


def _unused_key(env: EnvironmentConfig, creds: Credentials) -> None:
    # The point of a keyless credential is that no key is stored: say so, do not use it.
    log_event(
        log,
        logging.WARNING,
        "credentials.unused_private_key",
        environment=env.name,
        secret=creds.source,
        problem=f"holds a 'private_key' that {env.credential_kind} makes unused; delete it from the secret",
    )


# --- what the operator registers with the provider (`sync-job jwks`, `sync-job certificate`) ---


def public_jwk(
    env: EnvironmentConfig, sources: CredentialSources, read_credentials: Callable[[], Credentials]
) -> Jwk:
    """The public signing key of ``env`` as a :class:`jwks.Jwk`, with the ``kid`` its assertions
    carry: a KMS key's (``kms:GetPublicKey`` only; ``kid`` = ``key_id`` from the config, else the
    RFC 7638 thumbprint), or the PEM key's of the credentials secret (``read_credentials`` is
    called only then; ``kid`` = the secret's ``key_id``, the config's, else the thumbprint).
    Raises ``UsageError`` for an environment that signs nothing (a client secret, a federated
    assertion), ``CredentialsError`` / :class:`SigningError` otherwise."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sync_job.jwks import jwk_of
    from sync_job.kms import jose_alg

    kind = env.credential_kind
    if kind == "kms_key":
        assert env.kms_key_id is not None
        public = sources.kms().public_key(env.kms_key_id)
        alg = jose_alg(env.signing_alg, public.key_spec, env.kms_key_id)
        return jwk_of(public.load(), alg, env.key_id)
    if kind != "private_key":
        raise UsageError(
            f"environment {env.name} uses {kind}: it signs nothing, so it has no public key to publish"
        )
    creds = read_credentials()
    if creds.private_key is None:
        raise CredentialsError(f"credentials secret {creds.source} lacks 'private_key'")
    try:
        key = load_pem_private_key(creds.private_key.reveal().encode(), password=None)
    except Exception:
        # Never chain: a parser's message may quote the key.
        raise CredentialsError(
            f"credentials secret {creds.source}: 'private_key' is not a PEM private key"
        ) from None
    return jwk_of(key.public_key(), env.signing_alg, creds.key_id or env.key_id, creds.x5t_s256)


def kms_certificate(
    env: EnvironmentConfig, sources: CredentialSources, subject: str | None, days: int
) -> str:
    """A self-signed PEM certificate over ``env``'s KMS key, signed through ``kms:Sign``
    (``certs.self_signed_certificate``), for providers that register a key by certificate
    (Microsoft Entra ID). ``subject`` defaults to ``CN=sync-job <env>``. Raises ``UsageError``
    for an environment without ``kms_key_id`` (a PEM key's certificate is made where the key is)."""
    from sync_job.certs import self_signed_certificate

    if env.kms_key_id is None:
        raise UsageError(
            f"environment {env.name} has no kms_key_id: `certificate` signs with a KMS key; make a PEM "
            "key's certificate where the key is (openssl req -new -x509 -key KEY.pem)"
        )
    if subject is not None:
        # Checked before kms:GetPublicKey: a control or invisible character in a DN would be
        # signed into the certificate a provider shows to people (inputs.problem).
        wrong = inputs.problem(subject, max_chars=inputs.MAX_TEXT_CHARS, spaces=True)
        if wrong is not None:
            raise UsageError(f"--subject {wrong}; give an RFC 4514 DN such as CN=sync-job {env.name}")
    key = sources.kms().signing_key(env.kms_key_id)
    try:
        return self_signed_certificate(key, subject or f"CN=sync-job {env.name}", days, sources.clock.now())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
