"""Issue 19 §3 across the real wire: providers as they really behave. Each test runs the real CLI
against moto's Secrets Manager server and a token endpoint on 127.0.0.1 (tests/support/), with
the provider's documented behaviour switched on in the stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.harness import Harness
from tests.support.token_server import TokenServer


@pytest.fixture
def skewed(token_server: TokenServer) -> Iterator[TokenServer]:
    """The session's token server with no assertion leeway (Keycloak's), clock restored after."""
    token_server.assertion_leeway = 0
    yield token_server
    token_server.clock_offset = 0.0
    token_server.assertion_leeway = 5


# --- clock skew: a private_key_jwt assertion is not "from the future" on a server behind ------------


@pytest.mark.parametrize("behind", [1, 2, 30, 59], ids=["1s", "2s", "30s", "59s"])
def test_assertion_accepted_by_a_server_whose_clock_is_behind(
    harness: Harness, skewed: TokenServer, behind: int
) -> None:
    # keycloak/keycloak#8966: nbf/iat = "now" is refused with "Token is not active" by a server
    # 1 s behind. The job backdates both by oauth.ASSERTION_BACKDATE_SECONDS (60 s).
    skewed.clock_offset = -behind
    harness.add_jwt_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["results"][0]["outcome"] == "refreshed"


def test_assertion_refused_by_a_server_far_behind_says_so(harness: Harness, skewed: TokenServer) -> None:
    # The tolerance is bounded: a server two minutes behind refuses the assertion as not yet
    # valid, and the operator reads the provider's refusal (so this test can fail).
    skewed.clock_offset = -120
    harness.add_jwt_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 1
    error = result.json()["results"][0]["error"]
    assert "invalid_client" in error and harness.stored("sandbox") is None
