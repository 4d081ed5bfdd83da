"""The input rules of `credentials put` and the rotation's step order, over in-memory fakes
(the same paths across the real wire: tests/integration/test_credentials_put.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from standins.fakes import FakeTokenSource, SecretsFake, token_doc
from standins.keys import keypair
from sync_job.clock import ManualClock
from sync_job.config import EnvironmentConfig, parse_config
from sync_job.credentials import Credentials
from sync_job.errors import OAuthError, SyncJobError, UsageError
from sync_job.oauth import TokenResponse
from sync_job.payload import TokenPayload, parse_payload
from sync_job.redact import Secret, scrub
from sync_job.rotation import client_request_token, new_document, put_credentials
from sync_job.secret_input import (
    MAX_INPUT_BYTES,
    NewCredentials,
    parse_new_credentials,
    read_input,
    split_pem,
)
from sync_job.store import CURRENT_STAGE, PublishResult, StoredDocument, StoredToken
from sync_job.sync import Job
from sync_job.token_client import FetchResult


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


_KEY = "-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----"
_CERT = "-----BEGIN CERTIFICATE-----\nc{}\n-----END CERTIFICATE-----"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_split_pem_keeps_the_key_and_the_chain_in_order(line_end: str) -> None:
    text = "\n".join([_KEY, _CERT.format(1), _CERT.format(2), ""]).replace("\n", line_end)
    parts = split_pem(text)
    assert parts.private_key.startswith("-----BEGIN PRIVATE KEY-----") and parts.private_key.endswith(
        "-----\n"
    )
    assert parts.certificate is not None and parts.certificate.count("BEGIN CERTIFICATE") == 2
    assert parts.certificate.index("c1") < parts.certificate.index("c2")
    assert split_pem(_KEY + "\n").certificate is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_CERT.format(1) + "\n" + _KEY, "private key first"),
        (_KEY + "\n" + _KEY, "2 PEM private keys"),
        (_KEY + "\ntrailing words", "outside PEM blocks"),
        (_KEY.replace("PRIVATE KEY", "PUBLIC KEY"), "unexpected PEM block PUBLIC KEY"),
    ],
)
def test_split_pem_refuses_without_quoting(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as refused:
        split_pem(text)
    assert "-----" not in refused.value.message


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

    def read_document(self, secret_id: str) -> StoredDocument:
        return StoredDocument(doc=dict(self.doc), version_id="v-1")

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        self.puts.append(doc)
        return "v-2"

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        assert stage == CURRENT_STAGE
        return StoredToken(payload=None, version_id="v-token-1")

    def publish(self, secret_id: str, payload: TokenPayload, expected_version: str | None) -> PublishResult:
        assert expected_version == "v-token-1"
        self.published.append(payload)
        return self._publish or PublishResult(published=True, version_id="v-token-2")


def fake_tokens(scope: str | None = "a b", error: Exception | None = None) -> FakeTokenSource:
    """The one fake token source, answering every request with a token granted ``scope``
    (3600 s, issued at ``ISSUED``) or with ``error`` (one that is no ``SyncJobError`` raised:
    a bug in the token client, not a refused request)."""

    def answer(env: EnvironmentConfig, n: int) -> FetchResult:
        if error is not None:
            if not isinstance(error, SyncJobError):
                raise error
            return FetchResult(attempts=1, latency_seconds=0.01, error=error)
        token = TokenResponse(Secret("tok-LEAKMARK-fake"), "bearer", 3600, scope)
        return FetchResult(attempts=1, latency_seconds=0.01, token=token, issued_at=ISSUED)

    return FakeTokenSource(answer)


def job(store: FakeStore, tokens: FakeTokenSource) -> Job:
    return Job(config=parse_config(CONFIG), store=store, tokens=tokens, clock=ManualClock())


NEW = NewCredentials(client_secret=Secret("new-secret-value"))


def test_all_three_steps_and_other_keys_kept() -> None:
    store, tokens = FakeStore(), fake_tokens()
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
            fake_tokens(error=OAuthError("rejected: invalid_client", error="invalid_client")),
            "not what the provider",
        ),
        (fake_tokens(scope="a"), "lacks b"),
    ],
)
def test_failed_test_writes_nothing(tokens: FakeTokenSource, message: str) -> None:
    store = FakeStore()
    result = put_credentials(job(store, tokens), "sandbox", NEW)
    assert not result.tested and not result.stored and message in (result.error or "")
    assert store.puts == [] and store.published == []


def test_lost_race_is_not_an_error() -> None:
    store = FakeStore(publish=PublishResult(published=False))
    result = put_credentials(job(store, fake_tokens()), "sandbox", NEW)
    assert result.ok and result.stored and not result.published
    assert "longer-lived" in result.lines()[-1]


def test_unknown_environment_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        put_credentials(job(FakeStore(), fake_tokens()), "nope", NEW)


# --- the one publish path (issue 18 §2) ----------------------------------------------------------

ISSUED = datetime(2026, 11, 29, 12, tzinfo=UTC)  # fake_tokens' token: 3600 s, expires 13:00


class StoreWithToken(FakeStore):
    """A stored token expiring at ``stored_expiry``; storing the credentials takes ``store_seconds``
    of ``clock``'s time (a slow PutSecretValue)."""

    def __init__(self, clock: ManualClock, stored_expiry: datetime, store_seconds: float = 0) -> None:
        super().__init__()
        self.clock = clock
        self.stored_expiry = stored_expiry
        self.store_seconds = store_seconds

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        self.clock.advance(self.store_seconds)
        return super().put_document(secret_id, doc, request_token=request_token)

    def read_token(self, secret_id: str, stage: str = CURRENT_STAGE) -> StoredToken:
        doc = token_doc("stored-LEAKMARK", self.stored_expiry, issued_at=ISSUED - timedelta(hours=1))
        return StoredToken(payload=parse_payload(json.dumps(doc)), version_id="v-token-1")


