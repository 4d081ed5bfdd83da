"""The one validity rule (sync_job/bearer.py: usable while more than EXPIRY_SKEW_SECONDS = 60 s
remain) across the real wire: the same stored token, read from moto's server, is judged alike
by `sync-job token`, `sync-job status`, `TokenReader` and the job's own run, at the rule's edge
(59, 60, 61 s left) and beside it; and every recipe in the docs names the same number."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from standins.fakes import ManualClock, valid_doc
from standins.harness import Harness
from sync_job import bearer
from sync_job.cli import main
from sync_job.reader import TokenExpiredError, TokenReader

ROOT = Path(__file__).resolve().parents[2]
# Whole seconds, as the job writes expires_at.
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The CLI's clock (factory.build_job's SystemClock) stopped at NOW, so an edge of one
    second is exact whatever the machine's load; the reads still cross the wire to moto."""
    clock = ManualClock(NOW)
    monkeypatch.setattr("sync_job.factory.SystemClock", lambda: clock)
    return clock


def store_with(harness: Harness, left: int) -> dict[str, Any]:
    doc = valid_doc("sandbox", remaining=0, token=f"tok-edge-{left}")
    expires = NOW + timedelta(seconds=left)
    doc["expires_at"] = bearer.format_timestamp(expires)
    doc["issued_at"] = bearer.format_timestamp(expires - timedelta(seconds=3599))
    harness.put_stored("sandbox", doc)
    return doc


@pytest.mark.parametrize(
    ("left", "usable", "state"),
    [
        (-1, False, "expired"),
        (0, False, "expired"),
        (1, False, "expired"),
        (59, False, "expired"),
        (60, False, "expired"),
        (61, True, "expiring"),
        (899, True, "expiring"),
        (901, True, "valid"),
    ],
)
def test_token_status_reader_and_run_agree_at_the_edge(
    harness: Harness, fixed_now: ManualClock, sm: Any, left: int, usable: bool, state: str
) -> None:
    assert bearer.EXPIRY_SKEW_SECONDS == 60
    assert bearer.is_usable(NOW + timedelta(seconds=left), NOW) is usable
    harness.add_env("sandbox")
    doc = store_with(harness, left)

    token = harness.cli("token", "sandbox", level="WARNING")
    status = harness.cli("status", "--json")
    entry = status.json()["environments"][0]
    assert entry["state"] == state
    assert entry["seconds_remaining"] == left
    reader = TokenReader(harness.token_secret("sandbox"), client=sm, clock=fixed_now)
    if usable:
        assert token.exit_code == 0 and token.stdout == doc["access_token"] + "\n"
        assert status.exit_code == 0
        assert reader.token() == doc["access_token"]
    else:
        assert token.exit_code == 1 and token.stdout == ""
        assert f"state: {state}" in token.error_lines[0]
        assert status.exit_code == 1
        with pytest.raises(TokenExpiredError):
            reader.token()
    # The job's run sees it the same way: a token consumers refuse is never "fresh" (with a
    # margin of 0 only the rule decides), and a dry run says it would refresh it.
    harness.envs["sandbox"]["refresh_margin_seconds"] = 0
    run = harness.cli("run", "--dry-run", "--json")
    assert run.json()["results"][0]["outcome"] == ("fresh" if usable else "would_refresh")


def test_token_warns_inside_the_margin_but_prints(harness: Harness, fixed_now: ManualClock) -> None:
    harness.add_env("sandbox")
    doc = store_with(harness, 61)
    result = harness.cli("token", "sandbox", level="WARNING")
    assert result.exit_code == 0 and result.stdout == doc["access_token"] + "\n"
    assert "inside its refresh margin" in result.stderr


SKEW_IN_RECIPE = re.compile(r"fromdateiso8601\)\s*-\s*now\s*>\s*(\d+)")


@pytest.mark.parametrize("path", ["README.md", "docs/reader.md", "docs/consumers.md"])
def test_every_jq_recipe_uses_the_one_skew(path: str) -> None:
    text = (ROOT / path).read_text()
    found = SKEW_IN_RECIPE.findall(text)
    if path != "README.md":
        assert found, f"{path} has no expiry-checking recipe"
    assert all(int(n) == bearer.EXPIRY_SKEW_SECONDS for n in found), (path, found)
    # No recipe reads the token without checking expires_at: a bare `jq -r .access_token`.
    assert "jq -r .access_token" not in text, path


def test_help_texts_state_the_rule() -> None:
    runner = CliRunner()
    for command in ("token", "status"):
        out = runner.invoke(main, [command, "--help"]).output
        assert f"{bearer.EXPIRY_SKEW_SECONDS} s or" in " ".join(out.split()), (command, out)
