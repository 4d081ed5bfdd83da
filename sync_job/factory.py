"""Wires the real parts together: a Secrets Manager client, the token client, the system clock."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from sync_job.clock import Clock, SystemClock
from sync_job.config import Config, EnvironmentConfig
from sync_job.errors import SyncJobError
from sync_job.pacing import HostPacer, secrets_write_slot
from sync_job.store import SecretStore, make_client
from sync_job.sync import Job

if TYPE_CHECKING:
    from sync_job.credentials import Credentials
    from sync_job.keyless import CredentialSources
    from sync_job.token_client import FetchResult, TokenClient


def credential_sources(
    clock: Clock, budget_seconds: float = 600.0, max_attempts: int = 5
) -> CredentialSources:
    """``keyless.CredentialSources`` (KMS signing keys, federated assertions), imported when a
    token request first needs it: a run's first request is to Secrets Manager, and a run that
    finds every token fresh needs none of it."""
    from sync_job.keyless import CredentialSources

    return CredentialSources(clock, budget_seconds=budget_seconds, max_attempts=max_attempts)


class LazyTokenClient:
    """Builds the HTTP token client on the first token request. Most runs find every token
    fresh and never need requests or tenacity, so a Lambda cold start does not import them.
    ``sources`` makes the ``keyless.CredentialSources`` on first use (default:
    :func:`credential_sources` with its defaults)."""

    def __init__(
        self, clock: Clock, pool_size: int, sources: Callable[[], CredentialSources] | None = None
    ) -> None:
        self._clock = clock
        self._make_sources = sources or (lambda: credential_sources(clock))
        self._sources: CredentialSources | None = None
        self._pool_size = pool_size
        self._pacer = HostPacer(clock)
        self._client: TokenClient | None = None
        self._lock = threading.Lock()

    def _parts(self) -> tuple[CredentialSources, TokenClient]:
        """The credential sources and the HTTP token client, both made on first use under one
        lock, so concurrent first requests go on in the order they asked (a second lock
        between the two would let a later worker overtake an earlier one)."""
        with self._lock:
            if self._sources is None:
                self._sources = self._make_sources()
            if self._client is None:
                from sync_job.token_client import TokenClient, build_session

                self._client = TokenClient(build_session(self._pool_size), self._clock, self._pacer)
            return self._sources, self._client

    def complete(self, env: EnvironmentConfig, creds: Credentials) -> Credentials:
        """``creds`` with the KMS signing key or federated assertion source ``env`` names
        (``keyless.CredentialSources.complete``), for requests built outside :meth:`fetch`
        (revocation). Raises ``CredentialsError`` / ``SigningError``."""
        return self._parts()[0].complete(env, creds)

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        """``TokenClient.fetch`` on the client built on first use (see the class), the
        environment's KMS key or assertion source added to ``creds``."""
        sources, client = self._parts()
        try:
            # A KMS signing key or a federated assertion source, as the environment names.
            creds = sources.complete(env, creds)
        except SyncJobError as exc:
            from sync_job.token_client import FetchResult

            return FetchResult(attempts=0, error=exc)
        return client.fetch(env, creds, deadline)

    def post_form(
        self,
        env: EnvironmentConfig,
        url: str,
        headers: Mapping[str, str],
        form: Mapping[str, str | list[str]],
        deadline: float,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """:meth:`TokenClient.post_form` over the same session and pacer as the token requests."""
        return self._parts()[1].post_form(env, url, headers, form, deadline)


def _requests_in_flight_per_host(config: Config) -> int:
    """The most token requests one host can have in flight: its pacing burst, plus what the rate
    adds while a request lasts (at most ``timeout_seconds``), and never more than the workers."""
    most = max(
        e.rate_limit_burst + math.ceil(e.rate_limit_per_second * e.timeout_seconds)
        for e in config.environments
    )
    return max(1, min(config.max_workers, most))


def build_job(config: Config, clock: Clock | None = None, budget_seconds: float | None = None) -> Job:
    """A :class:`Job` over the real Secrets Manager (the standard boto3 chain; raises
    ``ConfigError`` without a region) and the real token endpoints. ``budget_seconds`` (default:
    the config's run timeout) sizes the AWS calls' timeouts."""
    clock = clock or SystemClock()
    budget = config.run_timeout_seconds if budget_seconds is None else budget_seconds
    client = make_client(
        max_attempts=config.aws_max_attempts,
        max_pool_connections=config.max_workers,
        budget_seconds=budget,
    )
    return Job(
        config=config,
        # Writes paced under Secrets Manager's 50/s per-Region quota, across the run's workers.
        store=SecretStore(client, secrets_write_slot(HostPacer(clock))),
        tokens=LazyTokenClient(
            clock,
            _requests_in_flight_per_host(config),
            lambda: credential_sources(clock, budget, config.aws_max_attempts),
        ),
        clock=clock,
    )
