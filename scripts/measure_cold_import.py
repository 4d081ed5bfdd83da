#!/usr/bin/env python3
"""Cold-import cost of the Lambda handler, against `import boto3` alone.

    python scripts/measure_cold_import.py [--path build/lambda-x86_64] [--runs 21] [--json]

Each statement runs in a fresh interpreter (`python -I -c ...`, so nothing is cached in
memory), `--runs` times, the statements taking turns; the figure is the median wall time minus
the median of an empty interpreter's start. `--path` puts a directory first on sys.path: the
unzipped Lambda package (build/lambda-x86_64 after `make package`) measures exactly what Lambda imports.

Measured:
  boto3            import boto3
  handler module   import sync_job.lambda_handler: what Lambda imports at init (boto3, the store,
                   config, metrics, logs): the cold import, and all a run of fresh tokens needs
  handler ready    the module plus what a refresh adds when a token is due (requests and
                   tenacity, loaded lazily by factory.LazyTokenClient)
  handler ready + jwt  the ready handler plus what private_key_jwt loads when it signs its
                   first assertion (PyJWT, and cryptography through it)
  emf (ours)       import sync_job.metrics
  powertools       import aws_lambda_powertools.metrics (for comparison; n/a if absent)
  ... + powertools what powertools' Metrics would add on top of boto3 / the ready handler
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANDLER_READY = (
    "import sync_job.lambda_handler, sync_job.logs, sync_job.metrics, sync_job.config, "
    "sync_job.factory, sync_job.sync, sync_job.store, sync_job.oauth, sync_job.pacing, "
    "boto3, requests, tenacity"
)
STATEMENTS = {
    "empty": "pass",
    "boto3": "import boto3",
    "handler module": "import sync_job.lambda_handler",
    "handler ready": HANDLER_READY,
    "handler ready + jwt": HANDLER_READY + ", jwt",
    "emf (ours)": "import sync_job.metrics",
    "powertools": "import aws_lambda_powertools.metrics",
    "boto3 + powertools": "import boto3, aws_lambda_powertools.metrics",
    "handler ready + powertools": HANDLER_READY + ", aws_lambda_powertools.metrics",
}


def once(statement: str, path: Path) -> float | None:
    code = f"import sys; sys.path.insert(0, {str(path)!r}); {statement}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, timeout=60, check=False)
    elapsed = time.perf_counter() - start
    return elapsed if proc.returncode == 0 else None


def measure(path: Path, runs: int) -> dict[str, float | None]:
    """Median per statement, the statements interleaved (round robin) so that a slow spell of
    the machine touches all of them alike; the first round only warms the file cache."""
    samples: dict[str, list[float] | None] = {name: [] for name in STATEMENTS}
    for round_ in range(runs + 1):
        for name, statement in STATEMENTS.items():
            if samples[name] is None:
                continue
            elapsed = once(statement, path)
            if elapsed is None:
                samples[name] = None  # not importable here (powertools absent, say)
            elif round_:
                samples[name].append(elapsed)  # type: ignore[union-attr]
    empty = statistics.median(samples.pop("empty") or [0.0])
    return {
        name: None if values is None else round((statistics.median(values) - empty) * 1000, 1)
        for name, values in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--path", type=Path, default=ROOT, help="directory put first on sys.path (default: the checkout)"
    )
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.path.resolve(), args.runs)
    boto3_ms = figures["boto3"]
    ratios = {
        name: (round(value / boto3_ms, 2) if value is not None and boto3_ms else None)
        for name, value in figures.items()
    }
    if args.json:
        print(
            json.dumps(
                {
                    "python": sys.version.split()[0],
                    "path": str(args.path),
                    "runs": args.runs,
                    "ms": figures,
                    "ratio_to_boto3": ratios,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"Python {sys.version.split()[0]}, sys.path[0] = {args.path}, median of {args.runs} runs, "
        "interpreter start subtracted"
    )
    for name, value in figures.items():
        shown = "n/a (not importable)" if value is None else f"{value:7.1f} ms  {ratios[name]:.2f}x boto3"
        print(f"  {name:<28} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
