"""`make package`: the Lambda zip is reproducible, holds the handler and pinned dependencies for
the Lambda platform, and no tests, caches or installer files."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.lambda_package import Package, build_package

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_LIMIT = 50 * 1024 * 1024  # zipped upload limit of a Lambda function


def pins() -> dict[str, str]:
    text = (ROOT / "requirements" / "lambda.txt").read_text()
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, re.MULTILINE)
    }


def test_two_builds_from_scratch_are_byte_identical(lambda_package: Package, tmp_path: Path) -> None:
    again = build_package(tmp_path)
    first = hashlib.sha256(lambda_package.zip_path.read_bytes()).hexdigest()
    second = hashlib.sha256(again.zip_path.read_bytes()).hexdigest()
    assert first == second
    assert f"sha256 {first}" in lambda_package.build_output
    assert re.search(r"\d+ bytes \([\d.]+ (KiB|MiB)\) zipped", lambda_package.build_output)


def test_zip_holds_the_handler_the_pins_and_nothing_else(lambda_package: Package) -> None:
    with zipfile.ZipFile(lambda_package.zip_path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert lambda_package.zip_path.stat().st_size < LAMBDA_LIMIT
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert (info.external_attr >> 16) == 0o100644, info.filename
        parts = info.filename.split("/")
        assert "__pycache__" not in parts and not info.filename.endswith((".pyc", ".pyo")), info.filename
        assert not {"tests", "test"} & set(parts[:-1]), info.filename
        assert parts[-1] not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"), info.filename
        assert not info.filename.startswith("bin/"), info.filename

    # The handler and the whole package, byte for byte the checkout's sources.
    assert "sync_job/lambda_handler.py" in names
    sources = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "sync_job").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert sorted(n for n in names if n.startswith("sync_job/")) == sources
    for source in sources:
        assert (lambda_package.unzipped / source).read_bytes() == (ROOT / source).read_bytes()

    # Exactly the pinned distributions, at the pinned versions.
    shipped = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for n in names
        if (m := re.match(r"^([^/]+)-([^-/]+)\.dist-info/METADATA$", n))
    }
    assert shipped == pins()

    # botocore keeps the service models the job uses, and only those.
    models = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert models == {"secretsmanager", "sts"}

    # The only compiled code is charset-normalizer's optional speedup, built for CPython 3.12.
    binaries = [n for n in names if n.endswith(".so")]
    assert binaries and all(re.search(r"cpython-312-x86_64-linux-gnu\.so$", n) for n in binaries)
    assert all(n.startswith("charset_normalizer/") for n in binaries)


def test_unzipped_package_imports_the_handler_without_site_packages(lambda_package: Package) -> None:
    """Only the standard library and the zip: what Lambda has (here on this machine's Python;
    charset-normalizer falls back from its 3.12 binary to its pure-Python modules)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import sync_job.lambda_handler, boto3, requests, tenacity, click\n"
        "assert callable(sync_job.lambda_handler.handler)\n"
        "for m in (sync_job.lambda_handler, boto3, requests, tenacity, click):\n"
        "    assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
        "import boto3; boto3.client('secretsmanager', region_name='us-east-1')\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(lambda_package.unzipped)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
