"""Wires the real parts together: a boto3 client, a requests session, the system clock."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from sync_job.clock import Clock, SystemClock
from sync_job.config import Config
from sync_job.oauth import TokenClient
from sync_job.pacing import HostPacer
from sync_job.store import SecretStore, make_client
from sync_job.sync import Job


def build_job(config: Config, clock: Clock | None = None) -> Job:
    clock = clock or SystemClock()
    session = requests.Session()
    # One pool per token host, wide enough for every worker; no urllib3 retries: tenacity
    # owns retrying, so every attempt is paced and counted.
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=config.max_workers, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    client = make_client(
        max_attempts=config.aws_max_attempts, max_pool_connections=config.max_workers
    )
    return Job(
        config=config,
        store=SecretStore(client),
        tokens=TokenClient(session, clock, HostPacer(clock)),
        clock=clock,
    )
