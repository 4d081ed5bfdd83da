"""`make infra-check` as a test, so CI (`make test`) runs it: terraform fmt, validate (infra/ and
every example, offline) and checkov with every skip explained and needed. Skipped, with the
reason, only when terraform, its provider mirror or checkov is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from standins.terraform import copy_infra

pytestmark = [pytest.mark.infra, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
UNAVAILABLE = 3


def infra_check(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.infra_check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    if proc.returncode == UNAVAILABLE:
        pytest.skip(proc.stderr.strip())
    return proc


def test_infra_passes_fmt_validate_and_checkov() -> None:
    proc = infra_check()
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert "checkov: " in proc.stdout and " 0 failed" in proc.stdout
    examples = [p for p in (ROOT / "infra" / "examples").iterdir() if p.is_dir()]
    assert proc.stdout.count("Success! The configuration is valid.") == 1 + len(examples)


def test_infra_check_catches_bad_format_an_unexplained_skip_and_a_needless_one(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path / "infra")
    lambda_tf = infra / "lambda.tf"
    text = lambda_tf.read_text()
    # A skip without a reason, and a skip that suppresses nothing (the log group passes CKV_AWS_158).
    text = text.replace(
        "  #checkov:skip=CKV_AWS_50:", "  #checkov:skip=CKV_AWS_50\n  #checkov:skip=CKV_AWS_999:"
    )
    text = text.replace(
        "  retention_in_days = var.log_retention_days",
        "  #checkov:skip=CKV_AWS_158:the log group is encrypted with the key anyway\n"
        "  retention_in_days    =    var.log_retention_days",
    )
    lambda_tf.write_text(text)
    proc = infra_check("--infra", str(infra))
    assert proc.returncode == 1, f"{proc.stdout}\n{proc.stderr}"
    assert "terraform fmt" in proc.stderr and "lambda.tf" in proc.stderr
    assert "#checkov:skip=CKV_AWS_50 needs an inline reason" in proc.stderr
    assert "CKV_AWS_158" in proc.stderr and "remove" in proc.stderr
