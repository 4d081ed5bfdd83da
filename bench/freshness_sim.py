"""Freshness simulation: a week of scheduled runs on a manual clock, with random outages; prints
the README table. The simulation itself is tests/support/simulation.py (the unit tests assert its
bounds); run this from the repository root:

    python -m bench.freshness_sim            # the README table
    python -m bench.freshness_sim --days 1 --margin 1800 --interval 900 --seed 3
"""

from __future__ import annotations

import argparse
import sys

from tests.support.fakes import LIFETIME
from tests.support.simulation import simulate


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)  # a week of retries would be a lot of log lines
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--margin", type=int, action="append")
    parser.add_argument("--interval", type=int, action="append")
    args = parser.parse_args()
    combos = (
        [(m, i) for m in args.margin for i in args.interval]
        if args.margin and args.interval
        else [(900, 900), (900, 300), (1800, 900), (2400, 300)]
    )
    print(
        f"{args.days:g} simulated days, token lifetime {LIFETIME} s, seed {args.seed}; "
        "outages: token endpoint ~3/day (mean 8 min), Secrets Manager ~1/day (mean 5 min)"
    )
    print(
        "| margin M | interval I | M - I | min remaining read | time valid token stored "
        "| token requests/h | lapses | longest lapse | longest outage |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failures = 0
    for margin, interval in combos:
        r = simulate(margin=margin, interval=interval, days=args.days, seed=args.seed)
        failures += r.expiries_without_long_outage
        print(
            f"| {margin} s | {interval} s | {margin - interval} s | {r.min_remaining_read:.0f} s "
            f"| {100 * r.valid_fraction:.3f} % | {r.requests_per_hour:.3f} | {r.expiries} "
            f"| {r.longest_lapse:.0f} s | {r.longest_outage:.0f} s |"
        )
    print("expiries not explained by an outage longer than M - I:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
