"""Generate ``sync_job/_botocore_data/<botocore version>/endpoints.json`` from the installed botocore.

    python -m scripts.gen_botocore_data           # write it (and remove other versions' data)
    python -m scripts.gen_botocore_data --check   # exit 1 if the committed file differs

Run it after changing botocore's pin (requirements/dev.lock, requirements/lambda.lock) or
``sync_job.botodata.SERVICES``; without a file for the installed version the job falls back to
botocore's stock loader (correct, about 25 ms slower to make its first client).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.loaders import Loader

from sync_job import botodata


def render() -> str:
    """The trimmed ``endpoints.json`` text for the installed botocore (botocore's built-in file,
    never a user's override, with only ``botodata.SERVICES`` in each partition)."""
    builtin = Path(Loader.BUILTIN_DATA_PATH) / f"{botodata.ENDPOINTS}.json"
    full = json.loads(builtin.read_bytes())
    return json.dumps(botodata.trim_endpoints(full), indent=1) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file only")
    args = parser.parse_args(argv)
    target = botodata.endpoints_path()
    text = render()
    if args.check:
        if not target.is_file() or target.read_text() != text:
            print(f"{target} is missing or stale: run python -m scripts.gen_botocore_data", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    for other in botodata.DATA_ROOT.iterdir():
        if other.is_dir() and other != target.parent:
            shutil.rmtree(other)
    print(f"wrote {target.relative_to(Path.cwd()) if target.is_relative_to(Path.cwd()) else target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
