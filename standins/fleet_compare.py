"""A fleet against a lone environment over the same outages (issue 17 §4): the figures of
``python -m bench.fleet_sim --compare`` and tests/unit/test_fleet_vs_lone.py.

``simulate_fleet`` draws its outages from the seed before anything else, so the fleet and a lone
environment (``environments=1``) of the same seed see the same outages. For each outage the lone
environment is simulated at every point of its refresh cycle on the fleet's schedule
(``lone_points``: its token issued by the last run before the outage began, or the run before
that, ... a whole cycle back); an outage is **survivable** when the lone environment lapses in it
at none of them. (Earlier the lone environment was started at 18 offsets at the start of the
day; an outage re-aligns a lone environment's cycle to the first run after it, so by the
day's later outages several offsets held the same token (seed 19 at 200: offsets 300, 600 and
900 s all expired at 71,999 s) and the sample no longer covered its cycle; half of them also
ran on a schedule 150 s off the fleet's.)

Definitions (every time in seconds of the simulated day):

- A lapse (an environment without a token consumers accept) is **in** the latest outage that
  overlaps the refresh margin before the lapse began (start <= lapse start < end + margin): the
  job had no healthy refresh margin without that outage. Any other lapse is **outside outages**.
- Lapses are counted from ``COUNT_FROM`` on (the fleet fills from nothing stored in its first
  35 minutes), clipped to it.
- The lone environment's seconds without a token: for each outage, the mean over the points of
  its cycle of its seconds without a token in that outage, summed over the outages.
- Recovery of an outage: from its end until every environment that lapsed in it holds a token
  again; the bound is (environments lapsed / pacing rate) + one schedule interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from standins.fakes import LIFETIME
from standins.fleet import FleetResult, simulate_fleet

COUNT_FROM = 3600.0  # s: lapses before this are the fill from nothing stored
RATE = 0.5  # requests/s: the default pacing (rate_limit_per_second)
GOAL_SECONDS = 60.0  # the longest an environment may go without a token in a survivable outage


@dataclass(frozen=True)
class OutageFigures:
    """One outage: whether a lone environment survives it at every phase, and the fleet in it."""

    start: float
    end: float
    survivable: bool
    lapsed: int  # fleet environments that lapsed in it
    longest: float  # the fleet's longest lapse in it, s
    recovery: float  # s from its end until every lapsed environment holds a token again
    bound: float  # lapsed / RATE + interval, s


@dataclass(frozen=True)
class Comparison:
    """A fleet and the lone environment over one seed's outages."""

    environments: int
    seed: int
    days: float
    outages: tuple[OutageFigures, ...]
    longest_survivable: float  # longest fleet lapse in a survivable outage, s (0: none)
    longest_outside: float  # longest fleet lapse outside outages, s
    fleet_seconds_per_env: float  # seconds without a token per fleet environment
    lone_seconds: float  # the lone environment's: per outage the mean over its cycle's points
    busiest_5_minutes: int

    @property
    def recovered_in_bound(self) -> bool:
        """Every outage's lapsed environments held a token again within its bound."""
        return all(o.recovery <= o.bound for o in self.outages if o.lapsed)

    @property
    def met(self) -> bool:
        """The §4 goal for this seed."""
        return (
            self.longest_survivable <= GOAL_SECONDS
            and self.longest_outside == 0
            and self.fleet_seconds_per_env <= self.lone_seconds + 1e-9
            and self.recovered_in_bound
        )


def attribute(start: float, outages: tuple[tuple[float, float], ...], margin: float) -> int | None:
    """Index of the outage a lapse beginning at ``start`` is in (see the module), or None."""
    found = None
    for i, (a, b) in enumerate(outages):
        if a <= start < b + margin:
            found = i
    return found


def lone_points(start: float, interval: float, margin: float) -> list[float]:
    """First-run times of a lone environment (on the fleet's schedule: runs at multiples of
    ``interval``) that put it at each point of its refresh cycle when an outage begins at
    ``start``: its token issued by the last run before ``start``, or the one before that, ... up
    to a whole cycle (``lifetime - margin`` rounded up to runs) back; none before 0."""
    runs = math.ceil((LIFETIME - margin) / interval)
    last = math.floor(start / interval) * interval
    return [last - k * interval for k in range(runs) if last - k * interval >= 0]


def _clipped(windows: tuple[tuple[str, float, float], ...]) -> list[tuple[str, float, float]]:
    return [(n, max(a, COUNT_FROM), b) for n, a, b in windows if b > COUNT_FROM]


def compare(
    *,
    environments: int,
    seed: int,
    days: float = 1,
    interval: int = 300,
    margin: int = 900,
    fleet: FleetResult | None = None,
    rate: float | None = None,
) -> Comparison:
    """The fleet of ``environments`` (or the given ``fleet`` result of that seed) and the lone
    environment at every point of its refresh cycle at each outage, over ``days`` of ``seed``'s
    outages (see the module for the definitions)."""
    if fleet is None:
        fleet = simulate_fleet(
            environments=environments, days=days, seed=seed, interval=interval, margin=margin, rate=rate
        )
    outages = fleet.outages
    lone_hit: set[int] = set()
    lone_total = 0.0
    for i, (a, _) in enumerate(outages):
        points = lone_points(a, interval, margin)
        for phase in points:
            lone = simulate_fleet(
                environments=1,
                days=days,  # the whole horizon: the outages drawn depend on it
                seed=seed,
                interval=interval,
                margin=margin,
                rate=rate,
                phase=phase,
            )
            assert lone.outages == outages, "the lone environment must see the fleet's outages"
            for _, x, y in _clipped(lone.lapses_by_env):
                if attribute(x, outages, margin) == i:
                    lone_total += (y - x) / len(points)
                    lone_hit.add(i)
    per_outage: dict[int, list[tuple[str, float, float]]] = {}
    longest_outside = 0.0
    fleet_total = 0.0
    for name, a, b in _clipped(fleet.lapses_by_env):
        fleet_total += b - a
        found = attribute(a, outages, margin)
        if found is None:
            longest_outside = max(longest_outside, b - a)
        else:
            per_outage.setdefault(found, []).append((name, a, b))
    figures = []
    for i, (a, b) in enumerate(outages):
        lapses = per_outage.get(i, [])
        lapsed = len({n for n, _, _ in lapses})
        figures.append(
            OutageFigures(
                start=a,
                end=b,
                survivable=i not in lone_hit,
                lapsed=lapsed,
                longest=max((y - x for _, x, y in lapses), default=0.0),
                recovery=max((max(y for _, _, y in lapses) - b, 0.0)) if lapses else 0.0,
                bound=lapsed / (rate or RATE) + interval,
            )
        )
    return Comparison(
        environments=environments,
        seed=seed,
        days=days,
        outages=tuple(figures),
        longest_survivable=max((o.longest for o in figures if o.survivable), default=0.0),
        longest_outside=longest_outside,
        fleet_seconds_per_env=fleet_total / environments,
        lone_seconds=lone_total,
        busiest_5_minutes=fleet.busiest_5_minutes,
    )
