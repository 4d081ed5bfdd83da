"""The compare-and-swap of ``SecretStore.publish`` against moto's Secrets Manager over HTTP: a
version written under a private label, then AWSCURRENT moved with RemoveFromVersionId set to the
version the run read, so a run whose read is stale never replaces a newer token with its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from standins.fakes import token_doc
from standins.moto_server import MotoServer
from sync_job.payload import TokenPayload, parse_payload
from sync_job.store import SecretStore

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _payload(token: str, lifetime: int, issued: datetime = T0) -> TokenPayload:
    expires = issued + timedelta(seconds=lifetime)
    return parse_payload(json.dumps(token_doc(token, expires, issued_at=issued)))


@pytest.fixture
def store(sm: Any) -> SecretStore:
    return SecretStore(sm)


def _current(store: SecretStore, secret: str) -> tuple[str | None, str | None]:
    stored = store.read_token(secret)
    token = stored.payload.access_token.reveal() if stored.payload else None
    return stored.version_id, token


def test_first_publish_of_an_empty_secret_is_one_put(
    sm: Any, store: SecretStore, secret_name: str, moto_server: MotoServer
) -> None:
    sm.create_secret(Name=secret_name)
    moto_server.clear()
    result = store.publish(secret_name, _payload("tok-first-aaaa", 3599), None)
    assert result.published
    assert [c.action for c in moto_server.calls] == ["PutSecretValue"]
    assert _current(store, secret_name) == (result.version_id, "tok-first-aaaa")


def test_runs_that_read_one_version_publish_once_and_the_loser_keeps_the_longer_token(
    sm: Any, store: SecretStore, secret_name: str, moto_server: MotoServer
) -> None:
    sm.create_secret(Name=secret_name)
    assert store.publish(secret_name, _payload("tok-base-bbbb", 3599), None).published
    base, _ = _current(store, secret_name)
    # Two runs read ``base``. The first publishes; the second, holding a token that expires
    # earlier, must lose.
    winner = store.publish(secret_name, _payload("tok-winner-cccc", 3599, T0 + timedelta(seconds=60)), base)
    assert winner.published
    moto_server.clear()
    loser = store.publish(secret_name, _payload("tok-loser-dddd", 3599, T0 + timedelta(seconds=30)), base)
    calls = [c.action for c in moto_server.calls]
    assert not loser.published
    assert loser.current is not None and loser.current.access_token.reveal() == "tok-winner-cccc"
    assert _current(store, secret_name)[1] == "tok-winner-cccc"
    assert calls == ["PutSecretValue", "UpdateSecretVersionStage", "GetSecretValue"]


def test_a_loser_with_the_longer_token_publishes_on_top_of_the_winner(
    sm: Any, store: SecretStore, secret_name: str
) -> None:
    sm.create_secret(Name=secret_name)
    store.publish(secret_name, _payload("tok-base-eeee", 3599), None)
    base, _ = _current(store, secret_name)
    short = store.publish(secret_name, _payload("tok-short-ffff", 600, T0 + timedelta(seconds=60)), base)
    later = store.publish(secret_name, _payload("tok-long-gggg", 3599, T0 + timedelta(seconds=30)), base)
    assert later.published
    assert _current(store, secret_name) == (later.version_id, "tok-long-gggg")
    stages = sm.describe_secret(SecretId=secret_name)["VersionIdsToStages"]
    assert "AWSPREVIOUS" in stages[short.version_id]


def test_a_stale_read_after_a_rollback_never_replaces_the_newer_token(
    sm: Any, store: SecretStore, secret_name: str
) -> None:
    """Run X reads version B; an operator rolls AWSCURRENT back to V; run Y reads V and publishes
    a long-lived token; then X publishes its shorter one against B. X must lose: AWSCURRENT is no
    longer on B. (A swap keyed on ids derived from the version read let X win here.)"""
    sm.create_secret(Name=secret_name)
    v = store.publish(secret_name, _payload("tok-v-hhhh", 3599), None).version_id
    b = store.publish(secret_name, _payload("tok-b-iiii", 3599, T0 + timedelta(seconds=5)), v).version_id
    assert v and b
    sm.update_secret_version_stage(
        SecretId=secret_name, VersionStage="AWSCURRENT", MoveToVersionId=v, RemoveFromVersionId=b
    )
    y = store.publish(secret_name, _payload("tok-y-long-jjjj", 3599, T0 + timedelta(seconds=20)), v)
    assert y.published
    x = store.publish(secret_name, _payload("tok-x-short-kkkk", 600, T0 + timedelta(seconds=10)), b)
    assert not x.published
    assert _current(store, secret_name) == (y.version_id, "tok-y-long-jjjj")


def test_a_rolled_back_secret_is_published_on_again(sm: Any, store: SecretStore, secret_name: str) -> None:
    sm.create_secret(Name=secret_name)
    store.publish(secret_name, _payload("tok-base-llll", 3599), None)
    base, _ = _current(store, secret_name)
    published = store.publish(secret_name, _payload("tok-bad-mmmm", 3599, T0 + timedelta(seconds=5)), base)
    assert published.version_id is not None
    # An operator moves AWSCURRENT back (docs/runbook.md, "Roll back").
    sm.update_secret_version_stage(
        SecretId=secret_name,
        VersionStage="AWSCURRENT",
        MoveToVersionId=base,
        RemoveFromVersionId=published.version_id,
    )
    for round_ in range(4):  # every later run publishes on the version it read, however often
        current, _ = _current(store, secret_name)
        token = f"tok-next-{round_}-nnnn"
        result = store.publish(
            secret_name, _payload(token, 3599, T0 + timedelta(seconds=9 + round_)), current
        )
        assert result.published
        assert _current(store, secret_name) == (result.version_id, token)
