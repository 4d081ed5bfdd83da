"""Provider stand-ins: the local token endpoint (:mod:`standins.token_server`) configured to
enforce one provider's documented quirk, and the plumbing that runs an ``examples/providers/*.toml``
file against it with only its token URL and secret names rewritten.

Each stand-in is a :class:`TokenServer` on 127.0.0.1 serving at the provider's own URL path shape,
issuing the provider's default token lifetime, with per-client ``require`` hooks (see
``TokenServer.add_client``) for the quirks:

* Auth0: 403 ``access_denied`` unless the request names the registered API in ``audience``;
  86400 s tokens.
* Microsoft Entra ID: ``private_key_jwt`` clients registered by certificate, so an assertion
  must carry an ``x5t``/``x5t#S256`` of that certificate (signature checked with its public key);
  every scope must be ``{resource}/.default``.
* Amazon Cognito: secret clients registered as ``client_secret_basic`` whatever the config says
  (credentials in the body get 401 ``invalid_client``); scopes must be ``{resource-server}/{scope}``.
* Okta: a scope is required (400 ``invalid_scope`` without one); methods as configured.
* Keycloak: methods as configured; 3600 s tokens: the client's Access Token Lifespan raised to an
  hour, as keycloak.toml says (the realm default, 300 s, would exceed Secrets Manager's version
  quota: tests/integration/test_providers.py shows `check` refusing it).
* Paxos: the token server as it is (client_secret_post, 3599 s tokens).
"""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standins.harness import ROOT, Harness
from standins.keys import certificate_pem, new_key, private_pem, public_pem
from standins.token_server import ClientRequest, Refusal, Require, TokenServer

EXAMPLES = ROOT / "examples" / "providers"


# --- quirks ---------------------------------------------------------------------------------------


def auth0_require(audience: str) -> Require:
    """Auth0: the client credentials grant names the API in ``audience`` (API Identifier)."""

    def check(req: ClientRequest) -> Refusal | None:
        given = req.form.get("audience")
        if not given:
            return Refusal(403, "access_denied", "No audience parameter was provided for client_credentials")
        if given != [audience]:
            return Refusal(403, "access_denied", "Service not found for the requested audience")
        return None

    return check


def _scopes(req: ClientRequest) -> list[str]:
    return " ".join(req.form.get("scope", [])).split()


def okta_require(req: ClientRequest) -> Refusal | None:
    """Okta: a custom authorization server with no default scopes needs a requested scope."""
    if not _scopes(req):
        return Refusal(
            400, "invalid_scope", "The authorization server has no default scopes; scope must be provided"
        )
    return None


def entra_require(req: ClientRequest) -> Refusal | None:
    """Entra ID v2.0: client credentials ask for ``{resource}/.default``."""
    scopes = _scopes(req)
    if not scopes or any(not s.endswith("/.default") for s in scopes):
        return Refusal(400, "invalid_scope", "Client credential flows must have a scope value with /.default")
    return None


def cognito_require(req: ClientRequest) -> Refusal | None:
    """Cognito: custom scopes are ``{resource-server-identifier}/{scope-name}``."""
    for scope in _scopes(req):
        server, _, name = scope.rpartition("/")
        if not server or not name:
            return Refusal(400, "invalid_scope", "scopes must be resource-server-identifier/scope-name")
    return None


@dataclass(frozen=True)
class Provider:
    name: str
    lifetime: int  # expires_in of issued tokens: the provider's documented default
    require: Callable[[dict[str, Any]], Require | None] = lambda table: None
    by_certificate: bool = False  # private_key_jwt clients registered by certificate (x5t checked)
    forced_method: str | None = None  # secret clients registered with this method whatever the config

    def example(self) -> Path:
        return EXAMPLES / f"{self.name}.toml"


def _auth0(table: dict[str, Any]) -> Require:
    return auth0_require(str(table["endpoint_params"]["audience"]))


PROVIDERS = {
    p.name: p
    for p in (
        Provider("paxos", 3599),
        Provider("auth0", 86400, require=_auth0),
        Provider("okta", 3600, require=lambda table: okta_require),
        Provider("entra", 3599, require=lambda table: entra_require, by_certificate=True),
        Provider("cognito", 3600, require=lambda table: cognito_require, forced_method="client_secret_basic"),
        # The lifespan keycloak.toml tells the operator to set (the realm's default is 300 s).
        Provider("keycloak", 3600),
    )
}


# --- running an example ---------------------------------------------------------------------------


def load_example(name: str) -> dict[str, Any]:
    return tomllib.loads(PROVIDERS[name].example().read_text())


def stand_in(name: str, doc: dict[str, Any]) -> TokenServer:
    """A (not yet started) stand-in for ``name`` serving at the example's token URL path."""
    paths = {urlsplit(t["token_url"]).path for t in doc["environments"].values()}
    assert len(paths) == 1, f"one stand-in serves one token URL path, the example has {paths}"
    return TokenServer(lifetime=PROVIDERS[name].lifetime, token_path=paths.pop(), token_prefix=name)


@dataclass
class Provisioned:
    """What ``provision`` registered for one environment."""

    client_id: str
    auth_method: str
    private_key: str | None = None
    certificate: str | None = None


def provision(
    harness: Harness, name: str, doc: dict[str, Any], server: TokenServer, *, certificate: bool = True
) -> dict[str, Provisioned]:
    """Register a client per environment of the example on ``server``, create its secrets in
    moto, and load the example into ``harness`` with only token_url and secret names rewritten.

    ``certificate=False`` leaves the certificate out of the credentials secret (the stand-in
    still registers the client by certificate when the provider does)."""
    provider = PROVIDERS[name]
    defaults = dict(doc.get("defaults", {}))
    out: dict[str, Provisioned] = {}
    for env_name, table in doc["environments"].items():
        merged = {**defaults, **table}
        method = merged.get("auth_method", "client_secret_post")
        scopes = merged.get("scopes", [])
        client_id = f"{name}-{env_name}-{harness.run_id}"
        require = provider.require(merged)
        creds: dict[str, str] = {"client_id": client_id}
        record = Provisioned(client_id, method)
        if method == "private_key_jwt":
            key = new_key("ec" if merged.get("signing_alg") == "ES256" else "rsa")
            creds["private_key"] = record.private_key = private_pem(key)
            if provider.by_certificate:
                record.certificate = certificate_pem(key)
                server.add_client(
                    client_id,
                    scopes=scopes,
                    auth_method=method,
                    certificate_pem=record.certificate,
                    require=require,
                )
                if certificate:
                    creds["certificate"] = record.certificate
            else:
                server.add_client(
                    client_id,
                    scopes=scopes,
                    auth_method=method,
                    public_key_pem=public_pem(key),
                    require=require,
                )
        else:
            secret = f"SECRETMARK-{uuid.uuid4().hex}:%+/=&"
            creds["client_secret"] = secret
            server.add_client(
                client_id,
                secret,
                scopes=scopes,
                auth_method=provider.forced_method or method,
                require=require,
            )
        creds_name = f"{harness.run_id}/{name}/{env_name}/client-credentials"
        token_name = f"{harness.run_id}/{name}/{env_name}/access-token"
        harness.sm.create_secret(Name=creds_name, SecretString=json.dumps(creds))
        harness.sm.create_secret(Name=token_name)
        harness.envs[env_name] = {
            **table,
            "token_url": server.url,
            "credentials_secret": creds_name,
            "token_secret": token_name,
        }
        out[env_name] = record
    harness.defaults.update(defaults)
    return out
