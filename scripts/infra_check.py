#!/usr/bin/env python3
"""Static checks of infra/: `make infra-check` runs this (`python -m scripts.infra_check` from the
repository root), and so does tests/infra/test_infra_check.py.

1. terraform fmt -check -recursive infra
2. terraform init -backend=false + validate, in infra/ and in every infra/examples/*/ (on a
   temporary copy, with the provider from the local mirror: no registry is reachable)
3. checkov over infra/ (offline: --skip-download), with no failed check
4. every `#checkov:skip=CHECK:reason` has a reason, and suppresses a check that really fails
   (checkov is run a second time on a copy without the skip comments: an unneeded skip fails)

Exit status: 0 all passed, 1 a check failed, 3 a tool is missing (terraform, its provider
mirror, or checkov: `make infra-check` installs checkov into build/checkov-venv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from standins.terraform import OFFLINE_PROXY_ENV, Terraform, TerraformUnavailable, copy_infra

ROOT = Path(__file__).resolve().parents[1]

INFRA = ROOT / "infra"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
MIN_REASON = 20  # characters: a reason, not a shrug
EXIT_FAILED, EXIT_UNAVAILABLE = 1, 3


class Unavailable(Exception):
    pass


def find_checkov() -> str:
    for candidate in (
        os.environ.get("CHECKOV"),
        str(ROOT / "build" / "checkov-venv" / "bin" / "checkov"),
        shutil.which("checkov"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise Unavailable(
        "checkov is not installed: `make infra-check` installs the pinned version "
        "(requirements/checkov.lock) into build/checkov-venv; or set $CHECKOV"
    )


def step(title: str) -> None:
    print(f"== {title}", flush=True)


def show(path: Path, infra: Path) -> str:
    return (Path(infra.name) / path.relative_to(infra)).as_posix()


def check_fmt(tf: Terraform, infra: Path) -> list[str]:
    step("terraform fmt -check -recursive infra")
    proc = tf.run("fmt", "-check", "-recursive", "-diff", "-no-color", str(infra), timeout=120, check=False)
    if proc.returncode != 0:
        return [
            f"terraform fmt: these files need `terraform fmt -recursive infra`:\n{proc.stdout}{proc.stderr}"
        ]
    return []


def check_validate(scratch: Path, infra: Path) -> list[str]:
    problems = []
    copy = copy_infra(scratch / "infra", infra)
    for directory in [copy, *sorted(p for p in (copy / "examples").iterdir() if p.is_dir())]:
        name = directory.relative_to(scratch).as_posix()
        step(f"terraform init -backend=false && terraform validate ({name})")
        tf = Terraform.offline(directory, scratch / f"tf-{directory.name}")
        init = tf.run("init", "-backend=false", "-input=false", "-no-color", timeout=180, check=False)
        if init.returncode != 0:
            problems.append(f"terraform init in {name} failed:\n{init.stdout}{init.stderr}")
            continue
        validate = tf.run("validate", "-no-color", timeout=180, check=False)
        print(validate.stdout.strip() or validate.stderr.strip())
        if validate.returncode != 0:
            problems.append(f"terraform validate in {name} failed:\n{validate.stdout}{validate.stderr}")
    return problems


def run_checkov(checkov: str, directory: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        **OFFLINE_PROXY_ENV,
    }
    proc = subprocess.run(
        [
            checkov,
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"checkov exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    merged: dict[str, list[dict[str, Any]]] = {"failed_checks": [], "skipped_checks": [], "passed_checks": []}
    for report in reports:
        for kind in merged:
            merged[kind] += report.get("results", {}).get(kind, [])
    return merged


def key(check: dict[str, Any]) -> tuple[str, str]:
    return check["check_id"], check["resource"]


def skip_comments(infra: Path) -> list[tuple[Path, int, str, str]]:
    found = []
    for path in sorted(infra.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP_COMMENT.search(line)
            if match:
                found.append((path, number, match.group(1), (match.group(2) or "").strip()))
    return found


def check_checkov(checkov: str, scratch: Path, infra: Path) -> list[str]:
    problems = []
    step("checkov --directory infra --framework terraform --skip-download")
    results = run_checkov(checkov, infra)
    print(
        f"checkov: {len(results['passed_checks'])} passed, {len(results['failed_checks'])} failed, "
        f"{len(results['skipped_checks'])} skipped"
    )
    for failed in results["failed_checks"]:
        problems.append(
            f"checkov {failed['check_id']} failed for {failed['resource']} "
            f"({failed['file_path']}:{failed['file_line_range'][0]}): {failed['check_name']}"
        )
    for skipped in results["skipped_checks"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        print(f"  skipped {skipped['check_id']} on {skipped['resource']}: {reason}")

    step("every checkov skip has a reason and suppresses a real failure")
    comments = skip_comments(infra)
    for path, number, check_id, reason in comments:
        if len(reason) < MIN_REASON:
            problems.append(
                f"{show(path, infra)}:{number}: #checkov:skip={check_id} needs an "
                f"inline reason (#checkov:skip={check_id}:why), at least {MIN_REASON} characters"
            )
    stripped = scratch / "infra-without-skips"
    copy_infra(stripped, infra)
    for path in stripped.rglob("*.tf"):
        text = path.read_text()
        path.write_text("\n".join(ln for ln in text.splitlines() if not SKIP_COMMENT.search(ln)) + "\n")
    unsuppressed = {key(c) for c in run_checkov(checkov, stripped)["failed_checks"]}
    for skipped in results["skipped_checks"]:
        if key(skipped) not in unsuppressed:
            problems.append(
                f"unneeded skip: {skipped['check_id']} on {skipped['resource']} passes "
                "without it; remove the #checkov:skip comment"
            )
    skipped_ids = {c["check_id"] for c in results["skipped_checks"]}
    for path, number, check_id, _ in comments:
        if check_id not in skipped_ids:
            problems.append(
                f"{show(path, infra)}:{number}: #checkov:skip={check_id} suppresses "
                "nothing checkov reports; remove it"
            )
    print(
        f"{len(comments)} skip comments, {len(results['skipped_checks'])} suppressed findings, "
        "each with its reason"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-checkov", action="store_true", help="terraform checks only")
    parser.add_argument("--infra", type=Path, default=INFRA, help="the directory to check (default: infra/)")
    args = parser.parse_args()
    infra = args.infra.resolve()
    with tempfile.TemporaryDirectory(prefix="sync-job-infra-check-") as tmp:
        scratch = Path(tmp)
        try:
            tf = Terraform.offline(infra, scratch / "tf")
            checkov = None if args.no_checkov else find_checkov()
        except (TerraformUnavailable, Unavailable) as exc:
            print(f"infra-check: cannot run: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        problems = check_fmt(tf, infra) + check_validate(scratch, infra)
        if checkov is not None:
            problems += check_checkov(checkov, scratch, infra)
    if problems:
        print(f"\ninfra-check: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return EXIT_FAILED
    checked = "terraform fmt and validate" if args.no_checkov else "terraform fmt, validate and checkov"
    print(f"\ninfra-check: {checked} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