def job_at(store: FakeStore, clock: ManualClock) -> Job:
    return Job(config=parse_config(CONFIG), store=store, tokens=fake_tokens(), clock=clock)


@pytest.mark.parametrize("force", [False, True])
def test_a_slow_store_step_never_publishes_the_expired_test_token(force: bool) -> None:
    # The issue's example: the store step outlived the test token, a good token has 3000 s left.
    clock = ManualClock(ISSUED)
    at_publish = ISSUED + timedelta(seconds=3700)
    store = StoreWithToken(clock, at_publish + timedelta(seconds=3000), store_seconds=3700)
    result = put_credentials(job_at(store, clock), "sandbox", NEW, force=force)
    assert result.stored and not result.published
    assert store.published == []  # not even with --force
    assert "the token was not published" in (result.error or "")


def test_a_shorter_lived_test_token_keeps_the_stored_one_unless_forced() -> None:
    clock = ManualClock(ISSUED)
    store = StoreWithToken(clock, ISSUED + timedelta(hours=2))  # outlives the new token by 1 h
    result = put_credentials(job_at(store, clock), "sandbox", NEW)
    assert result.ok and result.stored and not result.published and store.published == []
    assert "kept the stored token" in (result.note or "")
    forced = put_credentials(job_at(store, clock), "sandbox", NEW, force=True)
    assert forced.published and len(store.published) == 1


def test_a_longer_lived_test_token_is_published() -> None:
    clock = ManualClock(ISSUED)
    store = StoreWithToken(clock, ISSUED + timedelta(minutes=10))
    result = put_credentials(job_at(store, clock), "sandbox", NEW)
    assert result.published and len(store.published) == 1


# --- one reader of credentials (issue 18 §3) ------------------------------------------------------

ENV = parse_config(CONFIG).environments[0]


def test_the_document_to_store_is_normalised_by_the_run_s_reader() -> None:
    # A stored client id with a trailing newline, a pasted secret with blanks around it: what is
    # tested and what is stored are what a run sends.
    current = {"client_id": "id-1\n", "client_secret": "old", "other": 1}
    doc, creds = new_document(
        ENV, current, NewCredentials(client_secret=Secret("  new-value \t")), None, None, ISSUED
    )
    assert creds.client_id == "id-1" and creds.client_secret == Secret("new-value")
    assert doc == {"client_id": "id-1", "client_secret": "new-value", "other": 1}
    assert len(creds.warnings) == 2 and all("whitespace" in w for w in creds.warnings)


