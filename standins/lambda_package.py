"""The Lambda zip as tests use it: built by scripts/package_lambda.py, and unzipped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def interpreter_shim(base: Path) -> Path:
    """A directory to put on sys.path *after* the unzipped package when running it on this
    machine's Python instead of Lambda's 3.12: cffi's backend built for this interpreter.

    The zip's `_cffi_backend` is a CPython 3.12 extension, which no other Python loads, and
    cryptography imports it; everything else compiled in the zip loads here (cryptography is
    abi3) or falls back to pure Python (charset-normalizer). The substitute is the same cffi
    release, from the test environment: checked against requirements/lambda.lock."""
    import _cffi_backend

    lock = (ROOT / "requirements" / "lambda.lock").read_text()
    pinned = re.search(r"^cffi==(\S+)", lock, re.MULTILINE)
    assert pinned, "requirements/lambda.lock pins no cffi"
    assert _cffi_backend.__version__ == pinned.group(1), (
        f"the test environment's cffi {_cffi_backend.__version__} is not the lock's {pinned.group(1)}"
    )
    shim = base / "interpreter-shim"
    shim.mkdir(parents=True, exist_ok=True)
    source = Path(str(_cffi_backend.__file__))
    shutil.copyfile(source, shim / source.name)
    return shim
