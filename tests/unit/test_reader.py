"""sync_job.reader.TokenReader against a fake Secrets Manager client and an injected clock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import given, settings
from hypothesis import strategies as st

from standins.fakes import FakeSecretsClient, ManualClock, token_doc
from sync_job import bearer
from sync_job.reader import (
    TokenExpiredError,
    TokenReader,
    TokenReaderError,
    TokenUnavailableError,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "paxos/sandbox/access-token"
T0 = datetime(2026, 11, 29, 0, 0, 1, tzinfo=UTC)
# Every token carries this marker so a leak into a message or repr is caught.
MARK = "TOKEN-MARKER-7f3a"


def payload(token: str = f"{MARK}-1", expires_at: datetime | None = None, **extra: Any) -> str:
    expires = expires_at if expires_at is not None else T0 + timedelta(seconds=3599)
    return json.dumps(token_doc(token, expires, **extra))


def make(client: FakeSecretsClient, clock: ManualClock | None = None, skew: float = 60) -> TokenReader:
    return TokenReader(SECRET, client, skew, clock=clock or ManualClock(T0))


# -- caching --------------------------------------------------------------------------------------


def test_zero_calls_while_fresh_then_exactly_one_reread_at_expires_at_minus_skew() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1", T0 + timedelta(seconds=3599)))
    reader = make(client, clock, skew=60)

    assert reader.token() == f"{MARK}-1"
    assert client.count == 1
    assert client.calls[0] == {"SecretId": SECRET, "VersionStage": "AWSCURRENT"}

    # sync-job publishes a new token meanwhile: the reader keeps the cached one while it is fresh.
    client.response = payload(f"{MARK}-2", T0 + timedelta(seconds=7199))
    refresh_at = T0 + timedelta(seconds=3599 - 60)
    for moment in (
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=1800),
        refresh_at - timedelta(seconds=1),
        refresh_at - timedelta(microseconds=1),
    ):
        clock.set(moment)
        assert reader.token() == f"{MARK}-1"
        assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}
    assert client.count == 1, "no Secrets Manager call while the cached token is fresh"

    clock.set(refresh_at)
    assert reader.token() == f"{MARK}-2"
    assert client.count == 2, "exactly one re-read at expires_at - skew"
    for _ in range(50):
        assert reader.token() == f"{MARK}-2"
    clock.advance(3000)
    assert reader.token() == f"{MARK}-2"
    assert client.count == 2
    assert all(c == {"SecretId": SECRET, "VersionStage": "AWSCURRENT"} for c in client.calls)
    assert reader.expires_at == T0 + timedelta(seconds=7199)


def test_sixteen_threads_asking_at_once_make_one_read() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1"), delay=0.2)
    reader = make(client, clock)
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def ask() -> None:
        try:
            barrier.wait(timeout=10)
            token = reader.token()
            with lock:
                results.append(token)
        except BaseException as exc:  # pragma: no cover - reported below
            with lock:
                errors.append(exc)

    def run_all() -> None:
        threads = [threading.Thread(target=ask) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        assert not any(t.is_alive() for t in threads)

    run_all()
    assert results == [f"{MARK}-1"] * 16
    assert client.count == 1

    # Once stale, 16 threads at once again make exactly one re-read.
    results.clear()
    client.response = payload(f"{MARK}-2", T0 + timedelta(seconds=7199))
    clock.set(T0 + timedelta(seconds=3599 - 60))
    barrier.reset()
    run_all()
    assert results == [f"{MARK}-2"] * 16
    assert client.count == 2


def test_refresh_forces_a_read_even_when_fresh() -> None:
    client = FakeSecretsClient(payload(f"{MARK}-1"))
    reader = make(client)
    assert reader.token() == f"{MARK}-1"
    client.response = payload(f"{MARK}-2")
    assert reader.refresh() == f"{MARK}-2"
    assert client.count == 2
    assert reader.token() == f"{MARK}-2"
    assert client.count == 2


@settings(max_examples=150, deadline=None)
@given(
    skew=st.integers(min_value=60, max_value=600),
    lifetime=st.integers(min_value=601, max_value=7200),
    steps=st.lists(st.floats(min_value=0, max_value=4000, allow_nan=False), min_size=1, max_size=40),
)
def test_reads_match_a_model_of_the_cache(skew: int, lifetime: int, steps: list[float]) -> None:
    """sync-job keeps the store fresh (each read finds a token living ``lifetime`` from now):
    the reader reads exactly when the model's cached token has reached expires_at - skew."""
    clock = ManualClock(T0)

    class Fresh(FakeSecretsClient):
        def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
            self.response = payload(f"{MARK}-{self.count}", clock() + timedelta(seconds=lifetime))
            return super().get_secret_value(**kwargs)

    client = Fresh(payload())
    reader = make(client, clock, skew=skew)
    expected = 0
    cached_until: datetime | None = None
    for step in steps:
        clock.advance(step)
        if cached_until is None or clock() >= cached_until:
            expected += 1
            # The payload's expires_at is whole seconds, as sync-job writes it.
            expires = (clock() + timedelta(seconds=lifetime)).replace(microsecond=0)
            cached_until = expires - timedelta(seconds=skew)
        reader.token()
        assert client.count == expected


