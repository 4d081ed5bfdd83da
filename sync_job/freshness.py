"""Pure decisions about a stored token: is it fresh, what state is it in, and may a new token
replace it. Every function takes ``now`` (UTC) from the caller's clock."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from sync_job import bearer
from sync_job.payload import TokenPayload
from sync_job.report import EnvironmentResult, TokenState


class TokenConfiguration(Protocol):
    """The settings that decide which token a server issues (an ``EnvironmentConfig`` is one)."""

    @property
    def token_secret(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def auth_method(self) -> str: ...
    @property
    def scopes(self) -> tuple[str, ...]: ...
    @property
    def endpoint_params(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def signing_alg(self) -> str: ...
    @property
    def audience(self) -> str | None: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def kms_key_id(self) -> str | None: ...
    @property
    def client_assertion_source(self) -> str | None: ...
    @property
    def client_assertion_audience(self) -> str | None: ...
    @property
    def client_assertion_file(self) -> str | None: ...


# Hex characters kept of each component's SHA-256: 64 bits, so an accidental match of two
# configurations is never a practical concern, while the payload stays short.
DIGEST_HEX_CHARS = 16


def configuration_identity(env: TokenConfiguration) -> tuple[tuple[str, str], ...]:
    """What identifies the token ``env`` obtains, as (component, digest) pairs recorded in the
    payload (``payload.TokenPayload.configuration``): ``token_url``; ``auth_method`` with the
    key identity the config knows (``key_id``, ``signing_alg``, assertion ``audience``, the KMS
    key, the federated assertion source; never a key or secret: those live in the credentials
    secret, which the fresh path does not read); ``scopes`` sorted (RFC 6749 §3.3: order does
    not matter); ``endpoint_params`` in order (a repeated name is a repeated field).

    Each digest is SHA-256 over canonical JSON, salted with the token secret's name, truncated to
    ``DIGEST_HEX_CHARS``: the payload reveals no endpoint parameter value (an ``audience`` or
    ``resource``) and no precomputed table fits two secrets; per component, so a change can be
    named (``configuration changed: scopes``). Margins, timeouts, retries, pacing and the
    schedule are not in it: they do not change the token."""
    components: tuple[tuple[str, object], ...] = (
        ("token_url", env.token_url),
        (
            "auth_method",
            {
                "auth_method": env.auth_method,
                "key_id": env.key_id,
                "signing_alg": env.signing_alg,
                "audience": env.audience,
                "kms_key_id": env.kms_key_id,
                "client_assertion_source": env.client_assertion_source,
                "client_assertion_audience": env.client_assertion_audience,
                "client_assertion_file": env.client_assertion_file,
            }
            if env.auth_method == "private_key_jwt"
            else {"auth_method": env.auth_method},
        ),
        ("scopes", sorted(env.scopes)),
        ("endpoint_params", [list(pair) for pair in env.endpoint_params]),
    )
    return tuple((name, _digest(env.token_secret, name, value)) for name, value in components)


def _digest(salt: str, name: str, value: object) -> str:
    canonical = json.dumps([salt, name, value], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_HEX_CHARS]


def configuration_change(
    payload: TokenPayload | None, identity: tuple[tuple[str, str], ...]
) -> tuple[str, ...]:
    """The components of ``identity`` (``configuration_identity``) whose digest differs from
    what ``payload`` recorded, in order; () when they agree, when there is no payload, or when it
    records none (written before schema 2: fresh by time alone until it is due). A component the
    payload does not record (added in a later schema) counts as unchanged."""
    if payload is None or not payload.configuration:
        return ()
    recorded = dict(payload.configuration)
    return tuple(name for name, digest in identity if name in recorded and recorded[name] != digest)


def configuration_reason(changed: Sequence[str]) -> str:
    """The one-line reason for a token due because its configuration changed."""
    return f"configuration changed: {', '.join(changed)}"


def with_configuration_reason(result: EnvironmentResult, changed: Sequence[str]) -> EnvironmentResult:
    """``result`` with ``configuration changed: ...`` first in its warning when ``changed`` names
    components (``configuration_change``); ``result`` itself otherwise."""
    if not changed:
        return result
    notes = [configuration_reason(changed), result.warning]
    return replace(result, warning="; ".join(n for n in notes if n))


# Secrets Manager advises against writing a secret more often than every 10 minutes: each write
# is a version, and versions count toward a quota until they age out.
VERSION_CHURN_SECONDS = 600


def effective_margin(payload: TokenPayload, margin_seconds: float) -> float:
    """The refresh margin (seconds) for this token: ``margin_seconds``, or half the token's
    lifetime when it lives no longer than the margin. Otherwise every run would refresh it and
    it would read as expiring right after each refresh."""
    lifetime = (payload.expires_at - payload.issued_at).total_seconds()
    if 0 < lifetime <= margin_seconds:
        return lifetime / 2
    return margin_seconds


def short_lifetime_warning(lifetime_seconds: float, margin_seconds: float) -> str | None:
    """The note for a token that lives no longer than the configured margin."""
    if 0 < lifetime_seconds <= margin_seconds:
        return (
            f"the token lives {int(lifetime_seconds)} s, no longer than refresh_margin_seconds "
            f"({int(margin_seconds)} s): it is refreshed at half its lifetime instead"
        )
    return None


def usable(payload: TokenPayload, now: datetime) -> bool:
    """The one validity rule (``bearer.is_usable``): more than ``bearer.EXPIRY_SKEW_SECONDS``
    (60 s) left. What consumers refuse, the job treats as expired."""
    return bearer.is_usable(payload.expires_at, now)


def is_fresh(payload: TokenPayload | None, now: datetime, margin_seconds: float) -> bool:
    """True when the stored token has more than its effective margin left, and is usable by the
    one rule (a margin below 60 s, or half a short lifetime, must not keep a token consumers
    refuse)."""
    return (
        payload is not None
        and usable(payload, now)
        and payload.seconds_remaining(now) > effective_margin(payload, margin_seconds)
    )


def state(
    payload: TokenPayload | None,
    now: datetime,
    margin_seconds: float,
    changed: Sequence[str] = (),
) -> TokenState:
    """``status``'s state of a stored token at ``now``: ``missing``; ``expired`` when not usable
    by the one rule (60 s or fewer left, see ``bearer.is_usable``); ``expiring`` inside its
    effective refresh margin; ``reconfigured`` when usable but ``changed`` names components of
    its configuration that differ (``configuration_change``); else ``valid``."""
    if payload is None:
        return TokenState.MISSING
    remaining = payload.seconds_remaining(now)
    if not usable(payload, now):
        return TokenState.EXPIRED
    if changed:
        return TokenState.RECONFIGURED
    if remaining <= effective_margin(payload, margin_seconds):
        return TokenState.EXPIRING
    return TokenState.VALID


def urgency(payload: TokenPayload | None, now: datetime, *, reconfigured: bool = False) -> tuple[int, float]:
    """Sort key of a due environment, most urgent first: no usable token (missing, unreadable,
    invalid), then expired (by the one rule), then a usable token of a configuration that has
    changed (``reconfigured``: consumers hold a token for the old scope, audience or tenant),
    then by seconds left (soonest ``expires_at`` first)."""
    if payload is None:
        return (0, 0.0)
    remaining = payload.seconds_remaining(now)
    if not usable(payload, now):
        return (1, remaining)
    return (2, remaining) if reconfigured else (3, remaining)


# Plan a token host at this share of its pacing rate, leaving room for retries and outages.
PULL_FORWARD_HEADROOM = 0.5


def pull_forward(until_due: Sequence[tuple[str, float]], *, rate: float, ahead: int = 0) -> set[str]:
    """Which fresh environments to refresh early, on one token host paced at ``rate`` requests
    a second, with ``ahead`` due environments already queued. ``until_due`` gives each one's
    seconds until it becomes due.

    Earliest deadline first: the i-th to come due needs ``(ahead + i + 1) / (rate *
    PULL_FORWARD_HEADROOM)`` seconds of the host before it. If any would not get them in time,
    the host cannot wait for each to come due: the earliest ones up to the last such are pulled
    forward, to use the capacity idle now. So a fleet whose tokens all came due together (a first
    fill, an outage) spreads itself out, while a lone environment is never pulled forward by more
    than a few seconds."""
    pace = rate * PULL_FORWARD_HEADROOM
    ordered = sorted(until_due, key=lambda item: item[1])
    last = -1
    for i, (_, seconds) in enumerate(ordered):
        if seconds < (ahead + i + 1) / pace:
            last = i
    return {name for name, _ in ordered[: last + 1]}


def spread_share(cycles: Sequence[float], interval: float) -> int:
    """How many of one token host's environments a run every ``interval`` s should refresh
    so that the host's refreshes are spread evenly over their cycles, each one run ahead of due.

    ``cycles``: for each environment, seconds between refreshes were it refreshed as it came due
    (its lifetime less its effective margin). Each is ``interval / (cycle - interval)`` of a
    run's share (``spread_cycle``); the sum rounded down, so a lone environment, or a handful
    (fewer than 8 at the defaults), is never moved. A fleet filled in one go, or bunched again
    by an outage, otherwise stays bunched (every refresh inside the same few minutes of each
    cycle), and an outage at that point lapses all of it where a lone environment's chance is
    one point of its cycle. Issue 17 §4."""
    return math.floor(sum(interval / spread_cycle(c, interval) for c in cycles if c > 0))


def spread_cycle(cycle: float, interval: float) -> float:
    """Seconds between a spread fleet's refreshes of one token (``spread_share``): its ``cycle``
    (lifetime less effective margin) less one ``interval``, when the cycle spans more than two
    runs; else ``cycle``.

    Why one run ahead: a lone environment is refreshed in its run's first second; a fleet's
    environment waits behind the run's share (at the pacing rate: 44 s at 200 environments and
    0.5/s, the whole run at 1,000), and after an outage behind every lapsed one. Refreshed one
    run before it comes due, each fleet token holds that run's worth of slack over a lone one at
    the same point of its cycle, so queueing never costs the fleet a lapse a lone environment
    does not have (measured: docs/scale.md, ``python -m bench.fleet_sim --compare``). The price:
    a spread fleet's token requests per environment per hour are ``3600 / (cycle - interval)``
    (1.50 at the defaults) instead of ``3600 / cycle`` (1.33); a lone environment's cost is
    unchanged."""
    return cycle - interval if cycle > 2 * interval else cycle


def publish_refusal(
    new: TokenPayload, stored: TokenPayload | None, now: datetime, *, force: bool
) -> str | None:
    """Why ``new`` must not replace ``stored`` (None when it may): a token that is not usable by
    the one rule (``bearer.is_usable``: 60 s or fewer left) is never published, since every
    consumer would refuse it; without ``force`` neither is one that expires before the usable
    stored one."""
    if not usable(new, now):
        return unusable_new_token(new, now)
    if force or stored is None or not usable(stored, now):
        return None
    if stored.configuration and new.configuration and stored.configuration != new.configuration:
        return None  # the stored token is for another configuration: never kept over the new one
    if new.expires_at < stored.expires_at:
        return (
            f"the new token expires in {int(new.seconds_remaining(now))} s, before the stored one "
            f"({int(stored.seconds_remaining(now))} s left); kept the stored token (--force publishes it)"
        )
    return None


def unusable_new_token(new: TokenPayload, now: datetime) -> str:
    """Why a freshly obtained token is not published: it has ``EXPIRY_SKEW_SECONDS`` or fewer left."""
    left = new.seconds_remaining(now)
    if left <= 0:
        return "the new token had expired by the time it could be published; not published"
    return (
        f"the new token has {int(left)} s left by the time it could be published, not more than "
        f"the {bearer.EXPIRY_SKEW_SECONDS} s every consumer requires; not published"
    )


def churn_warning(payload: TokenPayload | None, now: datetime) -> str | None:
    """A note for a forced write that comes soon after the previous one."""
    if payload is None:
        return None
    age = (now - payload.issued_at).total_seconds()
    if 0 <= age < VERSION_CHURN_SECONDS:
        return (
            f"forced refresh {int(age)} s after the previous token was issued; Secrets Manager "
            f"advises at most one write per {VERSION_CHURN_SECONDS // 60} minutes per secret"
        )
    return None
