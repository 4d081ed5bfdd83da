"""One environment's refresh as named steps, the way Secrets Manager's rotation functions name
theirs (create, set, test, finish):

1. credentials: the credentials secret, read (batched) before the run's pool starts;
2. :func:`request_token`: where a token request is sent (``TokenSource.fetch``);
3. :func:`check_token`: the answer judged: a token, every configured scope, its payload;
4. :func:`publish_token`: never a worse token (``freshness.publish_refusal``), then the
   compare-and-swap (``store.publish``).

``credentials put`` (``rotation.py``) runs the same request, check and publish steps for its
test and publish. What a step learns (a transient fault, the requests sent) comes back in its
frozen result; :meth:`Refresher.refresh` chains the steps for a run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sync_job import freshness
from sync_job.bearer import format_timestamp
from sync_job.clock import Clock
from sync_job.config import EnvironmentConfig
from sync_job.errors import DeadlineError, RateLimitedError, SyncJobError, TokenRequestError, bug
from sync_job.executor import Activity, Interrupt
from sync_job.expiry import days_left
from sync_job.payload import TokenPayload, build_payload
from sync_job.report import EnvironmentResult, Outcome
from sync_job.store import SecretsStore, StoredToken

if TYPE_CHECKING:
    from sync_job.credentials import Credentials

    # Types only: the OAuth module is imported by the steps that judge an answer (a run's
    # first request is to Secrets Manager; a run that finds every token fresh needs none of it).
    from sync_job.oauth import TokenResponse
    from sync_job.token_client import FetchResult


class TokenSource(Protocol):
    """Sends an environment's token requests (``token_client.TokenClient`` and its fakes)."""

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        """Request a token for ``env`` with ``creds``, every attempt ending by ``deadline`` (the
        clock's monotonic seconds). Never raises for the peer's behaviour: see ``FetchResult``."""
        ...


# --- step 2: request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """What the request step did. ``transient``: its requests ended on a fault that trying
    again later may cure (unreachable, 5xx, timeouts; not a 429, which closes the host for the
    run). ``sent`` is False when nothing was sent (pacing, a closed host, no budget left)."""

    fetched: FetchResult
    transient: bool
    sent: bool


def request_token(
    tokens: TokenSource, env: EnvironmentConfig, creds: Credentials, deadline: float
) -> Requested:
    """Step 2: one environment's token request(s) through ``tokens`` (RFC 6749 §4.4), bounded
    by ``deadline`` (monotonic seconds)."""
    fetched = tokens.fetch(env, creds, deadline)
    error = fetched.error
    transient = (
        isinstance(error, TokenRequestError) and error.transient and not isinstance(error, RateLimitedError)
    )
    unsent = fetched.attempts == 0 and isinstance(error, DeadlineError | RateLimitedError)
    return Requested(fetched=fetched, transient=transient, sent=not unsent)


# --- step 3: check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """The answer judged. ``payload`` is the document to publish (None when there is no usable
    token: then ``error`` is the request's error, or None for "no token", and ``lacking`` the
    configured scopes the grant lacks, RFC 6749 §3.3). ``warnings`` are the token's notes
    (None entries are no note)."""

    payload: TokenPayload | None
    error: SyncJobError | None = None
    lacking: tuple[str, ...] = ()
    warnings: tuple[str | None, ...] = ()

    @property
    def problem(self) -> str:
        """Why there is no payload, one line: the request's error, or ``no token``."""
        return self.error.message if self.error is not None else "no token"


def check_token(env: EnvironmentConfig, creds: Credentials, fetched: FetchResult) -> Checked:
    """Step 3: a token (``fetched.token``), granted every scope of ``env``, as its payload."""
    token = fetched.token
    if fetched.error is not None or token is None or fetched.issued_at is None:
        error = fetched.error if isinstance(fetched.error, SyncJobError) else None
        return Checked(payload=None, error=error)
    from sync_job.oauth import missing_scopes

    lacking = missing_scopes(env.scopes, token.scope)
    if lacking:
        return Checked(payload=None, lacking=tuple(lacking))
    warnings = (
        *token.warnings,
        freshness.short_lifetime_warning(token.expires_in, env.refresh_margin_seconds),
    )
    payload = payload_of(env, creds.client_id, token, fetched.issued_at, creds.expires_at)
    return Checked(payload=payload, warnings=warnings)


