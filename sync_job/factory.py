"""Wires the real parts together: a boto3 client, a requests session, the system clock."""

from __future__ import annotations

import threading
from typing import Any

from sync_job.clock import Clock, SystemClock
from sync_job.config import Config, EnvironmentConfig
from sync_job.oauth import Credentials, FetchResult
from sync_job.pacing import HostPacer
from sync_job.store import SecretStore, make_client
from sync_job.sync import Job


class LazyTokenClient:
    """Builds the HTTP token client on the first token request. Most runs find every token
    fresh and never need requests or tenacity, so a Lambda cold start does not import them."""

    def __init__(self, clock: Clock, pool_size: int) -> None:
        self._clock = clock
        self._pool_size = pool_size
        self._pacer = HostPacer(clock)
        self._client: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        import requests
        from requests.adapters import HTTPAdapter

        from sync_job.token_client import TokenClient

        session = requests.Session()
        # One pool per token host, wide enough for every worker; no urllib3 retries: tenacity
        # owns retrying, so every attempt is paced and counted.
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=self._pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return TokenClient(session, self._clock, self._pacer)

    def fetch(self, env: EnvironmentConfig, creds: Credentials, deadline: float) -> FetchResult:
        with self._lock:
            if self._client is None:
                self._client = self._build()
        result: FetchResult = self._client.fetch(env, creds, deadline)
        return result


def build_job(config: Config, clock: Clock | None = None) -> Job:
    clock = clock or SystemClock()
    client = make_client(max_attempts=config.aws_max_attempts, max_pool_connections=config.max_workers)
    return Job(
        config=config,
        store=SecretStore(client),
        tokens=LazyTokenClient(clock, config.max_workers),
        clock=clock,
    )
