"""A run: read every token secret, plan (``plan.plan_run``), carry the plan out on the bounded
pool (``executor.Pool``), one environment's refresh as the steps of ``refresh.py``, each
environment isolated from the others and the whole run bounded by its budget. The read-only
commands live in ``readonly.py``; :class:`Job` keeps one entry point per command. No argument
parsing, no printing."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from sync_job import client_identity, freshness
from sync_job.clock import Clock
from sync_job.config import Config, EnvironmentConfig
from sync_job.errors import SyncJobError
from sync_job.executor import (
    INTERRUPT_GRACE_SECONDS,
    STRAGGLER_GRACE_SECONDS,
    Activity,
    Interrupt,
    Later,
    Pool,
    Unfinished,
    call_bounded,
)
from sync_job.logs import log_event
from sync_job.plan import Decision, PlannedEnvironment, RunPlan, plan_run, retry_at
from sync_job.refresh import (
    Refreshed,
    Refresher,
    TokenSource,
    failed,
    not_attempted,
    payload_of,
    unexpected,
    with_token,
    would_refresh,
)
from sync_job.report import EnvironmentResult, Outcome, Report
from sync_job.store import SecretsStore

if TYPE_CHECKING:
    from sync_job.credentials import Credentials

    # The read-only commands' module is imported by their entry points only: a run needs none of it.
    from sync_job.readonly import CheckReport, StatusReport, TokenLookup

__all__ = [
    "INTERRUPT_GRACE_SECONDS",
    "STRAGGLER_GRACE_SECONDS",
    "Interrupt",
    "Job",
    "Store",
    "TokenSource",
    "payload_of",
]

log = logging.getLogger("sync_job.sync")
T = TypeVar("T")


# The one Secrets Manager interface (store.SecretsStore), by the name callers have used.
Store = SecretsStore


@dataclass
class Job:
    """Everything a run needs, passed in so tests and simulations can swap any part."""

    config: Config
    store: SecretsStore
    tokens: TokenSource
    clock: Clock
    # Warn once per secret about an unusable stored payload, not on every run of a process.
    _warned: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

        Every token secret is read first (batched); the plan (``plan.plan_run``) says which are
        fresh and in what order the due ones are attempted (most urgent first; ``urgency_order=
        False`` keeps config order, for comparison). One whose stored token is still valid but
        for which pacing or the budget leaves no room is ``deferred``; one with no valid token
        that could not be attempted is ``failed``. Returns within the budget (``budget_seconds``,
        default ``run_timeout_seconds``) plus ``STRAGGLER_GRACE_SECONDS`` whatever the peers do,
        and at once when ``interrupt`` is set while secrets are read. ``on_result`` is called
        once with each result as it is known (for a progress display; from worker threads).
        Raises ``UsageError`` for an unknown name; every other failure is a result."""
        envs = self.config.select(names)
        budget = self._budget(budget_seconds)
        run = _Run.start(self, force, budget, interrupt, on_result)
        stored = run.bounded(lambda: self.store.read_tokens([e.token_secret for e in envs]))
        if isinstance(stored, Unfinished):
            return self._report(envs, {}, dry_run, interrupt, default=stored.reason)
        plan = plan_run(
            envs,
            stored,
            self.clock.now(),
            force=force,
            dry_run=dry_run,
            urgency_order=urgency_order,
            interval=self.config.schedule_seconds,
        )
        self._warn_unusable(plan)
        results = {r.environment: r for r in run.settled(plan)}
        creds = run.credentials(plan.to_refresh)
        pool = Pool(self.clock, self.config.max_workers, run.deadline, budget, interrupt)
        done = pool.map(
            plan.to_refresh,
            lambda entry, previous: run.attempt(entry, creds, previous),
            stuck=run.stuck,
            doing=lambda entry: run.activity.of(entry.name),
            settle=run.settle,
        )
        results.update({r.environment: r for r in done})
        return self._report(envs, results, dry_run, interrupt)

    def _report(
        self,
        envs: Sequence[EnvironmentConfig],
        results: dict[str, EnvironmentResult],
        dry_run: bool,
        interrupt: Interrupt | None,
        default: str | None = None,
    ) -> Report:
        ordered = tuple(results.get(e.name) or failed(e, default or "not run") for e in envs)
        return Report(results=ordered, dry_run=dry_run, interrupted=interrupt.reason if interrupt else None)

    def _warn_unusable(self, plan: RunPlan) -> None:
        """Warn once per secret (per process) about a stored value that cannot be used."""
        for entry in plan.entries:
            problem = entry.stored.problem if entry.stored is not None else None
            if not problem:
                continue
            with self._lock:
                if entry.env.token_secret in self._warned:
                    continue
                self._warned.add(entry.env.token_secret)
            log_event(
                log,
                logging.WARNING,
                "sync.stored_payload_invalid",
                environment=entry.name,
                secret=entry.env.token_secret,
                error=f"{problem}; treating it as stale and refreshing",
            )

    def _budget(self, budget_seconds: float | None) -> float:
        return self.config.run_timeout_seconds if budget_seconds is None else budget_seconds

    # --- the read-only commands (readonly.py) ------------------------------------------------------

    def status(
        self, names: Sequence[str] | None = None, *, budget_seconds: float | None = None
    ) -> StatusReport:
        """The stored tokens' states, read only: one ``StatusEntry`` per environment, in order
        (see ``readonly.status``). Raises ``UsageError`` for an unknown name."""
        from sync_job import readonly

        envs = self.config.select(names)
        return readonly.status(self.store, self.clock, envs, self._budget(budget_seconds))

    def token(self, name: str) -> TokenLookup:
        """The stored token of one environment and its state (``invalid`` when unusable).
        Raises ``UsageError`` for an unknown name and ``StoreError`` when it cannot be read."""
        from sync_job import readonly

        return readonly.token(self.store, self.clock, self.config.select([name])[0])

    def check(
        self,
        names: Sequence[str] | None = None,
        *,
        budget_seconds: float | None = None,
        interrupt: Interrupt | None = None,
    ) -> CheckReport:
        """Prove each environment works without writing (see ``readonly.Checker``): one
        ``CheckEntry`` per environment; ``interrupt`` stops it as it stops a run. Raises
        ``UsageError`` for an unknown name."""
        from sync_job import readonly

        envs = self.config.select(names)
        checker = readonly.Checker(
            self.store, self.tokens, self.clock, self.config.max_workers, self.config.schedule_seconds
        )
        return checker.check(envs, self._budget(budget_seconds), interrupt)