# -- expired tokens -------------------------------------------------------------------------------


def test_a_read_finding_a_token_inside_the_skew_raises_instead_of_returning_it() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1", T0 + timedelta(seconds=30)))
    reader = make(client, clock, skew=60)
    with pytest.raises(TokenExpiredError) as info:
        reader.token()
    err = info.value
    message = str(err)
    assert SECRET in message
    assert "2026-11-29T00:00:31Z" in message and "in 30s" in message
    assert "sync-job status" in message
    assert MARK not in message and MARK not in repr(err)
    assert err.secret_id == SECRET
    assert err.seconds_left == pytest.approx(30)
    assert err.expires_at == T0 + timedelta(seconds=30)
    assert isinstance(err, TokenReaderError)
    # Nothing was cached: the next call reads again, and recovers once sync-job catches up.
    with pytest.raises(TokenExpiredError):
        reader.token()
    assert client.count == 2
    client.response = payload(f"{MARK}-2", T0 + timedelta(seconds=3599))
    assert reader.token() == f"{MARK}-2"
    assert client.count == 3


def test_already_expired_token_says_how_long_ago() -> None:
    clock = ManualClock(T0)
    reader = make(FakeSecretsClient(payload(f"{MARK}-1", T0 - timedelta(seconds=125))), clock)
    with pytest.raises(TokenExpiredError) as info:
        reader.token()
    assert "expired at 2026-11-28T23:57:56Z, 125s ago" in str(info.value)
    assert info.value.seconds_left == pytest.approx(-125)
    assert MARK not in str(info.value)


@pytest.mark.parametrize(("left", "ok"), [(59, False), (60, False), (61, True)])
def test_skew_boundary_on_read(left: int, ok: bool) -> None:
    reader = make(
        FakeSecretsClient(payload(f"{MARK}-1", T0 + timedelta(seconds=left))), ManualClock(T0), skew=60
    )
    if ok:
        assert reader.token() == f"{MARK}-1"
    else:
        with pytest.raises(TokenExpiredError):
            reader.token()


def test_default_skew_is_the_one_rule_and_a_larger_one_is_stricter() -> None:
    assert TokenReader(SECRET, FakeSecretsClient(payload())).skew_seconds == bearer.EXPIRY_SKEW_SECONDS == 60
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1", T0 + timedelta(seconds=400)))
    reader = make(client, clock, skew=300)
    assert reader.token() == f"{MARK}-1"
    clock.advance(99.999)
    assert reader.token() == f"{MARK}-1"
    clock.advance(0.001)  # 300 s left: within this reader's skew
    with pytest.raises(TokenExpiredError):
        reader.token()
    assert client.count == 2


@pytest.mark.parametrize("skew", [0, 30, 59, 59.999])
def test_a_skew_below_the_one_rule_is_refused(skew: float) -> None:
    """A reader that served a token with 60 s or fewer left would hand out what `sync-job
    token` and `status` call expired."""
    with pytest.raises(ValueError, match="EXPIRY_SKEW_SECONDS"):
        TokenReader(SECRET, FakeSecretsClient(payload()), skew)


def test_invalidate_drops_the_cache_so_the_next_token_reads_once() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1"))
    reader = make(client, clock)
    assert reader.token() == f"{MARK}-1"
    assert reader.token() == f"{MARK}-1" and client.count == 1
    client.response = payload(f"{MARK}-2")
    reader.invalidate()
    assert reader.expires_at is None
    assert reader.token() == f"{MARK}-2"
    assert reader.token() == f"{MARK}-2" and client.count == 2
    reader.invalidate()
    reader.invalidate()  # idempotent, no call of its own
    assert client.count == 2


