"""examples/prometheus/alerts.yml checked and unit-tested with promtool (Debian's `prometheus`
package), and the metrics of a real run linted by `promtool check metrics` (naming conventions:
base units, `_seconds`, `_timestamp_seconds`, no `_total` on gauges)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from standins.harness import ROOT, Harness
from standins.token_server import Fault

ALERTS = ROOT / "examples" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "examples" / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; .ci/run does)"
)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_alert_rules_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_unit_tests_can_fail(tmp_path: Path) -> None:
    """The same tests against rules with other thresholds fail: they check the thresholds."""
    rules = ALERTS.read_text()
    for old, new in (("5 * 60", "7 * 60"), ("for: 8m", "for: 4m"), ("20 * 60", "23 * 60")):
        assert old in rules
        rules = rules.replace(old, new)
    (tmp_path / "alerts.yml").write_text(rules)
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    result = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result.returncode != 0
    for alert in ("SyncJobTokenExpiringSoon", "SyncJobEnvironmentFailing", "SyncJobNotRunning"):
        assert f"alertname: {alert}" in result.stdout + result.stderr


def test_metrics_of_a_real_run_pass_promtool_lint(harness: Harness, tmp_path: Path) -> None:
    harness.add_env("sandbox")
    harness.add_env("production")
    harness.tokens.script(harness.client_id("production"), [Fault.oauth_error(401, "invalid_client")])
    prom = tmp_path / "sync_job.prom"
    result = harness.cli("run", "--metrics-file", str(prom))
    assert result.exit_code == 1  # production failed; the file is written all the same
    text = prom.read_text()
    assert "sync_job_token_expiry_timestamp_seconds" in text
    lint = promtool("check", "metrics", stdin=text)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout + lint.stderr == ""  # no lint finding at all
