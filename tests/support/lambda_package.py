"""The Lambda zip as tests use it: built by scripts/package_lambda.py, and unzipped."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package_lambda.py"


@dataclass(frozen=True)
class Package:
    zip_path: Path
    unzipped: Path
    build_output: str


def build_package(base: Path, *extra_args: str) -> Package:
    """`make package` into ``base`` (zip and build tree), and the zip unzipped as Lambda does."""
    zip_path = base / "sync-job-lambda.zip"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--build-dir", str(base / "tree"), "--out", str(zip_path), *extra_args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"packaging failed:\n{proc.stdout}\n{proc.stderr}"
    unzipped = base / "unzipped"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unzipped)
    return Package(zip_path=zip_path, unzipped=unzipped, build_output=proc.stdout)
