"""The decision and the orchestration: which environments need a token, getting it, publishing
it, each environment isolated from the others and the whole run bounded by its budget. No
argument parsing, no printing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sync_job import freshness
from sync_job.bearer import format_timestamp
from sync_job.clock import Clock
from sync_job.config import Config, EnvironmentConfig
from sync_job.credentials import Credentials
from sync_job.errors import DeadlineError, RateLimitedError, StoreError, SyncJobError, TokenRequestError
from sync_job.logs import log_event
from sync_job.oauth import FetchResult, TokenResponse, missing_scopes
from sync_job.payload import TokenPayload, build_payload
from sync_job.publish import PublishOutcome, publish_token
from sync_job.redact import scrub
from sync_job.report import (
    CheckEntry,
    CheckReport,
    EnvironmentResult,
    Outcome,
    Report,
    StatusEntry,
    StatusReport,
    TokenState,
)
from sync_job.store import PublishResult, StoredToken

log = logging.getLogger("sync_job.sync")

# Past the run's deadline, environments still inside a call (a Secrets Manager that accepts and
# never answers, a name that never resolves) are reported as failed and the run returns.
STRAGGLER_GRACE_SECONDS = 1.0
# After SIGTERM or SIGINT nothing new starts; what is in flight gets this long to finish.
INTERRUPT_GRACE_SECONDS = 10.0
# How often the waiting thread looks at the clock and at an interrupt (real seconds).
_POLL_SECONDS = 0.1

R = TypeVar("R")


@dataclass(frozen=True)
class _Later(Generic[R]):
    """What a work item returns to be tried again in the same run, no sooner than
    ``not_before`` (the clock's monotonic seconds); ``result`` stands if the run ends first."""

    result: R
    not_before: float


class Store(Protocol):
    def read_token(self, secret_id: str) -> StoredToken: ...
    def read_tokens(self, secret_ids: Sequence[str]) -> dict[str, StoredToken | StoreError]: ...
    def read_credentials_many(
        self, wanted: Sequence[tuple[str, str]]
    ) -> dict[str, Credentials | SyncJobError]: ...
    def read_credentials(self, secret_id: str, auth_method: str) -> Credentials: ...
    def describe(self, secret_id: str) -> dict[str, Any]: ...
    def publish(
        self, secret_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult: ...


class TokenSource(Protocol):
    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult: ...


class Interrupt:
    """Set (from a signal handler) to stop a run early: nothing new starts, what is in flight
    gets ``INTERRUPT_GRACE_SECONDS``, and every environment is still reported."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.at: float | None = None  # the clock's monotonic time it was set

    def set(self, reason: str, at: float) -> None:
        if self.reason is None:
            self.at = at
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class TokenLookup:
    """``token NAME``: the stored token (None unless readable) and its state."""

    environment: str
    state: TokenState
    payload: TokenPayload | None


@dataclass
class Job:
    """Everything a run needs, passed in so tests and simulations can swap any part."""

    config: Config
    store: Store
    tokens: TokenSource
    clock: Clock
    # Warn once per secret about an unusable stored payload, not on every run of a process.
    _warned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # What each environment is doing now, for the report of one that outlives the deadline.
    _steps: dict[str, str] = field(default_factory=dict)

    # --- run ------------------------------------------------------------------------------------

    def run(
        self,
        names: Sequence[str] | None = None,
        *,
        force: bool = False,
        dry_run: bool = False,
        budget_seconds: float | None = None,
        interrupt: Interrupt | None = None,
        urgency_order: bool = True,
        on_result: Callable[[EnvironmentResult], None] | None = None,
    ) -> Report:
        """Sync the named environments (all when None): a :class:`Report` with one result per
        environment, in the order asked for.

        Every token secret is read first (batched); environments whose token is due are then
        attempted most urgent first (missing or unreadable, then expired, then by ``expires_at``;
        ``urgency_order=False`` keeps config order, for comparison). One whose stored token is
        still valid but for which pacing or the budget leaves no room is ``deferred``; one with
        no valid token that could not be attempted is ``failed``. Returns within the budget
        (``budget_seconds``, default ``run_timeout_seconds``) plus ``STRAGGLER_GRACE_SECONDS``
        whatever the peers do. ``on_result`` is called with each result as it is known (for a
        progress display; from worker threads). Raises ``UsageError`` for an unknown name; every
        other failure is a result."""
        envs = self.config.select(names)
        budget = self._budget(budget_seconds)
        deadline = self.clock.monotonic() + budget
        started = self.clock.monotonic()
        notify = on_result or (lambda result: None)
        results: dict[str, EnvironmentResult] = {}
        try:
            stored = self._bounded(
                lambda: self.store.read_tokens([e.token_secret for e in envs]), deadline, budget
            )
        except Exception as exc:  # a bug must still leave every environment reported
            stored = _unexpected(exc)
        if isinstance(stored, str):
            return self._report(envs, {}, dry_run, interrupt, default=stored)
        now = self.clock.now()
        due: list[tuple[EnvironmentConfig, StoredToken]] = []
        fresh: list[tuple[EnvironmentConfig, TokenPayload]] = []
        for env in envs:
            found = stored[env.token_secret]
            if isinstance(found, SyncJobError):
                results[env.name] = self._logged(env, _failed(env, found.message), started)
                notify(results[env.name])
                continue
            if found.problem:
                self._warn_once(env, found.problem)
            if not force and freshness.is_fresh(found.payload, now, env.refresh_margin_seconds):
                assert found.payload is not None
                fresh.append((env, found.payload))
            elif dry_run:
                results[env.name] = _would_refresh(env, found.payload, now)
                notify(results[env.name])
            else:
                due.append((env, found))
        if urgency_order:
            due.sort(key=lambda pair: freshness.urgency(pair[1].payload, now))
        early = set() if dry_run or not urgency_order else self._pull_forward(due, fresh, now)
        pulled = [(env, payload) for env, payload in fresh if env.name in early]
        pulled.sort(key=lambda pair: freshness.urgency(pair[1], now))
        due += [
            (env, StoredToken(payload, stored_version(stored[env.token_secret]))) for env, payload in pulled
        ]
        for env, payload in fresh:
            if env.name not in early:
                results[env.name] = self._logged(env, _with_token(env, Outcome.FRESH, payload, now), started)
                notify(results[env.name])
        creds: dict[str, Credentials | SyncJobError] | str = {}
        if due:
            try:
                creds = self._bounded(
                    lambda: self.store.read_credentials_many(
                        [(e.credentials_secret, e.auth_method) for e, _ in due]
                    ),
                    deadline,
                    budget,
                )
            except Exception as exc:  # a bug must still leave every environment reported
                creds = _unexpected(exc)
        work: dict[str, tuple[StoredToken, Credentials | SyncJobError | str]] = {
            env.name: (found, creds if isinstance(creds, str) else creds[env.credentials_secret])
            for env, found in due
        }
        due_envs = [env for env, _ in due]

        def stuck(env: EnvironmentConfig, why: str, began: bool) -> EnvironmentResult:
            payload = work[env.name][0].payload if env.name in work else None
            if env.name in early and payload is not None:
                return _with_token(env, Outcome.FRESH, payload, self.clock.now())
            if began:  # cut off mid-way: that is a failure, whatever is stored
                return _failed(env, why)
            return _not_attempted(env, payload, why, self.clock.now())

        transient: set[str] = set()
        spent: dict[str, int] = {}  # token requests of the first round, per environment
        reported: set[str] = set()  # results attempt() logged and passed to on_result
        # Set when the run has returned: a straggler finishing later (its thread abandoned at
        # the deadline) must not log or report a result the run no longer carries.
        returned = threading.Event()

        def attempt(env: EnvironmentConfig) -> EnvironmentResult | _Later[EnvironmentResult]:
            try:
                result = self._refresh(env, *work[env.name], force, deadline, interrupt, transient)
            except SyncJobError as exc:
                result = _failed(env, exc.message)
            except Exception as exc:  # one environment's bug must not stop the others
                result = _failed(env, _unexpected(exc))
            if spent.get(env.name):
                result = replace(
                    result,
                    attempts=result.attempts + spent[env.name],
                    error=None if result.error is None else f"{result.error}; tried again later in the run",
                )
            retry_at = self.clock.monotonic() + env.backoff_max_seconds
            if (
                env.name in transient
                and env.name not in spent  # one more round a run: at most 2 x max_attempts requests
                and env.name not in early
                and result.outcome is Outcome.FAILED
                and not interrupt
                and retry_at + env.timeout_seconds < deadline
            ):
                # The host failed (unreachable, 5xx, timeouts) and the run has time: try this
                # environment once more later in the run, ahead of less urgent ones, rather than
                # leave it for the next run, so a host back from an outage serves the most urgent
                # first. Bounded, so a dead host still fails a run quickly; pacing bounds what
                # the host sees in all.
                transient.discard(env.name)
                spent[env.name] = result.attempts
                log_event(
                    log,
                    logging.WARNING,
                    "sync.retry_later",
                    environment=env.name,
                    attempt=result.attempts,
                    retry_in_seconds=env.backoff_max_seconds,
                    error=result.error,
                )
                return _Later(result, retry_at)
            if returned.is_set():
                return result
            reported.add(env.name)
            result = self._logged(env, result, started)
            if env.name in early and result.outcome in (Outcome.FAILED, Outcome.DEFERRED):
                # An early refresh that found no room or failed changes nothing: still fresh.
                payload = work[env.name][0].payload
                assert payload is not None
                note = result.error if result.outcome is Outcome.FAILED else None
                result = _with_token(
                    env,
                    Outcome.FRESH,
                    payload,
                    self.clock.now(),
                    warnings=[f"early refresh failed: {note}" if note else None],
                )
            notify(result)
            return result

        done = self._each(
            due_envs,
            attempt,
            deadline=deadline,
            budget=budget,
            stuck=stuck,
            interrupt=interrupt,
        )
        returned.set()
        by_name = {env.name: env for env in due_envs}
        for result in done:
            # Not started, cut off at the deadline, or its second round never came round: each
            # environment still gets its one log line and its one progress call.
            if result.environment not in reported:
                notify(self._logged(by_name[result.environment], result, started))
        results.update({r.environment: r for r in done})
        return self._report(envs, results, dry_run, interrupt)

    def _pull_forward(
        self,
        due: Sequence[tuple[EnvironmentConfig, StoredToken]],
        fresh: Sequence[tuple[EnvironmentConfig, TokenPayload]],
        now: datetime,
    ) -> set[str]:
        """Fresh environments to refresh early with this run's spare capacity, per token host:
        those that, were every one waited for until due, the host's pacing could not serve in
        time (see ``freshness.pull_forward``)."""
        pulled: set[str] = set()
        by_origin: dict[str, list[tuple[EnvironmentConfig, TokenPayload]]] = {}
        for env, payload in fresh:
            by_origin.setdefault(env.origin, []).append((env, payload))
        for origin, group in by_origin.items():
            ahead = sum(1 for env, _ in due if env.origin == origin)
            rate = min(env.rate_limit_per_second for env, _ in group)
            until_due = [
                (
                    env.name,
                    payload.seconds_remaining(now)
                    - freshness.effective_margin(payload, env.refresh_margin_seconds),
                )
                for env, payload in group
            ]
            pulled |= freshness.pull_forward(until_due, rate=rate, ahead=ahead)
        return pulled

    def _report(
        self,
        envs: Sequence[EnvironmentConfig],
        results: dict[str, EnvironmentResult],
        dry_run: bool,
        interrupt: Interrupt | None,
        default: str | None = None,
    ) -> Report:
        ordered = tuple(results.get(e.name) or _failed(e, default or "not run") for e in envs)
        return Report(results=ordered, dry_run=dry_run, interrupted=interrupt.reason if interrupt else None)

    def _bounded(self, call: Callable[[], R], deadline: float, budget: float) -> R | str:
        """``call()`` on a daemon thread, given until the deadline (plus the straggler grace):
        its result, or why it did not finish (a string)."""
        box: list[R] = []
        failure: list[BaseException] = []
        finished = threading.Event()

        def target() -> None:
            try:
                box.append(call())
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
            finally:
                finished.set()

        threading.Thread(target=target, name="sync-job-read", daemon=True).start()
        while not finished.is_set():
            remaining = deadline + STRAGGLER_GRACE_SECONDS - self.clock.monotonic()
            if remaining <= 0:
                return f"did not finish within the run's budget of {budget:g} s (still reading secrets)"
            finished.wait(min(_POLL_SECONDS, remaining))
        if failure:
            raise failure[0]
        return box[0]

    def _logged(self, env: EnvironmentConfig, result: EnvironmentResult, started: float) -> EnvironmentResult:
        log_event(
            log,
            logging.ERROR if result.outcome is Outcome.FAILED else logging.INFO,
            "sync.result",
            environment=env.name,
            outcome=str(result.outcome),
            attempt=result.attempts,
            latency_ms=None if result.latency_seconds is None else round(result.latency_seconds * 1000, 1),
            seconds_remaining=None if result.seconds_remaining is None else int(result.seconds_remaining),
            duration_ms=round((self.clock.monotonic() - started) * 1000, 1),
            error=result.error,
            warning=result.warning,
        )
        return result

    def _refresh(
        self,
        env: EnvironmentConfig,
        stored: StoredToken,
        creds: Credentials | SyncJobError | str,
        force: bool,
        deadline: float,
        interrupt: Interrupt | None,
        transient: set[str],
    ) -> EnvironmentResult:
        """One environment's refresh; adds its name to ``transient`` when its token requests
        ended on a fault that trying again later may cure."""
        now = self.clock.now()
        if interrupt:
            return _not_attempted(
                env, stored.payload, f"not started: the run was interrupted by {interrupt.reason}", now
            )
        if self.clock.monotonic() >= deadline:
            return _not_attempted(env, stored.payload, "the run's deadline passed before its turn", now)
        if isinstance(creds, str):
            return _failed(env, creds)
        if isinstance(creds, SyncJobError):
            return _failed(env, creds.message)
        self._step(env, f"requesting a token from {env.host}")
        fetched = self.tokens.fetch(env, creds, deadline)
        if (
            isinstance(fetched.error, TokenRequestError)
            and fetched.error.transient
            and not isinstance(fetched.error, RateLimitedError)  # the host is closed for the run
        ):
            transient.add(env.name)
        if fetched.attempts == 0 and isinstance(fetched.error, DeadlineError | RateLimitedError):
            # Nothing was sent: pacing, a host closed by a 429, or the budget left no room.
            return _not_attempted(env, stored.payload, fetched.error.message, self.clock.now())
        try:
            return self._publish(env, stored, creds, fetched, force)
        except SyncJobError as exc:
            return _failed(env, exc.message, fetched)

    def _publish(
        self,
        env: EnvironmentConfig,
        stored: StoredToken,
        creds: Credentials,
        fetched: FetchResult,
        force: bool,
    ) -> EnvironmentResult:
        if fetched.error is not None or fetched.token is None or fetched.issued_at is None:
            message = fetched.error.message if isinstance(fetched.error, SyncJobError) else "no token"
            return _failed(env, message, fetched)
        token = fetched.token
        lacking = missing_scopes(env.scopes, token.scope)
        if lacking:
            return _failed(
                env,
                f"granted scope lacks {' '.join(lacking)}; token not published "
                "(ask the provider to grant them or remove them from scopes)",
                fetched,
            )
        payload = payload_of(env, creds.client_id, token, fetched.issued_at)
        warnings = [
            *creds.warnings,
            *token.warnings,
            freshness.short_lifetime_warning(token.expires_in, env.refresh_margin_seconds),
        ]
        self._step(env, f"publishing to token secret {env.token_secret}")
        # The one publish path (sync_job/publish.py): the same rules as credentials put's.
        decision = publish_token(self.store, env.token_secret, payload, stored, self.clock.now, force=force)
        now = self.clock.now()
        if decision.outcome is PublishOutcome.EXPIRED or decision.current is None:
            return _failed(env, decision.reason or "the new token was not published", fetched)
        if not decision.published:
            kept = Outcome.KEPT if decision.outcome is PublishOutcome.SHORTER else Outcome.FRESH
            return _with_token(env, kept, decision.current, now, fetched, [decision.reason, *warnings])
        if force:
            warnings.append(freshness.churn_warning(stored.payload, fetched.issued_at))
        return _with_token(env, Outcome.REFRESHED, payload, now, fetched, warnings)

    def _warn_once(self, env: EnvironmentConfig, problem: str) -> None:
        with self._lock:
            if env.token_secret in self._warned:
                return
            self._warned.add(env.token_secret)
        log_event(
            log,
            logging.WARNING,
            "sync.stored_payload_invalid",
            environment=env.name,
            secret=env.token_secret,
            error=f"{problem}; treating it as stale and refreshing",
        )

    # --- status ---------------------------------------------------------------------------------

    def status(
        self, names: Sequence[str] | None = None, *, budget_seconds: float | None = None
    ) -> StatusReport:
        """The stored tokens' states, read only: one :class:`StatusEntry` per environment, in
        order, even when a secret cannot be read (state ``error``) or holds an unusable value
        (``invalid``). Raises ``UsageError`` for an unknown name."""
        envs = self.config.select(names)
        budget = self._budget(budget_seconds)
        deadline = self.clock.monotonic() + budget
        try:
            stored = self._bounded(
                lambda: self.store.read_tokens([e.token_secret for e in envs]), deadline, budget
            )
        except Exception as exc:  # status reports every environment, whatever happened
            stored = _unexpected(exc)
        now = self.clock.now()
        entries = []
        for env in envs:
            found = stored if isinstance(stored, str) else stored[env.token_secret]
            entries.append(self._status_entry(env, found, now))
        return StatusReport(entries=tuple(entries))

    def _status_entry(
        self, env: EnvironmentConfig, found: StoredToken | StoreError | str, now: datetime
    ) -> StatusEntry:
        if isinstance(found, str):
            return StatusEntry(environment=env.name, state=TokenState.ERROR, error=found)
        if isinstance(found, StoreError):
            return StatusEntry(environment=env.name, state=TokenState.ERROR, error=found.message)
        if found.problem:
            return StatusEntry(
                environment=env.name,
                state=TokenState.INVALID,
                error=f"secret {env.token_secret}: {found.problem}",
            )
        payload = found.payload
        state = freshness.state(payload, now, env.refresh_margin_seconds)
        if payload is None:
            return StatusEntry(environment=env.name, state=state)
        lifetime = (payload.expires_at - payload.issued_at).total_seconds()
        return StatusEntry(
            environment=env.name,
            state=state,
            expires_at=payload.expires_at,
            seconds_remaining=payload.seconds_remaining(now),
            issued_at=payload.issued_at,
            scope=payload.scope,
            warning=freshness.short_lifetime_warning(lifetime, env.refresh_margin_seconds),
        )

    def token(self, name: str) -> TokenLookup:
        """The stored token of one environment and its state (``invalid`` when unusable).
        Raises ``UsageError`` for an unknown name and ``StoreError`` when it cannot be read."""
        env = self.config.select([name])[0]
        stored = self.store.read_token(env.token_secret)
        if stored.problem:
            return TokenLookup(env.name, TokenState.INVALID, None)
        state = freshness.state(stored.payload, self.clock.now(), env.refresh_margin_seconds)
        return TokenLookup(env.name, state, stored.payload)

    # --- check ----------------------------------------------------------------------------------

    def check(
        self, names: Sequence[str] | None = None, *, budget_seconds: float | None = None
    ) -> CheckReport:
        """Prove each environment works without writing: credentials readable, a token
        obtainable (one request, discarded) with every scope, the token secret present. One
        :class:`CheckEntry` per environment. Raises ``UsageError`` for an unknown name."""
        envs = self.config.select(names)
        budget = self._budget(budget_seconds)
        deadline = self.clock.monotonic() + budget

        def stuck(env: EnvironmentConfig, why: str, began: bool) -> CheckEntry:
            return CheckEntry(environment=env.name, ok=False, checks=(("config", "ok"),), error=why)

        entries = self._each(
            envs,
            lambda env: self._check_one(env, deadline),
            deadline=deadline,
            budget=budget,
            stuck=stuck,
            interrupt=None,
        )
        return CheckReport(entries=tuple(entries))

    def _check_one(self, env: EnvironmentConfig, deadline: float) -> CheckEntry:
        checks: list[tuple[str, str]] = [("config", "ok")]
        warnings: list[str | None] = []
        step = "credentials"
        try:
            self._step(env, f"reading credentials secret {env.credentials_secret}")
            creds = self.store.read_credentials(env.credentials_secret, env.auth_method)
            warnings += creds.warnings
            checks.append((step, "ok"))
            step = "token"
            self._step(env, f"requesting a token from {env.host}")
            fetched = self.tokens.fetch(env, creds, deadline)
            if fetched.error is not None or fetched.token is None:
                raise fetched.error if isinstance(fetched.error, SyncJobError) else SyncJobError("no token")
            lacking = missing_scopes(env.scopes, fetched.token.scope)
            if lacking:
                raise SyncJobError(f"granted scope lacks {' '.join(lacking)}")
            warnings += fetched.token.warnings
            warnings.append(
                freshness.short_lifetime_warning(fetched.token.expires_in, env.refresh_margin_seconds)
            )
            checks.append((step, "ok"))
            step = "token_secret"
            self._step(env, f"describing token secret {env.token_secret}")
            self.store.describe(env.token_secret)
            checks.append((step, "ok"))
        except SyncJobError as exc:
            return CheckEntry(env.name, False, (*checks, (step, "failed")), exc.message, _join(warnings))
        except Exception as exc:
            error = _unexpected(exc)
            return CheckEntry(env.name, False, (*checks, (step, "failed")), error, _join(warnings))
        return CheckEntry(env.name, True, tuple(checks), None, _join(warnings))

    # --- the bounded pool -----------------------------------------------------------------------

    def _budget(self, budget_seconds: float | None) -> float:
        return self.config.run_timeout_seconds if budget_seconds is None else budget_seconds

    def _step(self, env: EnvironmentConfig, what: str) -> None:
        self._steps[env.name] = what

    def _each(
        self,
        envs: Sequence[EnvironmentConfig],
        work: Callable[[EnvironmentConfig], R | _Later[R]],
        *,
        deadline: float,
        budget: float,
        stuck: Callable[[EnvironmentConfig, str, bool], R],
        interrupt: Interrupt | None,
    ) -> list[R]:
        """``work`` for each environment on at most ``max_workers`` daemon threads, in the order
        given, results in that order. ``work`` may return :class:`_Later`: the environment goes
        back in the queue at its place, to be taken no sooner than ``not_before``, and its
        ``result`` stands if the run ends first. Returns by ``deadline + STRAGGLER_GRACE_SECONDS``
        (or the interrupt's grace) whatever ``work`` does: an environment still running then, or
        never started, gets ``stuck(env, why, began)``.
        Daemon threads, because an abandoned call must not keep the process alive at exit."""
        results: list[R | None] = [None] * len(envs)
        provisional: dict[int, R] = {}  # a _Later's result while it waits in the queue
        queue = list(range(len(envs)))  # indices, kept in the order given
        not_before: dict[int, float] = {}
        lock = threading.Lock()
        done = threading.Event()
        left = [len(envs)]
        began: set[int] = set()
        waiter = [False]  # one idle worker waits for a queued retry; the others leave
        if not envs:
            return []

        def take() -> int | None:
            """The first index whose time has come; waits (bounded by the deadline, a second at
            a time so an interrupt is seen) while only later ones are queued; None when the
            queue is empty, the run is over or interrupted, or nothing queued can start in time.
            An index left waiting in the queue keeps its provisional result."""
            while True:
                with lock:
                    if not queue or interrupt or done.is_set():
                        return None
                    now = self.clock.monotonic()
                    for position, index in enumerate(queue):
                        if not_before.get(index, now) <= now:
                            del queue[position]
                            began.add(index)
                            return index
                    wait = min(not_before[i] for i in queue) - now
                    if now + wait >= deadline or waiter[0]:
                        return None
                    waiter[0] = True
                try:
                    # On the job's clock: a simulation's manual clock moves by exactly this much.
                    self.clock.sleep(min(wait, 1.0))
                finally:
                    with lock:
                        waiter[0] = False

        def worker() -> None:
            while True:
                index = take()
                if index is None:
                    return
                env = envs[index]
                if interrupt and index in provisional:
                    outcome: R | _Later[R] = provisional[index]  # its first round's failure stands
                elif interrupt:
                    outcome = stuck(env, f"not started: the run was interrupted by {interrupt.reason}", False)
                else:
                    outcome = work(env)
                with lock:
                    if isinstance(outcome, _Later):
                        provisional[index] = outcome.result
                        not_before[index] = outcome.not_before
                        queue.append(index)
                        queue.sort()
                        continue
                    provisional.pop(index, None)
                    results[index] = outcome
                    left[0] -= 1
                    if left[0] == 0:
                        done.set()

        workers = [
            threading.Thread(target=worker, name=f"sync-job-{n}", daemon=True)
            for n in range(min(len(envs), self.config.max_workers))
        ]
        for thread in workers:
            thread.start()
        while not done.is_set():
            limit = deadline + STRAGGLER_GRACE_SECONDS
            if interrupt and interrupt.at is not None:
                limit = min(limit, interrupt.at + INTERRUPT_GRACE_SECONDS)
            remaining = limit - self.clock.monotonic()
            if remaining <= 0 or not any(thread.is_alive() for thread in workers):
                break
            done.wait(min(_POLL_SECONDS, remaining))
        with lock:
            waiting = set(queue)
            queue.clear()  # nothing new starts after the wait ended
            out: list[R] = []
            for index, (env, result) in enumerate(zip(envs, results, strict=True)):
                if result is None and index in waiting and index in provisional:
                    result = provisional[index]  # its second round never came round
                elif result is None and index not in began:
                    cause = (
                        f"the run was interrupted by {interrupt.reason}"
                        if interrupt
                        else f"the run's budget of {budget:g} s ran out"
                    )
                    result = stuck(env, f"not started: {cause}", False)
                elif result is None:
                    doing = self._steps.get(env.name, "starting")
                    if interrupt:
                        why = f"interrupted by {interrupt.reason} while {doing}"
                    else:
                        why = f"did not finish within the run's budget of {budget:g} s (still {doing})"
                    result = stuck(env, why, True)
                out.append(result)
        return out


def payload_of(
    env: EnvironmentConfig, client_id: str, token: TokenResponse, issued_at: datetime
) -> TokenPayload:
    """The payload to publish for ``token`` (issued at ``issued_at``, UTC) of environment ``env``;
    the granted scope, or the requested one when the server omitted it (RFC 6749 §5.1)."""
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
    )


def _unexpected(exc: Exception) -> str:
    # A bug's message may quote anything: scrubbed and cut, with its type to file the bug by.
    return f"unexpected {type(exc).__name__}: {scrub(str(exc))[:200]}"


def stored_version(found: StoredToken | StoreError) -> str | None:
    return found.version_id if isinstance(found, StoredToken) else None


def _would_refresh(env: EnvironmentConfig, payload: TokenPayload | None, now: datetime) -> EnvironmentResult:
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.WOULD_REFRESH,
        expires_at=payload.expires_at if payload else None,
        seconds_remaining=payload.seconds_remaining(now) if payload else None,
    )


def _not_attempted(
    env: EnvironmentConfig, payload: TokenPayload | None, why: str, now: datetime
) -> EnvironmentResult:
    """A due environment this run could not attempt: ``deferred`` while its stored token is
    still valid (with when it expires), else ``failed``."""
    if payload is None or payload.seconds_remaining(now) <= 0:
        return _failed(env, why)
    left = int(payload.seconds_remaining(now))
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.DEFERRED,
        expires_at=payload.expires_at,
        seconds_remaining=payload.seconds_remaining(now),
        warning=f"deferred ({why}); its token expires at {format_timestamp(payload.expires_at)}, in {left} s",
    )


def _join(warnings: Sequence[str | None]) -> str | None:
    present = [w for w in warnings if w]
    return "; ".join(present) if present else None


def _failed(env: EnvironmentConfig, error: str, fetched: FetchResult | None = None) -> EnvironmentResult:
    return EnvironmentResult(
        environment=env.name,
        outcome=Outcome.FAILED,
        error=error,
        attempts=fetched.attempts if fetched else 0,
        latency_seconds=fetched.latency_seconds if fetched else None,
    )


def _with_token(
    env: EnvironmentConfig,
    outcome: Outcome,
    payload: TokenPayload,
    now: datetime,
    fetched: FetchResult | None = None,
    warnings: Sequence[str | None] = (),
) -> EnvironmentResult:
    return EnvironmentResult(
        environment=env.name,
        outcome=outcome,
        expires_at=payload.expires_at,
        seconds_remaining=payload.seconds_remaining(now),
        attempts=fetched.attempts if fetched else 0,
        latency_seconds=fetched.latency_seconds if fetched else None,
        warning=_join(warnings),
    )
