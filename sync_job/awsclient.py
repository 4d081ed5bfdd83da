"""botocore clients for the AWS services the job calls besides Secrets Manager (KMS, STS), bounded
the way ``store.make_client`` bounds Secrets Manager's: botocore's standard retry mode (which
retries throttling and 5xx with backoff), and socket timeouts sized from the run's budget."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
from botocore.config import Config as BotoConfig

from sync_job import botodata
from sync_job.errors import ConfigError
from sync_job.store import botocore_session, client_region, endpoint_error, tls_verify


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
    try:
        session = botocore_session()
        region = client_region(session)
        return session.create_client(service, region_name=region, config=config, verify=tls_verify(session))
    except botocore.exceptions.NoRegionError:
        raise ConfigError(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in ~/.aws/config)"
        ) from None
    except ValueError:
        raise endpoint_error(service.upper() if service in ("kms", "sts") else service) from None


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


# Codes of a call worth another attempt later (botocore's standard mode already retried them).
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "KMSInternalException",
        "DependencyTimeoutException",
        "InternalFailure",
        "ServiceUnavailable",
        "InternalError",
    }
)
