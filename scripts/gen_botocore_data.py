"""Generate `sync_job/_botocore_data/<botocore version>/` (endpoints, models) from the installed botocore.

    python -m scripts.gen_botocore_data           # write it (and remove other versions' data)
    python -m scripts.gen_botocore_data --check   # exit 1 if the committed files differ

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


def render() -> dict[Path, str]:
    """The trimmed data for the installed botocore, by path: ``endpoints.json`` (botocore's
    built-in file, never a user's override, with only ``botodata.SERVICES`` in each partition)
    and each service's latest built-in ``service-2`` model without its documentation
    (``botodata.trim_model``; compact JSON, member order kept)."""
    builtin = Path(Loader.BUILTIN_DATA_PATH)
    full = json.loads((builtin / f"{botodata.ENDPOINTS}.json").read_bytes())
    out = {botodata.endpoints_path(): json.dumps(botodata.trim_endpoints(full), indent=1) + "\n"}
    loader = Loader(include_default_search_paths=False)
    loader.search_paths.append(str(builtin))  # botocore's own data only, never ~/.aws/models
    for service in botodata.SERVICES:
        api_version = loader.determine_latest_version(service, botodata.MODEL)
        model = loader.load_data(f"{service}/{api_version}/{botodata.MODEL}")
        text = json.dumps(botodata.trim_model(model), separators=(",", ":"))
        out[botodata.model_path(service, api_version)] = text + "\n"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files only")
    args = parser.parse_args(argv)
    files = render()
    root = botodata.endpoints_path().parent
    if args.check:
        committed = {p for p in root.rglob("*.json")} if root.is_dir() else set()
        stale = [p for p, text in files.items() if not p.is_file() or p.read_text() != text]
        if stale or committed != set(files):
            print(f"{root} is missing or stale: run python -m scripts.gen_botocore_data", file=sys.stderr)
            return 1
        return 0
    if root.is_dir():
        shutil.rmtree(root)  # nothing left over from an older API version or service list
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for other in botodata.DATA_ROOT.iterdir():
        if other.is_dir() and other != root:
            shutil.rmtree(other)
    shown = root.relative_to(Path.cwd()) if root.is_relative_to(Path.cwd()) else root
    print(f"wrote {len(files)} files in {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
