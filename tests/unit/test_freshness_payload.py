"""Pure decisions: freshness, payload building and parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sync_job import freshness
from sync_job.payload import InvalidPayload, build_payload, parse_payload
from sync_job.redact import Secret

T0 = datetime(2026, 11, 29, 0, 0, 1, 750000, tzinfo=UTC)


def payload(expires_in: int = 3599, issued_at: datetime = T0):  # type: ignore[no-untyped-def]
    return build_payload(
        access_token=Secret("tok-unit-abcdef"),
        token_type="bearer",
        expires_in=expires_in,
        issued_at=issued_at,
        scope="funding:read_profile",
        environment="sandbox",
        token_url="https://oauth.sandbox.paxos.com/oauth2/token",
        client_id="cid",
    )


def test_payload_matches_the_contract() -> None:
    doc = json.loads(payload().to_json())
    assert doc == {
        "access_token": "tok-unit-abcdef",
        "token_type": "bearer",
        "expires_in": 3599,
        "expires_at": "2026-11-29T01:00:00Z",
        "issued_at": "2026-11-29T00:00:01Z",
        "scope": "funding:read_profile",
        "environment": "sandbox",
        "token_url": "https://oauth.sandbox.paxos.com/oauth2/token",
        "client_id": "cid",
        "schema_version": 1,
    }


def test_expires_at_never_overstates_lifetime() -> None:
    p = payload()
    # issued_at is floored to the second, so the recorded expiry is at or before the real one.
    assert p.expires_at <= T0 + timedelta(seconds=3599)


def test_round_trip() -> None:
    p = payload()
    back = parse_payload(p.to_json())
    assert back.expires_at == p.expires_at
    assert back.access_token.reveal() == "tok-unit-abcdef"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "no string value"),
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"token_type": "bearer", "expires_at": "2026-11-29T01:00:00Z"}', "lacks access_token"),
        ('{"access_token": "", "token_type": "b", "expires_at": "2026-11-29T01:00:00Z"}', "non-empty"),
        ('{"access_token": "tok-xyz-123", "token_type": "b", "expires_at": "tomorrow"}', "RFC 3339"),
        (
            '{"access_token": "tok-xyz-123", "token_type": "b", "expires_at": "2026-11-29T01:00:00"}',
            "RFC 3339",
        ),
    ],
)
def test_bad_stored_payloads(text: str | None, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason) as info:
        parse_payload(text)
    assert "tok-xyz" not in str(info.value)


def test_unknown_fields_are_ignored() -> None:
    doc = json.loads(payload().to_json())
    doc["future_field"] = 1
    assert parse_payload(json.dumps(doc)).scope == "funding:read_profile"


@pytest.mark.parametrize(
    ("age", "margin", "fresh", "state"),
    [
        (0, 900, True, "valid"),
        (3599 - 901, 900, True, "valid"),
        (3599 - 900, 900, False, "expiring"),
        (3599 - 61, 900, False, "expiring"),
        # The one validity rule (bearer.EXPIRY_SKEW_SECONDS): 60 s or fewer left is expired.
        (3599 - 60, 900, False, "expired"),
        (3599 - 59, 900, False, "expired"),
        (3599 - 1, 900, False, "expired"),
        # A margin below the rule's 60 s never keeps a token consumers refuse as fresh.
        (3599 - 61, 0, True, "valid"),
        (3599 - 60, 0, False, "expired"),
        (3599, 900, False, "expired"),
        (5000, 900, False, "expired"),
        (3000, 0, True, "valid"),
    ],
)
def test_freshness(age: int, margin: int, fresh: bool, state: str) -> None:
    p = payload(issued_at=T0.replace(microsecond=0))
    now = p.issued_at + timedelta(seconds=age)
    assert freshness.is_fresh(p, now, margin) is fresh
    assert freshness.state(p, now, margin) == state


def test_missing_is_never_fresh() -> None:
    assert not freshness.is_fresh(None, T0, 0)
    assert freshness.state(None, T0, 900) == "missing"


def test_churn_warning_only_within_ten_minutes() -> None:
    p = payload(issued_at=T0.replace(microsecond=0))
    assert freshness.churn_warning(p, p.issued_at + timedelta(seconds=120)) is not None
    assert "Secrets Manager" in str(freshness.churn_warning(p, p.issued_at + timedelta(seconds=120)))
    assert freshness.churn_warning(p, p.issued_at + timedelta(seconds=601)) is None
    assert freshness.churn_warning(None, T0) is None
