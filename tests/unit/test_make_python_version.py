"""`make demo` (and every target that builds .venv) on a Python older than the project supports
ends with one line naming the version needed, before any venv or pip output. Real old
interpreters from pyenv (skipped, with the reason, where none is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYENV = Path.home() / ".pyenv" / "versions"
OLD = sorted(PYENV.glob("[23].*/bin/python")) if PYENV.is_dir() else []
OLD = [p for p in OLD if tuple(int(n) for n in p.parts[-3].split(".")[:2]) < (3, 11)]


def _tree(tmp_path: Path) -> Path:
    """The files `make demo` needs up to the venv step: Makefile, mk/, and its prerequisites."""
    for name in ("Makefile", "pyproject.toml", "requirements/dev.lock", "sync_job/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "mk", tmp_path / "mk")
    return tmp_path


def _make_env() -> dict[str, str]:
    """The environment without the settings a parent make passes down (MAKEFLAGS, MAKELEVEL...):
    under `make test`, they turn on "Entering directory" lines and make[1] prefixes."""
    import os

    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


@pytest.mark.skipif(not OLD, reason="no Python older than 3.11 under ~/.pyenv/versions")
@pytest.mark.parametrize("python", OLD, ids=[p.parts[-3] for p in OLD])
def test_make_demo_on_an_old_python_fails_with_one_line(tmp_path: Path, python: Path) -> None:
    tree = _tree(tmp_path)
    proc = subprocess.run(
        ["make", "demo", f"PYTHON={python}"],
        cwd=tree,
        env=_make_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    major, minor = python.parts[-3].split(".")[:2]
    assert proc.returncode != 0
    assert proc.stdout == ""
    ours, *rest = proc.stderr.splitlines()
    assert ours == (
        f"sync-job needs Python 3.11 or newer; {python} is Python {major}.{minor}: "
        "run make PYTHON=python3.11 (or a newer python3.X)"
    )
    assert all(line.startswith("make: ***") for line in rest), proc.stderr  # make's own line only
    assert not (tree / ".venv").exists()


def test_the_check_passes_on_the_python_running_the_tests(tmp_path: Path) -> None:
    import sys

    tree = _tree(tmp_path)
    dry = subprocess.run(
        ["make", "-n", ".venv/.installed", f"PYTHON={sys.executable}"],
        cwd=tree,
        env=_make_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    check = dry.stdout.splitlines()[0]
    assert "sync-job needs Python 3.11 or newer" in check
    assert subprocess.run(["sh", "-c", check], capture_output=True, timeout=60, check=False).returncode == 0


def test_the_makefile_and_pyproject_agree() -> None:
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()
    assert "PYTHON_REQUIRED := 3.11" in (ROOT / "Makefile").read_text()