@dataclass(frozen=True)
class _Run:
    """One run's settings and the calls its pool makes. Holds no mutable state of its own but
    ``activity`` (what each environment is doing, for a straggler's report)."""

    job: Job
    refresher: Refresher
    budget: float
    deadline: float
    started: float
    interrupt: Interrupt | None
    on_result: Callable[[EnvironmentResult], None] | None

    @classmethod
    def start(
        cls,
        job: Job,
        force: bool,
        budget: float,
        interrupt: Interrupt | None,
        on_result: Callable[[EnvironmentResult], None] | None,
    ) -> _Run:
        """A run starting now, ending by ``budget`` seconds from now (the job's clock)."""
        started = job.clock.monotonic()
        deadline = started + budget
        refresher = Refresher(
            job.store,
            job.tokens,
            job.clock,
            Activity(),
            force,
            deadline,
            interrupt,
            job.config.schedule_seconds,
        )
        return cls(job, refresher, budget, deadline, started, interrupt, on_result)

    @property
    def activity(self) -> Activity:
        return self.refresher.activity

    def bounded(self, call: Callable[[], T]) -> T | Unfinished:
        """``call()`` bounded by the run (``executor.call_bounded``); a bug is a reason too."""
        try:
            return call_bounded(
                call,
                clock=self.job.clock,
                deadline=self.deadline,
                budget=self.budget,
                interrupt=self.interrupt,
            )
        except Exception as exc:  # a bug must still leave every environment reported
            return Unfinished(unexpected(exc))

    def settled(self, plan: RunPlan) -> list[EnvironmentResult]:
        """The results the plan settles without a request, each logged and passed on once:
        unreadable and dry-run ones in config order, then the fresh ones."""
        now = self.job.clock.now()
        out = []
        for entry in plan.entries:
            if entry.decision is Decision.UNREADABLE:
                out.append(self._notify(self._logged(failed(entry.env, entry.error or "unreadable"))))
            elif entry.decision is Decision.DRY_RUN:
                would = would_refresh(entry.env, entry.payload, now)
                out.append(self._notify(freshness.with_configuration_reason(would, entry.changed)))
        for entry in plan.having(Decision.FRESH):
            assert entry.payload is not None  # fresh means a token is stored
            result = with_token(entry.env, Outcome.FRESH, entry.payload, now)
            out.append(self._notify(self._logged(result)))
        return out

    def credentials(self, due: Sequence[PlannedEnvironment]) -> Mapping[str, Credentials | str]:
        """Each due environment's credentials (batched), or why they could not be read, by name."""
        if not due:
            return {}
        wanted = [(e.env.credentials_secret, e.env.auth_method) for e in due if e.env.credentials_secret]
        read = self.bounded(lambda: self.job.store.read_credentials_many(wanted)) if wanted else {}
        if isinstance(read, Unfinished):
            return {e.name: read.reason for e in due}
        return {e.name: client_identity.credentials_from(e.env, read) for e in due}

    def attempt(
        self,
        entry: PlannedEnvironment,
        creds: Mapping[str, Credentials | str],
        previous: EnvironmentResult | None,
    ) -> EnvironmentResult | Later[EnvironmentResult]:
        """One round of ``entry``'s refresh; ``previous`` is its first round's result when this
        is the retry. Returns :class:`Later` when ``plan.retry_at`` says to try once more."""
        env = entry.env
        try:
            refreshed = self._refresh(entry, creds[env.name])
        except SyncJobError as exc:
            refreshed = Refreshed(failed(env, exc.message))
        except Exception as exc:  # one environment's bug must not stop the others
            refreshed = Refreshed(failed(env, unexpected(exc)))
        result = freshness.with_configuration_reason(refreshed.result, entry.changed)
        if previous is not None:
            error = None if result.error is None else f"{result.error}; tried again later in the run"
            result = replace(result, attempts=result.attempts + previous.attempts, error=error)
        at = retry_at(
            env,
            result.outcome,
            transient=refreshed.transient,
            first_round=previous is None,
            early=entry.decision is Decision.PULLED_FORWARD,
            interrupted=bool(self.interrupt),
            now=self.job.clock.monotonic(),
            deadline=self.deadline,
        )
        if at is None:
            return result
        log_event(
            log,
            logging.WARNING,
            "sync.retry_later",
            environment=env.name,
            attempt=result.attempts,
            retry_in_seconds=env.backoff_max_seconds,
            error=result.error,
        )
        return Later(result, at)

    def _refresh(self, entry: PlannedEnvironment, creds: Credentials | str) -> Refreshed:
        """The refresh steps (``refresh.Refresher``) for ``entry``; an early refresh first makes
        sure it does not spend the last of the secret's version budget (``budget.py``)."""
        env, stored = entry.env, entry.stored
        assert stored is not None  # a due or pulled-forward entry was read
        if entry.decision is Decision.PULLED_FORWARD:
            from sync_job import budget as write_budget  # only an early refresh asks

            now = self.job.clock.now()
            no_room = write_budget.early_refusal(self.job.store, env.token_secret, now)
            if no_room:
                return Refreshed(not_attempted(env, stored.payload, no_room, now))
        return self.refresher.refresh(env, stored, creds)

    def stuck(self, entry: PlannedEnvironment, why: str, began: bool) -> EnvironmentResult:
        """``entry``'s result when the pool gave up on it: an early refresh changes nothing."""
        now = self.job.clock.now()
        if entry.decision is Decision.PULLED_FORWARD and entry.payload is not None:
            return with_token(entry.env, Outcome.FRESH, entry.payload, now)
        if began:  # cut off mid-way: that is a failure, whatever is stored
            return failed(entry.env, why)
        return not_attempted(entry.env, entry.payload, why, now)

    def settle(self, entry: PlannedEnvironment, result: EnvironmentResult) -> EnvironmentResult:
        """Each refresh's final result, once: logged, then passed on; an early refresh that
        found no room or failed changes nothing, so it reports the stored token, still fresh."""
        self._logged(result)
        early = entry.decision is Decision.PULLED_FORWARD and entry.payload is not None
        if early and entry.payload is not None and result.outcome in (Outcome.FAILED, Outcome.DEFERRED):
            note = result.error if result.outcome is Outcome.FAILED else None
            warning = f"early refresh failed: {note}" if note else None
            result = with_token(
                entry.env, Outcome.FRESH, entry.payload, self.job.clock.now(), warnings=[warning]
            )
        return self._notify(result)

    def _notify(self, result: EnvironmentResult) -> EnvironmentResult:
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _logged(self, result: EnvironmentResult) -> EnvironmentResult:
        log_event(
            log,
            logging.ERROR if result.outcome is Outcome.FAILED else logging.INFO,
            "sync.result",
            environment=result.environment,
            outcome=str(result.outcome),
            attempt=result.attempts,
            latency_ms=None if result.latency_seconds is None else round(result.latency_seconds * 1000, 1),
            seconds_remaining=None if result.seconds_remaining is None else int(result.seconds_remaining),
            duration_ms=round((self.job.clock.monotonic() - self.started) * 1000, 1),
            error=result.error,
            warning=result.warning,
        )
        return result
