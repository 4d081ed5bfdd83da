"""A thousand environments on one token host with Paxos's rate rule, a simulated week from
nothing stored, with urgency ordering on and off side by side (two processes). The simulation
is standins/fleet.py; run from the repository root:

    python -m bench.fleet_sim                      # 1,000 environments, 7 days, seed 1
    python -m bench.fleet_sim --environments 200 --days 1
    python -m bench.fleet_sim --compare --environments 200 --seeds 1-20   # fleet vs lone, per seed-day
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import ProcessPoolExecutor

from standins.fleet import LIMIT, FleetResult, simulate_fleet
from standins.fleet_compare import GOAL_SECONDS, Comparison, compare


def _run(args: tuple[int, float, int, bool]) -> FleetResult:
    logging.disable(logging.CRITICAL)  # a week of runs would be a lot of log lines
    environments, days, seed, urgency = args
    return simulate_fleet(environments=environments, days=days, seed=seed, urgency_order=urgency)


def table(results: list[FleetResult]) -> list[str]:
    lines = [
        "| urgency order | every environment holds a token after | lapses after that "
        "| busiest 5-minute window (Paxos limit 300) | token requests per environment per hour "
        "| 429 answers |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        held = f"{r.all_held_after / 60:.1f} min" if r.all_held_after is not None else "never"
        lines.append(
            f"| {'on' if r.urgency_order else 'off'} | {held} | {r.lapses} ({r.lapsed_seconds:.0f} s in all) "
            f"| {r.busiest_5_minutes} | {r.requests_per_env_hour:.3f} | {r.answered_429} |"
        )
    return lines


def _compare(args: tuple[int, int]) -> Comparison:
    logging.disable(logging.CRITICAL)
    environments, seed = args
    return compare(environments=environments, seed=seed, days=1)


def comparison_table(rows: list[Comparison]) -> list[str]:
    """One line per seed-day: the fleet against the lone environment over the same outages."""
    lines = [
        "| seed | outages (survivable) | longest lapse in a survivable outage | longest lapse outside "
        "outages | s without a token per environment: fleet / lone | worst recovery / bound "
        "| busiest 5 min | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in rows:
        lapsed = [o for o in c.outages if o.lapsed]
        worst = max(lapsed, key=lambda o: o.recovery - o.bound, default=None)
        recovery = f"{worst.recovery:.0f} s / {worst.bound:.0f} s" if worst else "-"
        lines.append(
            f"| {c.seed} | {len(c.outages)} ({sum(o.survivable for o in c.outages)}) "
            f"| {c.longest_survivable:.0f} s | {c.longest_outside:.0f} s "
            f"| {c.fleet_seconds_per_env:.1f} / {c.lone_seconds:.1f} | {recovery} "
            f"| {c.busiest_5_minutes} | {'met' if c.met else 'MISSED'} |"
        )
    return lines


def main_compare(environments: int, seeds: list[int], workers: int) -> int:
    """Fleet against a lone environment, one simulated day per seed (issue 17 §4)."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(_compare, [(environments, s) for s in seeds]))
    print(
        f"{environments} environments against a lone environment at every point of its refresh "
        f"cycle (on the fleet's schedule) at each outage, 1 simulated day per seed, same outages; goal: "
        f"no lapse over {GOAL_SECONDS:.0f} s in an outage the lone environment survives at every "
        "point, none outside outages, seconds "
        "without a token per environment no more than the lone's, recovery within "
        "(lapsed / 0.5 per s) + 300 s"
    )
    print("\n".join(comparison_table(rows)))
    met = sum(c.met for c in rows)
    print(f"goal met on {met} of {len(rows)} seed-days")
    return 0 if met == len(rows) else 1


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compare", action="store_true", help="fleet vs lone environment per seed-day")
    parser.add_argument("--seeds", type=_seeds, default=[1], help="with --compare: N or FIRST-LAST")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.compare:
        return main_compare(args.environments, args.seeds, args.workers)
    jobs = [(args.environments, args.days, args.seed, urgency) for urgency in (True, False)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_run, jobs))
    print(
        f"{args.environments} environments on one token host (1 request/s per IP over 5 minutes, "
        f"then 429 for 5 minutes), {args.days:g} simulated days from nothing stored, seed {args.seed}, "
        "every 5 minutes (run budget 290 s), default pacing (0.5/s, burst 10), margin 900 s, "
        "max_attempts 5 (every setting the default but max_workers 1); "
        "outages: token host ~3/day (mean 8 min), Secrets Manager ~1/day (mean 5 min)"
    )
    print("\n".join(table(results)))
    on = results[0]
    ok = on.lapses == 0 and on.busiest_5_minutes < LIMIT
    verdict = "met" if ok else "MISSED"
    print(f"target (urgency on: zero lapses once filled, every 5-minute window under {LIMIT}): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
