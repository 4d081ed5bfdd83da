"""Secrets Manager's documented limits that moto does not enforce, as one set of pure rules shared
by the moto wrapper every test uses (``moto_server.py``) and the in-memory stores of the
simulations (``fakes.MemoryStore``, ``fleet.FleetStore``), so nothing passes a test or a simulated
week that the real service would refuse.

Sources (AWS, read 2026-12):

* Quotas page, https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html:
  "Secrets Manager removes unlabeled versions when there are more than 100, but it does not remove
  versions created less than 24 hours ago. If you update the secret value more than once every 10
  minutes, you create more versions than Secrets Manager removes, and you will reach the quota for
  secret versions"; and the table row "Combined rate of PutSecretValue,
  RemoveRegionsFromReplication, ReplicateSecretToRegion, StopReplicationToReplica, UpdateSecret,
  and UpdateSecretVersionStage API requests: Each supported Region: 50 per second" (not adjustable).
* PutSecretValue API reference,
  https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html: the same
  version warning; ``SecretString`` "Length Constraints: Minimum length of 0. Maximum length of
  65536"; errors ``LimitExceededException`` ("The request failed because it would exceed one of
  the Secrets Manager quotas") and ``InvalidRequestException`` ("The secret is scheduled for
  deletion").
* Common errors, https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html:
  ``ValidationException`` ("The input fails to satisfy the constraints specified by an AWS
  service", HTTP 400) for a length constraint; ``ThrottlingException`` ("The request was denied
  due to request throttling", HTTP 400) for a rate quota.

The version quota is read conservatively: a write that would leave more than 100 versions created
within the last 24 hours fails, whatever their labels (the page promises no removal of those, so
a 101st is the first write the real service may refuse).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_SECRET_STRING_BYTES",
    "VERSION_QUOTA",
    "VERSION_WINDOW_SECONDS",
    "WRITE_ACTIONS",
    "WRITE_RATE_PER_SECOND",
    "Refusal",
    "SecretsManagerRules",
    "recent_versions",
]

VERSION_QUOTA = 100  # versions created within VERSION_WINDOW_SECONDS (quotas page)
VERSION_WINDOW_SECONDS = 86400.0  # "does not remove versions created less than 24 hours ago"
MAX_SECRET_STRING_BYTES = 65536  # PutSecretValue/UpdateSecret SecretString length constraint
WRITE_RATE_PER_SECOND = 50  # the combined rate of the write actions below, per region
# The quotas page's combined-rate row; the job calls the first, second and last.
WRITE_ACTIONS = frozenset(
    {
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "RemoveRegionsFromReplication",
        "ReplicateSecretToRegion",
        "StopReplicationToReplica",
    }
)
# Actions that create a version when they carry a value (quotas page: "When you call
# PutSecretValue or UpdateSecret to update the secret value, Secrets Manager creates a new version").
VALUE_ACTIONS = frozenset({"PutSecretValue", "UpdateSecret"})


@dataclass(frozen=True)
class Refusal:
    """An AWS error answer: ``code`` is the ``__type`` / ``Error.Code``, ``status`` the HTTP status."""

    code: str
    message: str
    status: int = 400


class SecretsManagerRules:
    """The rules above for one account, on a clock of epoch seconds (``clock``; tests move it).

    ``refusal`` is pure apart from the write-rate window it keeps: the caller says what the
    secret holds (its versions' creation times, whether it is scheduled for deletion) and gets the
    error the real service would answer, or None. Thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._writes: dict[str, collections.deque[float]] = {}  # region -> admitted write times

    def reset(self) -> None:
        """Forget the write-rate window (between tests)."""
        with self._lock:
            self._writes.clear()

    def refusal(
        self,
        action: str,
        *,
        region: str = "us-east-1",
        secret_string: object = None,
        creates_version: bool = False,
        versions_created: Iterable[float] = (),
        scheduled_for_deletion: bool = False,
    ) -> Refusal | None:
        """The error for ``action`` on a secret, or None to let it through. Checked in the order
        a real request meets them: throttling, then input validation, then the secret's state,
        then the version quota. ``creates_version``: the call carries a value that is not an
        existing version (an idempotent retry with the same ClientRequestToken creates none)."""
        now = self.clock()
        if action in WRITE_ACTIONS and not self._admit(region, now):
            return Refusal(
                "ThrottlingException",
                f"Rate exceeded: more than {WRITE_RATE_PER_SECOND} PutSecretValue, UpdateSecret and "
                "UpdateSecretVersionStage requests per second in this region",
            )
        if action in VALUE_ACTIONS and isinstance(secret_string, str):
            size = len(secret_string.encode("utf-8"))
            if size > MAX_SECRET_STRING_BYTES:
                return Refusal(
                    "ValidationException",
                    "1 validation error detected: Value at 'secretString' failed to satisfy "
                    f"constraint: Member must have length less than or equal to {MAX_SECRET_STRING_BYTES}"
                    f" (got {size} bytes)",
                )
        if action in VALUE_ACTIONS and scheduled_for_deletion:
            return Refusal(
                "InvalidRequestException",
                "You tried to perform the operation on a secret that's currently marked deleted.",
            )
        if action in VALUE_ACTIONS and creates_version:
            recent = recent_versions(versions_created, now)
            if recent + 1 > VERSION_QUOTA:
                return Refusal(
                    "LimitExceededException",
                    f"You have exceeded the quota of {VERSION_QUOTA} versions of this secret created "
                    f"in the last 24 hours ({recent} held).",
                )
        return None

    def _admit(self, region: str, now: float) -> bool:
        # A sliding one-second window: at most WRITE_RATE_PER_SECOND admitted writes in any
        # second. A refused request is not admitted (the caller's retry competes again).
        with self._lock:
            window = self._writes.setdefault(region, collections.deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= WRITE_RATE_PER_SECOND:
                return False
            window.append(now)
            return True


def recent_versions(created: Iterable[float], now: float) -> int:
    """How many of the creation times (epoch seconds) lie within the last 24 hours of ``now``."""
    return sum(1 for t in created if now - t < VERSION_WINDOW_SECONDS)
