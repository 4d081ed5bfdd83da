"""The version is written once, in sync_job/__init__.py: pyproject reads it from there (setuptools
dynamic version) and no other tracked file spells it out."""

from __future__ import annotations

import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import sync_job

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_takes_the_version_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "sync_job.__version__"}
    # The installed metadata (editable install, remade when __init__.py changes: see Makefile).
    assert version("sync-job") == sync_job.__version__


def test_no_other_tracked_file_hard_codes_the_version() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.split(b"\0")
    needle = sync_job.__version__.encode()
    found = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if (
            path == ROOT / "sync_job" / "__init__.py"
            or not path.is_file()
            or name.startswith(b"requirements/")
        ):
            continue  # requirements/: third-party pins may share the number by chance
        data = path.read_bytes()
        if (
            f'"{sync_job.__version__}"'.encode() in data
            or b"sync-job/" + needle in data
            or b"version = " + needle in data
        ):
            found.append(name.decode())
    assert found == [], f"the version is hard-coded in {found}: read sync_job.__version__ instead"
