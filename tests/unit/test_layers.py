"""The packages' layers (issue 17 §2): who may import whom.

- ``sync_job`` (the product) imports neither the stand-ins nor the tests, nor ``bench``/``scripts``;
- ``standins`` (the local stand-ins of Secrets Manager, STS, token hosts, the simulators), ``bench`` and
  ``scripts`` may import the product and the stand-ins, never ``tests``;
- ``tests`` may import all of them.

Read from the source with ``ast`` (every ``import`` and ``from ... import``, including those inside
functions), so a lazy import is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "sync_job": {"tests", "standins", "bench", "scripts"},
    "standins": {"tests", "bench", "scripts"},
    "bench": {"tests"},
    "scripts": {"tests"},
}


def _imported_packages(path: Path) -> set[str]:
    """Top-level package names imported anywhere in ``path`` (relative imports excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _violations(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_packages(path) & FORBIDDEN[package]
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def test_every_layer_imports_only_below_it() -> None:
    for package in FORBIDDEN:
        assert (ROOT / package).is_dir(), package
        assert not _violations(package), f"{package} imports a layer it must not: {_violations(package)}"


def test_the_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tests.support import x\n    import bench.run_bench\n")
    assert _imported_packages(module) == {"tests", "bench"}