def test_a_stale_cached_token_is_never_served_when_the_store_is_behind() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1"))
    reader = make(client, clock)
    assert reader.token() == f"{MARK}-1"
    clock.set(T0 + timedelta(seconds=3599 - 60))  # sync-job did not refresh
    with pytest.raises(TokenExpiredError):
        reader.token()
    with pytest.raises(TokenExpiredError):
        reader.authorization_header()


# -- payload parsing ------------------------------------------------------------------------------


def test_unknown_fields_are_ignored() -> None:
    doc = payload(
        f"{MARK}-1",
        expires_in_source="jwt",
        schema_version=1,
        future_field={"nested": [1, 2, 3]},
        another=None,
    )
    reader = make(FakeSecretsClient(doc))
    assert reader.token() == f"{MARK}-1"
    assert reader.authorization_header() == {"Authorization": f"Bearer {MARK}-1"}


def test_only_the_fields_the_reader_needs_are_required() -> None:
    doc = json.dumps(
        {"access_token": f"{MARK}-1", "token_type": "Bearer", "expires_at": "2026-11-29T02:00:00+01:00"}
    )
    reader = make(FakeSecretsClient(doc))
    assert reader.token() == f"{MARK}-1"
    assert reader.expires_at == datetime(2026, 11, 29, 1, 0, 0, tzinfo=UTC)
    assert reader.expires_at.tzinfo is not None


def _doc(**changes: Any) -> str:
    doc = json.loads(payload(f"{MARK}-1"))
    for key, value in changes.items():
        if value is _DROP:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


_DROP = object()


@pytest.mark.parametrize(
    ("secret_string", "expected"),
    [
        (f"not json {MARK}", "not JSON"),
        (json.dumps([f"{MARK}-1"]), "not a JSON object"),
        (json.dumps(f"{MARK}-1"), "not a JSON object"),
        (_doc(access_token=_DROP), "'access_token' is missing"),
        (_doc(access_token=""), "'access_token'"),
        (_doc(access_token=12345), "'access_token'"),
        (_doc(access_token=f"{MARK} with space"), "'access_token'"),
        (_doc(access_token=f"{MARK}\n"), "'access_token'"),
        (_doc(token_type=_DROP), "'token_type' is missing"),
        (_doc(token_type="mac"), "'token_type'"),
        (_doc(expires_at=_DROP), "'expires_at' is missing"),
        (_doc(expires_at="2026-11-29T01:00:00"), "'expires_at'"),  # no offset
        (_doc(expires_at="tomorrow"), "'expires_at'"),
        (_doc(expires_at=1700000000), "'expires_at'"),
    ],
)
def test_bad_payloads_raise_token_unavailable(secret_string: str, expected: str) -> None:
    reader = make(FakeSecretsClient(secret_string))
    with pytest.raises(TokenUnavailableError) as info:
        reader.token()
    message = str(info.value)
    assert expected in message
    assert SECRET in message
    assert MARK not in message and MARK not in repr(info.value)
    assert info.value.__cause__ is None or MARK not in str(info.value.__cause__)
    assert info.value.__suppress_context__ or info.value.__context__ is None
    assert MARK not in repr(reader)


def test_secret_binary_only_is_unavailable() -> None:
    client = FakeSecretsClient(payload())
    client.response = {"Name": SECRET, "SecretBinary": f"{MARK}".encode()}
    with pytest.raises(TokenUnavailableError, match="no SecretString"):
        make(client).token()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceNotFoundException", "was not found, or has no AWSCURRENT version"),
        ("AccessDeniedException", "failed: AccessDeniedException"),
        ("DecryptionFailure", "failed: DecryptionFailure"),
    ],
)
def test_aws_errors_raise_token_unavailable(code: str, expected: str) -> None:
    client = FakeSecretsClient(payload())
    client.response = ClientError({"Error": {"Code": code, "Message": "m"}}, "GetSecretValue")
    with pytest.raises(TokenUnavailableError) as info:
        make(client).token()
    assert expected in str(info.value)
    assert SECRET in str(info.value)
    assert isinstance(info.value.__cause__, ClientError)


def test_unreachable_endpoint_raises_token_unavailable() -> None:
    client = FakeSecretsClient(payload())
    client.response = EndpointConnectionError(endpoint_url="https://secretsmanager.example")
    with pytest.raises(TokenUnavailableError, match="EndpointConnectionError"):
        make(client).token()


