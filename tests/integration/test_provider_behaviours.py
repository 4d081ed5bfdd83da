"""Issue 19 §3 across the real wire: providers as they really behave. Each test runs the real CLI
against moto's Secrets Manager server and a token endpoint on 127.0.0.1 (tests/support/), with
the provider's documented behaviour switched on in the stand-in."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync_job.bearer import jwt_expiry, parse_timestamp
from sync_job.reader import TokenReader, TokenUnavailableError
from tests.support.aws import DUMMY_AWS, REGION
from tests.support.fakes import token_doc
from tests.support.harness import Harness
from tests.support.moto_server import MotoServer
from tests.support.token_server import Fault, TokenServer


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


# --- lifetimes: a JWT access token whose exp agrees with expires_in publishes expires_in ------------


@pytest.fixture
def jwt_server(token_server: TokenServer) -> Iterator[TokenServer]:
    """The session's token server issuing JWT access tokens of 1800 s (exp - iat == expires_in,
    as Auth0, Entra ID, Keycloak and Okta issue them), restored after."""
    lifetime = token_server.lifetime
    token_server.jwt_access_tokens = True
    token_server.lifetime = 1800
    yield token_server
    token_server.jwt_access_tokens = False
    token_server.lifetime = lifetime


@pytest.mark.parametrize("run", range(3))
def test_agreeing_jwt_and_expires_in_publish_the_servers_expires_in(
    harness: Harness, jwt_server: TokenServer, run: int
) -> None:
    harness.add_env("sandbox")
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None and stored["access_token"] in jwt_server.issued
    assert stored["expires_in"] == 1800 and "expires_in_source" not in stored
    issued, expires = parse_timestamp(stored["issued_at"]), parse_timestamp(stored["expires_at"])
    assert issued is not None and expires is not None
    assert (expires - issued).total_seconds() == 1800


def test_an_earlier_jwt_exp_still_bounds_expires_in(harness: Harness, jwt_server: TokenServer) -> None:
    # The server claims 1900 s, its token's own exp says 1800 s: the token's word wins, and the
    # published expires_at never passes exp.
    harness.add_env("sandbox")
    harness.tokens.script(harness.client_id("sandbox"), [Fault.token(expires_in=1900)])
    result = harness.cli("run", "--json")
    assert result.exit_code == 0, result.stderr
    stored = harness.stored("sandbox")
    assert stored is not None
    assert stored["expires_in"] == 1800 and stored["expires_in_source"] == "jwt"
    exp = jwt_expiry(stored["access_token"])
    expires = parse_timestamp(stored["expires_at"])
    assert exp is not None and expires is not None and expires.timestamp() <= exp


# --- TokenReader() without a client: the region where only AWS_REGION is set -----------------------


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer, tmp_path: Path) -> None:
    """The dummy credentials and moto's endpoint from the environment, no region anywhere yet
    (no config file either), as a consumer's process sees them."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, DUMMY_AWS[name])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETSMANAGER", moto_server.endpoint)


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_token_reader_without_a_client_takes_the_region_the_job_takes(
    aws_environment: None, monkeypatch: pytest.MonkeyPatch, sm: Any, variable: str
) -> None:
    # The README's quick start sets only AWS_REGION (what Lambda and the AWS CLI v2 read); boto3
    # alone reads only AWS_DEFAULT_REGION and failed with NoRegionError.
    monkeypatch.setenv(variable, REGION)
    name = f"reader-region-{uuid.uuid4().hex[:8]}"
    doc = token_doc("tok-LEAKMARK-region", datetime.now(UTC) + timedelta(hours=1))
    sm.create_secret(Name=name, SecretString=json.dumps(doc))
    assert TokenReader(name).token() == "tok-LEAKMARK-region"


def test_token_reader_with_no_region_at_all_says_what_to_set(aws_environment: None) -> None:
    with pytest.raises(TokenUnavailableError, match="no AWS region; set AWS_REGION"):
        TokenReader("reader-no-region").token()
