"""`sync-job revoke` against a second, independent implementation: panva's oidc-provider (npm,
OpenID Certified), whose RFC 7009 revocation endpoint and RFC 7662 introspection say whether the
old tokens are dead (standins/oidc_peer.py). Tokens from it are real opaque tokens; the
job obtains them with client_secret_post and client_secret_basic, as from any provider."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from standins.harness import Harness
from standins.oidc_peer import OidcPeer, PeerClient, PeerUnavailable, oidc_peer

METHODS = ("client_secret_post", "client_secret_basic")


@pytest.fixture(scope="module")
def peer_clients() -> dict[str, PeerClient]:
    return {
        method: PeerClient(
            client_id=f"sync-job-{method}-{uuid.uuid4().hex[:6]}",
            client_secret=f"SECRETMARK-{uuid.uuid4().hex}",
            token_endpoint_auth_method=method,
            scope="orders:read orders:write",
        )
        for method in METHODS
    }


@pytest.fixture(scope="module")
def peer(peer_clients: dict[str, PeerClient]) -> Iterator[OidcPeer]:
    try:
        with oidc_peer(list(peer_clients.values())) as running:
            yield running
    except PeerUnavailable as exc:
        pytest.skip(str(exc))


def _env(harness: Harness, peer: OidcPeer, client: PeerClient, method: str) -> None:
    creds = f"{harness.run_id}/peer/client-credentials"
    token = f"{harness.run_id}/peer/access-token"
    harness.sm.create_secret(
        Name=creds,
        SecretString=json.dumps({"client_id": client.client_id, "client_secret": client.client_secret}),
    )
    harness.sm.create_secret(Name=token)
    harness.envs["peer"] = {
        "token_url": peer.token_url,
        "revocation_url": peer.revocation_url,
        "scopes": ["orders:read"],
        "credentials_secret": creds,
        "token_secret": token,
        "auth_method": method,
    }
    harness.secrets["peer"] = client.client_secret  # output is checked for every form of it


@pytest.mark.parametrize("method", METHODS)
def test_revoke_at_oidc_provider(
    harness: Harness, peer: OidcPeer, peer_clients: dict[str, PeerClient], method: str
) -> None:
    client = peer_clients[method]
    _env(harness, peer, client, method)
    assert harness.cli("run").exit_code == 0
    first = harness.stored("peer")
    assert harness.cli("run", "--force").exit_code == 0
    second = harness.stored("peer")
    assert first and second and first["access_token"] != second["access_token"]
    assert peer.is_active(client, first["access_token"]) and peer.is_active(client, second["access_token"])

    result = harness.cli("revoke", "peer", "--json")

    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["published"] is True
    assert [(t["stage"], t["outcome"]) for t in doc["tokens"]] == [
        ("AWSCURRENT", "revoked"),
        ("AWSPREVIOUS", "revoked"),
    ]
    fresh = harness.stored("peer")
    assert fresh is not None
    assert not peer.is_active(client, first["access_token"])
    assert not peer.is_active(client, second["access_token"])
    assert peer.is_active(client, fresh["access_token"])


def test_a_wrong_client_secret_is_refused_by_the_peer_and_nothing_is_revoked(
    harness: Harness, peer: OidcPeer, peer_clients: dict[str, PeerClient]
) -> None:
    client = peer_clients["client_secret_post"]
    _env(harness, peer, client, "client_secret_post")
    assert harness.cli("run").exit_code == 0
    stored = harness.stored("peer")
    assert stored is not None
    # The credentials change under the job: its fresh-token request is refused (invalid_client).
    wrong = {"client_id": client.client_id, "client_secret": f"SECRETMARK-wrong-{uuid.uuid4().hex}"}
    harness.sm.put_secret_value(
        SecretId=harness.envs["peer"]["credentials_secret"], SecretString=json.dumps(wrong)
    )
    result = harness.cli("revoke", "peer", "--json")
    assert result.exit_code == 1
    assert "nothing revoked" in result.json()["error"]
    assert peer.is_active(client, stored["access_token"])
