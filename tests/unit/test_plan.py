"""The run's plan, a pure function of (config, stored tokens, now): which environments are fresh,
due (in urgency order), pulled forward, dry-run or unreadable, and why; and the retry-later rule.
Tables, like test_freshness_payload.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from standins.fakes import ManualClock, stored_payload
from sync_job import freshness
from sync_job.config import Config, parse_config
from sync_job.errors import StoreError
from sync_job.plan import Decision, plan_run, retry_at
from sync_job.report import Outcome
from sync_job.store import StoredToken

CLOCK = ManualClock()
MARGIN = 900  # the default refresh_margin_seconds
# How an environment's token secret reads: seconds left, or one of these words.
MISSING, UNREADABLE, UNUSABLE = "missing", "unreadable", "unusable"


def _config(names: list[str], *, hosts: dict[str, str] | None = None, **defaults: Any) -> Config:
    hosts = hosts or {}
    envs = {
        n: {
            "token_url": f"https://{hosts.get(n, 'h-' + n)}.example/oauth2/token",
            "credentials_secret": f"c-{n}",
            "token_secret": f"t-{n}",
            "scopes": ["a"],
        }
        for n in names
    }
    return parse_config({"defaults": defaults, "environments": envs})


def _stored(found: float | str, name: str) -> StoredToken | StoreError:
    if found == UNREADABLE:
        return StoreError("secret t-x: access denied")
    if found == MISSING:
        return StoredToken(None, None)
    if found == UNUSABLE:
        return StoredToken(None, "v1", problem="not JSON")
    assert isinstance(found, int | float)
    return StoredToken(stored_payload(CLOCK, found, environment=name), "v1")


def _plan(table: dict[str, float | str], *, hosts: dict[str, str] | None = None, **options: Any) -> Any:
    config = _config(list(table), hosts=hosts)
    stored = {f"t-{n}": _stored(found, n) for n, found in table.items()}
    return plan_run(config.environments, stored, CLOCK.now(), **options)


@dataclass(frozen=True)
class Row:
    found: float | str
    decision: Decision
    reason: str
    force: bool = False
    dry_run: bool = False


ROWS = {
    "valid, well outside the margin": Row(3000, Decision.FRESH, "more than the refresh margin left"),
    "inside the margin": Row(MARGIN - 1, Decision.DUE, "inside the refresh margin"),
    "exactly at the margin": Row(MARGIN, Decision.DUE, "inside the refresh margin"),
    "expired": Row(-5, Decision.DUE, "the stored token has expired"),
    "no value yet": Row(MISSING, Decision.DUE, "no token stored"),
    "unusable value": Row(UNUSABLE, Decision.DUE, "the stored value is unusable"),
    "unreadable secret": Row(UNREADABLE, Decision.UNREADABLE, "token secret unreadable"),
    "forced while fresh": Row(3000, Decision.DUE, "forced", force=True),
    "forced and expired says expired": Row(-5, Decision.DUE, "has expired", force=True),
    "dry run of a due one": Row(100, Decision.DRY_RUN, "inside the refresh margin", dry_run=True),
    "dry run of a fresh one": Row(3000, Decision.FRESH, "more than the refresh margin", dry_run=True),
    "dry run of an unreadable one": Row(UNREADABLE, Decision.UNREADABLE, "unreadable", dry_run=True),
    "forced dry run": Row(3000, Decision.DRY_RUN, "forced", force=True, dry_run=True),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=list(ROWS))
def test_one_environment_decision_and_reason(row: Row) -> None:
    plan = _plan({"x": row.found}, force=row.force, dry_run=row.dry_run)
    (entry,) = plan.entries
    assert entry.decision is row.decision
    assert row.reason in entry.reason
    assert [e.name for e in plan.to_refresh] == (["x"] if row.decision is Decision.DUE else [])
    if row.decision is Decision.UNREADABLE:
        assert entry.stored is None and entry.error == "secret t-x: access denied"
    else:
        assert entry.error is None and entry.stored == _stored(row.found, "x")


def test_entries_keep_config_order_and_due_ones_go_most_urgent_first() -> None:
    table: dict[str, float | str] = {
        "later": 800,
        "fresh": 3000,
        "expired-long-ago": -600,
        "soon": 100,
        "missing": MISSING,
        "expired": -5,
        "unusable": UNUSABLE,
        "denied": UNREADABLE,
    }
    plan = _plan(table)
    assert [e.name for e in plan.entries] == list(table)
    # No usable token first (config order among them), then expired, then soonest expiry.
    assert [e.name for e in plan.to_refresh] == [
        "missing",
        "unusable",
        "expired-long-ago",
        "expired",
        "soon",
        "later",
    ]
    assert [e.name for e in plan.having(Decision.FRESH)] == ["fresh"]
    assert [e.name for e in plan.having(Decision.UNREADABLE)] == ["denied"]


def test_without_urgency_order_due_ones_keep_config_order_and_none_is_pulled() -> None:
    table: dict[str, float | str] = {"later": 800, "edge": MARGIN + 1, "missing": MISSING, "soon": 100}
    plan = _plan(table, hosts=dict.fromkeys(table, "one"), urgency_order=False)
    assert [e.name for e in plan.to_refresh] == ["later", "missing", "soon"]
    assert plan.having(Decision.PULLED_FORWARD) == ()


# Default pacing: 0.5 requests/s at half headroom, so the i-th token of a host needs 4 x (ahead + i
# + 1) s of it before it comes due (freshness.pull_forward).
@pytest.mark.parametrize(
    ("table", "pulled"),
    [
        ({"a": MARGIN + 2}, ["a"]),  # due in 2 s, needs 4 s of the host
        ({"a": MARGIN + 5}, []),  # due in 5 s: room to wait
        ({"due": 100, "a": MARGIN + 5}, ["a"]),  # one due ahead: needs 8 s
        ({"a": MARGIN + 30, "b": MARGIN + 2}, ["b"]),  # b comes due first; a has time
        ({"a": MARGIN + 11, "b": MARGIN + 3, "c": MARGIN + 6}, ["b", "c", "a"]),  # a needs 12 s
        ({"a": 3000, "b": 3000}, []),
    ],
)
def test_fresh_ones_a_host_could_not_serve_in_time_are_pulled_forward_most_urgent_first(
    table: dict[str, float | str], pulled: list[str]
) -> None:
    plan = _plan(table, hosts=dict.fromkeys(table, "one"))
    due = [e.name for e in plan.to_refresh if e.decision is Decision.DUE]
    assert [e.name for e in plan.to_refresh] == [*due, *pulled]  # after every due one
    for entry in plan.having(Decision.PULLED_FORWARD):
        assert "could not serve" in entry.reason
        assert entry.stored == _stored(table[entry.name], entry.name)


def test_pulling_forward_is_per_token_host() -> None:
    # Three tokens due within 4 s on one host need 12 s of it; on three hosts each needs only 4 s.
    table: dict[str, float | str] = {"a": MARGIN + 5, "b": MARGIN + 6, "c": MARGIN + 7}
    assert [e.name for e in _plan(table, hosts=dict.fromkeys(table, "one")).to_refresh] == ["a", "b", "c"]
    assert _plan(table).to_refresh == ()


# A run every 300 s and 1-hour tokens (3599 s) refreshed 900 s before expiry (a 2,699 s cycle),
# spread one run ahead of due: each environment is 300 / 2399 of a run's even share, so 8 on one
# host make 1 a run, 16 make 2 (freshness.spread_share).
@pytest.mark.parametrize(
    ("fresh", "due", "interval", "spread"),
    [
        (8, 0, 300, 1),  # bunched: nothing due this run, so the soonest due goes now
        (15, 0, 300, 1),  # 15 x 300 / 2399 = 1.9: rounded down
        (16, 0, 300, 2),
        (16, 1, 300, 1),  # one due already counts
        (16, 2, 300, 0),  # as many due as the share: nothing moves
        (7, 0, 300, 0),  # fewer than a whole share: never moved (a lone environment neither)
        (1, 0, 300, 0),
        (18, 0, None, 0),  # no schedule_seconds: no spreading
        (18, 0, 600, 5),  # a run every 10 minutes: 18 x 600 / 2099 = 5.1
    ],
)
def test_a_host_with_fewer_due_than_its_even_share_has_its_soonest_due_pulled_forward(
    fresh: int, due: int, interval: int | None, spread: int
) -> None:
    table: dict[str, float | str] = {f"f{i:02d}": 2000 + 10 * i for i in range(fresh)}
    table.update({f"d{i}": 100 + i for i in range(due)})
    plan = _plan(table, hosts=dict.fromkeys(table, "one"), interval=interval)
    pulled = plan.having(Decision.PULLED_FORWARD)
    assert [e.name for e in pulled] == [f"f{i:02d}" for i in range(spread)]  # soonest due first
    assert all("even share" in e.reason for e in pulled)
    assert [e.name for e in plan.to_refresh] == [*(f"d{i}" for i in range(due)), *(e.name for e in pulled)]


def test_spreading_counts_what_the_host_must_serve_in_time_and_is_per_host() -> None:
    # 18 on one host: 2 a run; one that must go in time (due in 2 s) fills one of the two.
    table: dict[str, float | str] = {f"f{i:02d}": 2000 + 10 * i for i in range(17)}
    table["soon"] = MARGIN + 2
    plan = _plan(table, hosts=dict.fromkeys(table, "one"), interval=300)
    assert {e.name: e.reason for e in plan.having(Decision.PULLED_FORWARD)} == {
        "soon": "its token host could not serve every token in time if each waited until due",
        "f00": "fewer of its token host's tokens due than a run's even share: spread over their cycle",
    }
    # The same 18 on 18 hosts: each is a lone environment, and none moves.
    assert [e.name for e in _plan(table, interval=300).having(Decision.PULLED_FORWARD)] == ["soon"]


# (cycle s, interval s, spread cycle s): one run ahead of due, unless the cycle spans two runs or
# fewer (then refreshing a run ahead would refresh every run or more often).
@pytest.mark.parametrize(
    ("cycle", "interval", "spread_cycle"),
    [
        (2699.0, 300.0, 2399.0),  # the defaults: 1-hour token, margin 900 s, a run every 5 min
        (2700.0, 900.0, 1800.0),  # a 15-minute schedule
        (601.0, 300.0, 301.0),  # just over two runs
        (600.0, 300.0, 600.0),  # two runs: kept
        (100.0, 300.0, 100.0),  # shorter than a run: kept
    ],
)
def test_a_spread_fleet_refreshes_each_token_one_run_ahead_of_due(
    cycle: float, interval: float, spread_cycle: float
) -> None:
    assert freshness.spread_cycle(cycle, interval) == spread_cycle


@pytest.mark.parametrize(
    ("cycles", "interval", "share"),
    [
        ([2699.0] * 7, 300.0, 0),  # 7 x 300 / 2399 = 0.88: a handful never moves
        ([2699.0] * 8, 300.0, 1),
        ([2699.0] * 200, 300.0, 25),  # 200 / 8: each token refreshed every 8 runs, not 9
        ([2699.0] * 1000, 300.0, 125),
        ([2699.0] * 16 + [0.0, -5.0], 300.0, 2),  # no usable cycle (no token): not counted
        ([], 300.0, 0),
    ],
)
def test_the_even_share_of_a_run_is_the_sum_of_each_tokens_share_rounded_down(
    cycles: list[float], interval: float, share: int
) -> None:
    assert freshness.spread_share(cycles, interval) == share


def test_a_dry_run_pulls_nothing_forward() -> None:
    plan = _plan({"a": MARGIN + 2}, dry_run=True)
    assert [e.decision for e in plan.entries] == [Decision.FRESH]
    assert plan.to_refresh == ()


# --- retry later in the run ------------------------------------------------------------------------

ENV = _config(["x"], backoff_max_seconds=30, timeout_seconds=10).get("x")
RETRY = {
    "transient failure, time left": ({}, 130.0),
    "not transient": ({"transient": False}, None),
    "second round": ({"first_round": False}, None),
    "early refresh": ({"early": True}, None),
    "interrupted": ({"interrupted": True}, None),
    "not failed": ({"outcome": Outcome.DEFERRED}, None),
    "a whole request would not fit": ({"deadline": 140.0}, None),
    "a whole request just fits": ({"deadline": 140.5}, 130.0),
}


@pytest.mark.parametrize(("changes", "expected"), RETRY.values(), ids=list(RETRY))
def test_retry_later_only_after_a_transient_failure_with_time_for_a_whole_request(
    changes: dict[str, Any], expected: float | None
) -> None:
    args: dict[str, Any] = {
        "outcome": Outcome.FAILED,
        "transient": True,
        "first_round": True,
        "early": False,
        "interrupted": False,
        "now": 100.0,
        "deadline": 400.0,
    }
    args.update(changes)
    outcome = args.pop("outcome")
    assert retry_at(ENV, outcome, **args) == expected


def test_another_environment_s_token_is_due_not_fresh() -> None:
    # A token secret holding another environment's token (issue 18 §5): never kept as this one's.
    config = _config(["x"])
    stored = {"t-x": StoredToken(stored_payload(CLOCK, 3000, environment="y"), "v1")}
    (entry,) = plan_run(config.environments, stored, CLOCK.now()).entries
    assert entry.decision is Decision.DUE and entry.reason == "the stored value is unusable"
    assert entry.stored is not None and entry.stored.payload is None
    assert "holds environment 'y'" in (entry.stored.problem or "")
