"""Nothing leaked: DEBUG output of every library, scanned for the token and secret markers."""

from __future__ import annotations

import pytest

from standins.harness import Harness, assert_no_leak
from standins.token_server import Fault


def test_the_scanner_itself_catches_a_marker() -> None:
    with pytest.raises(AssertionError):
        assert_no_leak("ok", "tok-LEAKMARK-123")
    with pytest.raises(AssertionError):
        assert_no_leak("client_secret=SECRETMARK-abc")


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_debug_output_of_a_full_cycle_carries_no_secret(harness: Harness, auth_method: str) -> None:
    harness.add_env("sandbox", auth_method=auth_method)
    harness.tokens.script(harness.client_id("sandbox"), [Fault.status(503)])
    outputs = [
        harness.cli("run"),
        harness.cli("run", "--json"),
        harness.cli("run", "--force", "--json"),
        harness.cli("status"),
        harness.cli("check"),
        harness.cli_process("run", "--force"),
    ]
    debug = "\n".join(o.stderr for o in outputs)
    # The scan means something only if the libraries' debug output, bodies included, is there.
    assert '"logger": "botocore' in debug
    assert '"logger": "urllib3' in debug
    assert "body elided" in debug
    for o in outputs:
        assert_no_leak(o.stdout, o.stderr)  # cli() already did; kept explicit here


def test_error_paths_carry_no_secret(harness: Harness) -> None:
    harness.add_env("sandbox")
    harness.tokens.script(
        harness.client_id("sandbox"),
        [
            Fault.truncated(),
            Fault.html(),
        ],
    )
    for content_type in ("application/json", "text/html"):
        failed = harness.cli("run")
        assert failed.exit_code == 1
        assert len(failed.error_lines) == 1 and "not JSON" in failed.error_lines[0]
        assert content_type in failed.error_lines[0]
    # The endpoint echoes the client secret in its error description: the job must not repeat it.
    harness.tokens.script(
        harness.client_id("sandbox"),
        [Fault.oauth_error(401, "invalid_client", f"secret {harness.secrets['sandbox']} wrong")],
    )
    result = harness.cli("run", "--force")
    assert result.exit_code in (0, 1)
    assert result.exit_code == 1 and len(result.error_lines) == 1
    assert "invalid_client" in result.error_lines[0]
    assert harness.secrets["sandbox"] not in result.stdout + result.stderr
    assert harness.token_requests("sandbox") == 3
    assert harness.stored("sandbox") is None