def payload_of(
    env: EnvironmentConfig,
    client_id: str,
    token: TokenResponse,
    issued_at: datetime,
    credential_expires_at: datetime | None = None,
) -> TokenPayload:
    """The payload to publish for ``token`` (issued at ``issued_at``, UTC) of environment ``env``;
    the granted scope, or the requested one when the server omitted it (RFC 6749 §5.1); the end
    of the credential that obtained it (``Credentials.expires_at``) recorded for ``status``; what
    identifies its configuration (``freshness.configuration_identity``)."""
    return build_payload(
        access_token=token.access_token,
        token_type=token.token_type,
        expires_in=token.expires_in,
        issued_at=issued_at,
        scope=token.scope if token.scope is not None else " ".join(env.scopes),
        environment=env.name,
        token_url=env.token_url,
        client_id=client_id,
        expires_in_source=token.expires_in_source,
        credential_expires_at=credential_expires_at,
        configuration=freshness.configuration_identity(env),
    )


# --- step 4: publish ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """What the publish step did. ``outcome``: ``REFRESHED`` (``payload`` is AWSCURRENT now),
    ``KEPT`` (refused: it would be worse than the stored token), ``FRESH`` (another run made a
    token living at least as long current first) or ``FAILED`` (it had expired). ``current``
    is AWSCURRENT's token after the step (None when ``FAILED``), ``note`` why it was not
    published, ``at`` the moment (UTC) the step ended."""

    outcome: Outcome
    current: TokenPayload | None
    at: datetime
    note: str | None = None


def publish_token(
    store: SecretsStore,
    clock: Clock,
    env: EnvironmentConfig,
    stored: StoredToken,
    payload: TokenPayload,
    *,
    force: bool,
) -> Published:
    """Step 4: make ``payload`` AWSCURRENT of ``env.token_secret`` unless it is not usable by the
    one validity rule (``bearer.is_usable``: 60 s or fewer left) or (without ``force``) it
    expires before the usable ``stored`` token
    (``freshness.publish_refusal``); the write is the compare-and-swap of ``store.publish``
    against ``stored.version_id``. Raises ``SyncJobError`` (``StoreError``) when the write fails."""
    now = clock.now()
    if not freshness.usable(payload, now):
        return Published(Outcome.FAILED, None, now, freshness.unusable_new_token(payload, now))
    refusal = freshness.publish_refusal(payload, stored.payload, now, force=force)
    if refusal is not None:
        return Published(Outcome.KEPT, stored.payload, now, refusal)
    published = store.publish(env.token_secret, payload, stored.version_id)
    if not published.published:
        note = "another run published a longer-lived token first; kept it"
        return Published(Outcome.FRESH, published.current, clock.now(), note)
    return Published(Outcome.REFRESHED, payload, clock.now())


# --- the steps chained for a run ------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    """One environment's refresh in a run: its result, and whether it ended on a transient fault
    of its token host (see :class:`Requested`)."""

    result: EnvironmentResult
    transient: bool = False


@dataclass(frozen=True)
class Refresher:
    """The parts and the settings one run's refreshes share; ``activity`` records each step as
    it starts (for the report of one cut off by the deadline)."""

    store: SecretsStore
    tokens: TokenSource
    clock: Clock
    activity: Activity
    force: bool
    deadline: float
    interrupt: Interrupt | None
    schedule_seconds: int | None = None  # config's, for the write-budget warning (budget.py)

    def refresh(self, env: EnvironmentConfig, stored: StoredToken, creds: Credentials | str) -> Refreshed:
        """Steps 2-4 for ``env`` whose token secret holds ``stored``, with ``creds`` (or why
        they could not be read). Raises only on a bug (the run reports it as a failure)."""
        now = self.clock.now()
        if self.interrupt:
            why = f"not started: the run was interrupted by {self.interrupt.reason}"
            return Refreshed(not_attempted(env, stored.payload, why, now))
        if self.clock.monotonic() >= self.deadline:
            why = "the run's deadline passed before its turn"
            return Refreshed(not_attempted(env, stored.payload, why, now))
        if isinstance(creds, str):
            return Refreshed(failed(env, creds))
        self.activity.note(env.name, f"requesting a token from {env.host}")
        requested = request_token(self.tokens, env, creds, self.deadline)
        fetched = requested.fetched
        if not requested.sent:
            assert isinstance(fetched.error, SyncJobError)  # DeadlineError or RateLimitedError
            result = not_attempted(env, stored.payload, fetched.error.message, self.clock.now())
            return Refreshed(result, requested.transient)
        try:
            result = self._publish(env, stored, creds, fetched)
        except SyncJobError as exc:
            result = failed(env, exc.message, fetched)
        return Refreshed(result, requested.transient)

    def _publish(
        self, env: EnvironmentConfig, stored: StoredToken, creds: Credentials, fetched: FetchResult
    ) -> EnvironmentResult:
        checked = check_token(env, creds, fetched)
        if checked.lacking:
            why = (
                f"granted scope lacks {' '.join(checked.lacking)}; token not published "
                "(ask the provider to grant them or remove them from scopes)"
            )
            return failed(env, why, fetched)
        if checked.payload is None:
            return failed(env, checked.problem, fetched)
        self.activity.note(env.name, f"publishing to token secret {env.token_secret}")
        published = publish_token(self.store, self.clock, env, stored, checked.payload, force=self.force)
        if published.outcome is Outcome.FAILED or published.current is None:
            return failed(env, published.note or "not published", fetched)
        from sync_job import budget as write_budget  # a run that finds every token fresh needs none

        lifetime = (checked.payload.expires_at - checked.payload.issued_at).total_seconds()
        over = write_budget.warning(lifetime, env.refresh_margin_seconds, self.schedule_seconds)
        warnings = [published.note, *creds.warnings, *checked.warnings, over]
        if published.outcome is Outcome.REFRESHED and self.force:
            assert fetched.issued_at is not None  # checked above
            warnings.append(freshness.churn_warning(stored.payload, fetched.issued_at))
        return with_token(env, published.outcome, published.current, published.at, fetched, warnings)


# --- one environment's result ---------------------------------------------------------------------


def unexpected(exc: Exception) -> str:
    """One environment's bug, named by its type and where it was raised (``errors.bug``), never
    by its message: that may quote a value no scrubber knows (a secret document that failed to
    parse) or break the line."""
    # Its traceback goes to the DEBUG log only, through the scrubbing formatter (logs.py).
    logging.getLogger("sync_job.refresh").debug("unexpected error", exc_info=exc)
    return f"unexpected {bug(exc)} (a bug: rerun at DEBUG for details)"


def join_warnings(warnings: Sequence[str | None]) -> str | None:
    """The notes present, joined by ``; `` (None when there are none)."""
    present = [w for w in warnings if w]
    return "; ".join(present) if present else None


def failed(env: EnvironmentConfig, error: str, fetched: FetchResult | None = None) -> EnvironmentResult:
    """``failed``: the stored token is untouched; ``error`` says why (one line)."""
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.FAILED,
        error=error,
        attempts=fetched.attempts if fetched else 0,
        latency_seconds=fetched.latency_seconds if fetched else None,
    )


def with_token(
    env: EnvironmentConfig,
    outcome: Outcome,
    payload: TokenPayload,
    now: datetime,
    fetched: FetchResult | None = None,
    warnings: Sequence[str | None] = (),
) -> EnvironmentResult:
    """``outcome`` with ``payload`` stored after the run, seen at ``now`` (UTC)."""
    return EnvironmentResult(
        environment=env.name,
        outcome=outcome,
        expires_at=payload.expires_at,
        seconds_remaining=payload.seconds_remaining(now),
        attempts=fetched.attempts if fetched else 0,
        latency_seconds=fetched.latency_seconds if fetched else None,
        warning=join_warnings(warnings),
        credential_expires_at=payload.credential_expires_at,
        credential_days_left=days_left(payload.credential_expires_at, now),
    )


def would_refresh(env: EnvironmentConfig, payload: TokenPayload | None, now: datetime) -> EnvironmentResult:
    """A dry run's result for a due environment."""
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.WOULD_REFRESH,
        expires_at=payload.expires_at if payload else None,
        seconds_remaining=payload.seconds_remaining(now) if payload else None,
        credential_expires_at=payload.credential_expires_at if payload else None,
        credential_days_left=days_left(payload.credential_expires_at, now) if payload else None,
    )


def not_attempted(
    env: EnvironmentConfig, payload: TokenPayload | None, why: str, now: datetime
) -> EnvironmentResult:
    """A due environment this run could not attempt: ``deferred`` while its stored token is
    still usable by the one validity rule (with when it expires), else ``failed``."""
    if payload is None or not freshness.usable(payload, now):
        return failed(env, why)
    left = int(payload.seconds_remaining(now))
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.DEFERRED,
        expires_at=payload.expires_at,
        seconds_remaining=payload.seconds_remaining(now),
        warning=f"deferred ({why}); its token expires at {format_timestamp(payload.expires_at)}, in {left} s",
        credential_expires_at=payload.credential_expires_at,
        credential_days_left=days_left(payload.credential_expires_at, now),
    )