def test_a_failed_reread_keeps_nothing_stale_and_a_later_read_recovers() -> None:
    clock = ManualClock(T0)
    client = FakeSecretsClient(payload(f"{MARK}-1"))
    reader = make(client, clock)
    reader.token()
    clock.set(T0 + timedelta(seconds=3540))
    client.response = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "m"}}, "GetSecretValue"
    )
    with pytest.raises(TokenUnavailableError):
        reader.token()
    client.response = payload(f"{MARK}-2", T0 + timedelta(seconds=7199))
    assert reader.token() == f"{MARK}-2"


# -- construction, repr ---------------------------------------------------------------------------


def test_repr_never_contains_the_token() -> None:
    reader = make(FakeSecretsClient(payload(f"{MARK}-1")))
    assert MARK not in repr(reader)
    reader.token()
    text = repr(reader)
    assert MARK not in text
    assert SECRET in text and "cached_until='2026-11-29T00:59:00Z'" in text
    assert MARK not in str(vars(reader).get("_cached"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"secret_id": ""}, ValueError),
        ({"secret_id": "  "}, ValueError),
        ({"skew_seconds": -1}, ValueError),
        ({"skew_seconds": float("inf")}, ValueError),
        ({"skew_seconds": "60"}, TypeError),
    ],
)
def test_constructor_validates(kwargs: dict[str, Any], error: type[Exception]) -> None:
    args: dict[str, Any] = {"secret_id": SECRET, "client": FakeSecretsClient(payload()), **kwargs}
    with pytest.raises(error):
        TokenReader(**args)


def test_clock_must_be_timezone_aware() -> None:
    reader = TokenReader(SECRET, FakeSecretsClient(payload()), clock=lambda: datetime(2026, 11, 29))
    with pytest.raises(TypeError, match="timezone-aware"):
        reader.token()


def test_clock_in_another_zone_is_fine() -> None:
    plus2 = timezone(timedelta(hours=2))
    reader = TokenReader(SECRET, FakeSecretsClient(payload(f"{MARK}-1")), clock=lambda: T0.astimezone(plus2))
    assert reader.token() == f"{MARK}-1"


def test_default_clock_is_real_utc_time() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    reader = TokenReader(SECRET, FakeSecretsClient(payload(f"{MARK}-1", soon)))
    assert reader.token() == f"{MARK}-1"


# -- import hygiene -------------------------------------------------------------------------------


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_reader_imports_no_click_requests_or_tenacity() -> None:
    out = _run(
        "import sys, sync_job.reader\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'requests', 'tenacity')"
        " or (m.startswith('sync_job') and m not in ('sync_job', 'sync_job.reader'))))"
    )
    # sync_job.bearer holds the usable-token rules the job shares with the reader (stdlib only).
    assert out == "['sync_job.bearer']"


def test_the_reader_works_where_only_boto3_is_installed() -> None:
    # sys.modules[name] = None makes every import of name fail, as if it were not installed.
    out = _run(
        "import sys\n"
        "for name in ('click', 'requests', 'tenacity'):\n"
        "    sys.modules[name] = None\n"
        "from datetime import datetime, timedelta, timezone\n"
        "import json\n"
        "from sync_job.reader import TokenReader, TokenExpiredError\n"
        "exp = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')\n"
        "class C:\n"
        "    def get_secret_value(self, **kw):\n"
        "        return {'SecretString': json.dumps({'access_token': 'abc', 'token_type': 'bearer',"
        " 'expires_at': exp})}\n"
        "r = TokenReader('s', C())\n"
        "print(r.authorization_header()['Authorization'])\n"
        "try:\n"
        "    from sync_job.reader import TokenAuth\n"
        "except ImportError:\n"
        "    print('TokenAuth needs requests')\n"
    )
    assert out.splitlines() == ["Bearer abc", "TokenAuth needs requests"]


def test_token_auth_is_exported_lazily() -> None:
    out = _run(
        "import sys, sync_job.reader as r\n"
        "print('requests' in sys.modules)\n"
        "from sync_job.reader import TokenAuth\n"
        "import requests.auth\n"
        "print('requests' in sys.modules, issubclass(TokenAuth, requests.auth.AuthBase))\n"
        "try:\n"
        "    r.NoSuchThing\n"
        "except AttributeError as e:\n"
        "    print('AttributeError')\n"
    )
    assert out.splitlines() == ["False", "True True", "AttributeError"]
