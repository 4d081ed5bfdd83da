"""botocore clients for the AWS services the job calls besides Secrets Manager (KMS, STS), bounded
the way ``store.make_client`` bounds Secrets Manager's: botocore's standard retry mode (which
retries throttling and 5xx with backoff) less the quota refusals no retry can change
(``awserrors.retry_only_what_may_pass``), and socket timeouts sized from the run's budget. Their
errors are translated by ``awserrors``."""

from __future__ import annotations

from typing import Any

from botocore.config import Config as BotoConfig

from sync_job import botodata
from sync_job.awserrors import creating_client, retry_only_what_may_pass
from sync_job.store import session_client


def bounded_client(service: str, *, budget_seconds: float, max_attempts: int = 5) -> Any:
    """A botocore client of ``service`` from the standard AWS chain (region, credentials and
    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` from the environment). Each call's
    socket timeouts: at most 5 s to connect and 15 s per read, and never more than a quarter of
    ``budget_seconds``. Raises ``ConfigError`` without a region; ``ValueError`` for a service
    outside ``botodata.SERVICES`` (the session's loader holds endpoint data for those only)."""
    if service not in botodata.SERVICES:
        raise ValueError(
            f"{service}: add it to botodata.SERVICES, then run python -m scripts.gen_botocore_data"
        )
    quarter = max(1.0, budget_seconds / 4)
    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=min(5.0, quarter),
        read_timeout=min(15.0, quarter),
        max_pool_connections=4,
    )
    # The session is made inside creating_client: making it may already read the environment's
    # credentials and profile (botodata.make_session), whose errors are configuration errors.
    client = creating_client(
        service.upper() if service in ("kms", "sts") else service,
        lambda: session_client(service, config),
    )
    retry_only_what_may_pass(client, max_attempts)  # a quota refusal is final (awserrors.FINAL_CODES)
    return client
