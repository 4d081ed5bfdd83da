"""The shell recipes of README.md, docs/reader.md and `sync-job token --help`, run as written by
bash against moto's Secrets Manager and a local API on 127.0.0.1: each fails closed (no request
at all, a non-zero exit) when no usable token is stored, sends exactly `Bearer <token>` when one
is, and never puts the token on a command line (a `curl` shim on PATH records every argv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from standins.api_server import ApiServer
from standins.fakes import valid_doc
from standins.harness import Harness
from sync_job.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC_URL = "https://api.sandbox.paxos.com/v2/profiles"
DOC_SECRET = "paxos/sandbox/access-token"
BASH = shutil.which("bash")
CURL = shutil.which("curl")

pytestmark = pytest.mark.skipif(BASH is None or CURL is None, reason="the recipes need bash and curl")


def sh_blocks(path: str) -> list[str]:
    """The ```sh blocks of a document that send an Authorization header."""
    text = (ROOT / path).read_text()
    return [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "Authorization: Bearer" in b]


def help_recipe() -> str:
    out = CliRunner().invoke(main, ["token", "--help"]).output
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("token=$("))
    recipe = []
    for line in lines[start:]:
        if not line.strip():
            break
        recipe.append(line)
    return textwrap.dedent("\n".join(recipe)) + "\n"


def recipes() -> dict[str, str]:
    found = {"token --help": help_recipe()}
    for path in ("README.md", "docs/reader.md", "docs/consumers.md"):
        for i, block in enumerate(sh_blocks(path)):
            found[f"{path}#{i}"] = block
    return found


RECIPES = recipes()


def test_the_recipes_are_found() -> None:
    assert set(RECIPES) == {
        "token --help",
        "README.md#0",
        "docs/reader.md#0",
        "docs/reader.md#1",
        "docs/consumers.md#0",
    }
    assert RECIPES["token --help"] == RECIPES["README.md#0"] == RECIPES["docs/reader.md#1"]
    assert RECIPES["docs/consumers.md#0"] == RECIPES["docs/reader.md#0"]


def run_recipe(harness: Harness, api: ApiServer, recipe: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``recipe`` with bash, the docs' URL and secret name pointed at the local ones; returns
    the process and every argv the `curl` shim saw."""
    assert CURL is not None and BASH is not None
    shims = harness.tmp / "shims"
    shims.mkdir(exist_ok=True)
    argv_log = harness.tmp / "curl-argv.log"
    argv_log.write_text("")
    shim = shims / "curl"
    shim.write_text(f'#!{BASH}\nprintf "%s\\n" "$0" "$@" >> {argv_log}\nexec {CURL} "$@"\n')
    shim.chmod(0o755)
    script = recipe.replace(DOC_URL, api.url).replace(DOC_SECRET, harness.token_secret("sandbox"))
    env = harness.subprocess_env()
    env.update(
        PATH=os.pathsep.join([str(shims), str(Path(sys.executable).parent), env.get("PATH", "")]),
        SYNC_JOB_CONFIG=str(harness.config_path()),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(proxy, None)
    proc = subprocess.run(
        [BASH, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return proc, argv_log.read_text()


def needs(recipe: str) -> None:
    if "aws secretsmanager" in recipe and shutil.which("aws") is None:
        pytest.skip("this recipe needs the AWS CLI (`aws`), which is not installed")
    if "jq " in recipe and shutil.which("jq") is None:
        pytest.skip("this recipe needs jq, which is not installed")


@pytest.mark.parametrize("name", sorted(RECIPES))
@pytest.mark.parametrize("stored", ["none", "expired", "30s-left", "valid"])
def test_recipe_fails_closed_and_keeps_the_token_off_command_lines(
    harness: Harness, api: ApiServer, name: str, stored: str
) -> None:
    recipe = RECIPES[name]
    needs(recipe)
    harness.add_env("sandbox")
    token = f"tok-recipe-{stored}-LEAKMARK"
    left = {"expired": -10, "30s-left": 30, "valid": 3000}.get(stored)
    if left is not None:
        harness.put_stored("sandbox", valid_doc("sandbox", remaining=left, token=token))
    api.accepted.add(token)
    proc, argv = run_recipe(harness, api, recipe)
    if stored == "valid":
        assert proc.returncode == 0, proc.stderr
        assert api.auths() == [f"Bearer {token}"]
        assert '"ok": true' in proc.stdout
    else:
        assert proc.returncode != 0, proc.stdout
        assert api.seen == [], "a request went out without a usable token"
        assert argv == "", "curl ran without a usable token"
    assert token not in argv
    assert token not in proc.stderr


def test_the_old_recipe_would_fail_this_test(harness: Harness, api: ApiServer) -> None:
    """The recipe the README had: with no token stored it still sent `Authorization: Bearer`
    with nothing after it and exited 0 (the failure the test above catches)."""
    harness.add_env("sandbox")
    old = f"curl -sS -H @<(printf 'Authorization: Bearer %s' \"$(sync-job token sandbox)\") {DOC_URL}\n"
    proc, _ = run_recipe(harness, api, old)
    assert proc.returncode == 0
    assert len(api.seen) == 1
    auth = api.auths()[0]
    assert auth is not None and auth.strip() == "Bearer"
