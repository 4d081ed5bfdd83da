"""A thousand environments on one token host with Paxos's rate rule, a simulated week from
nothing stored, with urgency ordering on and off side by side (two processes). The simulation
is tests/support/fleet.py; run from the repository root:

    python -m bench.fleet_sim                      # 1,000 environments, 7 days, seed 1
    python -m bench.fleet_sim --environments 200 --days 1
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import ProcessPoolExecutor

from tests.support.fleet import LIMIT, FleetResult, simulate_fleet


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
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
