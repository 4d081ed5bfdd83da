"""The one-call compare-and-swap of ``SecretStore.publish`` against moto's Secrets Manager over
HTTP: the new version's ClientRequestToken is derived from the version a run read, so two runs
that read the same version claim the same id and only one of them writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync_job.payload import TokenPayload, build_payload
from sync_job.redact import Secret
from sync_job.store import SecretStore, successor_version_id
from tests.support.moto_server import MotoServer

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _payload(token: str, lifetime: int, issued: datetime = T0) -> TokenPayload:
    return build_payload(
        access_token=Secret(token),
        token_type="Bearer",
        expires_in=lifetime,
        issued_at=issued,
        scope="funding:read_profile",
        environment="sandbox",
        token_url="https://127.0.0.1/oauth2/token",
        client_id="cas-client",
    )


@pytest.fixture
def store(sm: Any) -> SecretStore:
    return SecretStore(sm)


def _current(store: SecretStore, secret: str) -> tuple[str | None, str | None]:
    stored = store.read_token(secret)
    token = stored.payload.access_token.reveal() if stored.payload else None
    return stored.version_id, token


def _versions(sm: Any, secret: str) -> int:
    return len(sm.list_secret_version_ids(SecretId=secret, IncludeDeprecated=True)["Versions"])


def test_first_publish_of_an_empty_secret_is_one_put(
    sm: Any, store: SecretStore, secret_name: str, moto_server: MotoServer
) -> None:
    sm.create_secret(Name=secret_name)
    moto_server.clear()
    result = store.publish(secret_name, _payload("tok-first-aaaa", 3599), None)
    assert result.published
    assert [c.action for c in moto_server.calls] == ["PutSecretValue"]
    assert _current(store, secret_name) == (successor_version_id(secret_name, None), "tok-first-aaaa")


def test_runs_that_read_one_version_publish_once_and_the_loser_keeps_the_longer_token(
    sm: Any, store: SecretStore, secret_name: str, moto_server: MotoServer
) -> None:
    sm.create_secret(Name=secret_name)
    assert store.publish(secret_name, _payload("tok-base-bbbb", 3599), None).published
    base, _ = _current(store, secret_name)
    # Two runs read ``base``. The first publishes; the second, holding a token that expires
    # earlier, must lose without writing anything.
    winner = store.publish(secret_name, _payload("tok-winner-cccc", 3599, T0 + timedelta(seconds=60)), base)
    assert winner.published
    before = _versions(sm, secret_name)
    moto_server.clear()
    loser = store.publish(secret_name, _payload("tok-loser-dddd", 3599, T0 + timedelta(seconds=30)), base)
    calls = [c.action for c in moto_server.calls]
    assert not loser.published
    assert loser.current is not None and loser.current.access_token.reveal() == "tok-winner-cccc"
    assert _current(store, secret_name)[1] == "tok-winner-cccc"
    assert _versions(sm, secret_name) == before  # the refused write added no version
    assert calls == ["PutSecretValue", "GetSecretValue"]


def test_a_loser_with_the_longer_token_publishes_on_top_of_the_winner(
    sm: Any, store: SecretStore, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name)
    store.publish(secret_name, _payload("tok-base-eeee", 3599), None)
    base, _ = _current(store, secret_name)
    store.publish(secret_name, _payload("tok-short-ffff", 600, T0 + timedelta(seconds=60)), base)
    later = store.publish(secret_name, _payload("tok-long-gggg", 3599, T0 + timedelta(seconds=30)), base)
    assert later.published
    winner_version, token = _current(store, secret_name)
    assert token == "tok-long-gggg"
    # Its version is the successor of the winner's version, not of the one it read.
    assert winner_version == successor_version_id(secret_name, successor_version_id(secret_name, base))
    stages = sm.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert stages[successor_version_id(secret_name, base)] == ["AWSPREVIOUS"]


def test_a_retried_write_of_the_same_token_adds_nothing(
    sm: Any, store: SecretStore, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name)
    store.publish(secret_name, _payload("tok-base-hhhh", 3599), None)
    base, _ = _current(store, secret_name)
    payload = _payload("tok-again-iiii", 3599, T0 + timedelta(seconds=5))
    assert store.publish(secret_name, payload, base).published
    count = _versions(sm, secret_name)
    # botocore retrying a write whose answer was lost sends the same id and value again.
    assert store.publish(secret_name, payload, base).published
    assert _versions(sm, secret_name) == count
    assert _current(store, secret_name)[1] == "tok-again-iiii"


def test_a_rolled_back_secret_takes_the_next_successor(sm: Any, store: SecretStore, secret_name: str) -> None:
    sm.create_secret(Name=secret_name)
    store.publish(secret_name, _payload("tok-base-jjjj", 3599), None)
    base, _ = _current(store, secret_name)
    published = store.publish(secret_name, _payload("tok-bad-kkkk", 3599, T0 + timedelta(seconds=5)), base)
    assert published.version_id is not None
    # An operator moves AWSCURRENT back to the version the successor replaced.
    sm.update_secret_version_stage(
        SecretId=secret_name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=base,
        RemoveFromVersionId=published.version_id,
    )
    assert _current(store, secret_name) == (base, "tok-base-jjjj")
    result = store.publish(secret_name, _payload("tok-next-llll", 3599, T0 + timedelta(seconds=9)), base)
    assert result.published
    assert result.version_id == successor_version_id(secret_name, base, 1)
    assert _current(store, secret_name) == (result.version_id, "tok-next-llll")


def test_successor_ids_are_valid_client_request_tokens() -> None:
    ids = {
        successor_version_id("a", None),
        successor_version_id("b", None),
        successor_version_id("a", "v1"),
        successor_version_id("b", "v1"),  # same for every secret: version ids are UUIDs already
        successor_version_id("a", "v1", 1),
    }
    assert len(ids) == 4
    assert all(32 <= len(i) <= 64 for i in ids)
