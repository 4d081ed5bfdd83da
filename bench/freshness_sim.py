"""Freshness simulation: a week of scheduled runs on a manual clock, with random outages; prints
the README table. The simulation itself is standins/simulation.py (the unit tests assert its
bounds); run this from the repository root:

    python -m bench.freshness_sim            # the README table
    python -m bench.freshness_sim --days 1 --margin 1800 --interval 900 --seed 3
    python -m bench.freshness_sim --examples # writes per secret per day of examples/providers/
"""

from __future__ import annotations

import argparse
import sys

from standins.fakes import LIFETIME
from standins.simulation import simulate, simulate_example
from sync_job import budget


def examples(days: float, seed: int) -> int:
    """The write-budget table: each environment of each examples/providers/*.toml, a week."""
    from standins.providers import EXAMPLES, PROVIDERS

    print(
        f"{days:g} simulated days, seed {seed}; the same outages as below; Secrets Manager's limits "
        f"enforced (a write past {budget.VERSION_QUOTA} versions in 24 h fails); budget for scheduled "
        f"refreshes {budget.SCHEDULED_LIMIT} a day ({budget.OPERATOR_ROOM} kept for --force and "
        "credentials put)"
    )
    print(
        "| example | environment | token lifetime | margin | schedule | planned versions/day (bound) "
        "| written/day (mean) | most in any 24 h | quota errors | time valid token stored |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    over = 0
    for name, provider in sorted(PROVIDERS.items()):
        for row in simulate_example(EXAMPLES / f"{name}.toml", provider.lifetime, days=days, seed=seed):
            r = row.result
            over += r.quota_errors + (r.max_writes_24h > budget.SCHEDULED_LIMIT)
            print(
                f"| {row.example} | {row.environment} | {row.lifetime} s | {row.margin} s | {row.interval} s "
                f"| {row.planned_per_day} | {r.writes_per_day:.1f} | {r.max_writes_24h} | {r.quota_errors} "
                f"| {100 * r.valid_fraction:.3f} % |"
            )
    print("examples over the budget or with quota errors:", over)
    return 1 if over else 0


def main() -> int:
    import logging

    logging.disable(logging.CRITICAL)  # a week of retries would be a lot of log lines
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--margin", type=int, action="append")
    parser.add_argument("--interval", type=int, action="append")
    parser.add_argument("--lifetime", type=int, default=LIFETIME)
    parser.add_argument("--examples", action="store_true", help="the write budget of examples/providers/")
    args = parser.parse_args()
    if args.examples:
        return examples(args.days, args.seed)
    parser_lifetime = args.lifetime
    combos = (
        [(parser_lifetime, m, i) for m in args.margin for i in args.interval]
        if args.margin and args.interval
        else [
            (LIFETIME, 900, 900),
            (LIFETIME, 900, 300),  # the defaults: job margin 900 s, infra/ schedule rate(5 minutes)
            (LIFETIME, 1800, 900),
            (LIFETIME, 2400, 300),
            # Short tokens inside the write budget (80 versions a day: a write every 1,080 s at most):
            (1980, 900, 300),  # the shortest lifetime the default margin allows (margin + 1,080 s)
            (2400, 2400, 300),  # no longer than the margin: refreshed at half their lifetime
        ]
    )
    print(
        f"{args.days:g} simulated days, seed {args.seed}; "
        "outages: token endpoint ~3/day (mean 8 min), Secrets Manager ~1/day (mean 5 min)"
    )
    print(
        "| token lifetime | margin M | interval I | M' - I (M': M, or half the lifetime when shorter) "
        "| min remaining read | time valid token stored | token requests/h | lapses | longest lapse "
        "| longest outage | versions/day (most in 24 h) | quota errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    failures = 0
    for lifetime, margin, interval in combos:
        r = simulate(margin=margin, interval=interval, days=args.days, seed=args.seed, lifetime=lifetime)
        failures += r.expiries_without_long_outage
        effective = lifetime // 2 if lifetime <= margin else margin
        default = " (defaults)" if (lifetime, margin, interval) == (LIFETIME, 900, 300) else ""
        print(
            f"| {lifetime} s | {margin} s | {interval} s{default} | {effective - interval} s "
            f"| {r.min_remaining_read:.0f} s "
            f"| {100 * r.valid_fraction:.3f} % | {r.requests_per_hour:.3f} | {r.expiries} "
            f"| {r.longest_lapse:.0f} s | {r.longest_outage:.0f} s "
            f"| {r.writes_per_day:.1f} ({r.max_writes_24h}) | {r.quota_errors} |"
        )
        failures += r.quota_errors
    print("expiries not explained by an outage longer than M - I, and quota errors:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
