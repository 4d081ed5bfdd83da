"""The one publish path: every surface that writes a token (``run``, ``credentials put``, the
Lambda, anything later) calls :func:`publish_token`, so the rules hold by construction:

1. a token that has expired is never published (a slow step before the write may outlive it);
2. without ``force``, a token that expires before the valid stored one is never published;
3. the write is a compare-and-swap on AWSCURRENT (``SecretStore.publish``): if another run
   published meanwhile, the longer-lived token stays current.

Rules 1 and 2 are decided by :func:`sync_job.freshness.publish_refusal` with the clock read
right before the write, not when the token arrived.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sync_job import freshness
from sync_job.payload import TokenPayload
from sync_job.store import PublishResult, StoredToken

LOST_RACE = "another run published a longer-lived token first; kept it"


class TokenWriter(Protocol):
    """The one store call publishing needs (``SecretStore.publish``)."""

    def publish(
        self, secret_id: str, payload: TokenPayload, expected_version: str | None
    ) -> PublishResult: ...


class PublishOutcome(enum.StrEnum):
    PUBLISHED = "published"
    EXPIRED = "expired"  # rule 1: the new token had expired; nothing written
    SHORTER = "shorter"  # rule 2: the valid stored token lives longer; nothing written
    LOST_RACE = "lost_race"  # rule 3: another run's longer-lived token is current


@dataclass(frozen=True)
class PublishDecision:
    """What :func:`publish_token` did. ``current`` is the token AWSCURRENT holds afterwards as
    far as this run knows (the new one, the stored one, or another run's; None when the secret
    held none and nothing was written); ``reason`` (one line, no secret) says why nothing was
    published."""

    outcome: PublishOutcome
    current: TokenPayload | None
    reason: str | None = None

    @property
    def published(self) -> bool:
        return self.outcome is PublishOutcome.PUBLISHED


def publish_token(
    store: TokenWriter,
    secret_id: str,
    payload: TokenPayload,
    stored: StoredToken,
    now: Callable[[], datetime],
    *,
    force: bool = False,
) -> PublishDecision:
    """Publish ``payload`` to token secret ``secret_id`` over ``stored`` (the AWSCURRENT this
    caller read) by the three rules above. ``now`` is the injected clock (UTC), read right
    before the write. Raises ``StoreError`` (from the store) when the write fails."""
    refusal = freshness.publish_refusal(payload, stored.payload, now(), force=force)
    if refusal is not None:
        expired = payload.seconds_remaining(now()) <= 0
        return PublishDecision(
            PublishOutcome.EXPIRED if expired else PublishOutcome.SHORTER, stored.payload, refusal
        )
    result = store.publish(secret_id, payload, stored.version_id)
    if not result.published:
        return PublishDecision(PublishOutcome.LOST_RACE, result.current, LOST_RACE)
    return PublishDecision(PublishOutcome.PUBLISHED, payload)
