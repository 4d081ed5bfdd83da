"""infra/README.md's inputs and outputs tables are generated from infra/variables.tf and
infra/outputs.tf (scripts/infra_readme.py) and current: a variable or output added, removed or
redescribed without regenerating fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts import infra_readme

pytestmark = pytest.mark.infra

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_the_readme_tables_are_current() -> None:
    readme = infra_readme.README.read_text()
    assert infra_readme.BEGIN in readme, "infra/README.md has no generated tables"
    assert infra_readme.updated(readme) == readme, (
        "infra/README.md is stale: run `python -m scripts.infra_readme`"
    )


def test_every_variable_and_output_is_read() -> None:
    # The parser reads text: a block it missed would silently drop a row.
    declared_vars = re.findall(
        r'^variable "([a-z0-9_]+)"', (INFRA / "variables.tf").read_text(), re.MULTILINE
    )
    declared_outs = re.findall(r'^output "([a-z0-9_]+)"', (INFRA / "outputs.tf").read_text(), re.MULTILINE)
    assert [v.name for v in infra_readme.variables()] == declared_vars
    assert [o.name for o in infra_readme.outputs()] == declared_outs
    required = {v.name for v in infra_readme.variables() if v.default is None}
    assert required == {"environments", "lambda_package_path"}
    assert "reader_policy_json" in declared_outs


def test_a_stale_readme_is_caught() -> None:
    readme = infra_readme.README.read_text()
    stale = readme.replace("| `reader_policy_json` |", "| `reader_policy` |")
    assert stale != readme
    assert infra_readme.updated(stale) == readme
