"""The input rules of `credentials put` and the rotation's step order, over in-memory fakes
(the same paths across the real wire: tests/integration/test_credentials_put.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_job.clock import ManualClock
from sync_job.config import EnvironmentConfig, parse_config
from sync_job.credentials import Credentials
from sync_job.errors import OAuthError, SyncJobError, UsageError
from sync_job.oauth import FetchResult, TokenResponse
from sync_job.payload import TokenPayload
from sync_job.redact import Secret, scrub
from sync_job.rotation import put_credentials
from sync_job.secret_input import MAX_INPUT_BYTES, NewCredentials, parse_new_credentials, read_input
from sync_job.store import CURRENT_STAGE, PublishResult, StoredToken
from sync_job.sync import Job
from tests.support.fakes import SecretsFake


def read(data: bytes, pem: bool = False) -> str:
    return read_input(io.BytesIO(data), is_tty=False, pem=pem, what="client secret").reveal()


def test_one_trailing_newline_is_dropped() -> None:
    assert read(b"s3cret-value\n") == "s3cret-value"
    assert read(b"s3cret-value\r\n") == "s3cret-value"
    assert read(b"s3cret-value") == "s3cret-value"
    assert read(b"s3cret-value\n\n") == "s3cret-value\n"  # then refused: a line break inside


def test_input_is_registered_for_scrubbing() -> None:
    value = read(b"SECRETMARK-registered-at-once\n")
    assert scrub(f"oops {value} leaked") == "oops [REDACTED] leaked"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n", "empty"),
        (b"x" * (MAX_INPUT_BYTES + 1), "larger than 64 KiB"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_raw_input(data: bytes, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        read(data)
    assert caught.value.exit_code == 2


def test_input_at_the_size_limit_is_read() -> None:
    assert len(read(b"x" * MAX_INPUT_BYTES)) == MAX_INPUT_BYTES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\nb", "line break"),
        ("a\tb", "control character"),
        ("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----", "is a PEM block"),
    ],
)
def test_client_secret_rules(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_new_credentials(Secret(text), "client_secret_basic")


def test_client_secret_with_reserved_characters_and_spaces_is_kept_exactly() -> None:
    new = parse_new_credentials(Secret(" a:%+/=&b "), "client_secret_post")
    assert new.client_secret is not None and new.client_secret.reveal() == " a:%+/=&b "


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "must not be encrypted",
        ),
        ("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n", "0 PEM private keys"),
        ("", "0 PEM private keys"),
    ],
)
def test_pem_rules(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_new_credentials(Secret(text), "private_key_jwt")


# --- step order over fakes ----------------------------------------------------------------------

CONFIG = {
    "environments": {
        "sandbox": {
            "token_url": "https://oauth.example.com/token",
            "credentials_secret": "c",
            "token_secret": "t",
            "scopes": ["a", "b"],
        }
    }
}


class FakeStore(SecretsFake):
    def __init__(self, publish: PublishResult | None = None) -> None:
        self.doc: dict[str, Any] = {"client_id": "id-1", "client_secret": "old-secret-value", "other": 1}
        self.puts: list[dict[str, Any]] = []
        self.published: list[TokenPayload] = []
        self._publish = publish

    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials:
        raise AssertionError("a rotation reads the whole document, not parsed credentials")

    def describe(self, secret_id: str) -> None:
        raise AssertionError("not used by a rotation")

    def versions_created_since(self, secret_id: str, since: datetime) -> int:
        return 0

    def read_document(self, secret_id: str) -> dict[str, Any]:
        return dict(self.doc)

    def put_document(self, secret_id: str, doc: dict[str, Any]) -> str:
        self.puts.append(doc)
        return "v-2"

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        assert stage == CURRENT_STAGE
        return StoredToken(payload=None, version_id="v-token-1")

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        assert expected_version == "v-token-1"
        self.published.append(payload)
        return self._publish or PublishResult(published=True, version_id="v-token-2")


class FakeTokens:
    def __init__(self, scope: str | None = "a b", error: Exception | None = None) -> None:
        self.seen: list[Credentials] = []
        self.scope = scope
        self.error = error

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        self.seen.append(creds)
        if self.error:
            if not isinstance(self.error, SyncJobError):
                raise self.error  # a bug in the token client, not a refused request
            return FetchResult(attempts=1, latency_seconds=0.01, error=self.error)
        token = TokenResponse(Secret("tok-LEAKMARK-fake"), "bearer", 3600, self.scope)
        return FetchResult(
            attempts=1, latency_seconds=0.01, token=token, issued_at=datetime(2026, 11, 29, 12, tzinfo=UTC)
        )


def job(store: FakeStore, tokens: FakeTokens) -> Job:
    return Job(config=parse_config(CONFIG), store=store, tokens=tokens, clock=ManualClock())


NEW = NewCredentials(client_secret=Secret("new-secret-value"))


def test_all_three_steps_and_other_keys_kept() -> None:
    store, tokens = FakeStore(), FakeTokens()
    result = put_credentials(job(store, tokens), "sandbox", NEW)
    assert (result.tested, result.stored, result.published, result.error) == (True, True, True, None)
    assert result.version_id == "v-2"
    assert store.puts == [{"client_id": "id-1", "client_secret": "new-secret-value", "other": 1}]
    assert tokens.seen[0].client_secret == Secret("new-secret-value")
    assert store.published[0].expires_at == datetime(2026, 11, 29, 13, tzinfo=UTC)
    assert result.to_dict()["expires_at"] == "2026-11-29T13:00:00Z"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (
            FakeTokens(error=OAuthError("rejected: invalid_client", error="invalid_client")),
            "not what the provider",
        ),
        (FakeTokens(scope="a"), "lacks b"),
    ],
)
def test_failed_test_writes_nothing(tokens: FakeTokens, message: str) -> None:
    store = FakeStore()
    result = put_credentials(job(store, tokens), "sandbox", NEW)
    assert not result.tested and not result.stored and message in (result.error or "")
    assert store.puts == [] and store.published == []


def test_lost_race_is_not_an_error() -> None:
    store = FakeStore(publish=PublishResult(published=False))
    result = put_credentials(job(store, FakeTokens()), "sandbox", NEW)
    assert result.ok and result.stored and not result.published
    assert "longer-lived" in result.lines()[-1]


def test_unknown_environment_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        put_credentials(job(FakeStore(), FakeTokens()), "nope", NEW)


# --- SIGTERM/SIGINT between steps (the CLI's handlers set the interrupt; sync_job.waits) --------


class SignalDuring(FakeStore):
    """Sets the interrupt while the credentials are being written, as a SIGTERM then would."""

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self.flag = flag

    def put_document(self, secret_id: str, doc: dict[str, Any]) -> str:
        self.flag.set("SIGTERM", 0.0)
        return super().put_document(secret_id, doc)


class SignalDuringTest(FakeTokens):
    """Sets the interrupt while the test request is answered, as a SIGINT then would."""

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self.flag = flag

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        self.flag.set("SIGINT", 0.0)
        return super().fetch(env, creds, deadline)


def test_a_signal_during_the_test_stores_nothing() -> None:
    from sync_job import waits
    from sync_job.executor import Interrupt

    flag = Interrupt()
    store = FakeStore()
    with waits.interruptible(flag):
        result = put_credentials(job(store, SignalDuringTest(flag)), "sandbox", NEW)
    assert result.tested and not result.stored
    assert result.error == "interrupted by SIGINT after the test; nothing stored"
    assert store.puts == [] and store.published == []


def test_a_signal_during_the_store_step_publishes_nothing_and_says_the_credentials_are_stored() -> None:
    from sync_job import waits
    from sync_job.cli import _written
    from sync_job.executor import Interrupt

    flag = Interrupt()
    store = SignalDuring(flag)
    with waits.interruptible(flag):
        result = put_credentials(job(store, FakeTokens()), "sandbox", NEW)
    assert result.stored and not result.published and result.error is None
    assert result.note == "interrupted by SIGTERM: the stored token is unchanged"
    assert len(store.puts) == 1 and store.published == []
    assert _written(result) == (
        "the new credentials are stored (version v-2 is AWSCURRENT); the stored token is unchanged "
        "(sync-job run --env sandbox --force)"
    )
