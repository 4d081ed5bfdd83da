"""`Job.run`, one row per outcome, on the in-memory fakes: the real Job, TokenClient and freshness
rules; a fake token endpoint and Secrets Manager; a manual clock (retries sleep on it)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from standins.fakes import (
    FakeTokenEndpoint,
    ManualClock,
    MemoryStore,
    Outages,
    config,
    fake_job,
    stored_payload,
)

FOREVER = Outages([(0.0, float("inf"))])


@dataclass(frozen=True)
class Row:
    stored_seconds_left: float | None  # the token stored before the run (None: the secret is empty)
    outcome: str
    token_requests: int
    attempts: int
    published: bool  # a new version was written
    dry_run: bool = False
    token_outages: Outages | None = None
    # Runs in publish() before the write: another run making a longer-lived token current.
    rival_seconds_left: float | None = None
    error: str | None = None
    warning: str | None = None


ROWS = {
    "refreshed": Row(None, "refreshed", token_requests=1, attempts=1, published=True),
    "refreshed-expiring": Row(300, "refreshed", token_requests=1, attempts=1, published=True),
    "fresh": Row(3000, "fresh", token_requests=0, attempts=0, published=False),
    # max_attempts 2, and one more round of 2 later in the run (its budget has room).
    "failed": Row(
        300,
        "failed",
        token_requests=4,
        attempts=4,
        published=False,
        token_outages=FOREVER,
        error="gave up after 2 attempts); tried again later in the run",
    ),
    "would_refresh": Row(300, "would_refresh", token_requests=0, attempts=0, published=False, dry_run=True),
    "cas-lost": Row(
        300,
        "fresh",
        token_requests=1,
        attempts=1,
        published=False,
        rival_seconds_left=7000,
        warning="another run published a longer-lived token first; kept it",
    ),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_one_environment_one_outcome(row: Row) -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    endpoint = FakeTokenEndpoint(
        clock, row.token_outages, scope="funding:read_profile transfer:read_transfer"
    )
    if row.stored_seconds_left is not None:
        store.put(stored_payload(clock, row.stored_seconds_left, "tok-before"))
    before = store.current
    versions = store.version
    rival = None
    if row.rival_seconds_left is not None:
        rival = stored_payload(clock, row.rival_seconds_left, "tok-rival")
        store.before_publish = functools.partial(store.put, rival)
    job = fake_job(config(max_attempts=2, backoff_initial_seconds=1), clock, store, endpoint)

    report = job.run(dry_run=row.dry_run)

    (result,) = report.results
    assert result.environment == "sandbox"
    assert result.outcome == row.outcome
    assert endpoint.requests == row.token_requests
    assert result.attempts == row.attempts
    assert (result.error is None) == (row.error is None)
    if row.error is not None:
        assert row.error in (result.error or "")
    assert result.warning == row.warning
    if row.published:
        assert store.version == versions + 1 and store.current is not None
        assert store.current.access_token.reveal() == f"tok-sim-{endpoint.requests:08d}"
        assert result.expires_at == store.current.expires_at
    elif rival is not None:
        assert store.current is rival and store.version == versions + 1  # the rival's write only
        assert result.expires_at == rival.expires_at
    else:
        assert store.current is before and store.version == versions
        if before is not None and row.outcome != "failed":
            assert result.expires_at == before.expires_at


def test_store_outage_fails_the_run_before_any_token_request() -> None:
    clock = ManualClock()
    store = MemoryStore(clock, FOREVER)
    endpoint = FakeTokenEndpoint(clock)
    (result,) = fake_job(config(), clock, store, endpoint).run().results
    assert result.outcome == "failed" and result.error == "simulated Secrets Manager outage"
    assert endpoint.requests == 0