def test_request_token_is_stable_per_value_and_replaced_version() -> None:
    current = StoredDocument(doc={"client_id": "a", "client_secret": "old"}, version_id="v-1")
    new = {"client_id": "a", "client_secret": "new"}
    token = client_request_token(current, new)
    assert token == client_request_token(current, dict(new))  # a re-run: the same version id
    assert 32 <= len(token) <= 64  # PutSecretValue's ClientRequestToken length
    assert token != client_request_token(current, {"client_id": "a", "client_secret": "newer"})
    assert token != client_request_token(StoredDocument(doc=current.doc, version_id="v-2"), new)
    assert "new" not in token and "old" not in token


JWT_CONFIG = {
    "environments": {
        "sandbox": {
            "token_url": "https://oauth.example.com/token",
            "credentials_secret": "c",
            "token_secret": "t",
            "scopes": ["a"],
            "auth_method": "private_key_jwt",
        }
    }
}


def test_a_new_key_never_keeps_the_old_key_s_kid() -> None:
    env = parse_config(JWT_CONFIG).environments[0]
    old_pem, _ = keypair()
    new_pem, _ = keypair("ec")
    new = NewCredentials(private_key=Secret(new_pem))
    with_kid = {"client_id": "a", "private_key": old_pem, "key_id": "old-kid"}
    doc, creds = new_document(env, with_kid, new, None, None, ISSUED)
    assert creds.key_id == doc["key_id"] == kid_of(new_pem) != "old-kid"
    doc, creds = new_document(env, with_kid, new, None, "kid-2026", ISSUED)
    assert creds.key_id == doc["key_id"] == "kid-2026"
    doc, creds = new_document(env, {"client_id": "a", "private_key": old_pem}, new, None, None, ISSUED)
    assert creds.key_id is None and "key_id" not in doc  # runs sent no kid before: still none


def kid_of(private_pem: str) -> str:
    """The RFC 7638 thumbprint of a PEM key's public half, by the jwks command's code."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sync_job.jwks import thumbprint

    return thumbprint(load_pem_private_key(private_pem.encode(), password=None).public_key())


# --- SIGTERM/SIGINT between steps (the CLI's handlers set the interrupt; sync_job.waits) --------


class SignalDuring(FakeStore):
    """Sets the interrupt while the credentials are being written, as a SIGTERM then would."""

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self.flag = flag

    def put_document(self, secret_id: str, doc: dict[str, Any], *, request_token: str | None = None) -> str:
        self.flag.set("SIGTERM", 0.0)
        return super().put_document(secret_id, doc, request_token=request_token)


def signal_during_test(flag: Any) -> FakeTokenSource:
    """Sets the interrupt while the test request is answered, as a SIGINT then would."""
    tokens = fake_tokens()
    answer = tokens.answer

    def interrupted(env: EnvironmentConfig, n: int) -> FetchResult:
        flag.set("SIGINT", 0.0)
        return answer(env, n)

    tokens.answer = interrupted
    return tokens


def test_a_signal_during_the_test_stores_nothing() -> None:
    from sync_job import waits
    from sync_job.executor import Interrupt

    flag = Interrupt()
    store = FakeStore()
    with waits.interruptible(flag):
        result = put_credentials(job(store, signal_during_test(flag)), "sandbox", NEW)
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
        result = put_credentials(job(store, fake_tokens()), "sandbox", NEW)
    assert result.stored and not result.published and result.error is None
    assert result.note == "interrupted by SIGTERM: the stored token is unchanged"
    assert len(store.puts) == 1 and store.published == []
    assert _written(result) == (
        "the new credentials are stored (version v-2 is AWSCURRENT); the stored token is unchanged "
        "(sync-job run --env sandbox --force)"
    )
