"""One environment's refresh as named steps (refresh.py), each on its own, and ``credentials put``
going through the same request, check and publish steps as a run. The in-memory store
(fakes.MemoryStore), fakes.FakeTokenSource, a manual clock; the wire is covered by test_run_against_servers.py,
test_publish_cas.py and test_credentials_put.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from standins.fakes import (
    SECRET_ID,
    FakeTokenSource,
    ManualClock,
    MemoryStore,
    config,
    env_config,
    issued,
    stored_payload,
)
from sync_job.credentials import Credentials
from sync_job.errors import DeadlineError, OAuthError, RateLimitedError, SyncJobError, TokenRequestError
from sync_job.redact import Secret
from sync_job.refresh import check_token, publish_token, request_token
from sync_job.report import Outcome
from sync_job.rotation import put_credentials
from sync_job.secret_input import NewCredentials
from sync_job.sync import Job
from sync_job.token_client import FetchResult

ENV = env_config("sandbox", scopes=["a", "b"])
CREDS = Credentials("cid", client_secret=Secret("sec-ret-value-1"), source="c", warnings=("a note",))


def _answer(result: FetchResult) -> FakeTokenSource:
    return FakeTokenSource(lambda env, n: result)


def _token(clock: ManualClock, scope: str | None = "a b", expires_in: int = 3600) -> FetchResult:
    return issued(clock, "tok-step-new-0000", scope=scope, expires_in=expires_in)


# --- step 2: request ------------------------------------------------------------------------------

REQUESTS = {
    "a token": (None, True, False),
    "a 503": (TokenRequestError("HTTP 503", transient=True, status=503), True, True),
    "a 400 answer": (OAuthError("invalid_client", error="invalid_client"), True, False),
    "a 429 closes the host for the run": (
        RateLimitedError("HTTP 429", transient=True, status=429),
        True,
        False,
    ),
    "nothing sent: pacing or the budget": (DeadlineError("no room before the deadline"), False, False),
}


@pytest.mark.parametrize(("error", "sent", "transient"), REQUESTS.values(), ids=list(REQUESTS))
def test_the_request_step_says_whether_anything_was_sent_and_whether_a_retry_may_cure_it(
    error: SyncJobError | None, sent: bool, transient: bool
) -> None:
    clock = ManualClock()
    attempts = 1 if sent else 0
    result = _token(clock) if error is None else FetchResult(attempts=attempts, error=error)
    tokens = _answer(result)
    requested = request_token(tokens, ENV, CREDS, deadline=clock.monotonic() + 60)
    assert (requested.sent, requested.transient) == (sent, transient)
    assert requested.fetched is result and tokens.calls["sandbox"] == 1


# --- step 3: check --------------------------------------------------------------------------------


def test_the_check_step_makes_the_payload_of_a_token_with_every_scope() -> None:
    clock = ManualClock()
    checked = check_token(ENV, CREDS, _token(clock))
    assert checked.payload is not None and checked.error is None and checked.lacking == ()
    assert checked.payload.access_token.reveal() == "tok-step-new-0000"
    assert checked.payload.client_id == "cid" and checked.payload.scope == "a b"
    assert checked.payload.expires_at == (clock.now() + timedelta(seconds=3600)).replace(microsecond=0)
    assert "a note" not in checked.warnings  # the credentials' notes are the caller's to add


@pytest.mark.parametrize(
    ("fetched", "problem", "lacking"),
    [
        (
            FetchResult(attempts=1, error=OAuthError("refused: invalid_client", error="invalid_client")),
            "refused: invalid_client",
            (),
        ),
        (FetchResult(attempts=1, error=ValueError("a library's own")), "no token", ()),
        (FetchResult(attempts=1), "no token", ()),
    ],
    ids=["the request's error", "not a job error", "no token at all"],
)
def test_the_check_step_says_why_there_is_no_payload(
    fetched: FetchResult, problem: str, lacking: tuple[str, ...]
) -> None:
    checked = check_token(ENV, CREDS, fetched)
    assert checked.payload is None and checked.problem == problem and checked.lacking == lacking


@pytest.mark.parametrize(("granted", "lacking"), [("a", ("b",)), ("", ("a", "b")), ("b c", ("a",))])
def test_a_grant_lacking_a_configured_scope_has_no_payload(granted: str, lacking: tuple[str, ...]) -> None:
    checked = check_token(ENV, CREDS, _token(ManualClock(), scope=granted))
    assert checked.payload is None and checked.lacking == lacking


# --- step 4: publish ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    stored_left: float | None  # seconds the stored token has left (None: no token)
    new_left: float  # seconds the new token has left when it is published
    force: bool
    outcome: Outcome
    note: str | None
    rival: bool = False


PUBLISH = {
    "over a due token": Row(100, 3600, False, Outcome.REFRESHED, None),
    "into an empty secret": Row(None, 3600, False, Outcome.REFRESHED, None),
    "over an expired token": Row(-5, 600, False, Outcome.REFRESHED, None),
    "never a worse token": Row(3000, 2000, False, Outcome.KEPT, "before the stored one"),
    "a worse token when forced": Row(3000, 2000, True, Outcome.REFRESHED, None),
    "never an expired token": Row(100, -1, False, Outcome.FAILED, "had expired"),
    "never an expired token, forced or not": Row(None, -1, True, Outcome.FAILED, "had expired"),
    "never one consumers refuse (60 s or less left)": Row(
        None, 60, False, Outcome.FAILED, "every consumer requires"
    ),
    "the compare-and-swap lost to a longer token": Row(100, 3600, False, Outcome.FRESH, "another run", True),
}


@pytest.mark.parametrize("row", PUBLISH.values(), ids=list(PUBLISH))
def test_the_publish_step_never_writes_a_worse_or_expired_token(row: Row) -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    stored = None if row.stored_left is None else stored_payload(clock, row.stored_left, "tok-stored-old")
    if stored is not None:
        store.put(stored)
    found = store.read_token(SECRET_ID)
    rival = stored_payload(clock, 7200, "tok-rival-0000") if row.rival else None
    if rival is not None:  # another run publishes between this one's read and its write
        store.before_publish = functools.partial(store.put, rival)
    new = stored_payload(clock, row.new_left, "tok-step-new-0000")
    published = publish_token(store, clock, ENV, found, new, force=row.force)
    assert published.outcome is row.outcome
    assert (published.note is None) if row.note is None else (row.note in (published.note or ""))
    written = [payload for _, payload in store.history]
    assert (new in written) is (row.outcome is Outcome.REFRESHED)
    expected = {Outcome.REFRESHED: new, Outcome.KEPT: stored, Outcome.FRESH: rival, Outcome.FAILED: None}
    assert published.current == expected[row.outcome]
    assert store.current == (stored if row.outcome in (Outcome.KEPT, Outcome.FAILED) else published.current)


# --- credentials put goes through the same steps --------------------------------------------------


def _put(clock: ManualClock, store: MemoryStore, tokens: FakeTokenSource) -> Any:
    store.documents["c"] = {"client_id": "cid", "client_secret": "old-secret-value"}
    job = Job(config=config("sandbox", scopes=["a", "b"]), store=store, tokens=tokens, clock=clock)
    return put_credentials(job, "sandbox", NewCredentials(client_secret=Secret("new-secret-value")))


def test_put_publishes_its_test_token_through_the_publish_step() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    store.put(stored_payload(clock, 100, "tok-stored-old"))
    result = _put(clock, store, _answer(_token(clock)))
    assert result.ok and result.tested and result.stored and result.published
    assert store.documents["c"]["client_secret"] == "new-secret-value"
    assert store.current is not None and store.current.access_token.reveal() == "tok-step-new-0000"
    assert len(store.history) == 2  # the stored token, then the test token: one write


def test_put_never_publishes_a_test_token_that_expired_while_the_credentials_were_stored() -> None:
    """Issue 18 §2's example: a slow store step, then the test token (300 s) had expired; the
    stored token with 3000 s left stays."""
    clock = ManualClock()
    store = MemoryStore(clock)
    stored = stored_payload(clock, 3000, "tok-stored-good")
    store.put(stored)
    store.before_put_document = functools.partial(clock.advance, 301)
    result = _put(clock, store, _answer(_token(clock, expires_in=300)))
    assert result.stored and not result.published
    assert store.current == stored and len(store.history) == 1
    assert "the token was not published: the new token had expired" in (result.error or "")


def test_put_tests_with_the_check_step_and_stores_nothing_when_a_scope_is_lacking() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    result = _put(clock, store, _answer(_token(clock, scope="a")))
    assert not result.tested and store.current is None
    assert store.documents["c"]["client_secret"] == "old-secret-value"
    assert "test failed: the granted scope lacks b; nothing stored" in (result.error or "")
