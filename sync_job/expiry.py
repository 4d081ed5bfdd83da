"""When a client credential stops working, and how many days are left: pure, with ``now``
given (``clock.py``). A certificate ends at its ``notAfter``; a client secret at the
credentials secret's ``client_secret_expires_at`` (RFC 7591 §3.2.1: seconds since the epoch,
0 for never); a KMS key, a federated assertion or a secret without an end date never end.

``status`` reads no credentials (only the token secrets), so the refresh records the end in the
token payload as non-secret metadata (``credential_expires_at``), and ``status``, the run's
results, the EMF metrics and Prometheus read it from there; ``check`` reads the credentials
themselves. The alarms warn at ``WARN_DAYS`` and page at ``PAGE_DAYS`` (infra/monitoring.tf,
examples/prometheus/alerts.yml).
"""

from __future__ import annotations

import math
from datetime import datetime

WARN_DAYS = 30
PAGE_DAYS = 7
_DAY = 86400


def days_left(expires_at: datetime | None, now: datetime) -> int | None:
    """Whole days from ``now`` until ``expires_at`` (both UTC), rounded down: 0 on the last day,
    negative once it has passed; None when the end is not known."""
    if expires_at is None:
        return None
    return math.floor((expires_at - now).total_seconds() / _DAY)
