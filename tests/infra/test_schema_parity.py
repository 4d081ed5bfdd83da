"""One schema, read by all: every key of the job's configuration (sync_job/config.py) is a
variable of infra/ (per environment or in job_defaults) or listed there as set by the module with
its reason, is rendered by infra/modules/config_toml, and has a row in docs/configuration.md's
table and in docs/infra.md. A key the job gains fails here until all of them say it.

Reads the files as text (no terraform needed): the blocks read are simple and kept so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sync_job import config as job_config

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = (ROOT / "infra" / "variables.tf").read_text()
LOCALS = (ROOT / "infra" / "locals.tf").read_text()
RENDERER = (ROOT / "infra" / "modules" / "config_toml" / "main.tf").read_text()

ENV_KEYS = frozenset(job_config._CHECKS)
RUN_KEYS = frozenset(job_config._RUN_KEYS)
JOB_KEYS = ENV_KEYS | RUN_KEYS
# Keys issue 10 adds to the job while infra/ already renders them: empty this once
# sync_job/config.py has them (the checks below then hold them to the same rules).


def _without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _attributes(body: str) -> set[str]:
    return set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\s*=", _without_comments(body), re.MULTILINE))


def _block(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.DOTALL)
    assert match, f"no match for {pattern!r}: the test's reading of the file needs updating"
    return match.group(1)


def environments_attributes() -> set[str]:
    return _attributes(_block(r'variable "environments" \{.*?type = map\(object\(\{(.*?)\}\)\)', VARIABLES))


def job_defaults_attributes() -> set[str]:
    return _attributes(_block(r'variable "job_defaults" \{.*?type = object\(\{(.*?)\}\)', VARIABLES))


def set_by_the_module() -> dict[str, str]:
    body = _block(r"job_keys_set_by_the_module = \{(.*?)\n  \}", LOCALS)
    return dict(re.findall(r'^\s*([a-z_]+)\s*=\s*"(.*)"\s*$', body, re.MULTILINE))


def module_environment_keys() -> set[str]:
    return set(re.findall(r'"([a-z_]+)"', _block(r"module_environment_keys = \[(.*?)\]", LOCALS)))


def rendered_keys() -> set[str]:
    listed = set(re.findall(r'"([a-z_]+)"', _block(r"environment_keys = \[(.*?)\]", RENDERER)))
    # endpoint_params is rendered on its own line, as an inline table.
    return listed | (
        {"endpoint_params"} if "endpoint_params = ${local.env_params_toml" in RENDERER else set()
    )


def table_keys(markdown: str, heading: str) -> set[str]:
    """Backticked names in the first column of the table rows under ``heading`` (to the next
    heading of the same or a higher level)."""
    level = heading.split(" ", 1)[0]
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) + 1 :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)
    section = rest[: end.start()] if end else rest
    keys: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first = line.split("|")[1]
            keys |= set(re.findall(r"`([a-z_]+)`", first))
    return keys


def test_the_job_has_the_keys_this_test_reads() -> None:
    # A guard against reading nothing: the job's keys as this test knows them.
    assert {"token_url", "scopes", "auth_method", "signing_alg", "audience", "key_id"} <= ENV_KEYS
    assert RUN_KEYS == {"run_timeout_seconds", "max_workers", "aws_max_attempts", "schedule_seconds"}


def test_every_job_key_is_a_terraform_variable_or_set_by_the_module_with_its_reason() -> None:
    env_vars, default_vars, by_module = (
        environments_attributes(),
        job_defaults_attributes(),
        set_by_the_module(),
    )
    assert by_module, "job_keys_set_by_the_module is empty or unreadable"
    missing = JOB_KEYS - env_vars - default_vars - set(by_module)
    assert not missing, f"infra/variables.tf lacks the job's keys {sorted(missing)}"
    for key, reason in by_module.items():
        assert key in JOB_KEYS, f"{key} is listed as set by the module but is no key of the job"
        assert key not in env_vars | default_vars, f"{key} is both a variable and set by the module"
        assert len(reason) >= 40, f"{key}: say why the module sets it"
    # Every per-environment key is settable per environment; run-wide ones only in job_defaults.
    assert not (ENV_KEYS - env_vars - set(by_module)), "a per-environment key only in job_defaults"
    assert RUN_KEYS <= default_vars and not (RUN_KEYS & env_vars)


def test_every_environment_variable_is_rendered_or_the_modules_own() -> None:
    env_vars, own = environments_attributes(), module_environment_keys()
    rendered = rendered_keys()
    # Everything the job reads per environment is rendered; anything else is the module's own.
    assert ENV_KEYS <= rendered, f"config_toml does not render {sorted(ENV_KEYS - rendered)}"
    extra = rendered - ENV_KEYS
    assert not extra, f"config_toml renders keys the job lacks: {sorted(extra)}"
    unaccounted = env_vars - rendered - own
    assert not unaccounted, f"environments attributes neither rendered nor the module's own: {unaccounted}"
    assert not (own & ENV_KEYS)


def test_terraform_validates_the_job_s_enumerations() -> None:
    for method in job_config.AUTH_METHODS:
        assert f'"{method}"' in VARIABLES, f"auth_method {method} is not allowed by infra/variables.tf"
    for alg in job_config.SIGNING_ALGS:
        assert f'"{alg}"' in VARIABLES, f"signing_alg {alg} is not allowed by infra/variables.tf"


@pytest.mark.parametrize(
    ("document", "heading"),
    [
        ("docs/configuration.md", "# Configuration"),
        ("docs/infra.md", "## The job's configuration in Terraform"),
    ],
)
def test_every_job_key_has_a_row_in_the_documentation(document: str, heading: str) -> None:
    documented = table_keys((ROOT / document).read_text(), heading)
    missing = JOB_KEYS - documented
    assert not missing, f"{document} ({heading}) has no row for {sorted(missing)}"
